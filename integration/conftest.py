"""Session fixtures: the keys, the echo backend, and one Envoy running jwt-gate with the shared
plugin config (harness.gate_config)."""

import pytest

pytest.register_assert_rewrite("harness")

from harness import EchoHandler, Keys, Listener, Server, gate_config, jwt_gate_filter, start_envoy  # noqa: E402


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
    import os, harness
    make = harness.jwt_authn_filter if os.environ.get("TMP_NATIVE") else jwt_gate_filter
    envoy = start_envoy({"gate": make(gate_config(keys))}, echo.port, "gate")
    yield Listener(envoy, "gate")
    envoy.stop()
