"""Every algorithm verifies end to end; a token whose algorithm disagrees with its key never
does."""

import pytest

from jwt_gate_testkit.client import assert_denied
from jwt_gate_testkit.shared_config import OTHER_ISSUER
from jwt_gate_testkit.tokens import ALGORITHMS


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_algorithm_verifies(gate, keys, alg):
    response = gate.request("/api/x", token=keys.mint(alg))
    assert response.status == 200, response.text
    assert response.upstream.header("x-sub") == "alice"


def test_token_without_kid_is_tried_against_every_key(gate, keys):
    assert gate.request("/api/x", token=keys.mint("ES384", kid=None)).status == 200


@pytest.mark.parametrize(
    "header, signing_key",
    [
        ({"alg": "ES384", "kid": "es256"}, "es256"),  # SHA-384 on the P-256 key
        ({"alg": "ES256", "kid": "es384"}, "es384"),  # SHA-256 on the P-384 key
        ({"alg": "RS256", "kid": "es256"}, "rsa"),  # RSA signature, EC key
        ({"alg": "HS256", "kid": "rsa"}, "pem:rsa"),  # the RSA key as HMAC secret
        ({"alg": "HS256", "kid": "es256"}, "pem:es256"),
        ({"alg": "EdDSA", "kid": "hs"}, "ed25519"),  # OKP signature, oct key
        ({"alg": "PS256", "kid": "hs"}, "rsa"),
    ],
    ids=lambda value: value["alg"] + "/" + value["kid"] if isinstance(value, dict) else None,
)
def test_algorithm_must_agree_with_key(gate, keys, header, signing_key):
    """Each token is signed as its header's alg says, but the kid's key does not fit that alg
    (another curve, another key type, or a public key abused as an HMAC secret)."""
    # "pem:<kid>": that key's public PEM, used as an HMAC secret.
    key = keys.public_pem(signing_key[4:]) if signing_key.startswith("pem:") else signing_key
    token = keys.forge(header, keys.claims(), key)
    assert gate.request("/api/x", token=token).status == 401


def test_key_pinned_to_an_algorithm_rejects_others(gate, keys):
    # Provider "other" has only rsa2, pinned to RS256; its token goes in x-other-token.
    def token(alg: str) -> str:
        return keys.mint(alg, kid="rsa2", iss=OTHER_ISSUER)

    assert gate.request("/first", headers={"x-other-token": token("RS256")}).status == 200
    response = gate.request("/first", headers={"x-other-token": token("RS384")})
    assert_denied(response, 401, "Jwks doesn't have key to match kid or alg from Jwt")
