"""The fixtures most tests share (the rest of the kit is the jwt_gate_testkit package):

- `keys`, `echo` (session): the signing keys, and the echo backend every Envoy routes to;
- `gate` (session): one Envoy running jwt-gate with the shared plugin configuration
  (jwt_gate_testkit.shared_config), as a Listener;
- `idp`: an identity provider of the test's own, stopped after it;
- `gate_listener`: `gate_listener(plugin_config, name, clusters=None)`, one jwt-gate listener on
  an Envoy of its own in front of the echo backend, stopped after the test;
- `refused`: `refused(plugin_config, name)`, the log of an Envoy that refused the plugin
  configuration at load and exited 1 (asserted)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

pytest.register_assert_rewrite("jwt_gate_testkit")

from jwt_gate_testkit.artifacts import WASM  # noqa: E402
from jwt_gate_testkit.bootstrap import bootstrap, jwt_gate_filter  # noqa: E402
from jwt_gate_testkit.envoy import (  # noqa: E402
    Envoy,
    Listener,
    refusal_log,
    remove_stale_run_dirs,
    running_envoy,
)
from jwt_gate_testkit.servers import EchoHandler, IdentityProvider, Server  # noqa: E402
from jwt_gate_testkit.shared_config import gate_config  # noqa: E402
from jwt_gate_testkit.tokens import Keys  # noqa: E402


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
def echo() -> Iterator[Server]:
    server = Server(EchoHandler)
    yield server
    server.close()


@pytest.fixture(scope="session")
def gate(keys: Keys, echo: Server) -> Iterator[Listener]:
    """The shared jwt-gate listener (config: gate_config)."""
    with running_envoy({"gate": jwt_gate_filter(gate_config(keys))}, echo.port, "gate") as envoy:
        yield Listener(envoy, "gate")


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    """A healthy identity provider on a free port, stopped after the test."""
    with IdentityProvider() as provider:
        yield provider


@pytest.fixture
def gate_listener(echo: Server) -> Iterator[Callable[..., Listener]]:
    """`gate_listener(plugin_config, name, clusters=None) -> Listener`: an Envoy (ready) with one
    listener, `name`, running jwt-gate with `plugin_config` in front of the echo backend;
    `clusters` as bootstrap()'s. Every Envoy started this way stops after the test."""
    with contextlib.ExitStack() as stack:

        def start(plugin_config: dict, name: str, clusters: dict | None = None) -> Listener:
            filters = {name: jwt_gate_filter(plugin_config)}
            envoy = stack.enter_context(running_envoy(filters, echo.port, name, clusters))
            return Listener(envoy, name)

        yield start


@pytest.fixture
def refused(echo: Server) -> Callable[[dict | str, str], str]:
    """`refused(plugin_config, name) -> str`: the log of an Envoy given jwt-gate with
    `plugin_config`, which must refuse it at load and exit 1 (asserted)."""

    def start(plugin_config: dict | str, name: str) -> str:
        envoy = Envoy(bootstrap({"gate": jwt_gate_filter(plugin_config)}, echo.port), name)
        return refusal_log(envoy)

    return start
