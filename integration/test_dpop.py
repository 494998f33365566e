"""DPoP (RFC 9449) in a real Envoy (docs/configuration.md, "Sender-constrained tokens"): proofs
minted by PyJWT with the client's key in their header, thumbprints and `ath` computed here from
the RFCs' definitions; every rule of §4.3 broken one at a time, each answered as §7.1 says
(status, scheme, error code) and counted under its own reason; a replayed proof refused by the
worker that took it and by the other one (Envoy runs --concurrency 2); a full replay cache
refusing with 503 and saying so in the log."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from jwt_gate_testkit.artifacts import REPO
from jwt_gate_testkit.bootstrap import jwt_gate_filter
from jwt_gate_testkit.client import Response
from jwt_gate_testkit.envoy import Listener, connections_per_worker, running_envoy
from jwt_gate_testkit.tokens import AUDIENCE, ISSUER, Keys, b64url

WORKERS = 2  # jwt_gate_testkit's Envoy runs --concurrency 2
ALGS = ["ES256", "EdDSA", "RS256", "PS256"]
CHALLENGE = 'DPoP algs="ES256 EdDSA RS256 PS256"'
MAX_PROOF_AGE = 30


def plugin_config(keys: Keys, **top) -> dict:
    """`optional` (DPoP allowed) on /, `required` on /required, `plain` (no dpop) on /plain,
    `forwarded` (DPoP allowed, `forward`) on /forward: one issuer, keys es256, no clock skew,
    proofs at most 30 s old either way."""

    def provider(**dpop) -> dict:
        return {
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks("es256")},
            "clock_skew": "0s",
            **(
                {"dpop": {"max_proof_age": f"{MAX_PROOF_AGE}s", "algorithms": ALGS, **dpop}}
                if dpop is not None
                else {}
            ),
        }

    plain = provider()
    del plain["dpop"]
    return {
        "providers": {
            "optional": provider(),
            "required": provider(required=True),
            "plain": plain,
            "forwarded": {**provider(), "forward": True},
        },
        "rules": [
            {"match": {"prefix": "/required"}, "requires": {"provider_name": "required"}},
            {"match": {"prefix": "/plain"}, "requires": {"provider_name": "plain"}},
            {"match": {"prefix": "/forward"}, "requires": {"provider_name": "forwarded"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "optional"}},
        ],
        **top,
    }


@pytest.fixture(scope="module")
def gate(keys, echo, build):
    config = plugin_config(keys)
    with running_envoy({"dpop": jwt_gate_filter(config, build=build)}, echo.port, "dpop") as envoy:
        yield Listener(envoy, "dpop")


# --- The client's side, as RFC 9449 and RFC 7638 define it ---------------------------------------


class Client:
    """A DPoP client: its key pair, the public JWK it sends, and that key's thumbprint."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        if alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.jwk = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            self.private_jwk = ECAlgorithm.to_jwk(self.key, as_dict=True)
        elif alg == "EdDSA":
            self.key = ed25519.Ed25519PrivateKey.generate()
            self.jwk = OKPAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            self.private_jwk = OKPAlgorithm.to_jwk(self.key, as_dict=True)
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            self.private_jwk = RSAAlgorithm.to_jwk(self.key, as_dict=True)
        self.thumbprint = thumbprint(self.jwk)

    def proof(self, htm: str, htu: str, token: str, header: dict | None = None, **claims) -> str:
        """A proof for `htm htu` sent with `token`: fresh jti, iat now; `claims` override (None
        removes one), `header` adds to or replaces header members."""
        payload = {
            "jti": str(uuid.uuid4()),
            "htm": htm,
            "htu": htu,
            "iat": int(time.time()),
            "ath": access_token_hash(token),
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload,
            self.key,
            algorithm=self.alg,
            headers={"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})},
        )


def thumbprint(jwk: dict) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, as JSON without whitespace."""
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    text = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(text.encode()).digest())


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2's `ath`: base64url SHA-256 of the token's ASCII."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def url(gate: Listener, path: str) -> str:
    return f"http://127.0.0.1:{gate.port}{path}"


def send(
    gate: Listener,
    path: str,
    token: str | None,
    proofs: list[str],
    scheme: str = "DPoP",
    method: str = "GET",
) -> Response:
    headers = [("DPoP", proof) for proof in proofs]
    if token is not None:
        headers.append(("Authorization", f"{scheme} {token}"))
    return gate.request(path, headers=headers, method=method)


def counter(gate: Listener, reason: str) -> int:
    return gate.envoy.gate_stats().get(f"jwt_gate.denied_by_reason.{reason}", 0)


def assert_refused(
    gate: Listener,
    response: Response,
    reason: str,
    message: str,
    code: str,
    challenge: str = CHALLENGE,
) -> None:
    assert (response.status, response.text) == (401, message), response.text
    assert response.header("www-authenticate") == f'{challenge}, error="{code}"'
    assert counter(gate, reason) >= 1, reason


# --- A proof that passes ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_a_bound_token_with_its_proof_passes_and_neither_reaches_the_backend(gate, keys, alg):
    client = Client(alg)
    token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    proof = client.proof("GET", url(gate, "/things/1"), token)
    upstream = send(gate, "/things/1?page=2", token, [proof]).upstream
    assert upstream.header("authorization") is None
    assert upstream.header("dpop") is None


def test_forward_keeps_the_token_and_its_proof(gate, keys):
    client = Client()
    token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    proof = client.proof("GET", url(gate, "/forward"), token)
    upstream = send(gate, "/forward", token, [proof]).upstream
    assert (upstream.header("authorization"), upstream.header("dpop")) == (f"DPoP {token}", proof)


def test_the_verified_token_is_cached_and_each_proof_still_checked(gate, keys):
    client = Client()
    token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    hits = gate.envoy.gate_stats().get("jwt_gate.token_cache_hit", 0)
    for _ in range(6):
        proof = client.proof("GET", url(gate, "/cached"), token)
        assert send(gate, "/cached", token, [proof]).status == 200
    assert gate.envoy.gate_stats()["jwt_gate.token_cache_hit"] - hits >= 4  # a miss per worker
    stale = client.proof("GET", url(gate, "/cached"), token, iat=int(time.time()) - 300)
    assert send(gate, "/cached", token, [stale]).status == 401


# --- Every rule of RFC 9449 §4.3, broken one at a time -------------------------------------------

PROOF_RULES = {
    # name: (how the proof is made, reason, message)
    "htm": (
        lambda c, g, t: c.proof("POST", url(g, "/r"), t),
        "dpop_htm_mismatch",
        "DPoP proof [htm] does not match the request method",
    ),
    "htu path": (
        lambda c, g, t: c.proof("GET", url(g, "/other"), t),
        "dpop_htu_mismatch",
        "DPoP proof [htu] does not match the request URI",
    ),
    "htu host": (
        lambda c, g, t: c.proof("GET", f"http://localhost:{g.port}/r", t),
        "dpop_htu_mismatch",
        "DPoP proof [htu] does not match the request URI",
    ),
    "htu scheme": (
        lambda c, g, t: c.proof("GET", f"https://127.0.0.1:{g.port}/r", t),
        "dpop_htu_mismatch",
        "DPoP proof [htu] does not match the request URI",
    ),
    "htu port": (
        lambda c, g, t: c.proof("GET", f"http://127.0.0.1:{g.port + 1}/r", t),
        "dpop_htu_mismatch",
        "DPoP proof [htu] does not match the request URI",
    ),
    "stale iat": (
        lambda c, g, t: c.proof("GET", url(g, "/r"), t, iat=int(time.time()) - 120),
        "dpop_proof_too_old",
        "DPoP proof is too old",
    ),
    "future iat": (
        lambda c, g, t: c.proof("GET", url(g, "/r"), t, iat=int(time.time()) + 120),
        "dpop_proof_from_the_future",
        "DPoP proof [iat] is in the future",
    ),
    "ath of another token": (
        lambda c, g, t: c.proof("GET", url(g, "/r"), t + "x"),
        "dpop_ath_mismatch",
        "DPoP proof [ath] does not match the access token",
    ),
    "no ath": (
        lambda c, g, t: c.proof("GET", url(g, "/r"), t, ath=None),
        "dpop_ath_mismatch",
        "DPoP proof [ath] does not match the access token",
    ),
    "jwk with d": (
        lambda c, g, t: c.proof("GET", url(g, "/r"), t, header={"jwk": c.private_jwk}),
        "dpop_proof_key_invalid",
        "DPoP proof header [jwk] contains a private key",
    ),
    "typ JWT": (
        lambda c, g, t: c.proof("GET", url(g, "/r"), t, header={"typ": "JWT"}),
        "dpop_proof_malformed",
        "DPoP proof header [typ] is not dpop+jwt",
    ),
    "alg none": (
        lambda c, g, t: jwt.encode(
            {
                "jti": "n",
                "htm": "GET",
                "htu": url(g, "/r"),
                "iat": int(time.time()),
                "ath": access_token_hash(t),
            },
            None,
            algorithm="none",
            headers={"typ": "dpop+jwt", "jwk": c.jwk},
        ),
        "dpop_proof_alg_not_allowed",
        "DPoP proof header [alg] is not an asymmetric algorithm",
    ),
    "alg HS256": (
        lambda c, g, t: jwt.encode(
            {
                "jti": "h",
                "htm": "GET",
                "htu": url(g, "/r"),
                "iat": int(time.time()),
                "ath": access_token_hash(t),
            },
            b"a secret of thirty-two bytes, ok",
            algorithm="HS256",
            headers={"typ": "dpop+jwt", "jwk": c.jwk},
        ),
        "dpop_proof_alg_not_allowed",
        "DPoP proof header [alg] is not an asymmetric algorithm",
    ),
    "alg off the provider's list": (
        lambda c, g, t: _es384_proof(c, g, t),
        "dpop_proof_alg_not_allowed",
        "DPoP proof [alg] is not allowed",
    ),
    "signed by another key": (
        lambda c, g, t: jwt.encode(
            {
                "jti": "o",
                "htm": "GET",
                "htu": url(g, "/r"),
                "iat": int(time.time()),
                "ath": access_token_hash(t),
            },
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"typ": "dpop+jwt", "jwk": c.jwk},
        ),
        "dpop_proof_verification_fails",
        "DPoP proof verification fails",
    ),
}


def _es384_proof(client: Client, gate: Listener, token: str) -> str:
    """ES384: an asymmetric algorithm jwt-gate verifies, but not on the provider's list."""
    key = ec.generate_private_key(ec.SECP384R1())
    public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    claims = {
        "jti": "e",
        "htm": "GET",
        "htu": url(gate, "/r"),
        "iat": int(time.time()),
        "ath": access_token_hash(token),
    }
    return jwt.encode(claims, key, algorithm="ES384", headers={"typ": "dpop+jwt", "jwk": public})


@pytest.mark.parametrize("rule", PROOF_RULES)
def test_each_broken_rule_of_the_proof_is_invalid_dpop_proof(gate, keys, rule):
    make, reason, message = PROOF_RULES[rule]
    client = Client()
    token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    before = counter(gate, reason)
    response = send(gate, "/r", token, [make(client, gate, token)])
    assert_refused(gate, response, reason, message, "invalid_dpop_proof")
    assert counter(gate, reason) == before + 1


def test_two_dpop_headers_are_refused(gate, keys):
    client = Client()
    token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    proofs = [client.proof("GET", url(gate, "/r"), token) for _ in range(2)]
    response = send(gate, "/r", token, proofs)
    assert_refused(
        gate, response, "dpop_proof_multiple", "Found multiple DPoP proofs", "invalid_dpop_proof"
    )


def test_a_token_bound_to_another_key_is_invalid_token(gate, keys):
    client, other = Client(), Client()
    token = keys.mint("ES256", cnf={"jkt": other.thumbprint})
    response = send(gate, "/r", token, [client.proof("GET", url(gate, "/r"), token)])
    assert_refused(
        gate, response, "dpop_key_mismatch", "Jwt is bound to another DPoP key", "invalid_token"
    )


def test_a_bound_token_without_a_proof_is_invalid_token(gate, keys):
    client = Client()
    token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    response = send(gate, "/r", token, [])
    assert_refused(
        gate,
        response,
        "dpop_proof_missing",
        "DPoP-bound Jwt requires a DPoP proof",
        "invalid_token",
    )


@pytest.mark.parametrize("with_proof", [False, True], ids=["alone", "with its proof"])
def test_a_bound_token_as_bearer_is_refused(gate, keys, with_proof):
    client = Client()
    token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    proofs = [client.proof("GET", url(gate, "/r"), token)] if with_proof else []
    response = send(gate, "/r", token, proofs, scheme="Bearer")
    assert_refused(
        gate,
        response,
        "dpop_bound_token_as_bearer",
        "DPoP-bound Jwt must be sent with the DPoP scheme",
        "invalid_token",
    )


def test_a_bound_token_is_no_bearer_token_where_dpop_is_not_configured(keys, echo, build):
    """A provider without dpop, in a configuration jwt-gate before DPoP also loads: a token bound
    to a key it cannot check is refused, not taken as a bearer token (which that jwt-gate did)."""
    config = plugin_config(keys)
    config = {
        "providers": {"plain": config["providers"]["plain"]},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "plain"}}],
    }
    with running_envoy(
        {"plain": jwt_gate_filter(config, build=build)}, echo.port, "dpop-plain"
    ) as envoy:
        gate = Listener(envoy, "plain")
        token = keys.mint("ES256", cnf={"jkt": Client().thumbprint})
        response = send(gate, "/plain", token, [], scheme="Bearer")
        assert (response.status, response.text) == (
            401,
            "DPoP-bound Jwt must be sent with the DPoP scheme",
        )
        realm = f'Bearer realm="http://127.0.0.1:{gate.port}/plain"'
        assert response.header("www-authenticate") == f'{realm}, error="invalid_token"'
        assert send(gate, "/plain", keys.mint("ES256"), [], scheme="Bearer").status == 200


# --- Required and allowed ------------------------------------------------------------------------


def test_bearer_tokens_pass_where_dpop_is_allowed_and_not_where_it_is_required(gate, keys):
    token = keys.mint("ES256")
    assert send(gate, "/r", token, [], scheme="Bearer").status == 200
    assert gate.request(f"/r?access_token={token}").status == 200
    for response in (
        send(gate, "/required", token, [], scheme="Bearer"),
        gate.request(f"/required?access_token={token}"),
    ):
        assert_refused(
            gate,
            response,
            "dpop_required",
            "Jwt must be sent with the DPoP scheme and a DPoP proof",
            "invalid_token",
        )
    client = Client()
    bound = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    proof = client.proof("GET", url(gate, "/required"), bound)
    assert send(gate, "/required", bound, [proof]).status == 200


def test_no_credentials_get_the_bare_challenge(gate):
    required = gate.request("/required")
    assert (required.status, required.text) == (401, "Jwt is missing")
    assert required.header("www-authenticate") == CHALLENGE
    optional = gate.request("/r")
    realm = f'Bearer realm="http://127.0.0.1:{gate.port}/r"'
    assert optional.header("www-authenticate") == f"{realm}, {CHALLENGE}"


# --- Replay, on the same worker and on the other one ---------------------------------------------


def test_a_replayed_proof_is_refused_by_every_worker(gate, keys):
    """One proof, accepted once; then sent again on fresh connections until both the worker that
    accepted it and the other one have refused it."""
    client = Client()
    token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
    proof = client.proof("GET", url(gate, "/replay"), token)

    def worker_of(response_of) -> tuple[Response, int]:
        before = connections_per_worker(gate.envoy, gate.name, WORKERS)
        response = response_of()
        after = connections_per_worker(gate.envoy, gate.name, WORKERS)
        [worker] = [n for n in range(WORKERS) if after[n] > before[n]]
        return response, worker

    first, accepted_by = worker_of(lambda: send(gate, "/replay", token, [proof]))
    assert first.status == 200, first.text
    refused_by = set()
    for _ in range(60):
        response, worker = worker_of(lambda: send(gate, "/replay", token, [proof]))
        assert_refused(
            gate, response, "dpop_replayed", "DPoP proof has been used before", "invalid_dpop_proof"
        )
        refused_by.add(worker)
        if refused_by == set(range(WORKERS)):
            break
    assert refused_by == set(range(WORKERS)), f"replays reached only worker(s) {refused_by}"
    assert accepted_by in refused_by


def test_a_full_replay_cache_refuses_with_503_and_says_so(keys, echo, build):
    config = plugin_config(keys, dpop_replay_cache_size=1)
    with running_envoy(
        {"small": jwt_gate_filter(config, build=build)}, echo.port, "dpop-small"
    ) as envoy:
        gate = Listener(envoy, "small")
        client = Client()
        token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
        first = send(gate, "/r", token, [client.proof("GET", url(gate, "/r"), token)])
        assert first.status == 200, first.text
        second = send(gate, "/r", token, [client.proof("GET", url(gate, "/r"), token)])
        assert (second.status, second.text) == (503, "DPoP replay cache is full")
        assert second.header("www-authenticate") is None
        assert counter(gate, "dpop_replay_cache_full") == 1
        assert envoy.log_lines("the DPoP replay cache is full (1 proofs")


def test_the_documented_configuration_does_what_the_docs_say(keys, echo, build):
    """docs/configuration.md's DPoP example, with local keys of the test's issuer in place of
    Okta's: a token bound to the client's key passes with its proof, and is refused as Bearer."""
    text = (REPO / "docs" / "configuration.md").read_text()
    section = text[text.index("### DPoP") : text.index("#### The replay cache")]
    [block] = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    config = json.loads(block)
    [provider] = config["providers"].values()
    del provider["remote_jwks"]
    provider.update(
        issuer=ISSUER, audiences=[AUDIENCE], local_jwks={"inline_string": keys.jwks("es256")}
    )
    with running_envoy(
        {"doc": jwt_gate_filter(config, build=build)}, echo.port, "dpop-doc"
    ) as envoy:
        gate = Listener(envoy, "doc")
        client = Client("ES256")
        token = keys.mint("ES256", cnf={"jkt": client.thumbprint})
        proof = client.proof("GET", url(gate, "/orders/42"), token)
        upstream = send(gate, "/orders/42?expand=items", token, [proof]).upstream
        assert (upstream.header("authorization"), upstream.header("dpop")) == (None, None)
        refused = send(gate, "/orders/42", token, [], scheme="Bearer")
        assert (
            refused.header("www-authenticate") == 'DPoP algs="ES256 RS256", error="invalid_token"'
        )
