"""jwt-gate against Envoy's own jwt_authn: one Envoy, two listeners, the SAME JSON config, the
same corpus of valid and hostile tokens. Statuses must agree, except where a case documents a
deliberate difference (and then jwt-gate must give the status stated there)."""

import time
from dataclasses import dataclass

import pytest

from jwt_gate_testkit.bootstrap import jwt_authn_filter, jwt_gate_filter
from jwt_gate_testkit.envoy import Listener, running_envoy
from jwt_gate_testkit.tokens import ALGORITHMS, AUDIENCE, ISSUER, b64url, segments


@dataclass
class Case:
    name: str
    headers: list[tuple[str, str]]
    path: str = "/x"
    deliberate: str = ""  # why jwt-gate differs from jwt_authn here ...
    gate_status: int = 0  # ... and what it answers instead


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def corpus(keys) -> list[Case]:
    now = int(time.time())
    good = keys.mint()
    header, payload, signature = segments(good)
    rs256 = {"alg": "RS256", "typ": "JWT", "kid": "rsa"}

    def forged(header: dict = rs256, key: str = "rsa", **claims) -> str:
        return keys.forge(header, keys.claims(**claims), key)

    tokens = {f"valid {alg}": keys.mint(alg) for alg in ALGORITHMS}
    tokens |= {
        "valid, no kid": keys.mint("ES256", kid=None),
        "valid, aud list": keys.mint(aud=["x.test", AUDIENCE]),
        "valid, no exp": keys.mint(exp=None),
        "valid, exp within skew": keys.mint(exp=now - 30),
        "valid, nbf within skew": keys.mint(nbf=now + 30),
        "valid, fractional exp": keys.mint(exp=now + 600.5),
        "valid, huge (20 KB)": keys.mint(padding="x" * 20_000),
        "expired": keys.mint(exp=now - 3600),
        "not yet valid": keys.mint(nbf=now + 3600),
        "wrong iss": keys.mint(iss="https://evil.test"),
        "no iss": keys.mint(iss=None),
        "wrong aud": keys.mint(aud="evil.test"),
        "no aud": keys.mint(aud=None),
        "signed by another key": keys.mint(key="rsa2"),
        "tampered payload": f"{header}.{b64url(keys.claims(sub='admin'))}.{signature}",
        "alg none": f"{b64url({'alg': 'none'})}.{payload}.{signature}",
        "alg none, empty signature": f"{b64url({'alg': 'none'})}.{payload}.",
        "alg unknown": f"{b64url({'alg': 'RS1', 'kid': 'rsa'})}.{payload}.{signature}",
        "alg missing": f"{b64url({'kid': 'rsa'})}.{payload}.{signature}",
        "alg confusion: HS256 keyed with the RSA public key": keys.forge(
            {"alg": "HS256", "kid": "rsa"}, keys.claims(), keys.public_pem("rsa")
        ),
        "kid not found": keys.mint(kid="nope", key="rsa"),
        "kid not a string": forged({**rs256, "kid": 7}),
        "truncated": good[:-10],
        "two parts": f"{header}.{payload}",
        "one part": header,
        "four parts": f"{good}.{signature}",
        "five parts (JWE shape)": f"{header}.{payload}.{signature}.{signature}.{signature}",
        "empty signature": f"{header}.{payload}.",
        "empty payload": f"{header}..{signature}",
        "header not base64": f"{header}A{'A' * ((-len(header)) % 4)}.{payload}.{signature}",
        "header not JSON": f"{b64url('{alg')}.{payload}.{signature}",
        "header a JSON array": f"{b64url(['RS256'])}.{payload}.{signature}",
        "payload not JSON": keys.forge(rs256, b"{sub", "rsa"),
        "payload a JSON array": keys.forge(rs256, ["alice"], "rsa"),
        "exp a string": forged(exp="tomorrow"),
        "exp negative": forged(exp=-1),
        "exp beyond 64 bits": forged(exp=2**64),
        "iss a number": forged(iss=7),
        "aud a number": forged(aud=7),
        "sub a list": forged(sub=["a"]),
        "signature not base64": f"{header}.{payload}.{signature[:-1]}",
        "garbage": "not-a-token",
    }
    cases = [Case(name, bearer(token)) for name, token in tokens.items()]
    cases += [
        Case("missing", []),
        Case("query token", [], path=f"/x?access_token={good}"),
        Case("query token, expired", [], path=f"/x?access_token={tokens['expired']}"),
        Case("header and query, both good", bearer(good), path=f"/x?access_token={good}"),
        Case("header good, query bad", bearer(good), path=f"/x?access_token={tokens['expired']}"),
        Case("other scheme", [("Authorization", f"Basic {good}")]),
        Case("trailing text", [("Authorization", f"Bearer {good} more")]),
        Case("empty query token", [], path="/x?access_token="),
        # Deliberate differences.
        Case(
            "lowercase scheme",
            [("Authorization", f"bearer {good}")],
            deliberate="scheme is case-insensitive",
            gate_status=200,
        ),
        Case(
            "scheme not at the start",
            [("Authorization", f"Foo Bearer {good}")],
            deliberate="the scheme must start the value",
            gate_status=401,
        ),
        Case(
            "two access_token parameters",
            [],
            path=f"/x?access_token={good}&access_token={good}",
            deliberate="jwt_authn reads the first only; jwt-gate refuses ambiguity",
            gate_status=401,
        ),
        Case(
            "ES384 signed with the P-256 key",
            bearer(keys.forge({"alg": "ES384", "kid": "es256"}, keys.claims(), "es256")),
            deliberate="the key decides the algorithm (jwt_authn hashes as the token says)",
            gate_status=401,
        ),
        Case(
            "trailing dot",
            bearer(f"{good}."),
            deliberate="exactly three non-empty parts (jwt_authn skips empty ones)",
            gate_status=401,
        ),
        Case(
            "signature in non-canonical base64",
            bearer(f"{header}.{payload}.{non_canonical(signature)}"),
            deliberate="canonical base64url only: one token, one spelling",
            gate_status=401,
        ),
        Case(
            "b64: false",
            bearer(forged({**rs256, "b64": False})),
            deliberate="RFC 7797 unencoded payloads change what the signature covers",
            gate_status=401,
        ),
        Case(
            "trailing comma",
            [("Authorization", f"Bearer {good},")],
            deliberate="values are split at commas (Envoy joins repeated headers with them)",
            gate_status=200,
        ),
        Case(
            "unknown crit",
            bearer(forged({**rs256, "crit": ["exp"]})),
            deliberate="RFC 7515 4.1.11: a JWS with a critical extension not understood is invalid",
            gate_status=401,
        ),
    ]
    return cases


def non_canonical(segment: str) -> str:
    """The same bytes spelled differently: set the unused low bits of the last character (for
    the RSA-2048 signature, 342 characters, the last one carries 2 unused bits)."""
    assert len(segment) % 4 == 2
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]


def differential_config(keys) -> dict:
    return {
        "providers": {
            "p": {
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "local_jwks": {
                    "inline_string": keys.jwks(*(kid for kid in keys.private if kid != "rsa2"))
                },
                "forward_payload_header": "x-jwt-payload",
            }
        },
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }


@pytest.fixture(scope="module")
def pair(keys, echo, build):
    config = differential_config(keys)
    listeners = {
        "jwt_gate": jwt_gate_filter(config, build=build),
        "jwt_authn": jwt_authn_filter(config),
    }
    with running_envoy(listeners, echo.port, "differential") as envoy:
        yield Listener(envoy, "jwt_gate"), Listener(envoy, "jwt_authn")


@pytest.fixture(scope="module")
def verifiers(keys, echo, build):
    """jwt-gate twice: RS*/ES* through Envoy's verify_signature (the default), and ring only."""
    config = differential_config(keys)
    listeners = {
        "host": jwt_gate_filter(config, build=build),
        "ring": jwt_gate_filter({**config, "signature_verifier": "ring"}, build=build),
    }
    with running_envoy(listeners, echo.port, "verifiers") as envoy:
        yield envoy, Listener(envoy, "host"), Listener(envoy, "ring")


def test_same_status_as_jwt_authn(pair, keys):
    gate, native = pair
    rows, mismatches = [], 0
    for case in corpus(keys):
        got = gate.request(case.path, headers=case.headers)
        reference = native.request(case.path, headers=case.headers)
        expected = case.gate_status if case.deliberate else reference.status
        ok = got.status == expected
        mismatches += not ok
        row = (case.name, got.status, reference.status, "" if ok else "MISMATCH")
        rows.append((*row, denial(got), denial(reference)))
    head = ("case", "jwt-gate", "jwt_authn", "", "jwt-gate denial", "jwt_authn denial")
    assert not mismatches, table(head, rows)


def denial(response) -> str:
    return "" if response.status == 200 else response.text[:50]


def table(head: tuple, rows: list[tuple]) -> str:
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    return "\n" + "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [head, *rows]
    )


@pytest.mark.wasm_only("verify_signature is a proxy-wasm hostcall; the native module uses ring")
def test_host_and_ring_verifiers_give_identical_answers(verifiers, keys):
    """Envoy's BoringSSL (through verify_signature) and ring: the same status and body for every
    valid and hostile token of the corpus, every algorithm included."""
    envoy, host, ring = verifiers
    assert envoy.log_lines("signatures: RS*/ES* by the host's verify_signature"), envoy.log()[
        -2000:
    ]
    assert envoy.log_lines("signatures: ring (signature_verifier: ring)"), envoy.log()[-2000:]
    rows, mismatches = [], 0
    for case in corpus(keys):
        a = host.request(case.path, headers=case.headers)
        b = ring.request(case.path, headers=case.headers)
        ok = (a.status, denial(a)) == (b.status, denial(b))
        mismatches += not ok
        rows.append((case.name, a.status, b.status, "" if ok else "MISMATCH", denial(a), denial(b)))
    head = ("case", "host", "ring", "", "host denial", "ring denial")
    assert not mismatches, table(head, rows)


# --- Provider `subjects` (jwt_authn's StringMatcher on `sub`) -------------------------------------

SPIFFE = "spiffe://example.org/ns/payments/sa/api"
SUBJECTS = {
    "exact": {"exact": SPIFFE},
    "prefix": {"prefix": "spiffe://example.org/"},
    "prefix_ignore_case": {"prefix": "SPIFFE://EXAMPLE.ORG/", "ignore_case": True},
    "suffix": {"suffix": "/sa/api"},
    "contains": {"contains": "/ns/payments/"},
    "regex": {"safe_regex": {"google_re2": {}, "regex": "spiffe://example\\.org/ns/[a-z]+/sa/api"}},
    "exact_empty": {"exact": ""},  # only a missing or empty `sub`
}


def subjects_config(keys) -> dict:
    """One provider per matcher kind, each behind `/<name>`, with the token cache on (jwt_authn
    caches only with jwt_cache_config), so the second request of a pair is a cache hit."""
    providers = {
        name: {
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks("rsa")},
            "subjects": matcher,
            "jwt_cache_config": {"jwt_cache_size": 100},
        }
        for name, matcher in SUBJECTS.items()
    }
    rules = [
        {"match": {"prefix": f"/{name}"}, "requires": {"provider_name": name}} for name in SUBJECTS
    ]
    return {"providers": providers, "rules": rules}


@pytest.fixture(scope="module")
def subjects_pair(keys, echo, build):
    config = subjects_config(keys)
    listeners = {
        "jwt_gate": jwt_gate_filter(config, build=build),
        "jwt_authn": jwt_authn_filter(config),
    }
    with running_envoy(listeners, echo.port, "differential-subjects") as envoy:
        yield Listener(envoy, "jwt_gate"), Listener(envoy, "jwt_authn")


def test_subjects_as_jwt_authn(subjects_pair, keys):
    """Every matcher kind against matching, differently cased, foreign, empty and missing `sub`s,
    and a forged token with a matching `sub`: the same status and body as jwt_authn (a mismatch
    is 401 "Jwt verification fails"), twice in a row (the second a token-cache hit)."""
    gate, native = subjects_pair
    subs = {
        "spiffe id": SPIFFE,
        "upper-case spiffe id": SPIFFE.upper(),
        "other trust domain": "spiffe://evil.org/ns/payments/sa/api",
        "plain user": "alice",
        "empty sub": "",
        "no sub": None,
    }
    tokens = {name: keys.mint(sub=sub) for name, sub in subs.items()}
    tokens["forged, spiffe id"] = keys.mint(sub=SPIFFE, key="rsa2")
    rows, mismatches, denied = [], 0, 0
    for path in SUBJECTS:
        for name, token in tokens.items():
            for attempt in ("first", "cached"):
                got = gate.request(f"/{path}", token=token)
                reference = native.request(f"/{path}", token=token)
                ok = (got.status, denial(got)) == (reference.status, denial(reference))
                mismatches += not ok
                denied += reference.status != 200
                row = (f"{path}: {name} ({attempt})", got.status, reference.status)
                rows.append((*row, "" if ok else "MISMATCH", denial(got), denial(reference)))
    head = ("case", "jwt-gate", "jwt_authn", "", "jwt-gate denial", "jwt_authn denial")
    assert not mismatches, table(head, rows)
    assert 0 < denied < len(rows), table(head, rows)
