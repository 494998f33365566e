"""The demo of `make run` and the README: envoy/envoy.yaml as committed, on its own ports."""

import json
import re
import socket
import subprocess

import demo
import pytest

from jwt_gate_testkit.artifacts import ENVOY_BIN, REPO
from jwt_gate_testkit.client import assert_denied, request
from jwt_gate_testkit.tokens import decoded_payload


def test_envoy_yaml_validates():
    command = [str(ENVOY_BIN), "--mode", "validate", "-c", "envoy/envoy.yaml"]  # as documented
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Envoy and http.server do
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture(scope="module")
def stack():
    taken = [port for port in demo.PORTS if port_taken(port)]
    if taken:
        pytest.skip(f"the demo's ports {taken} are in use (is `make run` running?)")
    with demo.demo_stack() as envoy:
        yield envoy


def test_readme_curls(stack):
    token = request(demo.IDP_PORT, "/token").text
    assert decoded_payload(token)["sub"] == "demo-user"

    upstream = request(demo.LISTENER_PORT, "/hello", token=token).upstream
    assert (upstream.path, upstream.header("x-user")) == ("/hello", "demo-user")
    assert upstream.header("authorization") is None

    assert_denied(request(demo.LISTENER_PORT, "/hello"), 401, "Jwt is missing")
    assert request(demo.LISTENER_PORT, "/public/hello").status == 200
    assert request(demo.LISTENER_PORT, "/public").status == 200
    # The public rule is a path_separated_prefix: a longer first segment is not under it.
    assert_denied(request(demo.LISTENER_PORT, "/publicity"), 401, "Jwt is missing")


def test_underscore_header_names_get_400(stack):
    """envoy/envoy.yaml sets headers_with_underscores_action: REJECT_REQUEST, so `X_User`
    (which CGI-style backends read as `X-User`) never reaches the backend or jwt-gate."""
    token = request(demo.IDP_PORT, "/token").text
    response = request(demo.LISTENER_PORT, "/hello", headers=[("X_User", "admin")], token=token)
    assert (response.status, response.text) == (400, "Bad Request")


def test_identity_provider(stack):
    token = request(demo.IDP_PORT, "/token?sub=bob").text
    assert request(demo.LISTENER_PORT, "/x", token=token).upstream.header("x-user") == "bob"

    jwks = request(demo.IDP_PORT, "/.well-known/jwks.json").json()
    assert jwks == json.loads(demo.ISSUER.jwks_path.read_text())
    discovery = request(demo.IDP_PORT, "/.well-known/openid-configuration").json()
    assert discovery == {
        "issuer": demo.ISSUER.issuer,
        "jwks_uri": f"{demo.ISSUER.issuer}/.well-known/jwks.json",
    }


def test_the_demo_discovers_its_keys_from_the_identity_provider(stack):
    """envoy/envoy.yaml names no key set: jwt-gate discovers it from the issuer's OpenID
    configuration through the demo_idp cluster, and loads envoy/demo/jwks.json's one key."""
    dump = stack.admin("/config_dump").json()
    plugin_config = json.loads(
        next(value for value in find_values(dump, "value") if '"providers"' in value)
    )
    remote = plugin_config["providers"]["demo"]["remote_jwks"]
    assert remote["http_uri"] == {"cluster": "demo_idp", "timeout": "2s"}
    stats = stack.admin("/stats?filter=jwt_gate.provider.demo").text
    assert "wasmcustom.jwt_gate.provider.demo.jwks_keys: 1" in stats, stats
    fetches = re.search(r"provider\.demo\.jwks_fetch_success: (\d+)", stats)
    # One fetch for the whole process; the start-up race may cost one more.
    assert fetches and 1 <= int(fetches.group(1)) <= 2, stats


def find_values(node, key: str):
    """Every string value of `key`, anywhere in a JSON document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, str):
                yield value
            yield from find_values(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from find_values(item, key)
