"""An OCI API Gateway deployment, shaped like OCI's documentation, translated by the built
`jwt-gate from-oci` and run in a real Envoy with the built .wasm: keys fetched from a local
identity provider (REMOTE_JWKS), verifyClaims, an ANY_OF scope route, an ANONYMOUS route, and
header transformations that hand claims to the backend (the echo backend shows what arrived).

Every route answers as OCI would, and a request no route takes gets OCI's 404; where jwt-gate's
answer differs from OCI's (jwt_authn's 403 for a claim or scope) the guide
docs/migrating-from-oci-api-gateway.md says so. `JWT_GATE_CLI` picks another `jwt-gate` binary
(to run these against an older build)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from jwt_gate_testkit.artifacts import REPO, TMP, run_cli
from jwt_gate_testkit.bootstrap import jwt_gate_filter
from jwt_gate_testkit.client import assert_denied
from jwt_gate_testkit.envoy import Listener, running_envoy
from jwt_gate_testkit.servers import IdentityProvider
from jwt_gate_testkit.tokens import AUDIENCE


def deployment(idp: IdentityProvider) -> dict:
    """A deployment as OCI's docs write one: JWT_AUTHENTICATION with remote keys, a claim check,
    anonymous access allowed; four routes (claims to headers; two ANY_OF scopes; ANONYMOUS)."""
    backend = {"type": "HTTP_BACKEND", "url": "https://pets.example.com/api"}
    return {
        "displayName": "pets",
        "pathPrefix": "/v1",
        "specification": {
            "requestPolicies": {
                "authentication": {
                    "type": "JWT_AUTHENTICATION",
                    "isAnonymousAccessAllowed": True,
                    "tokenHeader": "Authorization",
                    "tokenAuthScheme": "Bearer",
                    "issuers": [idp.issuer],
                    "audiences": [AUDIENCE],
                    "maxClockSkewInSeconds": 0,
                    "verifyClaims": [{"key": "tenant", "values": ["acme"], "isRequired": True}],
                    "publicKeys": {
                        "type": "REMOTE_JWKS",
                        "uri": idp.url("/jwks"),
                        "maxCacheDurationInHours": 1,
                        "isSslVerifyDisabled": False,
                    },
                }
            },
            "routes": [
                {
                    "path": "/pets",
                    "methods": ["GET"],
                    "backend": backend,
                    "requestPolicies": {
                        "headerTransformations": {
                            "setHeaders": {
                                "items": [
                                    {
                                        "name": "X-User",
                                        "values": ["${request.auth[sub]}"],
                                        "ifExists": "OVERWRITE",
                                    },
                                    {
                                        "name": "X-Groups",
                                        "values": ["${request.auth[groups]}"],
                                        "ifExists": "OVERWRITE",
                                    },
                                    {
                                        "name": "X-Team",
                                        "values": ["${request.auth[app.team]}"],
                                        "ifExists": "OVERWRITE",
                                    },
                                ]
                            }
                        }
                    },
                },
                {
                    "path": "/pets/{petId}",
                    "methods": ["DELETE", "PUT"],
                    "backend": backend,
                    "requestPolicies": {
                        "authorization": {"type": "ANY_OF", "allowedScope": ["pets:write", "admin"]}
                    },
                },
                {
                    "path": "/admin",
                    "methods": ["GET"],
                    "backend": backend,
                    "requestPolicies": {
                        "authorization": {"type": "ANY_OF", "allowedScope": ["admin"]}
                    },
                },
                {
                    "path": "/public/{rest*}",
                    "methods": ["GET"],
                    "backend": backend,
                    "requestPolicies": {"authorization": {"type": "ANONYMOUS"}},
                },
            ],
        },
    }


def from_oci(document: dict, name: str) -> subprocess.CompletedProcess:
    TMP.mkdir(parents=True, exist_ok=True)
    path = TMP / f"{name}-{os.getpid()}.json"
    path.write_text(json.dumps(document, indent=1))
    try:
        return run_cli("from-oci", str(path))
    finally:
        path.unlink()


@pytest.fixture(scope="module")
def oci(echo, build):
    """The translated deployment in Envoy: (listener, identity provider, from-oci's stderr)."""
    with IdentityProvider() as idp:
        result = from_oci(deployment(idp), "oci-deployment")
        assert result.returncode == 0, result.stderr
        translated = json.loads(result.stdout)
        [cluster] = {
            p["remote_jwks"]["http_uri"]["cluster"] for p in translated["providers"].values()
        }
        with running_envoy(
            {"oci": jwt_gate_filter(translated, build=build)},
            echo.port,
            "oci",
            clusters={cluster: idp.port},
        ) as envoy:
            listener = Listener(envoy, "oci")
            # The first request waits for the keys; later ones find them.
            token = idp.mint(tenant="acme")
            assert listener.request("/v1/pets", token=token).status == 200
            yield listener, idp, result.stderr


def test_from_oci_says_what_it_leaves_to_envoy(oci):
    """Exit 0, and on standard error one line per feature left out, naming its place."""
    _, _, stderr = oci
    assert stderr.splitlines() == [
        "warning: specification.routes[*].backend: not translated: jwt-gate decides who may pass, "
        "Envoy's route_config where requests go",
        "warning: specification.routes: claim headers (x-groups, x-team, x-user) are set on every "
        "route where a token verified, also on the routes that do not set them in OCI",
    ]


def test_the_backend_receives_the_transformed_headers(oci):
    """`${request.auth[sub]}` arrives as X-User, replacing what the client sent; a list claim
    comma-joined; `app.team` is the claim of that literal name, as OCI reads it, never the
    nested {"app": {"team": ...}}."""
    listener, idp, _ = oci
    token = idp.mint(tenant="acme", sub="u-42", groups=["dev", "ops"], **{"app.team": "core"})
    upstream = listener.request("/v1/pets", token=token, headers={"X-User": "mallory"}).upstream
    assert upstream.header("x-user") == "u-42"
    assert upstream.header("x-groups") == "dev,ops"
    assert upstream.header("x-team") == "core"
    nested = idp.mint(tenant="acme", app={"team": "nested"})
    upstream = listener.request("/v1/pets", token=nested, headers={"X-Team": "forged"}).upstream
    assert upstream.header("x-team") is None
    assert upstream.header("x-user") == "alice"


def test_the_authenticated_route_answers_as_oci(oci):
    listener, idp, _ = oci
    assert_denied(listener.request("/v1/pets"), 401, "Jwt is missing")
    assert_denied(
        listener.request("/v1/pets", token="x.y.z"),
        401,
        "Jwt header is an invalid Base64url encoded",
    )
    assert_denied(
        listener.request("/v1/pets", token=idp.mint(tenant="acme", exp=int(time.time()) - 5)),
        401,
        "Jwt is expired",
    )
    assert_denied(
        listener.request("/v1/pets", token=idp.mint(tenant="acme", iss="https://evil.test")),
        401,
        "Jwt issuer is not configured",
    )
    assert_denied(
        listener.request("/v1/pets", token=idp.mint(tenant="acme", aud="other")),
        403,
        "Audiences in Jwt are not allowed",
    )
    forged = idp.mint(tenant="acme", key=idp.stranger)
    assert_denied(listener.request("/v1/pets", token=forged), 401, "Jwt verification fails")
    # verifyClaims: the value must be listed, and the claim is required.
    assert_denied(
        listener.request("/v1/pets", token=idp.mint(tenant="initech")),
        403,
        "Claim tenant in Jwt is not allowed",
    )
    assert_denied(
        listener.request("/v1/pets", token=idp.mint()), 403, "Claim tenant is missing in Jwt"
    )


def test_the_any_of_route_needs_one_of_its_scopes(oci):
    listener, idp, _ = oci
    granted = idp.mint(tenant="acme", scope="pets:read pets:write")
    assert listener.request("/v1/pets/7", method="DELETE", token=granted).status == 200
    assert (
        listener.request(
            "/v1/pets/7", method="PUT", token=idp.mint(tenant="acme", scope="admin")
        ).status
        == 200
    )
    denied = listener.request(
        "/v1/pets/7", method="DELETE", token=idp.mint(tenant="acme", scope="pets:read")
    )
    assert (denied.status, denied.text) == (403, "Scopes in Jwt are not allowed")
    assert denied.header("www-authenticate").endswith('error="insufficient_scope"')
    assert_denied(listener.request("/v1/pets/7", method="DELETE"), 401, "Jwt is missing")


def test_the_anonymous_route_does_not_look_at_tokens(oci):
    """OCI does not authenticate an ANONYMOUS route: no token, a broken one, a forged one, an
    expired one all pass, and no claim reaches the backend (nor a client's copy of a claim
    header)."""
    listener, idp, _ = oci
    for token in [
        None,
        "x.y.z",
        idp.mint(tenant="acme", key=idp.stranger),
        idp.mint(tenant="acme", exp=int(time.time()) - 5),
        idp.mint(tenant="acme"),
    ]:
        upstream = listener.request(
            "/v1/public/docs/a", token=token, headers={"X-User": "admin"}
        ).upstream
        assert upstream.header("x-user") is None, token


def test_requests_no_route_takes_get_ocis_404(oci):
    """The review of the issue 12 fixes: with a valid token that grants only `read`, another
    method on a scoped route's path, HEAD and POST on a GET-only admin route, and a path in
    another case reached the backend (a last rule wanted any valid token, without the route's
    scopes); OCI answers 404 there. Now jwt-gate does too, token or not, and the route's own
    method still needs its scope."""
    listener, idp, _ = oci
    reader = idp.mint(tenant="acme", scope="read")
    for method, path in [
        ("PATCH", "/v1/pets/7"),
        ("POST", "/v1/pets/7"),
        ("GET", "/v1/pets/7"),
        ("POST", "/v1/admin"),
        ("DELETE", "/v1/admin"),
        ("HEAD", "/v1/admin"),
        ("GET", "/v1/Admin"),
        ("POST", "/v1/pets"),
        ("GET", "/v1/other"),
        ("GET", "/admin"),
    ]:
        for token in (reader, None):
            response = listener.request(path, method=method, token=token)
            body = "" if method == "HEAD" else "Not Found"
            assert (response.status, response.text) == (404, body), (method, path, token)
            assert response.header("www-authenticate") is None
    denied = listener.request("/v1/admin", token=reader)
    assert (denied.status, denied.text) == (403, "Scopes in Jwt are not allowed")
    admin = idp.mint(tenant="acme", scope="admin")
    assert listener.request("/v1/admin", token=admin).status == 200


def test_two_routes_for_one_path_and_method_are_refused():
    """An ANY_OF route and an ANONYMOUS one on the same path and method used to translate (exit
    0), the first listed winning: from-oci refuses them, naming both."""
    with IdentityProvider() as idp:
        document = deployment(idp)
    routes = document["specification"]["routes"]
    routes.append({"path": "/admin", "requestPolicies": {"authorization": {"type": "ANONYMOUS"}}})
    result = from_oci(document, "oci-twice")
    assert result.returncode == 1, result.stdout
    assert result.stderr == (
        "jwt-gate: configuration rejected: specification.routes[4]: GET /admin is also "
        "routes[2]'s (/admin): two routes for one path and method would leave which one applies "
        "to their order; give each path and method one route\n"
    )


def test_a_typo_is_refused_not_dropped():
    """`verifyClaim` for `verifyClaims`: from-oci refuses the deployment (it used to translate it
    without the claim check, letting every tenant in)."""
    with IdentityProvider(start=False) as idp:
        document = deployment(idp)
    policy = document["specification"]["requestPolicies"]["authentication"]
    policy["verifyClaim"] = policy.pop("verifyClaims")
    result = from_oci(document, "oci-typo")
    assert result.returncode == 1, result.stdout
    assert result.stderr == (
        "jwt-gate: configuration rejected: specification.requestPolicies.authentication."
        "verifyClaim: unknown field (did you mean verifyClaims?)\n"
    )


def test_the_migration_guide_example_translates():
    """The OCI deployment the guide starts from translates, and its header transformation is
    the guide's claim_to_headers."""
    guide = (REPO / "docs/migrating-from-oci-api-gateway.md").read_text()
    blocks = [json.loads(b.split("```", 1)[0]) for b in guide.split("```json\n")[1:]]
    [source] = [b for b in blocks if "requestPolicies" in b]
    [shown] = [b for b in blocks if "providers" in b and b is not source]
    result = from_oci(source, "oci-guide")
    assert result.returncode == 0, result.stderr
    translated = json.loads(result.stdout)["providers"]["oci"]
    expected = shown["providers"]["auth0"]
    for field in ("issuer", "audiences", "claim_to_headers", "claim_lookup", "from_headers"):
        assert translated[field] == expected[field], field
