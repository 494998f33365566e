"""OpenAPI 2.0 as the plugin configuration, in a real Envoy: the bookstore of
tests/data/openapi_bookstore.json (the same cases the core runs in tests/openapi.rs) with only
`{"openapi": ..., "local_jwks": ...}` as configuration, ESPv2's JSON failures and the exact
X-Endpoint-API-UserInfo the backend sees; keys fetched by OpenID discovery through a named cluster;
API Gateway's header name and ESP v1's user-info format; X-Forwarded-Authorization; and the
`jwt-gate` command line's outputs accepted by Envoy."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from harness import (
    ENVOY_BIN,
    READY_TIMEOUT,
    REPO,
    TMP,
    Envoy,
    IdentityProvider,
    Listener,
    bootstrap,
    jwt_gate_filter,
    running_envoy,
)

BOOKSTORE = json.loads((REPO / "tests/data/openapi_bookstore.json").read_text())
CLI = REPO / "target/release/jwt-gate"
USER_INFO = "x-endpoint-api-userinfo"


@pytest.fixture(scope="module")
def bookstore(echo):
    with running_envoy(
        {"bookstore": jwt_gate_filter(BOOKSTORE["config"])}, echo.port, "openapi"
    ) as envoy:
        yield Listener(envoy, "bookstore")


@pytest.mark.parametrize("case", BOOKSTORE["cases"], ids=[c["name"] for c in BOOKSTORE["cases"]])
def test_bookstore_case(bookstore, case):
    """Each case: the status, ESPv2's JSON body on failure, and on success the exact user info the
    backend receives (absent where the operation needs no token, even if the client sent one)."""
    response = bookstore.request(case["path"], method=case["method"], headers=case["headers"])
    assert response.status == case["status"], response.text
    if case["status"] == 200:
        upstream = response.upstream
        assert upstream.header(USER_INFO) == case["userinfo"]
        assert upstream.method == case.get("upstream_method", case["method"])
        assert upstream.header("x-http-method-override") is None
    else:
        assert response.text == case["body"]
        assert response.header("content-type") == "application/json"
        assert response.header("www-authenticate").startswith('Bearer realm="http://')


def discovery_document(idp: IdentityProvider, **definition_fields) -> dict:
    return {
        "swagger": "2.0",
        "info": {"title": "remote", "version": "1"},
        "host": "remote.endpoints.example.cloud.goog",
        "security": [{"idp": []}],
        "securityDefinitions": {
            "idp": {
                "type": "oauth2", "flow": "implicit", "authorizationUrl": "",
                "x-google-issuer": idp.issuer,
                "x-google-audiences": "api.test",
                **definition_fields,
            }
        },
        "paths": {"/things/{id}": {"get": {"operationId": "GetThing"}},
                  "/health": {"get": {"security": []}}},
    }


def test_remote_keys_by_discovery_through_a_named_cluster(echo):
    """No x-google-jwks_uri: the keys are discovered from the issuer, fetched through the cluster
    `jwks_clusters` names, and the backend gets the payload segment."""
    with IdentityProvider() as idp:
        config = {
            "openapi": discovery_document(idp),
            "jwks_clusters": {f"127.0.0.1:{idp.port}": "idp"},
        }
        with running_envoy(
            {"remote": jwt_gate_filter(config)}, echo.port, "openapi-remote",
            clusters={"idp": idp.port},
        ) as envoy:
            listener = Listener(envoy, "remote")
            token = idp.mint()
            response = listener.request("/things/1", token=token)
            assert response.upstream.header(USER_INFO) == token.split(".")[1]
            assert idp.hits("/.well-known/openid-configuration") >= 1
            assert listener.request("/things/1").json() == {"code": 401, "message": "Jwt is missing"}
            assert listener.request("/health").status == 200


def test_api_gateway_header_and_esp_v1_format(echo):
    """`generated_header_prefix: X-Apigateway-` names the header as API Gateway does;
    `userinfo_format: esp_v1` writes ESP v1's padded wrapper JSON."""
    with IdentityProvider() as idp:
        config = {
            "openapi": discovery_document(idp, **{"x-google-jwks_uri": idp.url("/jwks")}),
            "jwks_clusters": {"127.0.0.1": "idp"},
            "generated_header_prefix": "X-Apigateway-",
            "userinfo_format": "esp_v1",
        }
        with running_envoy(
            {"apigw": jwt_gate_filter(config)}, echo.port, "openapi-apigw",
            clusters={"idp": idp.port},
        ) as envoy:
            listener = Listener(envoy, "apigw")
            token = idp.mint(sub="svc-1", email="svc@example.com", aud=["b", "api.test", "b"])
            upstream = listener.request(
                "/things/1", token=token,
                headers={"X-Apigateway-Api-Userinfo": "spoofed", USER_INFO: "kept"},
            ).upstream
            value = upstream.header("x-apigateway-api-userinfo")
            assert len(value) % 4 == 0, "ESP v1 pads"
            info = json.loads(base64.urlsafe_b64decode(value))
            assert list(info) == ["claims", "issuer", "id", "email", "audiences"]
            assert (info["issuer"], info["id"], info["email"], info["audiences"]) == (
                idp.issuer, "svc-1", "svc@example.com", ["api.test", "b"])
            assert json.loads(info["claims"])["sub"] == "svc-1"
            # Not our header name in this configuration: left alone.
            assert upstream.header(USER_INFO) == "kept"
            # Public operations never pass a client-sent copy on.
            public = listener.request("/health", headers={"X-Apigateway-Api-Userinfo": "spoofed"})
            assert public.upstream.header("x-apigateway-api-userinfo") is None


def test_backend_auth_moves_authorization_to_x_forwarded_authorization(echo):
    """With x-google-backend (no disable_auth), the caller's Authorization is copied to
    X-Forwarded-Authorization, and a client-sent X-Forwarded-Authorization never passes."""
    with IdentityProvider() as idp:
        document = discovery_document(idp, **{"x-google-jwks_uri": idp.url("/jwks")})
        document["x-google-backend"] = {"address": "https://backend.example.run.app"}
        config = {"openapi": document, "jwks_clusters": {"127.0.0.1": "idp"}}
        with running_envoy(
            {"xfa": jwt_gate_filter(config)}, echo.port, "openapi-xfa", clusters={"idp": idp.port}
        ) as envoy:
            listener = Listener(envoy, "xfa")
            token = idp.mint()
            upstream = listener.request(
                "/things/1", token=token, headers={"X-Forwarded-Authorization": "Bearer forged"}
            ).upstream
            assert upstream.header("x-forwarded-authorization") == f"Bearer {token}"
            assert upstream.header("authorization") == f"Bearer {token}"
            public = listener.request("/health", headers={"X-Forwarded-Authorization": "Bearer forged"})
            assert public.upstream.header("x-forwarded-authorization") is None


def test_bad_document_is_rejected_at_load_naming_the_place(echo):
    """A security requirement naming no definition: Envoy refuses the plugin and exits, and the
    log says where in the document."""
    document = json.loads(json.dumps(BOOKSTORE["config"]["openapi"]))
    document["paths"]["/v1/shelves"]["post"]["security"] = [{"auth0": []}]
    config = {"openapi": document, "local_jwks": BOOKSTORE["config"]["local_jwks"]}
    envoy = Envoy(bootstrap({"bad": jwt_gate_filter(config)}, echo.port), "openapi-bad")
    try:
        exit_code = envoy.wait_exit(READY_TIMEOUT)
        log = envoy.log()
    finally:
        envoy.stop()
    assert exit_code == 1, envoy.log_tail()
    assert (
        'configuration rejected: openapi.paths./v1/shelves.post.security[0]: "auth0" is not in '
        "securityDefinitions" in log
    ), envoy.log_tail()


# --- The command line -----------------------------------------------------------------------------


def cli(*args: str) -> str:
    assert CLI.is_file(), f"{CLI} not found: `make build` builds it"
    result = subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_envoy_config_is_a_bootstrap_envoy_accepts():
    """`envoy-config` on the OpenAPI plugin configuration: Envoy validates the bootstrap,
    running the filter's own on_configure on the embedded configuration."""
    TMP.mkdir(parents=True, exist_ok=True)
    plugin = TMP / "cli-bookstore-plugin.json"
    plugin.write_text(json.dumps(BOOKSTORE["config"]))
    wasm = Path(REPO / "target/wasm32-wasip1/release/jwt_gate.wasm").resolve()
    bootstrap = TMP / "cli-envoy.yaml"
    bootstrap.write_text(cli("envoy-config", str(plugin), "--wasm", str(wasm)))
    result = subprocess.run(
        [str(ENVOY_BIN), "--mode", "validate", "-c", str(bootstrap)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "OK" in result.stdout + result.stderr


def test_from_openapi_output_loads_in_envoy(echo):
    """What `from-openapi` prints is a jwt_authn-form configuration the filter runs: the same
    bookstore answers the same way (checked on a few cases)."""
    TMP.mkdir(parents=True, exist_ok=True)
    source = TMP / "cli-bookstore.json"
    source.write_text(json.dumps(BOOKSTORE["config"]))
    translated = json.loads(cli("from-openapi", str(source)))
    assert "openapi" not in translated and "providers" in translated
    with running_envoy({"t": jwt_gate_filter(translated)}, echo.port, "openapi-cli") as envoy:
        listener = Listener(envoy, "t")
        for case in BOOKSTORE["cases"][:8]:
            response = listener.request(case["path"], method=case["method"], headers=case["headers"])
            assert response.status == case["status"], case["name"]
