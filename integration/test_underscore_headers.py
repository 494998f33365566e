"""Headers a client smuggles past jwt-gate under another spelling: `X_User` for the `X-User`
jwt-gate writes. Envoy forwards such names by default, and CGI, WSGI, Rack and PHP backends
read `_` as `-` and merge the two (`HTTP_X_USER='admin,alice'`). Both layers, in Envoy 1.40:

- with Envoy's default (ALLOW), jwt-gate removes every spelling of the headers it writes or
  obeys, and every other spelling of a header it reads tokens from (`X_Token` for `x-token`), on
  every request: the echo backend shows what arrived, a WSGI backend what it made of it;
- with `headers_with_underscores_action: REJECT_REQUEST`, which every bootstrap jwt-gate ships
  or generates sets (and the Istio and Envoy Gateway manifests), Envoy answers 400 before
  jwt-gate runs."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import threading
import wsgiref.simple_server

import pytest
import yaml

from jwt_gate_testkit.artifacts import REPO
from jwt_gate_testkit.bootstrap import (
    HTTP_CONNECTION_MANAGER,
    bootstrap,
    headers_with_underscores,
    jwt_gate_filter,
    route_config,
)
from jwt_gate_testkit.client import header_values
from jwt_gate_testkit.docs import yaml_blocks
from jwt_gate_testkit.envoy import Envoy, Listener
from jwt_gate_testkit.tokens import AUDIENCE, ISSUER, segments

ESP_ISSUER = "https://esp.test"

# Every header the configuration below makes jwt-gate write or obey.
OWNED = {
    "x-jwt-payload",
    "x-user",
    "x-roles",
    "x-endpoint-api-userinfo",
    "x-forwarded-authorization",
    "x-http-method-override",
}

# Their underscore spellings, in assorted cases, with forged values.
SMUGGLED = [
    ("X_Jwt_Payload", "eyJzdWIiOiJhZG1pbiJ9"),
    ("x-jwt_payload", "eyJzdWIiOiJhZG1pbiJ9"),
    ("X_User", "admin"),
    ("x_USER", "root"),
    ("X_Roles", "admin"),
    ("X_Endpoint_API_UserInfo", "eyJzdWIiOiJhZG1pbiJ9"),
    ("X_Forwarded_Authorization", "Bearer forged"),
    ("X_HTTP_Method_Override", "DELETE"),
]
# Underscore names jwt-gate does not own: they must still arrive (with ALLOW, Envoy passes them).
BYSTANDERS = [("X_Custom", "kept"), ("X-Users_Extra", "kept")]


def gate_config(keys) -> dict:
    def provider(issuer: str, **fields) -> dict:
        return {
            "issuer": issuer,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks("rsa")},
            **fields,
        }

    return {
        "providers": {
            "p": provider(
                ISSUER,
                forward_payload_header="x-jwt-payload",
                claim_to_headers=[
                    {"header_name": "x-user", "claim_name": "sub"},
                    {"header_name": "x-roles", "claim_name": "roles"},
                ],
            ),
            "esp": provider(ESP_ISSUER, forward_payload_header="x-endpoint-api-userinfo"),
        },
        "rules": [
            {"match": {"prefix": "/public"}},
            {
                "match": {
                    "prefix": "/items",
                    "headers": [{"name": ":method", "string_match": {"exact": "DELETE"}}],
                },
                "requires": {"provider_name": "p"},
            },
            {"match": {"prefix": "/items"}},
            {"match": {"prefix": "/allow-missing"}, "requires": {"allow_missing": {}}},
            {"match": {"prefix": "/esp"}, "requires": {"provider_name": "esp"}},
            {"match": {"prefix": "/api"}, "requires": {"provider_name": "p"}},
        ],
        "x_forwarded_authorization": True,
        "http_method_override": True,
    }


def normalized(name: str) -> str:
    """A header name as a CGI-style backend reads it."""
    return name.lower().replace("_", "-")


def owned_headers(headers: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """The headers that, read as a CGI-style backend reads them, are one jwt-gate owns."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, value in headers:
        if normalized(name) in OWNED:
            found.setdefault(normalized(name), []).append((name, value))
    return found


# --- A WSGI backend (Python's wsgiref: it merges `X_User` into HTTP_X_USER with `X-User`) --------


def wsgi_app(environ, start_response):
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_") or k == "REQUEST_METHOD"}
    body = json.dumps(seen).encode()
    start_response("200 OK", [("content-type", "application/json")])
    return [body]


class QuietWSGIRequestHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def wsgi_port():
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, wsgi_app, handler_class=QuietWSGIRequestHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def allowing(keys, echo, wsgi_port, build):
    """Envoy's default (ALLOW): listener `echo` in front of the echo backend, `wsgi` in front of
    the WSGI backend, both with jwt-gate."""
    gate = jwt_gate_filter(gate_config(keys), build=build)
    config = bootstrap(
        {"echo": gate, "wsgi": gate},
        echo.port,
        clusters={"wsgi": wsgi_port},
        managers={"wsgi": {"route_config": route_config("wsgi")}},
    )
    with Envoy(config, "underscores-allow") as envoy:
        yield Listener(envoy, "echo"), Listener(envoy, "wsgi")


# --- jwt-gate removes every spelling of its headers ----------------------------------------------


@pytest.mark.parametrize(
    "path, issuer",
    [
        ("/public/x", None),  # a rule without a requirement
        ("/elsewhere", None),  # no rule
        ("/allow-missing/x", None),
        ("/allow-missing/x", ISSUER),
        ("/api/x", ISSUER),
        ("/esp/x", ESP_ISSUER),
    ],
)
def test_the_backend_gets_only_jwt_gates_own_values(allowing, keys, path, issuer):
    echo, _ = allowing
    token = keys.mint(iss=issuer, sub="alice", roles=["user"]) if issuer else None
    response = echo.request(path, headers=SMUGGLED + BYSTANDERS, token=token)
    upstream = response.upstream
    genuine: dict[str, list[tuple[str, str]]] = {}
    if token:
        payload = segments(token)[1]
        genuine["x-forwarded-authorization"] = [("x-forwarded-authorization", f"Bearer {token}")]
        if issuer == ISSUER:
            genuine["x-jwt-payload"] = [("x-jwt-payload", payload)]
            genuine["x-user"] = [("x-user", "alice")]
            genuine["x-roles"] = [("x-roles", "user")]
        else:
            genuine["x-endpoint-api-userinfo"] = [("x-endpoint-api-userinfo", payload)]
    assert owned_headers(upstream.headers) == genuine
    for name, value in BYSTANDERS:
        assert header_values(upstream.headers, name) == [value], "Envoy's ALLOW is in effect"


def test_the_underscore_method_override_is_removed_not_obeyed(allowing):
    """A request checked as POST (and let through, POST needs no token) must not run as DELETE
    at a backend that honours X_HTTP_Method_Override; the dash spelling is the one jwt-gate
    obeys, and DELETE needs a token."""
    echo, _ = allowing
    upstream = echo.request(
        "/items/7", method="POST", headers=[("X_HTTP_Method_Override", "DELETE")]
    ).upstream
    assert upstream.method == "POST"
    assert owned_headers(upstream.headers) == {}
    obeyed = echo.request("/items/7", method="POST", headers=[("X-HTTP-Method-Override", "DELETE")])
    assert (obeyed.status, obeyed.text) == (401, "Jwt is missing")


def test_a_wsgi_backend_reads_jwt_gates_values_only(allowing, keys):
    """What the report saw (HTTP_X_USER='admin,alice', HTTP_X_HTTP_METHOD_OVERRIDE='DELETE' on a
    request checked as POST), through a real WSGI server."""
    _, wsgi = allowing
    token = keys.mint(sub="alice", roles=["user"])
    environ = wsgi.request("/api/x", headers=SMUGGLED + BYSTANDERS, token=token).json()
    assert environ["HTTP_X_USER"] == "alice"
    assert environ["HTTP_X_ROLES"] == "user"
    assert environ["HTTP_X_JWT_PAYLOAD"] == segments(token)[1]
    assert environ["HTTP_X_FORWARDED_AUTHORIZATION"] == f"Bearer {token}"
    assert "HTTP_X_ENDPOINT_API_USERINFO" not in environ
    assert "HTTP_X_HTTP_METHOD_OVERRIDE" not in environ
    assert environ["HTTP_X_CUSTOM"] == "kept", "underscore names do reach this backend"

    environ = wsgi.request(
        "/items/7", method="POST", headers=[("X_HTTP_Method_Override", "DELETE")]
    ).json()
    assert environ["REQUEST_METHOD"] == "POST"
    assert "HTTP_X_HTTP_METHOD_OVERRIDE" not in environ


# --- Twins of token header locations: X_Token beside x-token ---------------------------------

# The OpenAPI form's token locations are ESPv2's: Authorization, X-Goog-Iap-Jwt-Assertion and
# ?access_token=, the token forwarded.
IAP_OPENAPI = {
    "swagger": "2.0",
    "info": {"title": "Twins", "version": "1.0.0"},
    "host": "api.test",
    "paths": {
        "/v1/items": {"get": {"operationId": "listItems"}},
        "/v1/public": {"get": {"operationId": "public", "security": []}},
    },
    "security": [{"idp": []}],
    "securityDefinitions": {
        "idp": {
            "type": "oauth2",
            "flow": "implicit",
            "authorizationUrl": "",
            "x-google-issuer": ISSUER,
            "x-google-jwks_uri": "https://issuer.test/jwks",
            "x-google-audiences": AUDIENCE,
        }
    },
}


def token_header_config(keys) -> dict:
    """Tokens in `x-token` (removed once verified: forward is false) and in `x-fwd-token`
    (forwarded)."""

    def provider(issuer: str, header: str, forward: bool) -> dict:
        return {
            "issuer": issuer,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks("rsa")},
            "from_headers": [{"name": header}],
            "forward": forward,
        }

    return {
        "providers": {
            "hdr": provider(ISSUER, "x-token", False),
            "fwd": provider(ESP_ISSUER, "x-fwd-token", True),
        },
        "rules": [
            {
                "match": {"prefix": "/public/"}
            },  # (4f0b2dc, the old build, has no path_separated_prefix)
            {"match": {"prefix": "/fwd"}, "requires": {"provider_name": "fwd"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "hdr"}},
        ],
    }


@pytest.fixture(scope="module")
def twins(keys, echo, wsgi_port, build):
    """Envoy's default (ALLOW). `token` and `token_wsgi`: token_header_config in front of the
    echo and the WSGI backend; `iap_wsgi`: the OpenAPI form in front of the WSGI backend."""
    by_header = jwt_gate_filter(token_header_config(keys), build=build)
    openapi = {"openapi": IAP_OPENAPI, "local_jwks": {"https://issuer.test/jwks": keys.jwks("rsa")}}
    to_wsgi = {"route_config": route_config("wsgi")}
    config = bootstrap(
        {
            "token": by_header,
            "token_wsgi": by_header,
            "iap_wsgi": jwt_gate_filter(openapi, build=build),
        },
        echo.port,
        clusters={"wsgi": wsgi_port},
        managers={"token_wsgi": to_wsgi, "iap_wsgi": to_wsgi},
    )
    with Envoy(config, "underscores-twins") as envoy:
        yield {name: Listener(envoy, name) for name in ("token", "token_wsgi", "iap_wsgi")}


def test_a_wsgi_backend_never_reads_a_forged_twin_of_the_token_header(twins, keys):
    """`x-token` holds the verified token, `X_Token` a forged one. jwt-gate removed `x-token`
    (forward: false) and left `X_Token`, which the WSGI backend read as HTTP_X_TOKEN: the
    forged token alone. Now every twin is removed, on checked and unchecked routes."""
    token = keys.mint(sub="alice")
    forged = keys.mint(sub="admin", key="rsa2")
    twins_sent = [("X_Token", forged), ("x_TOKEN", forged)]
    environ = twins["token_wsgi"].request("/api/x", headers=[("x-token", token), *twins_sent])
    assert environ.status == 200, environ.text
    assert "HTTP_X_TOKEN" not in environ.json(), environ.json()
    environ = twins["token_wsgi"].request("/public/x", headers=twins_sent).json()
    assert "HTTP_X_TOKEN" not in environ, environ
    # Forwarded: the verified token arrives alone.
    fwd = keys.mint(iss=ESP_ISSUER)
    sent = [("x-fwd-token", fwd), ("X_Fwd_Token", forged), ("x-fwd_token", forged)]
    environ = twins["token_wsgi"].request("/fwd/x", headers=sent).json()
    assert environ["HTTP_X_FWD_TOKEN"] == fwd


def test_the_backend_gets_no_twin_of_a_token_header(twins, keys):
    """What arrives, header by header (the echo backend): the token's own header as jwt_authn
    leaves it (removed once verified, kept on an unchecked route or with forward), no twin."""
    token, forged = keys.mint(), keys.mint(key="rsa2")
    twins_sent = [("X_Token", forged), ("x_token", forged), ("X-Token_", "bystander")]

    def arrived(path: str, headers) -> list[tuple[str, str]]:
        upstream = twins["token"].request(path, headers=headers).upstream
        return [(n.lower(), v) for n, v in upstream.headers if "token" in n.lower()]

    assert arrived("/api/x", [("x-token", token), *twins_sent]) == [("x-token_", "bystander")]
    assert arrived("/public/x", [("x-token", token), *twins_sent]) == [
        ("x-token", token),
        ("x-token_", "bystander"),
    ]
    assert twins["token"].request("/api/x", headers=twins_sent).status == 401


def test_the_openapi_forms_iap_header_has_no_twin_at_the_backend(twins, keys):
    """The OpenAPI form reads X-Goog-Iap-Jwt-Assertion (ESPv2's default) and forwards tokens.
    A forged X_Goog_Iap_Jwt_Assertion next to a valid Authorization token reached a WSGI backend
    as HTTP_X_GOOG_IAP_JWT_ASSERTION, where an app behind IAP reads its caller."""
    token = keys.mint(sub="alice")
    forged = keys.mint(sub="admin", key="rsa2")
    smuggled = [("X_Goog_Iap_Jwt_Assertion", forged), ("x-goog_iap-jwt_assertion", forged)]
    for path, credentials in [("/v1/items", token), ("/v1/public", None)]:
        response = twins["iap_wsgi"].request(path, headers=smuggled, token=credentials)
        assert response.status == 200, (path, response.text)
        assert "HTTP_X_GOOG_IAP_JWT_ASSERTION" not in response.json(), path
    # The location's own header is the token, verified and forwarded.
    sent = [("X-Goog-Iap-Jwt-Assertion", token), *smuggled]
    environ = twins["iap_wsgi"].request("/v1/items", headers=sent).json()
    assert environ["HTTP_X_GOOG_IAP_JWT_ASSERTION"] == token


# --- Envoy refuses underscore names: the setting jwt-gate's bootstraps and manifests use ---------

ISTIO_FILTER = REPO / "envoy" / "istio" / "reject-underscore-headers.yaml"
GATEWAY_POLICY = REPO / "envoy" / "envoy-gateway" / "clienttrafficpolicy.yaml"


@pytest.fixture(scope="module")
def rejecting(keys, echo, build):
    """Listener `gate`: headers_with_underscores_action REJECT_REQUEST; listener `istio`:
    Envoy's default with the Istio EnvoyFilter's patch merged into its connection manager, as
    Istio's MERGE does; listener `drop`: DROP_HEADER, the documented alternative."""
    gate = jwt_gate_filter(gate_config(keys), build=build)
    [patch] = yaml.safe_load(ISTIO_FILTER.read_text())["spec"]["configPatches"]
    istio = copy.deepcopy(patch["patch"]["value"]["typed_config"])
    assert istio.pop("@type") == HTTP_CONNECTION_MANAGER
    managers = {
        "gate": headers_with_underscores("REJECT_REQUEST"),
        "istio": istio,
        "drop": headers_with_underscores("DROP_HEADER"),
    }
    config = bootstrap({name: gate for name in managers}, echo.port, managers=managers)
    with Envoy(config, "underscores-reject") as envoy:
        yield envoy


@pytest.mark.parametrize("listener", ["gate", "istio"])
def test_reject_request_answers_400_before_jwt_gate(rejecting, keys, listener):
    gate = Listener(rejecting, listener)
    counter = "http1.requests_rejected_with_underscores_in_headers"
    before = rejecting.gate_stats(), rejecting.stats(counter)[counter]
    token = keys.mint()
    requests = 0
    for name, value in SMUGGLED + BYSTANDERS:
        for path in ("/public/x", "/api/x"):
            response = gate.request(path, headers=[(name, value)], token=token)
            assert (response.status, response.text) == (400, "Bad Request"), (name, path)
            requests += 1
    after = rejecting.gate_stats(), rejecting.stats(counter)[counter]
    assert after == (before[0], before[1] + requests), "Envoy refused them; jwt-gate saw nothing"
    # Everything else is unchanged.
    assert gate.request("/api/x", token=token).status == 200
    assert gate.request("/api/x").status == 401


def test_drop_header_drops_them_before_the_backend(rejecting, keys):
    token = keys.mint(sub="alice")
    upstream = (
        Listener(rejecting, "drop")
        .request("/api/x", headers=SMUGGLED + BYSTANDERS, token=token)
        .upstream
    )
    assert [name for name, _ in upstream.headers if "_" in name] == []
    assert header_values(upstream.headers, "x-user") == ["alice"]


# --- Every bootstrap jwt-gate ships or generates says REJECT_REQUEST -----------------------------


def connection_managers(node):
    """Every HttpConnectionManager config in a parsed YAML/JSON document."""
    if isinstance(node, dict):
        if str(node.get("@type", "")).endswith("HttpConnectionManager"):
            yield node
        for value in node.values():
            yield from connection_managers(value)
    elif isinstance(node, list):
        for item in node:
            yield from connection_managers(item)


def bootstraps() -> list[tuple[str, dict]]:
    paths = [
        *sorted((REPO / "envoy").rglob("*.yaml")),
        REPO / "tests" / "data" / "cli" / "envoy-config.golden.yaml",
        REPO / "tests" / "data" / "cli" / "envoy-config-native.golden.yaml",
    ]
    found = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and "static_resources" in doc:
                found.append((str(path.relative_to(REPO)), doc))
    return found


def test_every_shipped_and_generated_bootstrap_rejects_underscore_headers():
    labels = []
    for label, doc in bootstraps():
        managers = list(connection_managers(doc))
        assert managers, label
        for manager in managers:
            options = manager.get("common_http_protocol_options", {})
            assert options.get("headers_with_underscores_action") == "REJECT_REQUEST", label
        labels.append(label)
    assert labels == [
        "envoy/compose/envoy-native.yaml",
        "envoy/compose/envoy.yaml",
        "envoy/envoy-native.yaml",
        "envoy/envoy-remote-example.yaml",
        "envoy/envoy.yaml",
        "tests/data/cli/envoy-config.golden.yaml",
        "tests/data/cli/envoy-config-native.golden.yaml",
    ]


def test_the_istio_and_envoy_gateway_manifests_reject_underscore_headers():
    [istio] = yaml.safe_load_all(ISTIO_FILTER.read_text())
    assert (istio["apiVersion"], istio["kind"]) == ("networking.istio.io/v1alpha3", "EnvoyFilter")
    [patch] = istio["spec"]["configPatches"]
    assert patch["applyTo"] == "NETWORK_FILTER" and patch["patch"]["operation"] == "MERGE"
    assert patch["match"]["listener"]["filterChain"]["filter"]["name"] == (
        "envoy.filters.network.http_connection_manager"
    )
    wasm_plugin = yaml.safe_load((REPO / "envoy" / "istio" / "wasmplugin.yaml").read_text())
    selector = wasm_plugin["spec"]["selector"]["matchLabels"]
    assert istio["spec"]["workloadSelector"]["labels"] == selector

    [policy] = yaml.safe_load_all(GATEWAY_POLICY.read_text())
    assert (policy["apiVersion"], policy["kind"]) == (
        "gateway.envoyproxy.io/v1alpha1",
        "ClientTrafficPolicy",
    )
    assert policy["spec"]["headers"] == {"withUnderscoresAction": "RejectRequest"}
    extension = yaml.safe_load(
        (REPO / "envoy" / "envoy-gateway" / "envoyextensionpolicy.yaml").read_text()
    )
    assert policy["spec"]["targetRefs"] == extension["spec"]["targetRefs"]


def test_docs_show_the_setting():
    """The README, docs/deploy.md and docs/security.md show the setting the bootstraps use
    (and the `rejecting` Envoy above runs)."""
    expected = {
        "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"}
    }
    for doc in ("README.md", "docs/deploy.md", "docs/security.md"):
        shown = [
            block
            for block in yaml_blocks(REPO / doc)
            if isinstance(block, dict) and "common_http_protocol_options" in block
        ]
        assert shown == [expected], doc


@pytest.mark.skipif(
    "HTTP2" not in subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    if shutil.which("curl")
    else True,
    reason="needs curl with HTTP/2",
)
def test_reject_request_resets_http2_streams(rejecting):
    """What docs/deploy.md says of HTTP/2: the stream is reset (curl's exit 92) and counted."""
    port = Listener(rejecting, "gate").port
    counter = "http2.requests_rejected_with_underscores_in_headers"
    before = rejecting.stats(counter).get(counter, 0)
    curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"]
    curl += ["--http2-prior-knowledge", f"http://127.0.0.1:{port}/public/x"]
    smuggled = subprocess.run(
        [*curl, "-H", "X_User: admin"], capture_output=True, text=True, timeout=30
    )
    assert smuggled.returncode == 92 and "INTERNAL_ERROR" in smuggled.stderr, smuggled
    plain = subprocess.run(curl, capture_output=True, text=True, timeout=30)
    assert (plain.returncode, plain.stdout) == (0, "200"), plain
    assert rejecting.stats(counter)[counter] == before + 1
