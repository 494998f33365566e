"""OpenAPI 2.0 as the plugin configuration, in a real Envoy: the bookstore of
tests/data/openapi_bookstore.json (the same cases the core runs in tests/openapi.rs) with only
`{"openapi": ..., "local_jwks": ..., "api_keys": ...}` as configuration, ESPv2's JSON failures
and the exact X-Endpoint-API-UserInfo the backend sees; what fails closed (API keys refused
unless configured, or let through by a logged choice; misspelled Google extensions; ESP's
x-security; ESPv2's 404 and 405 outside the document, HEAD, percent-encoded paths); keys fetched
by OpenID discovery through a named cluster; API Gateway's header name and ESP v1's user-info
format; X-Forwarded-Authorization; and the `jwt-gate` command line's outputs accepted by Envoy."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from jwt_gate_testkit.artifacts import ENVOY_BIN, REPO, TMP, run_cli
from jwt_gate_testkit.bootstrap import jwt_gate_filter
from jwt_gate_testkit.envoy import Listener, running_envoy
from jwt_gate_testkit.servers import IdentityProvider

BOOKSTORE = json.loads((REPO / "tests/data/openapi_bookstore.json").read_text())
USER_INFO = "x-endpoint-api-userinfo"


@pytest.fixture(scope="module")
def bookstore_envoy(echo, build):
    with running_envoy(
        {
            "bookstore": jwt_gate_filter(BOOKSTORE["config"], build=build),
            "unchecked": jwt_gate_filter(
                {**BOOKSTORE["config"], "api_keys": "unchecked"}, build=build
            ),
        },
        echo.port,
        "openapi",
    ) as envoy:
        yield envoy


@pytest.fixture(scope="module")
def bookstore(bookstore_envoy):
    return Listener(bookstore_envoy, "bookstore")


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
        # A response to HEAD has no body (its content-length is the body's a GET would get).
        assert response.text == ("" if case["method"] == "HEAD" else case["body"])
        assert response.header("content-type") == "application/json"
        if case["challenge"]:
            assert response.header("www-authenticate").startswith('Bearer realm="http://')
        else:  # ESPv2's API key answers, 404, 405: not about a bearer token
            assert response.header("www-authenticate") is None


def case_named(name: str) -> dict:
    return next(case for case in BOOKSTORE["cases"] if case["name"] == name)


def without_api_keys() -> dict:
    """The bookstore without its API key operations and without `api_keys`: a configuration
    jwt-gate 4f0b2dc loads too, to show what it let through."""
    document = json.loads(json.dumps(BOOKSTORE["config"]["openapi"]))
    for path in ("/v1/files/{name=**}", "/v1/shelves/{shelf}/books"):
        del document["paths"][path]
    for name in ("api_key", "header_key"):
        del document["securityDefinitions"][name]
    # ESP's legacy x-security: a token is required although `security` is empty.
    document["paths"]["/v1/legacy"] = {
        "get": {
            "operationId": "Legacy",
            "security": [],
            "x-security": [{"auth0_jwk": {"audiences": []}}],
        }
    }
    return {"openapi": document, "local_jwks": BOOKSTORE["config"]["local_jwks"]}


@pytest.fixture(scope="module")
def fail_closed(echo, build):
    with running_envoy(
        {"outside": jwt_gate_filter(without_api_keys(), build=build)}, echo.port, "openapi-closed"
    ) as envoy:
        yield envoy


@pytest.mark.parametrize(
    "name",
    [
        "path not in the document: ESPv2's 404, even with a token",
        "method not in the document: ESPv2's 405",
        "HEAD is not GET where the document does not say so",
        "an encoded ':' that would reach the :verb operation is refused",
    ],
)
def test_requests_outside_the_document_are_refused(fail_closed, name):
    """Issue 13 item 5: with a valid user token, a path the document does not list, another
    method on a known path, HEAD on a GET-only admin operation, and `1%3Apurge` (which the
    backend decodes to the admin-only `:purge` verb) no longer pass on the top-level
    requirement: ESPv2's 404 and 405, and a 400 for the ambiguous path."""
    case = case_named(name)
    response = Listener(fail_closed, "outside").request(
        case["path"], method=case["method"], headers=case["headers"]
    )
    body = "" if case["method"] == "HEAD" else case["body"]
    assert (response.status, response.text) == (case["status"], body)
    assert response.header("www-authenticate") is None


@pytest.mark.parametrize(
    "name",
    [
        "a trailing '/' that would reach the :verb operation is refused",
        "a ';' parameter that would reach the :verb operation is refused",
        "an encoded '/' in a templated path is refused",
    ],
)
def test_paths_a_backend_reads_as_another_operation_are_refused(fail_closed, name):
    """The review of the issue 13 fixes: with a user token, `POST /v1/things/1:purge/`,
    `1:purge;x` and `1:purge%2F` matched `{id}` (UpdateThing) and reached the backend, where
    frameworks that ignore a trailing slash, drop `;` parameters or decode `%2F` run the
    admin-only `{id}:purge`. Now 400, as for `1%3Apurge`; `POST /v1/things/1/` still passes."""
    case = case_named(name)
    response = Listener(fail_closed, "outside").request(
        case["path"], method=case["method"], headers=case["headers"]
    )
    assert (response.status, response.text) == (case["status"], case["body"])
    assert response.header("www-authenticate") is None
    same = case_named("a trailing '/' that changes nothing passes")
    response = Listener(fail_closed, "outside").request(
        same["path"], method=same["method"], headers=same["headers"]
    )
    assert response.status == 200


def test_esp_x_security_requires_its_token(fail_closed):
    """ESP's legacy x-security (beside `security: []`, as ESP's own documents wrote it) requires
    a token, as ESP did; it used to make the operation public."""
    listener = Listener(fail_closed, "outside")
    assert listener.request("/v1/legacy").json() == {"code": 401, "message": "Jwt is missing"}
    token = case_named("top-level security, valid RS256")["headers"]["Authorization"]
    assert listener.request("/v1/legacy", headers={"Authorization": token}).status == 200


def test_unchecked_api_keys_pass_with_a_warning_per_operation(bookstore_envoy):
    """`"api_keys": "unchecked"`: the operations that need only a key pass without one, and
    the load logged one warning per operation that names an API key."""
    fail_closed = bookstore_envoy
    listener = Listener(bookstore_envoy, "unchecked")
    assert listener.request("/v1/files/a.txt").status == 200
    # A key ANDed with a JWT still needs the JWT.
    assert listener.request("/v1/shelves/7/books", method="POST").status == 401
    log = fail_closed.log()
    for operation in (
        'GET /v1/files/{name=**} (GetFile): API key "api_key" not checked '
        '("api_keys": "unchecked"): the operation is open to anyone',
        'POST /v1/shelves/{shelf}/books (CreateBook): API key "header_key" not '
        'checked ("api_keys": "unchecked"): its JWT requirement still applies',
    ):
        assert operation in log, fail_closed.log_tail()


def test_api_key_operations_are_refused_without_api_keys(refused):
    """Issue 12 item 1: the bookstore names API keys; without `api_keys` Envoy refuses the
    plugin with one line naming the operations and schemes (it used to run them anonymous)."""
    config = {k: v for k, v in BOOKSTORE["config"].items() if k != "api_keys"}
    log = refused(config, "openapi-keys")
    assert (
        "configuration rejected: openapi: GET /v1/files/{name=**} (GetFile), POST "
        '/v1/shelves/{shelf}/books (CreateBook) require API keys "api_key", "header_key", '
        'which jwt-gate cannot check; set "api_keys" (see docs/openapi.md)' in log
    ), log[-2000:]


def test_a_misspelled_google_extension_is_refused(refused):
    """Issue 12 item 4: `x-google-jwks-uri` (hyphen) used to mean OpenID discovery, silently;
    now Envoy refuses the plugin, naming the path and the spelling meant."""
    config = without_api_keys()
    auth0 = config["openapi"]["securityDefinitions"]["auth0_jwk"]
    uri = auth0.pop("x-google-jwks_uri")
    auth0["x-google-jwks-uri"] = uri
    # As a user would have it: keys fetched from there, not given inline.
    config["local_jwks"] = {k: v for k, v in config["local_jwks"].items() if k != uri}
    log = refused(config, "openapi-typo")
    assert (
        "configuration rejected: openapi.securityDefinitions.auth0_jwk.x-google-jwks-uri: "
        "unknown extension: did you mean x-google-jwks_uri?" in log
    ), log[-2000:]


@pytest.mark.parametrize(
    "misspell, message",
    [
        (
            lambda d: d.update(secuirty=d.pop("security")),
            "openapi.secuirty: unknown field (did you mean security?)",
        ),
        (
            lambda d: d.update(Security=d.pop("security")),
            "openapi.Security: unknown field (did you mean security?)",
        ),
    ],
    ids=["secuirty", "Security"],
)
def test_a_misspelled_field_is_refused(refused, misspell, message):
    """The review of the issue 12 fixes: only the exact key `security` was read, so a misspelled
    or capitalised one loaded and left every operation without its own `security` unchecked
    (`POST /v1/shelves` passed without a token). Now Envoy refuses the plugin, naming the path
    and the field meant."""
    config = without_api_keys()
    misspell(config["openapi"])
    log = refused(config, "openapi-field")
    assert f"configuration rejected: {message}" in log, log[-2000:]


def discovery_document(idp: IdentityProvider, **definition_fields) -> dict:
    return {
        "swagger": "2.0",
        "info": {"title": "remote", "version": "1"},
        "host": "remote.endpoints.example.cloud.goog",
        "security": [{"idp": []}],
        "securityDefinitions": {
            "idp": {
                "type": "oauth2",
                "flow": "implicit",
                "authorizationUrl": "",
                "x-google-issuer": idp.issuer,
                "x-google-audiences": "api.test",
                **definition_fields,
            }
        },
        "paths": {
            "/things/{id}": {"get": {"operationId": "GetThing"}},
            "/health": {"get": {"security": []}},
        },
    }


def test_remote_keys_by_discovery_through_a_named_cluster(gate_listener, idp):
    """No x-google-jwks_uri: the keys are discovered from the issuer, fetched through the cluster
    `jwks_clusters` names, and the backend gets the payload segment."""
    config = {
        "openapi": discovery_document(idp),
        "jwks_clusters": {f"127.0.0.1:{idp.port}": "idp"},
    }
    listener = gate_listener(config, "openapi-remote", clusters={"idp": idp.port})
    token = idp.mint()
    response = listener.request("/things/1", token=token)
    assert response.upstream.header(USER_INFO) == token.split(".")[1]
    assert idp.hits("/.well-known/openid-configuration") >= 1
    assert listener.request("/things/1").json() == {"code": 401, "message": "Jwt is missing"}
    assert listener.request("/health").status == 200


def test_api_gateway_header_and_esp_v1_format(gate_listener, idp):
    """`generated_header_prefix: X-Apigateway-` names the header as API Gateway does;
    `userinfo_format: esp_v1` writes ESP v1's padded wrapper JSON."""
    config = {
        "openapi": discovery_document(idp, **{"x-google-jwks_uri": idp.url("/jwks")}),
        "jwks_clusters": {"127.0.0.1": "idp"},
        "generated_header_prefix": "X-Apigateway-",
        "userinfo_format": "esp_v1",
    }
    listener = gate_listener(config, "openapi-apigw", clusters={"idp": idp.port})
    token = idp.mint(sub="svc-1", email="svc@example.com", aud=["b", "api.test", "b"])
    upstream = listener.request(
        "/things/1",
        token=token,
        headers={"X-Apigateway-Api-Userinfo": "spoofed", USER_INFO: "kept"},
    ).upstream
    value = upstream.header("x-apigateway-api-userinfo")
    assert len(value) % 4 == 0, "ESP v1 pads"
    info = json.loads(base64.urlsafe_b64decode(value))
    assert list(info) == ["claims", "issuer", "id", "email", "audiences"]
    assert (info["issuer"], info["id"], info["email"], info["audiences"]) == (
        idp.issuer,
        "svc-1",
        "svc@example.com",
        ["api.test", "b"],
    )
    assert json.loads(info["claims"])["sub"] == "svc-1"
    # Not our header name in this configuration: left alone.
    assert upstream.header(USER_INFO) == "kept"
    # Public operations never pass a client-sent copy on.
    public = listener.request("/health", headers={"X-Apigateway-Api-Userinfo": "spoofed"})
    assert public.upstream.header("x-apigateway-api-userinfo") is None


def test_backend_auth_moves_authorization_to_x_forwarded_authorization(gate_listener, idp):
    """With x-google-backend (no disable_auth), the caller's Authorization is copied to
    X-Forwarded-Authorization, and a client-sent X-Forwarded-Authorization never passes."""
    document = discovery_document(idp, **{"x-google-jwks_uri": idp.url("/jwks")})
    document["x-google-backend"] = {"address": "https://backend.example.run.app"}
    config = {"openapi": document, "jwks_clusters": {"127.0.0.1": "idp"}}
    listener = gate_listener(config, "openapi-xfa", clusters={"idp": idp.port})
    token = idp.mint()
    upstream = listener.request(
        "/things/1", token=token, headers={"X-Forwarded-Authorization": "Bearer forged"}
    ).upstream
    assert upstream.header("x-forwarded-authorization") == f"Bearer {token}"
    assert upstream.header("authorization") == f"Bearer {token}"
    public = listener.request("/health", headers={"X-Forwarded-Authorization": "Bearer forged"})
    assert public.upstream.header("x-forwarded-authorization") is None


def test_bad_document_is_rejected_at_load_naming_the_place(refused):
    """A security requirement naming no definition: Envoy refuses the plugin and exits, and the
    log says where in the document."""
    document = json.loads(json.dumps(BOOKSTORE["config"]["openapi"]))
    document["paths"]["/v1/shelves"]["post"]["security"] = [{"auth0": []}]
    config = {"openapi": document, "local_jwks": BOOKSTORE["config"]["local_jwks"]}
    log = refused(config, "openapi-bad")
    assert (
        'configuration rejected: openapi.paths./v1/shelves.post.security[0]: "auth0" is not in '
        "securityDefinitions" in log
    ), log[-2000:]


# --- The command line -----------------------------------------------------------------------------


def cli(*args: str) -> str:
    result = run_cli(*args)
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
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "OK" in result.stdout + result.stderr


def test_from_openapi_output_loads_in_envoy(gate_listener):
    """What `from-openapi` prints is a jwt_authn-form configuration the filter runs: the same
    bookstore answers every case the same way (API keys, 404, 405 and the ambiguous path
    included: the jwt_authn form says them with api_keys, api_key_name and deny)."""
    TMP.mkdir(parents=True, exist_ok=True)
    source = TMP / "cli-bookstore.json"
    source.write_text(json.dumps(BOOKSTORE["config"]))
    translated = json.loads(cli("from-openapi", str(source)))
    assert "openapi" not in translated and "providers" in translated
    assert set(translated["api_keys"]) == {"api_key", "header_key"}
    listener = gate_listener(translated, "openapi-cli")
    for case in BOOKSTORE["cases"]:
        response = listener.request(case["path"], method=case["method"], headers=case["headers"])
        assert response.status == case["status"], case["name"]
        if "body" in case and case["method"] != "HEAD":
            assert response.text == case["body"], case["name"]
