"""Every way a token fails: status, body (jwt_authn's texts), content type and WWW-Authenticate."""

import time

from jwt_gate_testkit.client import assert_denied
from jwt_gate_testkit.tokens import b64url, segments


def hostile_tokens(keys) -> dict[str, tuple[str, int, str]]:
    """name -> (token, status, body), all for the "rsa" provider on /api."""
    now = int(time.time())
    good = keys.mint()
    header, payload, signature = segments(good)
    return {
        "expired": (keys.mint(exp=now - 3600), 401, "Jwt is expired"),
        "expired beyond skew": (keys.mint(exp=now - 90), 401, "Jwt is expired"),
        "not yet valid": (keys.mint(nbf=now + 3600), 401, "Jwt not yet valid"),
        "not yet valid beyond skew": (keys.mint(nbf=now + 90), 401, "Jwt not yet valid"),
        "signed by another key": (keys.mint(key="rsa2"), 401, "Jwt verification fails"),
        "payload tampered": (
            f"{header}.{b64url({**keys.claims(), 'sub': 'admin'})}.{signature}",
            401,
            "Jwt verification fails",
        ),
        "other issuer": (keys.mint(iss="https://evil.test"), 401, "Jwt issuer is not configured"),
        "audience not allowed": (
            keys.mint(aud="other.test"),
            403,
            "Audiences in Jwt are not allowed",
        ),
        "audience list not allowed": (
            keys.mint(aud=["a.test", "b.test"]),
            403,
            "Audiences in Jwt are not allowed",
        ),
        "unknown kid": (
            keys.mint(kid="nope", key="rsa"),
            401,
            "Jwks doesn't have key to match kid or alg from Jwt",
        ),
        "two parts": (f"{header}.{payload}", 401, BAD_FORMAT),
        "four parts": (f"{good}.{signature}", 401, BAD_FORMAT),
        "alg none": (
            f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}",
            401,
            BAD_ALG,
        ),
        "alg unknown": (
            f"{b64url({'alg': 'XS256', 'kid': 'rsa'})}.{payload}.{signature}",
            401,
            BAD_ALG,
        ),
        "header bad base64": (
            f"{undecodable(header)}.{payload}.{signature}",
            401,
            "Jwt header is an invalid Base64url encoded",
        ),
        "header not json": (
            f"{b64url('not json')}.{payload}.{signature}",
            401,
            "Jwt header is an invalid JSON",
        ),
        "payload bad base64": (
            f"{header}.{undecodable(payload)}.{signature}",
            401,
            "Jwt payload is an invalid Base64url encoded",
        ),
        "payload not json": (
            f"{header}.{b64url('not json')}.{signature}",
            401,
            "Jwt payload is an invalid JSON",
        ),
    }


def undecodable(segment: str) -> str:
    """`segment` grown to a length of 1 modulo 4, which no base64 decoder accepts."""
    return segment + "A" * ((1 - len(segment)) % 4)


BAD_FORMAT = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
BAD_ALG = "Jwt header [alg] is not supported"


def test_hostile_tokens_are_denied_with_jwt_authn_texts(gate, keys):
    failures = []
    for name, (token, status, body) in hostile_tokens(keys).items():
        try:
            assert_denied(gate.request("/api/x", token=token), status, body)
        except AssertionError as error:
            failures.append(f"{name}: {error}")
    assert not failures, "\n\n".join(failures)


def test_missing_token(gate):
    assert_denied(gate.request("/api/x"), 401, "Jwt is missing")


def test_realm_names_host_and_path_without_query(gate, keys):
    missing = gate.request("/api/x?a=1&b=2", headers={"Host": "gate.test"})
    assert missing.header("www-authenticate") == 'Bearer realm="http://gate.test/api/x"'
    expired = gate.request("/api/y?b=2", headers={"Host": "gate.test"}, token=keys.mint(exp=1))
    assert (
        expired.header("www-authenticate")
        == 'Bearer realm="http://gate.test/api/y", error="invalid_token"'
    )


def test_clock_skew_of_60_seconds_is_tolerated(gate, keys):
    now = int(time.time())
    assert gate.request("/api/x", token=keys.mint(exp=now - 30)).status == 200
    assert gate.request("/api/x", token=keys.mint(nbf=now + 30)).status == 200


def test_require_expiration(gate, keys):
    token = keys.mint(iss="https://strict.test", exp=None)
    assert_denied(gate.request("/strict", token=token), 401, "Jwt verification fails")
    assert gate.request("/strict", token=keys.mint(iss="https://strict.test")).status == 200
    # Without require_expiration a token without exp never expires.
    assert gate.request("/api/x", token=keys.mint(exp=None)).status == 200


def test_two_authorization_headers(gate, keys):
    token = keys.mint()
    response = gate.request("/api/x", headers=[("Authorization", f"Bearer {token}")] * 2)
    assert_denied(response, 401, "Found multiple Jwt tokens")


def test_two_access_token_parameters(gate, keys):
    token = keys.mint()
    response = gate.request(f"/api/x?access_token={token}&access_token={token}")
    assert_denied(response, 401, "Found multiple Jwt tokens")
