"""The fixtures most tests share (the rest of the kit is the jwt_gate_testkit package):

- `build` (session): "wasm" or "native", the build of jwt-gate a test's Envoy runs. Every test
  that starts jwt-gate asks for it (directly or through the fixtures below) and so runs once per
  build named by JWT_GATE_BUILDS (default both); `@pytest.mark.wasm_only("why")` skips the
  native run of a test that is about the .wasm itself (its exports, its VMs, its image);
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

from jwt_gate_testkit.artifacts import artifact, selected_builds  # noqa: E402
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
    config.addinivalue_line(
        "markers", "wasm_only(reason): about the .wasm itself; the native build skips it"
    )
    try:
        builds = selected_builds()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    for build in builds:
        if not artifact(build).is_file():
            raise pytest.UsageError(
                f"{artifact(build)} not found: build it with `make build` (or set "
                f"JWT_GATE_{'WASM' if build == 'wasm' else 'SO'}, or JWT_GATE_BUILDS)"
            )
    # The spec's HMAC secret is 32 bytes; PyJWT warns that HS384/HS512 would like longer ones.
    config.addinivalue_line("filterwarnings", "ignore::jwt.warnings.InsecureKeyLengthWarning")
    remove_stale_run_dirs()


def pytest_generate_tests(metafunc):
    """Every test that uses `build` runs once per selected build; the native run of a wasm_only
    test is skipped with its reason."""
    if "build" not in metafunc.fixturenames:
        return
    wasm_only = metafunc.definition.get_closest_marker("wasm_only")
    params = []
    for build in selected_builds():
        marks = ()
        if build == "native" and wasm_only:
            marks = pytest.mark.skip(reason=f"wasm only: {wasm_only.args[0]}")
        params.append(pytest.param(build, marks=marks, id=build))
    metafunc.parametrize("build", params, indirect=True, scope="session")


def pytest_collection_modifyitems(config, items):
    """A wasm_only test that does not take `build` (it reads the .wasm itself) is skipped when
    the .wasm is not selected; one that takes it loses its native run above."""
    if "wasm" in selected_builds():
        return
    for item in items:
        wasm_only = item.get_closest_marker("wasm_only")
        if wasm_only and "build" not in item.fixturenames:
            item.add_marker(pytest.mark.skip(reason=f"wasm only: {wasm_only.args[0]}"))


@pytest.fixture(scope="session")
def build(request) -> str:
    """The build of jwt-gate under test: "wasm" or "native" (parametrized above)."""
    return request.param


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def echo() -> Iterator[Server]:
    server = Server(EchoHandler)
    yield server
    server.close()


@pytest.fixture(scope="session")
def gate(keys: Keys, echo: Server, build: str) -> Iterator[Listener]:
    """The shared jwt-gate listener (config: gate_config)."""
    filters = {"gate": jwt_gate_filter(gate_config(keys), build=build)}
    with running_envoy(filters, echo.port, f"gate-{build}") as envoy:
        yield Listener(envoy, "gate")


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    """A healthy identity provider on a free port, stopped after the test."""
    with IdentityProvider() as provider:
        yield provider


@pytest.fixture
def gate_listener(echo: Server, build: str) -> Iterator[Callable[..., Listener]]:
    """`gate_listener(plugin_config, name, clusters=None) -> Listener`: an Envoy (ready) with one
    listener, `name`, running jwt-gate with `plugin_config` in front of the echo backend;
    `clusters` as bootstrap()'s. Every Envoy started this way stops after the test."""
    with contextlib.ExitStack() as stack:

        def start(plugin_config: dict, name: str, clusters: dict | None = None) -> Listener:
            filters = {name: jwt_gate_filter(plugin_config, build=build)}
            envoy = stack.enter_context(running_envoy(filters, echo.port, name, clusters))
            return Listener(envoy, name)

        yield start


@pytest.fixture
def refused(echo: Server, build: str) -> Callable[[dict | str, str], str]:
    """`refused(plugin_config, name) -> str`: the log of an Envoy given jwt-gate with
    `plugin_config`, which must refuse it at load and exit 1 (asserted)."""

    def start(plugin_config: dict | str, name: str) -> str:
        filters = {"gate": jwt_gate_filter(plugin_config, build=build)}
        envoy = Envoy(bootstrap(filters, echo.port), name)
        return refusal_log(envoy)

    return start
