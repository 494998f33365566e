#!/usr/bin/env python3
"""Mints tests/data/oci_deployment.json: an OCI API Gateway deployment with a JWT_AUTHENTICATION
policy (two issuers, static keys as JWK and PEM, verifyClaims (one with a dot in its name: a
literal top-level claim, as OCI reads it), clock skew, anonymous access) and routes
(AUTHENTICATION_ONLY with claims handed to the backend by header transformations, ANY_OF scopes,
ANONYMOUS), plus tokens, the verdict jwt-gate must reach for each through `jwt-gate from-oci`'s
translation, and the claim headers it adds. Tokens by PyJWT, never by jwt-gate.
Run from the repository root: .venv/bin/python tests/data/generate_oci.py
"""

import json

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

NOW = 1_700_000_000
LATER = 4_000_000_000
jwk_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk_public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(jwk_key.public_key()))
pem_public = (
    pem_key.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)

deployment = {
    "pathPrefix": "/v1",
    "specification": {
        "requestPolicies": {
            "authentication": {
                "type": "JWT_AUTHENTICATION",
                "isAnonymousAccessAllowed": True,
                "tokenHeader": "Authorization",
                "tokenAuthScheme": "Bearer",
                "maxClockSkewInSeconds": 10,
                "issuers": ["https://tenant.auth0.com/", "https://idcs.example.com"],
                "audiences": ["https://api.example.com"],
                "verifyClaims": [
                    {"key": "tenant", "values": ["acme", "globex"], "isRequired": True},
                    {"key": "email_verified", "values": ["true"], "isRequired": False},
                    {"key": "org.id", "values": ["42"], "isRequired": True},
                ],
                "publicKeys": {
                    "type": "STATIC_KEYS",
                    "keys": [
                        {
                            "format": "JSON_WEB_KEY",
                            "kid": "jwk-1",
                            "kty": "RSA",
                            "alg": "RS256",
                            "use": "sig",
                            "n": jwk_public["n"],
                            "e": jwk_public["e"],
                        },
                        {"format": "PEM", "kid": "pem-1", "key": pem_public},
                    ],
                },
            }
        },
        "routes": [
            {
                "path": "/pets",
                "methods": ["GET"],
                "backend": {"type": "HTTP_BACKEND", "url": "https://pets.example.com/pets"},
                "requestPolicies": {
                    "headerTransformations": {
                        "setHeaders": {
                            "items": [
                                {
                                    "name": "X-User",
                                    "values": ["${request.auth[sub]}"],
                                    "ifExists": "OVERWRITE",
                                },
                                {"name": "X-Groups", "values": ["${request.auth[groups]}"]},
                                {"name": "X-Team", "values": ["${request.auth[app.team]}"]},
                            ]
                        }
                    }
                },
            },
            {
                "path": "/pets/{petId}",
                "methods": ["DELETE", "PUT"],
                "backend": {"type": "HTTP_BACKEND", "url": "https://pets.example.com/pets"},
                "requestPolicies": {
                    "authorization": {"type": "ANY_OF", "allowedScope": ["pets:write", "admin"]}
                },
            },
            {
                "path": "/public/{rest*}",
                "methods": ["ANY"],
                "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200},
                "requestPolicies": {"authorization": {"type": "ANONYMOUS"}},
            },
        ],
    },
}


def mint(key, kid, **claims):
    payload = {
        "iss": "https://tenant.auth0.com/",
        "aud": "https://api.example.com",
        "sub": "u1",
        "iat": NOW,
        "exp": LATER,
        "tenant": "acme",
        "org.id": "42",
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def case(name, method, path, token, expect, adds=None):
    """`adds`: the claim headers an allowed request gets (none when not given)."""
    return {
        "name": name,
        "method": method,
        "path": path,
        "token": token,
        "expect": expect,
        "adds": adds or {},
    }


USER = {"x-user": "u1"}


cases = [
    case("JWK key, first issuer", "GET", "/v1/pets", mint(jwk_key, "jwk-1"), "ok", USER),
    case(
        "PEM key, second issuer",
        "GET",
        "/v1/pets",
        mint(pem_key, "pem-1", iss="https://idcs.example.com"),
        "ok",
        USER,
    ),
    case(
        "claims to headers: a list comma-joined, a dotted name literal",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", groups=["dev", "ops"], **{"app.team": "core"}),
        "ok",
        {**USER, "x-groups": "dev,ops", "x-team": "core"},
    ),
    case(
        "a dotted claim name never reaches into nested objects",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", app={"team": "nested"}),
        "ok",
        USER,
    ),
    case(
        "required dotted claim only nested: missing",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", org={"id": "42"}, **{"org.id": None}),
        "403 Claim org.id is missing in Jwt",
    ),
    case("no token", "GET", "/v1/pets", None, "401 Jwt is missing"),
    case(
        "unknown issuer",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", iss="https://evil.test"),
        "401 Jwt issuer is not configured",
    ),
    case(
        "wrong audience",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", aud="other"),
        "403 Audiences in Jwt are not allowed",
    ),
    case(
        "claim value not allowed",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", tenant="initech"),
        "403 Claim tenant in Jwt is not allowed",
    ),
    case(
        "required claim missing",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", tenant=None),
        "403 Claim tenant is missing in Jwt",
    ),
    case(
        "optional claim with a wrong value",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", email_verified=False),
        "403 Claim email_verified in Jwt is not allowed",
    ),
    case(
        "optional claim with the right value",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", email_verified=True),
        "ok",
        USER,
    ),
    case(
        "expired beyond the 10 s skew",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", exp=NOW - 11),
        "401 Jwt is expired",
    ),
    case(
        "expired within the 10 s skew",
        "GET",
        "/v1/pets",
        mint(jwk_key, "jwk-1", exp=NOW - 9),
        "ok",
        USER,
    ),
    case(
        "scope granted: claim headers on every route with a verified token",
        "DELETE",
        "/v1/pets/7",
        mint(jwk_key, "jwk-1", scope="pets:read pets:write"),
        "ok",
        USER,
    ),
    case(
        "scope not granted",
        "PUT",
        "/v1/pets/7",
        mint(jwk_key, "jwk-1", scope="pets:read"),
        "403 Scopes in Jwt are not allowed",
    ),
    case("anonymous route, no token", "POST", "/v1/public/a/b", None, "ok"),
    case("anonymous route, bad token: not looked at", "GET", "/v1/public/a", "x.y.z", "ok"),
    case(
        "anonymous route, valid token: no claim headers",
        "GET",
        "/v1/public/a",
        mint(jwk_key, "jwk-1"),
        "ok",
    ),
    # Requests no route takes: OCI's 404, whatever token they carry (they used to need just
    # any valid token, without the route's scopes).
    case("method not listed: 404", "POST", "/v1/pets", None, "404 Not Found"),
    case(
        "method not listed, valid token: still 404",
        "POST",
        "/v1/pets",
        mint(jwk_key, "jwk-1"),
        "404 Not Found",
    ),
    case(
        "HEAD where only GET is listed: 404",
        "HEAD",
        "/v1/pets",
        mint(jwk_key, "jwk-1"),
        "404 Not Found",
    ),
    *[
        case(
            f"{method} on the ANY_OF route's path, a token without its scopes: 404",
            method,
            "/v1/pets/7",
            mint(jwk_key, "jwk-1", scope="pets:read"),
            "404 Not Found",
        )
        for method in ("GET", "PATCH", "POST")
    ],
    case("path not listed: 404", "GET", "/v1/other", None, "404 Not Found"),
    case(
        "path not listed, valid token: still 404",
        "GET",
        "/v1/other",
        mint(jwk_key, "jwk-1"),
        "404 Not Found",
    ),
    case(
        "paths are case-sensitive: 404", "GET", "/v1/PETS", mint(jwk_key, "jwk-1"), "404 Not Found"
    ),
    case("outside the path prefix: 404", "GET", "/pets", mint(jwk_key, "jwk-1"), "404 Not Found"),
]

with open("tests/data/oci_deployment.json", "w") as f:
    json.dump(
        {
            "generator": f"tests/data/generate_oci.py (PyJWT {jwt.__version__})",
            "now": NOW,
            "deployment": deployment,
            "cases": cases,
        },
        f,
        indent=1,
    )
    f.write("\n")
print(f"wrote tests/data/oci_deployment.json: {len(cases)} cases")
