"""Keys and tokens: the session's signing keys (RSA, P-256/384/521, Ed25519, an HMAC secret),
tokens minted by PyJWT, never by jwt-gate (valid ones, and forged ones signed however a header
says), public JWKs and JWK sets, self-signed certificates, and base64url."""

from __future__ import annotations

import base64
import datetime
import json
import os
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import (
    ECAlgorithm,
    HMACAlgorithm,
    OKPAlgorithm,
    RSAAlgorithm,
    get_default_algorithms,
)

# The kid a token gets by default for each algorithm: the key that signs it.
DEFAULT_KID = {
    **{f"{family}{bits}": "rsa" for family in ("RS", "PS") for bits in (256, 384, 512)},
    "ES256": "es256",
    "ES384": "es384",
    "ES512": "es512",
    "EdDSA": "ed25519",
    **{f"HS{bits}": "hs" for bits in (256, 384, 512)},
}
ALGORITHMS = list(DEFAULT_KID)

ISSUER = "https://issuer.test"
AUDIENCE = "api.test"


class Keys:
    """The session's signing keys, by kid, and tokens signed with them."""

    def __init__(self) -> None:
        self.private = {
            "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "rsa2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "es256": ec.generate_private_key(ec.SECP256R1()),
            "es384": ec.generate_private_key(ec.SECP384R1()),
            "es512": ec.generate_private_key(ec.SECP521R1()),
            "ed25519": ed25519.Ed25519PrivateKey.generate(),
            "hs": os.urandom(32),
        }

    def jwk(self, kid: str, alg: str | None = None) -> dict:
        """The public JWK of `kid` (the secret itself, as `oct`, for HMAC)."""
        return public_jwk(self.private[kid], kid, alg)

    def jwks(self, *kids: str, alg: dict[str, str] | None = None) -> str:
        """A JWKS JSON string with the public keys of `kids` (all keys when none is given);
        `alg` optionally pins an algorithm on some of them."""
        alg = alg or {}
        return json.dumps({"keys": [self.jwk(kid, alg.get(kid)) for kid in kids or self.private]})

    def public_pem(self, kid: str) -> bytes:
        return (
            self.private[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def mint(
        self, alg: str = "RS256", kid: str | None = "", key: str | None = None, **claims
    ) -> str:
        """A token signed by PyJWT. Claims default to a valid token for `ISSUER`/`AUDIENCE`; a
        claim passed as None is left out. `kid` defaults to the algorithm's key (None: no kid);
        `key` picks another signing key than the kid's."""
        kid = DEFAULT_KID[alg] if kid == "" else kid
        header = {"kid": kid} if kid else {}
        signing_key = self.private[key or kid or DEFAULT_KID[alg]]
        return jwt.encode(self.claims(**claims), signing_key, algorithm=alg, headers=header)

    def forge(self, header: dict, payload: dict | list | bytes, key: str | bytes) -> str:
        """A token signed the way its header's alg says, by PyJWT's algorithm objects directly:
        no check that the key fits the algorithm, any JSON or raw bytes as payload. `key` is a
        kid, or raw bytes as an HMAC secret."""
        signing_key = self.private[key] if isinstance(key, str) else key
        signing_input = f"{b64url(header)}.{b64url(payload)}"
        signature = get_default_algorithms()[header["alg"]].sign(
            signing_input.encode(), signing_key
        )
        return f"{signing_input}.{b64url(signature)}"

    def claims(self, **overrides) -> dict:
        """See valid_claims."""
        return valid_claims(**overrides)


def valid_claims(**overrides) -> dict:
    """Valid claims for `ISSUER`/`AUDIENCE`, updated with `overrides` (None removes a claim)."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def public_jwk(key, kid: str | None, alg: str | None = None) -> dict:
    """The public JWK of a private key (the secret itself, as `oct`, for HMAC bytes)."""
    if isinstance(key, bytes):
        jwk = HMACAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    if alg:
        jwk["alg"] = alg
    return jwk


def b64url(data: bytes | str | dict | list) -> str:
    """Unpadded base64url of bytes, of a string's UTF-8, or of a value's compact JSON."""
    if isinstance(data, (dict, list)):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> list[str]:
    return token.split(".")


def decoded_payload(token: str) -> dict:
    segment = segments(token)[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def self_signed_certificate(key, common_name: str) -> str:
    """A PEM certificate for `key`'s public half, signed by itself, valid from yesterday to
    tomorrow."""
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
