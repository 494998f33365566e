#!/usr/bin/env python3
"""Mints tests/data/openapi_bookstore.json: an OpenAPI 2.0 bookstore document written the way
Cloud Endpoints and API Gateway users write them, the key sets its securityDefinitions point at
(as `local_jwks`, keyed by URI), and cases: a request, the status jwt-gate must answer, the body
for failures and the exact X-Endpoint-API-UserInfo the backend must see.

Tokens are minted by PyJWT and cryptography, never by jwt-gate. Valid tokens expire in 2096, so
the same file drives the core tests (tests/openapi.rs, at NOW) and the real-Envoy tests
(integration/test_openapi.py, at the wall clock). Run from the repository root:
    .venv/bin/python tests/data/generate_openapi.py
"""

import base64
import datetime
import hashlib
import json
import os

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = 1_700_000_000
LATER = 4_000_000_000  # 2096: valid for the core tests and for Envoy
SERVICE = "bookstore.endpoints.example-project.cloud.goog"
SA = "bookstore-sa@example-project.iam.gserviceaccount.com"

ISSUER_A = "https://issuer-a.test/"
JWKS_A = "https://issuer-a.test/.well-known/jwks.json"
SA_CERTS = f"https://www.googleapis.com/robot/v1/metadata/x509/{SA}"
ISSUER_C = "https://issuer-c.test"
DISCOVERY_C = "https://issuer-c.test/.well-known/openid-configuration"
JWKS_C = "https://keys.issuer-c.test/v1/keys"
ISSUER_H = "https://issuer-h.test"
SECRET_H = "https://issuer-h.test/secret"
# What a client sends; only its digest is configured.
API_KEY = "AIzaSyBookstoreTestKey-0123456789abcd"
NOT_DEFINED = "The current request is not defined by this API."
AMBIGUOUS = "The request path is ambiguous: a backend may read it as another path"
KEY_MISSING = (
    "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without "
    "established identity). Please use API Key or other form of API consumer identity "
    "to call this API."
)
KEY_NOT_VALID = "INVALID_ARGUMENT: API key not valid. Please pass a valid API key."


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(alg_cls, public, kid):
    entry = json.loads(alg_cls.to_jwk(public))
    entry["kid"] = kid
    return entry


def certificate(key) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SA)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2020, 1, 1))
        .not_valid_after(datetime.datetime(2095, 1, 1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


rsa_a = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_a = ec.generate_private_key(ec.SECP256R1())
rsa_sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_c = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
secret_h = os.urandom(32)

A = jwt.algorithms
local_jwks = {
    JWKS_A: json.dumps(
        {
            "keys": [
                jwk(A.RSAAlgorithm, rsa_a.public_key(), "a-rsa"),
                jwk(A.ECAlgorithm, ec_a.public_key(), "a-ec"),
            ]
        }
    ),
    SA_CERTS: json.dumps({"sa-key-1": certificate(rsa_sa)}),
    DISCOVERY_C: json.dumps({"issuer": ISSUER_C, "jwks_uri": JWKS_C}),
    JWKS_C: json.dumps({"keys": [jwk(A.RSAAlgorithm, rsa_c.public_key(), "c-rsa")]}),
    SECRET_H: b64(secret_h),
}


def token(key, alg, kid, **claims):
    payload = {"iat": NOW, "exp": LATER, "sub": "user-1", **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)


def auth0(**claims):
    return token(rsa_a, "RS256", "a-rsa", **{"iss": ISSUER_A, "aud": "bookstore-api", **claims})


def payload_segment(tok: str) -> str:
    return tok.split(".")[1]


sa_token = token(rsa_sa, "RS256", "sa-key-1", iss=SA, aud=f"https://{SERVICE}", email=SA)
sa_wrong_aud = token(rsa_sa, "RS256", "sa-key-1", iss=SA, aud="https://other.example.com")
a_rs = auth0(email="reader@example.com")
a_es = token(ec_a, "ES256", "a-ec", iss=ISSUER_A, aud=["other", "https://bookstore.example.com"])
a_expired = auth0(exp=NOW - 3600)
a_wrong_aud = auth0(aud="someone-else")
a_forged = token(rsa_forger, "RS256", "a-rsa", iss=ISSUER_A, aud="bookstore-api")
c_token = token(rsa_c, "RS256", "c-rsa", iss=ISSUER_C, aud=f"https://{SERVICE}")
h_token = token(secret_h, "HS256", None, iss=ISSUER_H, aud="files-api")
h_bad = token(os.urandom(32), "HS256", None, iss=ISSUER_H, aud="files-api")

document = {
    "swagger": "2.0",
    "info": {
        "title": "Bookstore",
        "description": "A bookstore behind Cloud Endpoints",
        "version": "1.0.0",
    },
    "host": SERVICE,
    "basePath": "/",
    "schemes": ["https"],
    "consumes": ["application/json"],
    "produces": ["application/json"],
    "x-google-endpoints": [{"name": SERVICE, "allowCors": True}],
    "security": [{"auth0_jwk": []}],
    "securityDefinitions": {
        "auth0_jwk": {
            "type": "oauth2",
            "flow": "implicit",
            "authorizationUrl": "",
            "x-google-issuer": ISSUER_A,
            "x-google-jwks_uri": JWKS_A,
            "x-google-audiences": "bookstore-api, https://bookstore.example.com",
        },
        "google_service_account": {
            "type": "oauth2",
            "flow": "implicit",
            "authorizationUrl": "",
            "x-google-issuer": SA,
            "x-google-jwks_uri": SA_CERTS,
        },
        "partner": {
            "type": "oauth2",
            "flow": "implicit",
            "authorizationUrl": "",
            "x-google-issuer": ISSUER_C,
            "x-google-jwt-locations": [
                {"header": "X-Partner-Token", "value_prefix": "Token "},
                {"query": "jwt"},
            ],
        },
        "shared_secret": {
            "type": "oauth2",
            "flow": "implicit",
            "authorizationUrl": "",
            "x-google-issuer": ISSUER_H,
            "x-google-jwks_uri": SECRET_H,
            "x-google-audiences": "files-api",
        },
        "api_key": {"type": "apiKey", "name": "key", "in": "query"},
        "header_key": {"type": "apiKey", "name": "X-Api-Key", "in": "header"},
    },
    "paths": {
        "/v1/shelves": {
            "get": {
                "operationId": "ListShelves",
                "security": [],
                "responses": {"200": {"description": "A list of shelves"}},
            },
            "post": {
                "operationId": "CreateShelf",
                "responses": {"200": {"description": "The new shelf"}},
            },
        },
        "/v1/shelves/special": {
            "get": {
                "operationId": "GetSpecialShelf",
                "security": [],
                "responses": {"200": {"description": "The special shelf"}},
            },
        },
        "/v1/shelves/{shelf}": {
            "parameters": [{"name": "shelf", "in": "path", "required": True, "type": "string"}],
            "get": {
                "operationId": "GetShelf",
                "security": [{"auth0_jwk": []}, {"google_service_account": []}],
                "responses": {"200": {"description": "A shelf"}},
            },
            "delete": {
                "operationId": "DeleteShelf",
                "security": [{"google_service_account": []}],
                "responses": {"200": {"description": "Deleted"}},
            },
        },
        "/v1/shelves/{shelf}/books/{book}": {
            "get": {
                "operationId": "GetBook",
                "security": [{"partner": []}],
                "responses": {"200": {"description": "A book"}},
            },
        },
        "/v1/shelves/{shelf}/books": {
            "post": {
                "operationId": "CreateBook",
                "security": [{"auth0_jwk": [], "header_key": []}],
                "responses": {"200": {"description": "The new book"}},
            },
        },
        "/v1/things/{id}": {
            "get": {"operationId": "GetThing", "responses": {"200": {"description": "A thing"}}},
            "post": {
                "operationId": "UpdateThing",
                "responses": {"200": {"description": "The thing"}},
            },
        },
        "/v1/things/{id}:purge": {
            "post": {
                "operationId": "PurgeThing",
                "security": [{"google_service_account": []}],
                "responses": {"200": {"description": "Purged"}},
            },
        },
        "/v1/admin/{id}": {
            "get": {
                "operationId": "GetAdminRecord",
                "security": [{"google_service_account": []}],
                "responses": {"200": {"description": "An admin record"}},
            },
        },
        "/v1/files/{name=**}": {
            "get": {
                "operationId": "GetFile",
                "security": [{"api_key": []}, {"shared_secret": []}],
                "responses": {"200": {"description": "A file"}},
            },
        },
    },
}


def case(
    name,
    method,
    path,
    status,
    headers=None,
    message=None,
    userinfo=None,
    method_seen=None,
    challenge=True,
):
    """`challenge`: a failure about a bearer token carries WWW-Authenticate; ESPv2's API key
    answers, its 404 and 405, and the ambiguous-path refusal do not."""
    out = {"name": name, "method": method, "path": path, "headers": headers or {}, "status": status}
    if method_seen:
        out["upstream_method"] = method_seen
    if message is not None:
        out["body"] = json.dumps({"code": status, "message": message}, separators=(",", ":"))
        out["challenge"] = challenge
    out["userinfo"] = userinfo
    return out


def not_allowed(template):
    return (
        f'The current request is matched to the defined url template "{template}" but its '
        "http method is not allowed"
    )


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


cases = [
    case("public operation, no token", "GET", "/v1/shelves", 200),
    case(
        "public operation, a client-sent user info is removed",
        "GET",
        "/v1/shelves",
        200,
        {"X-Endpoint-API-UserInfo": "eyJzdWIiOiJhZG1pbiJ9"},
    ),
    case("top-level security, no token", "POST", "/v1/shelves", 401, message="Jwt is missing"),
    case(
        "top-level security, valid RS256",
        "POST",
        "/v1/shelves",
        200,
        bearer(a_rs),
        userinfo=payload_segment(a_rs),
    ),
    case(
        "a client-sent user info is replaced",
        "POST",
        "/v1/shelves",
        200,
        {**bearer(a_rs), "X-Endpoint-API-UserInfo": "eyJzdWIiOiJhZG1pbiJ9"},
        userinfo=payload_segment(a_rs),
    ),
    case(
        "token in X-Goog-Iap-Jwt-Assertion",
        "POST",
        "/v1/shelves",
        200,
        {"X-Goog-Iap-Jwt-Assertion": a_rs},
        userinfo=payload_segment(a_rs),
    ),
    case(
        "token in ?access_token=",
        "POST",
        f"/v1/shelves?access_token={a_rs}",
        200,
        userinfo=payload_segment(a_rs),
    ),
    case(
        "audience not allowed is 403",
        "POST",
        "/v1/shelves",
        403,
        bearer(a_wrong_aud),
        message="Audiences in Jwt are not allowed",
    ),
    case("expired", "POST", "/v1/shelves", 401, bearer(a_expired), message="Jwt is expired"),
    case(
        "forged signature",
        "POST",
        "/v1/shelves",
        401,
        bearer(a_forged),
        message="Jwt verification fails",
    ),
    case(
        "another definition's token",
        "POST",
        "/v1/shelves",
        401,
        bearer(sa_token),
        message="Jwt issuer is not configured",
    ),
    case(
        "not a JWT",
        "POST",
        "/v1/shelves",
        401,
        {"Authorization": "Bearer abc"},
        message="Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    ),
    case("literal path before template", "GET", "/v1/shelves/special", 200),
    case(
        "OR: first alternative (ES256, audience in a list)",
        "GET",
        "/v1/shelves/7",
        200,
        bearer(a_es),
        userinfo=payload_segment(a_es),
    ),
    case(
        "OR: second alternative (service account, x509 keys, default audience)",
        "GET",
        "/v1/shelves/7",
        200,
        bearer(sa_token),
        userinfo=payload_segment(sa_token),
    ),
    case(
        "OR: service account token for another service",
        "GET",
        "/v1/shelves/7",
        403,
        bearer(sa_wrong_aud),
        message="Audiences in Jwt are not allowed",
    ),
    case("OR: no token", "GET", "/v1/shelves/7", 401, message="Jwt is missing"),
    case(
        "trailing slash matches the template",
        "GET",
        "/v1/shelves/7/",
        200,
        bearer(a_rs),
        userinfo=payload_segment(a_rs),
    ),
    case(
        "operation security overrides top level",
        "DELETE",
        "/v1/shelves/7",
        401,
        bearer(a_rs),
        message="Jwt issuer is not configured",
    ),
    case(
        "operation security: service account",
        "DELETE",
        "/v1/shelves/7",
        200,
        bearer(sa_token),
        userinfo=payload_segment(sa_token),
    ),
    case(
        "custom header location with prefix",
        "GET",
        "/v1/shelves/7/books/9",
        200,
        {"X-Partner-Token": f"Token {c_token}"},
        userinfo=payload_segment(c_token),
    ),
    case(
        "custom query location",
        "GET",
        f"/v1/shelves/7/books/9?jwt={c_token}",
        200,
        userinfo=payload_segment(c_token),
    ),
    case(
        "custom locations replace the defaults",
        "GET",
        "/v1/shelves/7/books/9",
        401,
        bearer(c_token),
        message="Jwt is missing",
    ),
    case("API key or JWT: neither", "GET", "/v1/files/a/b/c.txt", 401, message="Jwt is missing"),
    case("API key or JWT: the key alone (?key=)", "GET", f"/v1/files/a/b/c.txt?key={API_KEY}", 200),
    case(
        "API key or JWT: a key that is not accepted is ESPv2's 400",
        "GET",
        "/v1/files/a/b/c.txt?key=AIzaSyGuessedKey",
        400,
        message=KEY_NOT_VALID,
        challenge=False,
    ),
    case(
        "API key or JWT: the key in another place is no key",
        "GET",
        "/v1/files/a/b/c.txt",
        401,
        {"X-Api-Key": API_KEY},
        message="Jwt is missing",
    ),
    case(
        "API key or JWT: symmetric key",
        "GET",
        "/v1/files/a/b/c.txt",
        200,
        bearer(h_token),
        userinfo=payload_segment(h_token),
    ),
    case(
        "API key or JWT: a bad token fails",
        "GET",
        "/v1/files/a/b/c.txt",
        401,
        bearer(h_bad),
        message="Jwt verification fails",
    ),
    case(
        "JWT and API key: the token alone is ESPv2's 401 UNAUTHENTICATED",
        "POST",
        "/v1/shelves/7/books",
        401,
        bearer(a_rs),
        message=KEY_MISSING,
        challenge=False,
    ),
    case(
        "JWT and API key: the key alone",
        "POST",
        "/v1/shelves/7/books",
        401,
        {"X-Api-Key": API_KEY},
        message="Jwt is missing",
    ),
    case(
        "JWT and API key: both (the key in its header)",
        "POST",
        "/v1/shelves/7/books",
        200,
        {**bearer(a_rs), "X-Api-Key": API_KEY},
        userinfo=payload_segment(a_rs),
    ),
    case(
        "JWT and API key: a key that is not accepted",
        "POST",
        "/v1/shelves/7/books",
        400,
        {**bearer(a_rs), "X-Api-Key": API_KEY + "x"},
        message=KEY_NOT_VALID,
        challenge=False,
    ),
    case(
        "X-HTTP-Method-Override picks the operation (DELETE needs the service account)",
        "POST",
        "/v1/shelves/7",
        401,
        {**bearer(a_rs), "X-HTTP-Method-Override": "DELETE"},
        message="Jwt issuer is not configured",
    ),
    case(
        "X-HTTP-Method-Override: the backend sees the overriding method",
        "POST",
        "/v1/shelves/7",
        200,
        {**bearer(sa_token), "X-HTTP-Method-Override": "DELETE"},
        userinfo=payload_segment(sa_token),
        method_seen="DELETE",
    ),
    case(
        "X-HTTP-Method-Override onto a protected operation",
        "GET",
        "/v1/shelves",
        401,
        {"X-HTTP-Method-Override": "POST"},
        message="Jwt is missing",
    ),
    case("allowCors: OPTIONS passes without a token", "OPTIONS", "/v1/shelves/7", 200),
    case(
        "path not in the document: ESPv2's 404, even with a token",
        "GET",
        "/v2/unknown",
        404,
        bearer(a_rs),
        message=NOT_DEFINED,
        challenge=False,
    ),
    case(
        "method not in the document: ESPv2's 405",
        "PUT",
        "/v1/shelves/7",
        405,
        bearer(a_rs),
        message=not_allowed("/v1/shelves/{shelf}"),
        challenge=False,
    ),
    case(
        "HEAD is not GET where the document does not say so",
        "HEAD",
        "/v1/admin/7",
        405,
        bearer(a_rs),
        message=not_allowed("/v1/admin/{id}"),
        challenge=False,
    ),
    case(
        "admin operation: a user token is refused",
        "GET",
        "/v1/admin/7",
        401,
        bearer(a_rs),
        message="Jwt issuer is not configured",
    ),
    case(
        "top-level security on a template",
        "POST",
        "/v1/things/1",
        200,
        bearer(a_rs),
        userinfo=payload_segment(a_rs),
    ),
    case(
        ":verb operation: a user token is refused",
        "POST",
        "/v1/things/1:purge",
        401,
        bearer(a_rs),
        message="Jwt issuer is not configured",
    ),
    case(
        ":verb operation: the service account",
        "POST",
        "/v1/things/1:purge",
        200,
        bearer(sa_token),
        userinfo=payload_segment(sa_token),
    ),
    case(
        "an encoded ':' that would reach the :verb operation is refused",
        "POST",
        "/v1/things/1%3Apurge",
        400,
        bearer(a_rs),
        message=AMBIGUOUS,
        challenge=False,
    ),
    case(
        "a trailing '/' that would reach the :verb operation is refused",
        "POST",
        "/v1/things/1:purge/",
        400,
        bearer(a_rs),
        message=AMBIGUOUS,
        challenge=False,
    ),
    case(
        "a ';' parameter that would reach the :verb operation is refused",
        "POST",
        "/v1/things/1:purge;x",
        400,
        bearer(a_rs),
        message=AMBIGUOUS,
        challenge=False,
    ),
    case(
        "an encoded '/' in a templated path is refused",
        "POST",
        "/v1/things/1:purge%2F",
        400,
        bearer(a_rs),
        message=AMBIGUOUS,
        challenge=False,
    ),
    case(
        "an encoded '/' under a ** template is refused",
        "GET",
        f"/v1/files/a%2F..%2F..%2Fadmin?key={API_KEY}",
        400,
        message=AMBIGUOUS,
        challenge=False,
    ),
    case(
        "a trailing '/' that changes nothing passes",
        "POST",
        "/v1/things/1/",
        200,
        bearer(a_rs),
        userinfo=payload_segment(a_rs),
    ),
    case(
        "an encoded ':' that changes nothing passes",
        "GET",
        "/v1/things/1%3Ablue",
        200,
        bearer(a_rs),
        userinfo=payload_segment(a_rs),
    ),
]

out = {
    "generator": f"tests/data/generate_openapi.py (PyJWT {jwt.__version__})",
    "now": NOW,
    "config": {
        "openapi": document,
        "local_jwks": local_jwks,
        "api_keys": {"sha256": [hashlib.sha256(API_KEY.encode()).hexdigest()]},
    },
    "api_key": API_KEY,
    "cases": cases,
}
with open("tests/data/openapi_bookstore.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote tests/data/openapi_bookstore.json: {len(cases)} cases")
