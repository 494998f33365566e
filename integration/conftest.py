"""Session fixtures: the keys, the echo backend, and one Envoy running jwt-gate with the shared
plugin config (harness.gate_config)."""

import pytest

pytest.register_assert_rewrite("harness")

from harness import (  # noqa: E402
    WASM,
    EchoHandler,
    Keys,
    Listener,
    Server,
    gate_config,
    jwt_gate_filter,
    remove_stale_run_dirs,
    running_envoy,
)


def pytest_configure(config):
    if not WASM.is_file():
        raise pytest.UsageError(
            f"{WASM} not found: build it with `make build` (or set JWT_GATE_WASM)"
        )
    # The spec's HMAC secret is 32 bytes; PyJWT warns that HS384/HS512 would like longer ones.
    config.addinivalue_line("filterwarnings", "ignore::jwt.warnings.InsecureKeyLengthWarning")
    remove_stale_run_dirs()


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def echo():
    server = Server(EchoHandler)
    yield server
    server.close()


@pytest.fixture(scope="session")
def gate(keys, echo):
    """The shared jwt-gate listener (config: gate_config)."""
    with running_envoy({"gate": jwt_gate_filter(gate_config(keys))}, echo.port, "gate") as envoy:
        yield Listener(envoy, "gate")
