#!/usr/bin/env python3
"""Mints tests/data/tokens.json: fixture tokens for every algorithm and for hostile cases.

Tokens are minted by PyJWT and cryptography, never by jwt-gate. Run from the repository root:
    .venv/bin/python tests/data/generate_tokens.py
Each case names the verdict jwt-gate must reach at NOW for the provider in the file:
"ok", or jwt_authn's response body for the failure. Keys are generated anew on every run.
"""

import base64
import hashlib
import hmac
import json
import os
import warnings

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

warnings.simplefilter("ignore")  # PyJWT warns about the deliberately weak keys below.

NOW = 1_700_000_000
ISS = "https://issuer.test"
AUD = "api.test"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(alg_cls, public, kid, **extra):
    entry = json.loads(alg_cls.to_jwk(public))
    entry["kid"] = kid
    entry.update(extra)
    return entry


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
p256 = ec.generate_private_key(ec.SECP256R1())
p384 = ec.generate_private_key(ec.SECP384R1())
p521 = ec.generate_private_key(ec.SECP521R1())
ed = ed25519.Ed25519PrivateKey.generate()
secret = os.urandom(64)

A = jwt.algorithms
keys = [
    jwk(A.RSAAlgorithm, rsa_key.public_key(), "rsa"),
    jwk(A.ECAlgorithm, p256.public_key(), "es256"),
    jwk(A.ECAlgorithm, p384.public_key(), "es384"),
    jwk(A.ECAlgorithm, p521.public_key(), "es512"),
    jwk(A.OKPAlgorithm, ed.public_key(), "ed25519"),
    {"kty": "oct", "kid": "hs", "k": b64(secret)},
    jwk(A.RSAAlgorithm, rsa_small.public_key(), "rsa1024"),
    jwk(A.RSAAlgorithm, rsa_other.public_key(), "rsa-enc", use="enc"),
]
signers = {
    "RS256": (rsa_key, "rsa"),
    "RS384": (rsa_key, "rsa"),
    "RS512": (rsa_key, "rsa"),
    "PS256": (rsa_key, "rsa"),
    "PS384": (rsa_key, "rsa"),
    "PS512": (rsa_key, "rsa"),
    "ES256": (p256, "es256"),
    "ES384": (p384, "es384"),
    "ES512": (p521, "es512"),
    "EdDSA": (ed, "ed25519"),
    "HS256": (secret, "hs"),
    "HS384": (secret, "hs"),
    "HS512": (secret, "hs"),
}


def claims(**overrides):
    base = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW, "exp": NOW + 3600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(alg="RS256", payload=None, kid="default", key=None, headers=None):
    signing_key, default_kid = signers[alg]
    hdr = dict(headers or {})
    if kid == "default":
        kid = default_kid
    if kid is not None:
        hdr["kid"] = kid
    return jwt.encode(
        payload if payload is not None else claims(), key or signing_key, algorithm=alg, headers=hdr
    )


def raw(header: dict, payload_bytes: bytes, sign) -> str:
    """A token from exact header JSON and payload bytes, signed by `sign(signing_input)`."""
    signing_input = (
        b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(payload_bytes)
    )
    return signing_input + "." + b64(sign(signing_input.encode()))


def rs256(data: bytes) -> bytes:
    return rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def flip_last_signature_char(token: str) -> str:
    head, _, sig = token.rpartition(".")
    raw_sig = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw_sig[len(raw_sig) // 2] ^= 0x01
    return head + "." + b64(bytes(raw_sig))


cases = []


def case(name, token, expect):
    cases.append({"name": name, "token": token, "expect": expect})


for alg in signers:
    case(f"{alg} valid", mint(alg), "ok")
    case(f"{alg} bad signature", flip_last_signature_char(mint(alg)), "Jwt verification fails")
case(
    "rich claims (scope, tenant, roles, namespaced claim)",
    mint(
        payload=claims(
            scope="read:books write:books",
            tenant="acme",
            roles=["admin", "dev"],
            level=3,
            email="alice@example.com",
            aud=["api.test", "other"],
            **{"https://example.com/roles": ["editor"]},
            realm={"team": "blue"},
        )
    ),
    "ok",
)
case("scp list (Okta)", mint(payload=claims(scp=["read:books"], tenant="globex")), "ok")
case("ES256 without kid tries every P-256 key", mint("ES256", kid=None), "ok")
case("RS256 without kid tries every RSA key", mint("RS256", kid=None), "ok")
case(
    "aud list with one allowed value",
    mint(payload=claims(aud=["other", "https://api.test/"])),
    "ok",
)
case("no aud", mint(payload=claims(aud=None)), "Audiences in Jwt are not allowed")
case("wrong aud", mint(payload=claims(aud="api.evil")), "Audiences in Jwt are not allowed")
case("wrong iss", mint(payload=claims(iss="https://evil.test")), "Jwt issuer is not configured")
case("no iss", mint(payload=claims(iss=None)), "Jwt issuer is not configured")
case("expired beyond skew", mint(payload=claims(exp=NOW - 61)), "Jwt is expired")
case("expired within skew", mint(payload=claims(exp=NOW - 59)), "ok")
case("exp zero", mint(payload=claims(exp=0)), "Jwt is expired")
case("nbf beyond skew", mint(payload=claims(nbf=NOW + 61)), "Jwt not yet valid")
case("nbf within skew", mint(payload=claims(nbf=NOW + 59)), "ok")
case(
    "exp is a string",
    mint(payload=claims(exp=str(NOW + 60))),
    "Jwt payload [exp] field is not an integer",
)
case(
    "exp negative",
    mint(payload=claims(exp=-1)),
    "Jwt payload [exp] field is not a positive 64 bit integer",
)
case(
    "aud is a number",
    mint(payload=claims(aud=7)),
    "Jwt payload [aud] field is not a string or string list",
)
case("unknown kid", mint(kid="nope"), "Jwks doesn't have key to match kid or alg from Jwt")
case(
    "kid injection",
    mint(kid="../../../../dev/null"),
    "Jwks doesn't have key to match kid or alg from Jwt",
)
case(
    "kid of a 1024-bit RSA key (skipped at load)",
    mint("RS256", key=rsa_small, kid="rsa1024"),
    "Jwks doesn't have key to match kid or alg from Jwt",
)
case(
    "kid of an encryption key (use: enc)",
    mint("RS256", key=rsa_other, kid="rsa-enc"),
    "Jwks doesn't have key to match kid or alg from Jwt",
)


def ecdsa_raw(key, hash_algorithm, size):
    def sign(data):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_algorithm)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return sign


case(
    "ES384 header on the P-256 key",
    raw(
        {"alg": "ES384", "kid": "es256"},
        json.dumps(claims()).encode(),
        ecdsa_raw(p256, hashes.SHA384(), 32),
    ),
    "Jwks doesn't have key to match kid or alg from Jwt",
)
case(
    "ES256 header on the P-384 key",
    raw(
        {"alg": "ES256", "kid": "es384"},
        json.dumps(claims()).encode(),
        ecdsa_raw(p384, hashes.SHA256(), 48),
    ),
    "Jwks doesn't have key to match kid or alg from Jwt",
)
case(
    "RS256 token under the EC kid",
    mint("RS256", kid="es256"),
    "Jwks doesn't have key to match kid or alg from Jwt",
)
pem = rsa_key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
case(
    "HS256 keyed with the RSA public key (key confusion)",
    raw(
        {"alg": "HS256", "kid": "rsa"},
        json.dumps(claims()).encode(),
        lambda m: hmac.new(pem, m, hashlib.sha256).digest(),
    ),
    "Jwks doesn't have key to match kid or alg from Jwt",
)
case(
    "HS256 keyed with the RSA public key, no kid",
    raw(
        {"alg": "HS256"},
        json.dumps(claims()).encode(),
        lambda m: hmac.new(pem, m, hashlib.sha256).digest(),
    ),
    "Jwt verification fails",
)
case(
    "alg none",
    raw({"alg": "none"}, json.dumps(claims()).encode(), lambda m: b"x"),
    "Jwt header [alg] is not supported",
)
case(
    "alg None",
    raw({"alg": "None"}, json.dumps(claims()).encode(), lambda m: b"x"),
    "Jwt header [alg] is not supported",
)
case(
    "alg missing",
    raw({"kid": "rsa"}, json.dumps(claims()).encode(), rs256),
    "Jwt header [alg] field is required and must be a string",
)
case(
    "psychic signature ES256 (r = s = 0)",
    raw({"alg": "ES256", "kid": "es256"}, json.dumps(claims()).encode(), lambda m: bytes(64)),
    "Jwt verification fails",
)


def der_sig(m: bytes) -> bytes:
    return p256.sign(m, ec.ECDSA(hashes.SHA256()))


case(
    "ES256 with a DER signature instead of r||s",
    raw({"alg": "ES256", "kid": "es256"}, json.dumps(claims()).encode(), der_sig),
    "Jwt verification fails",
)
case(
    "duplicate iss in payload (validly signed)",
    raw(
        {"alg": "RS256", "kid": "rsa"},
        f'{{"iss":"https://evil.test","iss":"{ISS}","aud":"{AUD}","exp":{NOW + 60}}}'.encode(),
        rs256,
    ),
    "Jwt payload is an invalid JSON",
)
case(
    "crit header (validly signed)",
    raw(
        {"alg": "RS256", "kid": "rsa", "crit": ["exp"], "exp": 1},
        json.dumps(claims()).encode(),
        rs256,
    ),
    "Jwt header [crit] lists an unsupported extension",
)
case(
    "payload is a JSON array (validly signed)",
    raw({"alg": "RS256", "kid": "rsa"}, b"[1,2]", rs256),
    "Jwt payload is an invalid JSON",
)
attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
embedded = json.loads(A.RSAAlgorithm.to_jwk(attacker.public_key()))
case(
    "embedded jwk header is not trusted",
    jwt.encode(claims(), attacker, algorithm="RS256", headers={"jwk": embedded}),
    "Jwt verification fails",
)
case(
    "jku header is not trusted",
    jwt.encode(
        claims(),
        attacker,
        algorithm="RS256",
        headers={"jku": "http://127.0.0.1/jwks", "kid": "rsa"},
    ),
    "Jwt verification fails",
)
good = mint()
h, p, s = good.split(".")
case(
    "two parts",
    f"{h}.{p}",
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
)
case(
    "four parts",
    f"{good}.{s}",
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
)
case(
    "empty signature",
    f"{h}.{p}.",
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
)
case("padded payload", f"{h}.{p}==.{s}", "Jwt payload is an invalid Base64url encoded")
case(
    "standard base64 alphabet in the signature",
    f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}+",
    "Jwt signature is an invalid Base64url encoded",
)
case("header is not JSON", f"{b64(b'not json')}.{p}.{s}", "Jwt header is an invalid JSON")
case(
    "truncated signature",
    f"{h}.{p}.{b64(base64.urlsafe_b64decode(s + '==')[:-5])}",
    "Jwt verification fails",
)

document = {
    "generator": f"tests/data/generate_tokens.py (PyJWT {jwt.__version__})",
    "now": NOW,
    "provider": {
        "issuer": ISS,
        "audiences": [AUD],
        "local_jwks": {"inline_string": json.dumps({"keys": keys})},
    },
    "cases": cases,
}
with open(os.path.join(os.path.dirname(__file__), "tokens.json"), "w") as out:
    json.dump(document, out, indent=1)
    out.write("\n")
print(f"wrote {len(cases)} cases")
