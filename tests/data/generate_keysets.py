#!/usr/bin/env python3
"""Mints tests/data/keysets.json: key set documents in every format jwt-gate auto-detects, each
with a token signed by the matching private key (PyJWT + cryptography, never jwt-gate).

`expect` is what the document gives inline (`local_jwks`, formats detected); `fetched` what it
gives fetched with `remote_jwks.format` "jwks" and "pem": "keys" (the keys, verifying as
`expect` says), "none" (a key set of no keys: the issuer withdrew them) or "error:<KeySetError
variant>" (the last good keys stay). A fetched document is never a bare HMAC secret.

Run from the repository root: .venv/bin/python tests/data/generate_keysets.py
"""

import base64
import datetime
import json
import os
import warnings

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

warnings.simplefilter("ignore")
CLAIMS = {"iss": "https://issuer.test", "sub": "alice"}
PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def certificate(key, name):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
        .public_bytes(PEM)
        .decode()
    )


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
p256 = ec.generate_private_key(ec.SECP256R1())
p384 = ec.generate_private_key(ec.SECP384R1())
p521 = ec.generate_private_key(ec.SECP521R1())
ed = ed25519.Ed25519PrivateKey.generate()
secret = os.urandom(32)
cases = []


def case(name, document, token=None, expect="ok", jwks="error:Json", pem="error:Pem"):
    fetched = {"jwks": jwks, "pem": pem}
    cases.append(
        {"name": name, "document": document, "token": token, "expect": expect, "fetched": fetched}
    )


def pem_case(name, document, token):
    """A PEM document: read fetched as "pem", refused fetched as "jwks"."""
    case(name, document, token, jwks="error:PemNotConfigured", pem="keys")


def sign(key, alg, kid=None):
    return jwt.encode(CLAIMS, key, algorithm=alg, headers={"kid": kid} if kid else None)


x509_map = json.dumps({"rsa-cert": certificate(rsa_key, "rsa"), "ec-cert": certificate(p256, "ec")})
case("x509 map, RSA certificate", x509_map, sign(rsa_key, "RS256", "rsa-cert"), jwks="keys")
case("x509 map, EC certificate", x509_map, sign(p256, "ES256", "ec-cert"), jwks="keys")
case(
    "x509 map, unknown kid",
    x509_map,
    sign(rsa_key, "RS256", "other"),
    "kid_alg_mismatch",
    jwks="keys",
)
pem_case(
    "PEM SPKI, RSA", rsa_key.public_key().public_bytes(PEM, SPKI).decode(), sign(rsa_key, "PS256")
)
pem_case("PEM SPKI, P-384", p384.public_key().public_bytes(PEM, SPKI).decode(), sign(p384, "ES384"))
pem_case("PEM SPKI, P-521", p521.public_key().public_bytes(PEM, SPKI).decode(), sign(p521, "ES512"))
pem_case("PEM SPKI, Ed25519", ed.public_key().public_bytes(PEM, SPKI).decode(), sign(ed, "EdDSA"))
pem_case(
    "PEM PKCS#1 RSA PUBLIC KEY",
    rsa_key.public_key().public_bytes(PEM, serialization.PublicFormat.PKCS1).decode(),
    sign(rsa_key, "RS512"),
)
pem_case("PEM certificate", certificate(p384, "p384"), sign(p384, "ES384"))
pem_case(
    "several PEM blocks",
    rsa_key.public_key().public_bytes(PEM, SPKI).decode()
    + p256.public_key().public_bytes(PEM, SPKI).decode(),
    sign(p256, "ES256"),
)
sym = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
case("symmetric key file (base64url)", sym + "\n", sign(secret, "HS256"))
case("symmetric key file, padded", base64.urlsafe_b64encode(secret).decode(), sign(secret, "HS384"))
good = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
case(
    "JWKS with bad entries skipped",
    json.dumps(
        {
            "keys": [
                {"kty": "RSA"},
                {"kty": "EC", "crv": "P-256K", "x": "AA", "y": "AA"},
                "junk",
                {"kty": "OKP", "crv": "X25519", "x": "AA"},
                dict(good, kid="k"),
            ]
        }
    ),
    sign(rsa_key, "RS256", "k"),
    jwks="keys",
)
case(
    "JWKS with no usable key",
    json.dumps({"keys": [{"kty": "RSA"}, {"kty": "oct", "k": ""}]}),
    expect="error:NoValidKeys",
    jwks="none",
)
case("empty JWKS", json.dumps({"keys": []}), expect="error:NoValidKeys", jwks="none")
case("empty JSON object", "{}", expect="error:NoKeysField", jwks="error:NoKeysField")
case(
    "JSON without keys that is not a certificate map",
    json.dumps({"a": "b"}),
    expect="error:NoKeysField",
    jwks="error:NoKeysField",
)
case(
    "x509 map with a broken certificate",
    json.dumps({"k": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
    expect="error:BadCertificate",
    jwks="error:BadCertificate",
)
case("not a key set at all", "hello world!", expect="error:UnknownFormat")
# A misrouted health or version endpoint: 64 hex digits are valid base64url. Inline, that is a
# symmetric key file (the configuration says so); fetched, never.
digest = os.urandom(32).hex()
case("hex digest", digest + "\n", sign(base64.urlsafe_b64decode(digest), "HS256"))

with open(os.path.join(os.path.dirname(__file__), "keysets.json"), "w") as out:
    json.dump({"generator": "tests/data/generate_keysets.py", "cases": cases}, out, indent=1)
    out.write("\n")
print(f"wrote {len(cases)} cases")
