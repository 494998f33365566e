#!/usr/bin/env python3
"""Mints integration/data/hostile.json: the hostile-input suite that test_hostile.py sends through a
real Envoy. Tokens are minted by PyJWT and cryptography, never by jwt-gate. Run from the
repository root (keys are generated anew on every run):

    .venv/bin/python integration/data/generate_hostile.py

The document holds the plugin configuration (local keys; the remote providers' key sets are built
by the test, which serves them from an IdentityProvider of jwt_gate_testkit), and the cases. A case
is one request and the answer it must get:

    {"name", "class", "source", "note"?, "listener"?: "hostile" | "big" | "normalized",
     "path"?, "token"?, "headers"?: [[name, value], ...], "raw"?,
     "expect": {"status", "body"?, "reason"?, "upstream"?: {header: value or null},
                "upstream_path"?}}

`token` is sent as `Authorization: Bearer <token>`; `raw` is a whole HTTP/1.1 request sent as is.
Header values, paths and `raw` are bytes written as latin-1 text (one character per byte, so
"\\u00ff" is the byte 0xff). Any of these strings may instead be a list of pieces to concatenate,
each a string or {"repeat": s, "times": n}: the 64 KiB tokens stay small on disk. `reason` is the
`denied_by_reason` counter jwt-gate increments; `body` is omitted where Envoy answers itself.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import warnings
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from jwt.algorithms import get_default_algorithms

warnings.simplefilter("ignore")  # PyJWT warns about the empty and short HMAC keys below.

OUT = Path(__file__).resolve().parent / "hostile.json"
ISS = "https://hostile.test"
MANY_ISS = "https://many.test"
AUD = "api.test"
IAT = 1_700_000_000
EXP = 4_102_444_800  # 2100-01-01: valid tokens stay valid
EXPIRED = 1_600_000_000
KIB = 1024
TOKEN_LIMIT = 64 * KIB  # src/limits.rs max_token_bytes

# Curve orders (SEC 2) and the Ed25519 group order (RFC 8032): the "psychic" values.
ORDER = {
    "ES256": int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16),
    "ES384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "ES512": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}
HALF = {"ES256": 32, "ES384": 48, "ES512": 66}
ED25519_L = 2**252 + 27742317777372353535851937790883648493

# The reasons (denied_by_reason.<reason>) of the texts jwt-gate answers with.
REASONS = {
    "Jwt is missing": "jwt_missing",
    "Jwt is expired": "jwt_expired",
    "Jwt not yet valid": "jwt_not_yet_valid",
    "Jwt issuer is not configured": "jwt_issuer_not_configured",
    "Audiences in Jwt are not allowed": "jwt_audience_not_allowed",
    "Jwt verification fails": "jwt_verification_fails",
    "Jwks doesn't have key to match kid or alg from Jwt": "jwks_kid_alg_mismatch",
    "Jwks remote fetch is failed": "jwks_fetch_failed",
    "Found multiple Jwt tokens": "jwt_multiple_tokens",
    "Jwt header [alg] is not supported": "jwt_alg_not_supported",
    "Jwt is too large": "jwt_too_large",
}

MISSING = "Jwt is missing"
EXPIRED_TEXT = "Jwt is expired"
FAILS = "Jwt verification fails"
NO_KEY = "Jwks doesn't have key to match kid or alg from Jwt"
ALG = "Jwt header [alg] is not supported"
ALG_REQUIRED = "Jwt header [alg] field is required and must be a string"
KID_TYPE = "Jwt header [kid] field is not a string"
FORM = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
HEADER_B64 = "Jwt header is an invalid Base64url encoded"
PAYLOAD_B64 = "Jwt payload is an invalid Base64url encoded"
SIGNATURE_B64 = "Jwt signature is an invalid Base64url encoded"
HEADER_JSON = "Jwt header is an invalid JSON"
PAYLOAD_JSON = "Jwt payload is an invalid JSON"
CRIT = "Jwt header [crit] lists an unsupported extension"
MULTIPLE = "Found multiple Jwt tokens"
TOO_LARGE = "Jwt is too large"
EXP_TYPE = "Jwt payload [exp] field is not an integer"
EXP_RANGE = "Jwt payload [exp] field is not a positive 64 bit integer"
NBF_RANGE = "Jwt payload [nbf] field is not a positive 64 bit integer"
IAT_TYPE = "Jwt payload [iat] field is not an integer"
ISS_TYPE = "Jwt payload [iss] field is not a string"
AUD_TYPE = "Jwt payload [aud] field is not a string or string list"
NOT_YET = "Jwt not yet valid"
ISSUER_UNKNOWN = "Jwt issuer is not configured"
AUDIENCE_NOT_ALLOWED = "Audiences in Jwt are not allowed"

# --- Keys ----------------------------------------------------------------------------------------

KEYS = {
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "es256": ec.generate_private_key(ec.SECP256R1()),
    "es384": ec.generate_private_key(ec.SECP384R1()),
    "es512": ec.generate_private_key(ec.SECP521R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
    "hs": os.urandom(32),
}
ATTACKER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ALGORITHMS = get_default_algorithms()
SIGNER = {
    "RS": "rsa",
    "PS": "rsa",
    "ES256": "es256",
    "ES384": "es384",
    "ES512": "es512",
    "EdDSA": "ed25519",
    "HS": "hs",
}


def public_jwk(kid: str) -> dict:
    key = KEYS[kid]
    if isinstance(key, bytes):
        jwk = ALGORITHMS["HS256"].to_jwk(key, as_dict=True)
    else:
        algorithm = {"rsa": "RS256", "ed25519": "EdDSA"}.get(kid, kid.upper())
        jwk = ALGORITHMS[algorithm].to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid}


def pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def der(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- Tokens --------------------------------------------------------------------------------------


def b64(data: bytes | str) -> str:
    data = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def text(value: dict | list | str | bytes) -> bytes:
    """A header or payload as bytes: compact JSON of a value, or the exact text given."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def claims(**overrides) -> dict:
    base = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": IAT, "exp": EXP}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def signature(alg: str, signing_input: bytes, key=None) -> bytes:
    """`alg`'s signature by `key` (default: the suite key for the algorithm's family)."""
    if key is None:
        key = KEYS[SIGNER.get(alg, SIGNER.get(alg[:2]))]
    return ALGORITHMS[alg].sign(signing_input, key)


def signed_by(alg: str, key=None):
    """A `sign` function for jws(): `alg` with `key` (default: the suite key for `alg`)."""
    return lambda signing_input: signature(alg, signing_input, key)


def hs256(secret: bytes):
    """A `sign` function for jws(): HMAC-SHA256 with any secret, however short or strange."""
    return lambda signing_input: hmac.new(secret, signing_input, hashlib.sha256).digest()


def der_signed(alg: str):
    """A `sign` function for jws(): ECDSA with the suite key, DER-encoded (not JOSE's r || s)."""
    hash_algorithm = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}
    return lambda signing_input: KEYS[SIGNER[alg]].sign(
        signing_input, ec.ECDSA(hash_algorithm[alg])
    )


def jws(
    header: dict | str | bytes, payload: dict | list | str | bytes | None = None, sign=None
) -> str:
    """A compact JWS of exactly this header and payload (JSON values or exact text). `sign`:
    signing input -> signature bytes; by default the header's alg with the suite key."""
    payload = claims() if payload is None else payload
    signing_input = f"{b64(text(header))}.{b64(text(payload))}"
    if sign is None:
        sign = signed_by(header["alg"])
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def token(alg: str = "RS256", kid: str | None = "", **overrides) -> str:
    """A valid token (kid defaults to the algorithm's key)."""
    kid = SIGNER.get(alg, SIGNER.get(alg[:2])) if kid == "" else kid
    header = {"alg": alg, **({"kid": kid} if kid is not None else {})}
    return jws(header, claims(**overrides))


def with_signature(token_text: str, raw: bytes) -> str:
    head, payload, _ = token_text.split(".")
    return f"{head}.{payload}.{b64(raw)}"


def raw_signature(token_text: str) -> bytes:
    return unb64(token_text.split(".")[2])


def split_signature(token_text: str, alg: str) -> tuple[bytes, bytes]:
    """The r and s of an ECDSA token's signature."""
    raw = raw_signature(token_text)
    return raw[: HALF[alg]], raw[HALF[alg] :]


def ecdsa(alg: str, r: int, s: int) -> bytes:
    return r.to_bytes(HALF[alg], "big") + s.to_bytes(HALF[alg], "big")


def check_orders() -> None:
    """ORDER is each curve's group order: (r, n - s) verifies wherever (r, s) does."""
    for alg, hash_algorithm in (
        ("ES256", hashes.SHA256()),
        ("ES384", hashes.SHA384()),
        ("ES512", hashes.SHA512()),
    ):
        key = KEYS[SIGNER[alg]]
        r, s = decode_dss_signature(key.sign(b"order", ec.ECDSA(hash_algorithm)))
        twin = encode_dss_signature(r, ORDER[alg] - s)
        key.public_key().verify(twin, b"order", ec.ECDSA(hash_algorithm))  # raises if wrong


check_orders()


def sized(target: int, make) -> str:
    """make(k) for the first k whose token is exactly `target` characters long."""
    for knob in range(4096):
        candidate = make(knob)
        if len(candidate) == target:
            return candidate
    raise AssertionError(f"no token of {target} characters")


def compress(value: str) -> str | list:
    """Long runs of one repeated 1-to-4 character unit become {"repeat", "times"} pieces."""
    pieces: list = []
    position = 0
    for match in re.finditer(r"(.{1,4}?)\1{63,}", value):
        unit = match.group(1)
        pieces.append(value[position : match.start()])
        pieces.append({"repeat": unit, "times": (match.end() - match.start()) // len(unit)})
        position = match.end()
    pieces.append(value[position:])
    pieces = [piece for piece in pieces if piece != ""]
    return value if len(pieces) == 1 and isinstance(pieces[0], str) else pieces


def expand(value: str | list) -> str:
    """What test_hostile.py does with a compressed string."""
    if isinstance(value, str):
        return value
    return "".join(p if isinstance(p, str) else p["repeat"] * p["times"] for p in value)


def packed(value: str) -> str | list:
    """compress(value), checked to expand back to `value`."""
    pieces = compress(value)
    assert expand(pieces) == value
    return pieces


# --- Cases ---------------------------------------------------------------------------------------

cases: list[dict] = []


def case(
    name: str,
    klass: str,
    source: str,
    status: int,
    body: str | None = None,
    *,
    tok: str | None = None,
    path: str = "/api/x",
    headers: list | None = None,
    raw: str | None = None,
    listener: str = "hostile",
    note: str | None = None,
    upstream: dict | None = None,
    upstream_path: str | None = None,
) -> None:
    entry: dict = {"name": name, "class": klass, "source": source}
    if note:
        entry["note"] = note
    if listener != "hostile":
        entry["listener"] = listener
    if raw is not None:
        entry["raw"] = packed(raw)
    else:
        entry["path"] = packed(path)
        if tok is not None:
            entry["token"] = packed(tok)
        if headers:
            entry["headers"] = [[n, packed(v)] for n, v in headers]
    expect: dict = {"status": status}
    if body is not None:
        expect["body"] = body
        if body in REASONS:
            expect["reason"] = REASONS[body]
        elif status in (401, 403):
            expect["reason"] = "jwt_malformed"
    if upstream:
        expect["upstream"] = upstream
    if upstream_path:
        expect["upstream_path"] = upstream_path
    entry["expect"] = expect
    assert name not in {c["name"] for c in cases}, name
    cases.append(entry)


# The catalogue is a table, one case to a call: the formatter leaves it alone.
# fmt: off
GOOD = token()
H, P, S = GOOD.split(".")
FORGED = with_signature(GOOD, raw_signature(GOOD)[::-1])

# Controls: every family of key passes, so that each attack below fails for its own reason.
for alg in ("RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256"):
    case(f"control: valid {alg}", "control", "-", 200, tok=token(alg), upstream={"x-sub": "alice"})
case("control: no token", "control", "-", 401, MISSING)
case("control: expired", "control", "RFC 7519 §4.1.4", 401, EXPIRED_TEXT, tok=token(exp=EXPIRED))
case("control: another audience", "control", "RFC 7519 §4.1.3", 403,
     "Audiences in Jwt are not allowed", tok=token(aud="other.test"))
case("control: unchecked route", "control", "-", 200, path="/public/x")
case("a token of another provider's issuer", "cross-provider", "RFC 8725 §2.7, §3.8", 401,
     "Jwt issuer is not configured", tok=token(iss=MANY_ISS))
case("a token of this issuer in another provider's location", "cross-provider",
     "RFC 8725 §2.7, §3.8", 401, "Jwt issuer is not configured", path="/many/x",
     headers=[("x-jwt-1", GOOD)])

# alg none and its spellings (RFC 8725 §2.1, §3.1; jwt_tool -X a).
valid_claims = claims()
case("alg none, empty signature", "alg-none", "RFC 8725 §3.1; jwt_tool -X a", 401, FORM,
     tok=jws({"alg": "none"}, valid_claims, lambda _: b""))
for spelling in ("none", "None", "NONE", "nOnE"):
    case(f"alg {spelling}, the RS256 signature kept", "alg-none", "RFC 8725 §3.1; jwt_tool -X a",
         401, ALG, tok=f"{b64(text({'alg': spelling, 'kid': 'rsa'}))}.{P}.{S}")
case("alg none with a one-byte signature", "alg-none", "jwt_tool -X a", 401, ALG,
     tok=jws({"alg": "none"}, valid_claims, lambda _: b"\0"))
for label, alg_value, expected in (
    ("empty", "", ALG),
    ("lower case rs256", "rs256", ALG),
    ("trailing space", "RS256 ", ALG),
    ("trailing NUL", "RS256\u0000", ALG),
    ("JWE algorithm RSA-OAEP", "RSA-OAEP", ALG),
    ("ES256K", "ES256K", ALG),
    ("null", None, ALG_REQUIRED),
    ("a number", 256, ALG_REQUIRED),
    ("a list", ["RS256"], ALG_REQUIRED),
):
    case(f"alg {label}", "alg-confusion", "RFC 7515 §4.1.1", 401, expected,
         tok=jws({"alg": alg_value, "kid": "rsa"}, valid_claims, signed_by("RS256")))
case("alg missing", "alg-confusion", "RFC 7515 §4.1.1", 401, ALG_REQUIRED,
     tok=jws({"kid": "rsa"}, valid_claims, signed_by("RS256")))

# Signature stripping and wrong lengths (jwt_tool -X n "null signature").
case("signature stripped, trailing dot kept", "signature-strip", "jwt_tool -X n", 401, FORM,
     tok=f"{H}.{P}.")
case("signature stripped, two parts", "signature-strip", "jwt_tool -X n", 401, FORM, tok=f"{H}.{P}")
case("four parts", "signature-strip", "RFC 7515 §7.1", 401, FORM, tok=f"{GOOD}.{S}")
case("JWE compact form (five parts)", "signature-strip", "RFC 7516 §7.1", 401, FORM,
     tok=f"{H}.{P}.{S}.{S}.{S}")
case("empty header part", "signature-strip", "RFC 7515 §7.1", 401, FORM, tok=f".{P}.{S}")
case("only dots", "signature-strip", "RFC 7515 §7.1", 401, FORM, tok="..")
rs = raw_signature(GOOD)
n_rsa = KEYS["rsa"].public_key().public_numbers().n
for label, raw in (
    ("RS256 signature one byte short", rs[:-1]),
    ("RS256 signature one byte long", rs + b"\0"),
    ("RS256 signature with a leading zero byte", b"\0" + rs),
    ("RS256 signature of zeros", bytes(len(rs))),
    ("RS256 signature equal to the modulus", n_rsa.to_bytes(256, "big")),
    ("RS256 signature of one byte", b"\x01"),
):
    case(label, "signature-length", "RFC 8017 §8.2.2", 401, FAILS, tok=with_signature(GOOD, raw))
case("RS256 header, PS256 signature", "alg-substitution", "RFC 8725 §2.1", 401, FAILS,
     tok=jws({"alg": "RS256", "kid": "rsa"}, valid_claims, signed_by("PS256")))
case("RS384 header, RS256 signature", "alg-substitution", "RFC 8725 §2.1", 401, FAILS,
     tok=jws({"alg": "RS384", "kid": "rsa"}, valid_claims, signed_by("RS256")))

# CVE-2022-21449 "psychic signatures" and other ECDSA encodings.
for alg in ("ES256", "ES384", "ES512"):
    valid = token(alg)
    n = ORDER[alg]
    case(f"{alg} r = s = 0", "psychic-signature", "CVE-2022-21449", 401, FAILS,
         tok=with_signature(valid, ecdsa(alg, 0, 0)))
    case(f"{alg} r = s = n", "psychic-signature", "CVE-2022-21449", 401, FAILS,
         tok=with_signature(valid, ecdsa(alg, n, n)))
    r, s = (int.from_bytes(half) for half in split_signature(valid, alg))
    case(f"{alg} r = 0, s kept", "psychic-signature", "CVE-2022-21449", 401, FAILS,
         tok=with_signature(valid, ecdsa(alg, 0, s)))
    case(f"{alg} r kept, s = n", "psychic-signature", "CVE-2022-21449", 401, FAILS,
         tok=with_signature(valid, ecdsa(alg, r, n)))
    case(f"{alg} signature as DER instead of r || s", "ecdsa-encoding", "RFC 7518 §3.4", 401,
         FAILS, tok=jws({"alg": alg, "kid": SIGNER[alg]}, valid_claims, der_signed(alg)))
    case(f"{alg} signature one byte short", "signature-length", "RFC 7518 §3.4", 401, FAILS,
         tok=with_signature(valid, raw_signature(valid)[:-1]))
    case(f"{alg} signature one byte long", "signature-length", "RFC 7518 §3.4", 401, FAILS,
         tok=with_signature(valid, raw_signature(valid) + b"\0"))
case("ES256 r = s = 0 without kid (every P-256 key tried)", "psychic-signature", "CVE-2022-21449",
     401, FAILS, tok=with_signature(token("ES256", kid=None), ecdsa("ES256", 0, 0)))
valid_es = token("ES256", jti="high-s")
r, s = (int.from_bytes(half) for half in split_signature(valid_es, "ES256"))
case("ES256 high-s twin (r, n - s) of a valid signature", "ecdsa-malleability", "SEC 1 §4.1.4",
     200, tok=with_signature(valid_es, ecdsa("ES256", r, ORDER["ES256"] - s)),
     note="ECDSA signatures are malleable and JWS does not forbid high s (jwt_authn and BoringSSL "
     "accept it too): a token string is not a unique identifier; use jti for replay checks")
valid_ed = token("EdDSA")
ed_sig = raw_signature(valid_ed)
s_value = int.from_bytes(ed_sig[32:], "little")
case("EdDSA non-canonical S + L", "eddsa-malleability", "RFC 8032 §5.1.7", 401, FAILS,
     tok=with_signature(valid_ed, ed_sig[:32] + (s_value + ED25519_L).to_bytes(32, "little")))
case("EdDSA signature of zeros", "psychic-signature", "RFC 8032 §5.1.7", 401, FAILS,
     tok=with_signature(valid_ed, bytes(64)))
case("EdDSA signature one byte short", "signature-length", "RFC 8032 §5.1.6", 401, FAILS,
     tok=with_signature(valid_ed, ed_sig[:-1]))
valid_hs = token("HS256")
case("HS256 MAC truncated to 16 bytes", "signature-length", "RFC 7518 §3.2", 401, FAILS,
     tok=with_signature(valid_hs, raw_signature(valid_hs)[:16]))
case("HS256 MAC with an empty key", "weak-secret", "jwt_tool -C", 401, FAILS,
     tok=jws({"alg": "HS256"}, valid_claims, hs256(b"")))
case("HS256 MAC with the key 'secret'", "weak-secret", "jwt_tool -C", 401, FAILS,
     tok=jws({"alg": "HS256", "kid": "hs"}, valid_claims, hs256(b"secret")))

# Key confusion: the public key as an HMAC secret (RFC 8725 §2.1, CVE-2015-9235, jwt_tool -X k).
rsa_pem = pem(KEYS["rsa"])
confusion_secrets = {
    "the RSA public key PEM": rsa_pem,
    "the RSA public key PEM without its last newline": rsa_pem.rstrip(b"\n"),
    "the RSA public key DER": der(KEYS["rsa"]),
    "the RSA public JWK": json.dumps(public_jwk("rsa")).encode(),
    "the RSA modulus": n_rsa.to_bytes(256, "big"),
    "the P-256 public key PEM": pem(KEYS["es256"]),
}
for label, secret in confusion_secrets.items():
    mac = hs256(secret)
    case(f"HS256 keyed with {label}, no kid", "key-confusion", "CVE-2015-9235; jwt_tool -X k",
         401, FAILS, tok=jws({"alg": "HS256"}, valid_claims, mac))
case("HS256 keyed with the RSA PEM, kid of the RSA key", "key-confusion",
     "CVE-2015-9235; jwt_tool -X k", 401, NO_KEY,
     tok=jws({"alg": "HS256", "kid": "rsa"}, valid_claims, hs256(rsa_pem)))
case("HS256 keyed with the RSA PEM, kid of the HMAC key", "key-confusion",
     "CVE-2015-9235", 401, FAILS,
     tok=jws({"alg": "HS256", "kid": "hs"}, valid_claims, hs256(rsa_pem)))
case("HS256 keyed with the P-256 PEM, kid of the P-256 key", "key-confusion", "CVE-2015-9235",
     401, NO_KEY, tok=jws({"alg": "HS256", "kid": "es256"}, valid_claims,
                          hs256(pem(KEYS["es256"]))))
for alg, kid in (("RS256", "hs"), ("ES256", "rsa"), ("EdDSA", "es256"), ("ES384", "es256"),
                 ("ES256", "es384"), ("PS256", "ed25519")):
    case(f"{alg} under the kid of the {kid} key", "key-confusion", "RFC 8725 §3.1", 401, NO_KEY,
         tok=jws({"alg": alg, "kid": kid}, valid_claims, signed_by(alg)))

# Keys and key URLs in the header (RFC 8725 §3.10 spirit, RFC 7515 §4.1.2-4.1.6; jwt_tool -X i,
# -X s). The URLs never answer: jwt-gate fetches only from configured clusters.
attacker_jwk = ALGORITHMS["RS256"].to_jwk(ATTACKER.public_key(), as_dict=True)
attacker_sign = signed_by("RS256", ATTACKER)
name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "attacker")])
certificate = (
    x509.CertificateBuilder().subject_name(name).issuer_name(name)
    .public_key(ATTACKER.public_key()).serial_number(1)
    .not_valid_before(datetime.datetime(2020, 1, 1)).not_valid_after(datetime.datetime(2100, 1, 1))
    .sign(ATTACKER, hashes.SHA256())
)
certificate_der = certificate.public_bytes(serialization.Encoding.DER)
x5c, x5t = base64.b64encode(certificate_der).decode(), b64(hashlib.sha1(certificate_der).digest())
jku = "https://attacker.test/jwks.json"
for label, extra, expected in (
    ("embedded jwk, no kid", {"jwk": attacker_jwk}, FAILS),
    ("embedded jwk, its own kid", {"jwk": {**attacker_jwk, "kid": "evil"}, "kid": "evil"}, NO_KEY),
    ("embedded jwk, the suite's RSA kid", {"jwk": attacker_jwk, "kid": "rsa"}, FAILS),
    ("jku pointing elsewhere", {"jku": jku, "kid": "rsa"}, FAILS),
    ("jku pointing elsewhere, the attacker's kid", {"jku": jku, "kid": "evil"}, NO_KEY),
    ("x5u pointing elsewhere", {"x5u": "https://attacker.test/cert.pem"}, FAILS),
    ("x5c with the attacker's certificate", {"x5c": [x5c]}, FAILS),
    ("x5t of the attacker's certificate", {"x5t": x5t}, FAILS),
):
    case(label, "header-keys", "RFC 7515 §4.1.2-4.1.6; jwt_tool -X i, -X s", 401, expected,
         tok=jws({"alg": "RS256", **extra}, valid_claims, attacker_sign))
oct_secret = os.urandom(32)
case("embedded oct jwk, HS256 signed with it", "header-keys", "jwt_tool -X i", 401, FAILS,
     tok=jws({"alg": "HS256", "jwk": {"kty": "oct", "k": b64(oct_secret)}}, valid_claims,
             hs256(oct_secret)))

# kid injection (jwt_tool -I -hc kid): the kid is only ever compared with the key set's kids.
for label, kid, secret in (
    ("path traversal to /dev/null", "../../../../../../dev/null", b""),
    ("absolute /dev/null", "/dev/null", b""),
    ("SQL injection", "x' UNION SELECT 'key' -- ", b"key"),
    ("SQL tautology", "' OR '1'='1", b"key"),
    ("command injection", "key|/usr/bin/id;$(id)`id`", b"key"),
    ("10,000 characters", "k" * 10_000, b"key"),
    ("NUL after a real kid", "hs\u0000", KEYS["hs"]),
    ("NUL then traversal", "hs\u0000../../../dev/null", KEYS["hs"]),
    ("upper-case variant of a real kid", "HS", KEYS["hs"]),
    ("Cyrillic look-alike of a real kid", "h\u0455", KEYS["hs"]),
    ("empty string", "", KEYS["hs"]),
):
    case(f"kid {label}", "kid-injection", "jwt_tool -I -hc kid", 401, NO_KEY,
         tok=jws({"alg": "HS256", "kid": kid}, valid_claims, hs256(secret)))
for label, kid in (
    ("a number", 1), ("an object", {"path": "/dev/null"}), ("null", None), ("a list", ["hs"]),
):
    case(f"kid {label}", "kid-injection", "RFC 7515 §4.1.4", 401, KID_TYPE,
         tok=jws({"alg": "HS256", "kid": kid}, valid_claims, signed_by("HS256")))

# Malformed base64url (RFC 7515 §2, §7.1: unpadded base64url).
def non_canonical(segment: str) -> str:
    """`segment` with its last character changed so that its unused low bits are not zero."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(segment) % 4 in (2, 3)
    index = alphabet.index(segment[-1])
    return segment[:-1] + alphabet[index | 1]


# A header whose last character has unused bits (its length is not a multiple of 4).
header_segment = next(
    segment
    for segment in (b64(text({"alg": "RS256", "kid": "rsa", "x": "x" * pad})) for pad in range(4))
    if len(segment) % 4 in (2, 3)
)
standard = S.replace("-", "+").replace("_", "/")
for label, tok, expected in (
    ("padding on the header", f"{H}=.{P}.{S}", HEADER_B64),
    ("padding on the payload", f"{H}.{P}==.{S}", PAYLOAD_B64),
    ("padding on the signature", f"{H}.{P}.{S}=", SIGNATURE_B64),
    ("standard alphabet + in the header", f"{H[:-1]}+.{P}.{S}", HEADER_B64),
    ("standard alphabet / in the signature", f"{H}.{P}.{S[:-1]}/", SIGNATURE_B64),
    ("standard alphabet throughout", f"{H}.{P}.{standard}+", SIGNATURE_B64),
    ("a space inside the header", f"{H[:5]} {H[5:]}.{P}.{S}", HEADER_B64),
    ("a tab inside the payload", f"{H}.{P[:5]}\t{P[5:]}.{S}", PAYLOAD_B64),
    ("a header of 4n+1 characters", f"{H}{'A' * ((1 - len(H)) % 4)}.{P}.{S}", HEADER_B64),
    ("non-canonical last header character", f"{non_canonical(header_segment)}.{P}.{S}", HEADER_B64),
    ("percent-encoded dots", f"{H}%2E{P}%2E{S}", FORM),
    ("UTF-8 e-acute in the payload", f"{H}.{P[:4]}\u00c3\u00a9{P[4:]}.{S}", PAYLOAD_B64),
    ("non-UTF-8 byte 0xff in the header", f"{H[:4]}\u00ff{H[4:]}.{P}.{S}", HEADER_B64),
    ("invalid UTF-8 0xc3 0x28 in the signature", f"{H}.{P}.{S[:8]}\u00c3({S[8:]}", SIGNATURE_B64),
):
    case(label, "base64url", "RFC 7515 §2", 401, expected, tok=tok)
case("spaces around the token are not part of it", "base64url", "RFC 9110 §5.5", 200,
     headers=[("Authorization", f"Bearer    {GOOD}   ")])
case("the token in the query, percent-encoded", "base64url", "RFC 3986 §2.1", 200,
     path=f"/api/x?access_token={GOOD.replace('.', '%2E')}",
     note="query values are percent-decoded before parsing, as jwt_authn does")

# Malformed JSON: trailing bytes, duplicate members, nesting, numbers (RFC 8725 §3.1, RFC 8259).
rsa_sign = signed_by("RS256")
LEGIT = text(claims())[1:-1].decode()  # the members of valid claims, without braces
ISS_AUD = f'"iss":"{ISS}","aud":"{AUD}"'
DEEP = "[" * 9_999 + "]" * 9_999  # with its object: 10,000 levels


def legit(*members: str) -> str:
    """Payload text: the valid claims, then `members` (JSON text) as written."""
    return "{" + ",".join([LEGIT, *members]) + "}"


def minimal(*members: str) -> str:
    """Payload text: iss and aud, then `members` (JSON text) as written."""
    return "{" + ",".join([ISS_AUD, *members]) + "}"


for label, header_text, expected in (
    ("trailing garbage after the header", '{"alg":"RS256","kid":"rsa"}garbage', HEADER_JSON),
    ("two alg members, none first", '{"alg":"none","alg":"RS256","kid":"rsa"}', HEADER_JSON),
    ("two alg members, none last", '{"alg":"RS256","alg":"none","kid":"rsa"}', HEADER_JSON),
    ("two kid members", '{"alg":"RS256","kid":"nope","kid":"rsa"}', HEADER_JSON),
    ("alg twice, once escaped", '{"alg":"RS256","\\u0061lg":"none","kid":"rsa"}', HEADER_JSON),
    ("a JSON array", '["RS256"]', HEADER_JSON),
    ("a JSON string", '"RS256"', HEADER_JSON),
    ("JSON null", "null", HEADER_JSON),
    ("10,000 levels of nesting", '{"alg":"RS256","kid":"rsa","x":' + DEEP + "}", HEADER_JSON),
    ("a byte-order mark first", '\ufeff{"alg":"RS256","kid":"rsa"}', HEADER_JSON),
):
    case(f"header: {label}", "json", "RFC 8725 §3.1; RFC 8259", 401, expected,
         tok=jws(header_text, valid_claims, rsa_sign))
rs_header = {"alg": "RS256", "kid": "rsa"}
for label, payload_text, expected in (
    ("trailing garbage", legit() + "garbage", PAYLOAD_JSON),
    ("two iss members, the evil one first", '{"iss":"https://evil.test",' + LEGIT + "}",
     PAYLOAD_JSON),
    ("two iss members, the evil one last", legit('"iss":"https://evil.test"'), PAYLOAD_JSON),
    ("two exp members, the expired one first", '{"exp":1,' + LEGIT + "}", PAYLOAD_JSON),
    ("two aud members", legit('"aud":"evil.test"'), PAYLOAD_JSON),
    ("iss twice, once escaped", legit('"\\u0069ss":"https://evil.test"'), PAYLOAD_JSON),
    ("a duplicate member deep inside a claim", legit('"x":{"a":1,"a":2}'), PAYLOAD_JSON),
    ("10,000 levels of nesting", legit('"x":' + DEEP), PAYLOAD_JSON),
    ("33 levels of nesting (the limit is 32)", legit('"x":' + "[" * 32 + "]" * 32), PAYLOAD_JSON),
    ("a JSON array", "[" + json.dumps(claims()) + "]", PAYLOAD_JSON),
    ("a JSON string", json.dumps(GOOD), PAYLOAD_JSON),
    ("a byte-order mark first", "\ufeff" + legit(), PAYLOAD_JSON),
    ("invalid UTF-8 in a string", legit('"x":"~~"').encode().replace(b"~~", b"\xff"), PAYLOAD_JSON),
    ("a lone surrogate escape", legit('"x":"\\ud800"'), PAYLOAD_JSON),
    ("exp 1e400 (beyond a double)", minimal('"exp":1e400'), PAYLOAD_JSON),
    ("exp NaN", minimal('"exp":NaN'), PAYLOAD_JSON),
    ("exp Infinity", minimal('"exp":Infinity'), PAYLOAD_JSON),
    ("exp with a leading zero", minimal('"exp":04102444800'), PAYLOAD_JSON),
    ("exp 1e300", minimal('"exp":1e300'), EXP_RANGE),
    ("exp 2^64", minimal('"exp":18446744073709551616'), EXP_RANGE),
    ("exp negative", minimal('"exp":-1'), EXP_RANGE),
    ("exp -1e10", minimal('"exp":-1e10'), EXP_RANGE),
    ("exp a string", minimal('"exp":"4102444800"'), EXP_TYPE),
    ("exp true", minimal('"exp":true'), EXP_TYPE),
    ("exp null", minimal('"exp":null'), EXP_TYPE),
    ("exp an object", minimal('"exp":{"$gt":0}'), EXP_TYPE),
    ("exp 0", minimal('"exp":0'), EXPIRED_TEXT),
    ("nbf 2^64 - 1", minimal('"nbf":18446744073709551615'), NOT_YET),
    ("nbf 1e300", minimal('"nbf":1e300'), NBF_RANGE),
    ("iat a string", minimal('"iat":"now"'), IAT_TYPE),
    ("iss a list", f'{{"iss":["{ISS}"],"aud":"{AUD}"}}', ISS_TYPE),
    ("iss with a trailing slash", f'{{"iss":"{ISS}/","aud":"{AUD}"}}', ISSUER_UNKNOWN),
    ("iss in upper case", f'{{"iss":"{ISS.upper()}","aud":"{AUD}"}}', ISSUER_UNKNOWN),
    ("iss with a zero-width space", f'{{"iss":"{ISS}\\u200b","aud":"{AUD}"}}', ISSUER_UNKNOWN),
    ("aud an empty list", f'{{"iss":"{ISS}","aud":[]}}', AUDIENCE_NOT_ALLOWED),
    ("aud a list with a number", f'{{"iss":"{ISS}","aud":["{AUD}",1]}}', AUD_TYPE),
    ("aud null", f'{{"iss":"{ISS}","aud":null}}', AUD_TYPE),
    ("sub a number", minimal('"sub":7'), "Jwt payload [sub] field is not a string"),
    ("jti a list", minimal('"jti":[]'), "Jwt payload [jti] field is not a string"),
):
    status = 403 if expected == AUDIENCE_NOT_ALLOWED else 401
    case(f"payload: {label}", "json", "RFC 8725 §3.1; RFC 7519 §4.1; RFC 8259", status, expected,
         tok=jws(rs_header, payload_text, rsa_sign))
alice, no_sub = {"x-sub": "alice"}, {"x-sub": None}
CONTROL_NOTE = "a claim with control characters never becomes a header"
for label, payload_text, upstream in (
    ("32 levels of nesting (the limit)", legit('"x":' + "[" * 31 + "]" * 31), alice),
    ("exp 2^64 - 1", minimal('"sub":"alice"', '"exp":18446744073709551615'), alice),
    ("exp with a fraction", minimal('"sub":"alice"', '"exp":4102444800.75'), alice),
    ("sub with CR LF and a header", minimal('"sub":"a\\r\\nx-admin: 1"'),
     {"x-admin": None, **no_sub}),
    ("sub with NUL", minimal('"sub":"alice\\u0000"'), no_sub),
):
    case(f"payload: {label}", "json", "RFC 8259; RFC 9110 §5.5", 200,
         tok=jws(rs_header, payload_text, rsa_sign), upstream=upstream,
         note=None if upstream is alice else CONTROL_NOTE)

# crit and b64 (RFC 7515 §4.1.11, RFC 7797).
for label, extra, expected in (
    ("crit naming exp", {"crit": ["exp"], "exp": EXP}, CRIT),
    ("crit empty", {"crit": []}, CRIT),
    ("crit not a list", {"crit": "b64"}, CRIT),
    ("crit b64 with b64 false", {"crit": ["b64"], "b64": False}, CRIT),
    ("b64 false without crit", {"b64": False}, CRIT),
):
    case(label, "crit", "RFC 7515 §4.1.11; RFC 7797 §6", 401, expected,
         tok=jws({"alg": "RS256", "kid": "rsa", **extra}, valid_claims, rsa_sign))
case("b64 true", "crit", "RFC 7797 §3", 200,
     tok=jws({"alg": "RS256", "kid": "rsa", "b64": True}, valid_claims, rsa_sign))
case("typ of another kind of JWT", "explicit-typing", "RFC 8725 §3.11", 200,
     tok=jws({"alg": "RS256", "kid": "rsa", "typ": "secevent+jwt"}, valid_claims, rsa_sign),
     note="typ and cty are not checked (as in jwt_authn): issuers and audiences keep kinds of "
     "JWT apart")

# Sizes: jwt-gate's 64 KiB token limit and Envoy's 60 KiB request-header limit.
def big_token(size: int) -> str:
    return sized(size, lambda k: token(pad="x" * (size * 3 // 4 - 400 + k // 2), jti="j" * (k % 2)))


case("59 KiB of garbage", "size", "src/limits.rs", 401, FORM, tok="A" * (59 * KIB))
case("61 KiB token: over Envoy's 60 KiB header limit", "size", "Envoy max_request_headers_kb", 431,
     tok="A" * (61 * KIB), note="Envoy answers 431 itself; jwt-gate never sees it")
exactly = big_token(TOKEN_LIMIT)
case("a valid token of exactly 64 KiB (header limit 96 KiB)", "size", "src/limits.rs", 200,
     tok=exactly, listener="big", upstream={"x-sub": "alice"})
case("a valid token of exactly 64 KiB in the query", "size", "src/limits.rs", 200,
     path=f"/api/x?access_token={exactly}", listener="big", upstream_path="/api/x")
over = f"{H}.{P}{'A' * (TOKEN_LIMIT + 1 - len(GOOD))}.{S}"
assert len(over) == TOKEN_LIMIT + 1
case("a token of 64 KiB + 1 (header limit 96 KiB)", "size", "src/limits.rs", 401, TOO_LARGE,
     tok=over, listener="big")
case("a token of 64 KiB + 1 in the query", "size", "src/limits.rs", 401, TOO_LARGE,
     path=f"/api/x?access_token={over}", listener="big")
case("a 200 KiB header (header limit 96 KiB)", "size", "Envoy max_request_headers_kb", 431,
     tok="A" * (200 * KIB), listener="big")
case("101 request headers", "size", "Envoy max_request_headers_count", 431,
     headers=[(f"x-filler-{n}", "x") for n in range(101)])

# Many tokens in many locations (src/limits.rs: 8 tokens per request, each must verify).
many_headers = [f"x-jwt-{n}" for n in range(1, 6)]


def many_token(n: int, **overrides) -> str:
    return token(iss=MANY_ISS, jti=f"many-{n}", **overrides)


def many_request(count: int, forged: int | None = None, authorization: str | None = None):
    """`count` distinct tokens of the "many" provider in its locations: 5 headers, then the query
    parameters jwt1 and jwt2, then the cookies jwt_a, jwt_b, jwt_c; `forged`: the index of one
    whose signature is reversed; `authorization`: a token for the Authorization header too."""
    tokens = [many_token(n) for n in range(count)]
    if forged is not None:
        tokens[forged] = with_signature(tokens[forged], raw_signature(tokens[forged])[::-1])
    headers = [(name, t) for name, t in zip(many_headers, tokens[:5], strict=False)]
    query = "&".join(f"jwt{n + 1}={t}" for n, t in enumerate(tokens[5:7]))
    cookies = "; ".join(f"jwt_{c}={t}" for c, t in zip("abc", tokens[7:10], strict=False))
    if cookies:
        headers.append(("Cookie", cookies))
    if authorization:
        headers.append(("Authorization", f"Bearer {authorization}"))
    return {"path": "/many/x" + (f"?{query}" if query else ""), "headers": headers}


case("8 valid tokens in 8 locations", "many-tokens", "src/limits.rs", 200, **many_request(8))
case("9 valid tokens in 9 locations", "many-tokens", "src/limits.rs", 401, MULTIPLE,
     **many_request(9))
case("10 valid tokens in 10 locations", "many-tokens", "src/limits.rs", 401, MULTIPLE,
     **many_request(10))
case("8 tokens of the route's provider and another provider's", "many-tokens", "src/limits.rs",
     401, MULTIPLE, **many_request(8, authorization=GOOD))
case("7 valid tokens and 1 forged among them", "many-tokens", "configuration.md", 401, FAILS,
     **many_request(8, forged=6))
case("another provider's location is not examined", "many-tokens", "configuration.md", 200,
     **many_request(7, authorization=FORGED),
     note="a route checks the locations of the providers its requirement names, as jwt_authn "
     "does; a forged token elsewhere reaches the backend untouched")
case("two Authorization headers", "many-tokens", "configuration.md", 401, MULTIPLE,
     headers=[("Authorization", f"Bearer {GOOD}"), ("Authorization", f"Bearer {token(jti='2')}")])
case("two tokens in one Authorization value", "many-tokens", "configuration.md", 401, MULTIPLE,
     headers=[("Authorization", f"Bearer {GOOD}, Bearer {token(jti='2')}")])
case("two access_token parameters", "many-tokens", "configuration.md", 401, MULTIPLE,
     path=f"/api/x?access_token={GOOD}&access_token={token(jti='2')}")
case("two cookies of one name", "many-tokens", "configuration.md", 401, MULTIPLE, path="/many/x",
     headers=[("Cookie", f"jwt_a={many_token(1)}; jwt_a={many_token(2)}")])
case("a valid header token and a forged query token", "many-tokens", "configuration.md", 401, FAILS,
     path=f"/api/x?access_token={FORGED}", tok=token(jti="2"))
case("a valid header token and a valid query token", "many-tokens", "configuration.md", 200,
     path=f"/api/x?access_token={token(jti='3')}", tok=GOOD, upstream_path="/api/x")

# Non-UTF-8 bytes where Envoy lets them through (header values); it answers 400 itself for them
# in the path or Host, and for NUL and other control bytes anywhere.
def raw_get(path: str, *headers: str) -> str:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: hostile.test", *headers, "", ""])


bearer = "Authorization: Bearer "
for label, raw, status, expected in (
    ("0xff 0xfe before the token",
     raw_get("/api/x", f"{bearer}\u00ff\u00fe{GOOD}"), 401, HEADER_B64),
    ("0xff in the middle of the signature",
     raw_get("/api/x", f"{bearer}{GOOD[:-10]}\u00ff{GOOD[-10:]}"), 401, SIGNATURE_B64),
    ("0xff 0xfe 0x80 as the whole Authorization value",
     raw_get("/api/x", "Authorization: \u00ff\u00fe\u0080"), 401, MISSING),
    ("0x80 inside the scheme",
     raw_get("/api/x", f"Authorization: B\u0080earer {GOOD}"), 401, MISSING),
    ("0xff in a cookie token",
     raw_get("/many/x", f"Cookie: jwt_a={many_token(1)[:-5]}\u00ff"), 401, SIGNATURE_B64),
    ("0xff in an unrelated header",
     raw_get("/api/x", f"{bearer}{GOOD}", "X-Other: \u00ff\u00fe"), 200, None),
    ("0xff in the path",
     raw_get("/api/\u00ff", f"{bearer}{GOOD}"), 400, None),
    ("NUL in the Authorization value",
     raw_get("/api/x", f"{bearer}\u0000{GOOD}"), 400, None),
    ("DEL in the Authorization value",
     raw_get("/api/x", f"{bearer}{GOOD[:9]}\u007f{GOOD[9:]}"), 400, None),
):
    case(f"raw: {label}", "non-utf8", "RFC 9110 §5.5", status, expected, raw=raw)

# Paths: rules match :path as Envoy hands it to filters. Envoy normalizes only when told to
# (normalize_path, merge_slashes, path_with_escaped_slashes_action: the "normalized" listener).
dot_note = ("a default HttpConnectionManager passes dot segments through: the /public rule "
            "matches and the backend gets the path as sent. Turn on normalize_path (see "
            "docs/security.md)")
denied = (401, MISSING, None)
for label, path, default, normalized in (
    ("dot segments out of an unchecked prefix", "/public/../api/x",
     (200, None, "/public/../api/x"), denied),
    ("encoded dot segments", "/public/%2e%2e/api/x",
     (200, None, "/public/%2e%2e/api/x"), denied),
    ("encoded slashes", "/public/..%2Fapi/x",
     (200, None, "/public/..%2Fapi/x"), (400, None, None)),
    ("doubled slashes", "//api/x", denied, denied),
    ("upper-case path", "/API/x", denied, denied),
):
    for listener, expected in (("hostile", default), ("normalized", normalized)):
        status, body, upstream_path = expected
        case(f"path: {label} ({listener} listener)", "path",
             "RFC 3986 §6; Envoy path normalization", status, body, path=path, listener=listener,
             upstream_path=upstream_path, note=dot_note if status == 200 else None)
case("path: a fragment", "path", "RFC 9112 §3.2", 400, path="/api/x#frag")
case("CORS preflight headers on a GET", "cors", "configuration.md", 401, MISSING,
     headers=[("Origin", "https://app.test"), ("Access-Control-Request-Method", "POST")])

# Thousands of keys, served by an identity provider (the test builds the key sets). Key sets
# keep their first 256 keys (src/limits.rs max_keys); over 512 KiB the document is refused.
case("key set of 3,000 keys, the signer's first", "key-set-size", "src/limits.rs", 200,
     path="/remote/first/x", tok=token("ES256"))
case("key set of 3,000 keys, the signer's last (beyond 256)", "key-set-size", "src/limits.rs", 401,
     NO_KEY, path="/remote/last/x", tok=token("ES256"))
case("key set of 3,000 keys, a forged token without kid", "key-set-size", "src/limits.rs", 401,
     FAILS, path="/remote/first/x",
     tok=with_signature(token("ES256", kid=None), ecdsa("ES256", 1, 1)),
     note="without kid every key of the right type is tried: at most 256 checks")
case("key set of 5,000 keys (over 512 KiB)", "key-set-size", "src/limits.rs", 401,
     "Jwks remote fetch is failed", path="/remote/oversize/x", tok=token("ES256"))
# fmt: on


# --- The document --------------------------------------------------------------------------------

keys_json = json.dumps({"keys": [public_jwk(kid) for kid in KEYS]})
config = {
    "providers": {
        "hostile": {
            "issuer": ISS,
            "audiences": [AUD],
            "local_jwks": {"inline_string": keys_json},
            "forward_payload_header": "x-jwt-payload",
            "claim_to_headers": [{"header_name": "x-sub", "claim_name": "sub"}],
        },
        "many": {
            "issuer": MANY_ISS,
            "audiences": [AUD],
            "local_jwks": {"inline_string": keys_json},
            "from_headers": [{"name": name} for name in many_headers],
            "from_params": ["jwt1", "jwt2"],
            "from_cookies": ["jwt_a", "jwt_b", "jwt_c"],
        },
    },
    "rules": [
        {"match": {"prefix": "/public"}},
        {"match": {"prefix": "/many"}, "requires": {"provider_name": "many"}},
        {"match": {"prefix": "/remote/first"}, "requires": {"provider_name": "remote_first"}},
        {"match": {"prefix": "/remote/last"}, "requires": {"provider_name": "remote_last"}},
        {"match": {"prefix": "/remote/oversize"}, "requires": {"provider_name": "remote_oversize"}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "hostile"}},
    ],
    "bypass_cors_preflight": True,
}
remote = {  # provider -> the key set its identity provider serves
    "remote_first": {"keys": 3000, "signer": public_jwk("es256"), "signer_position": "first"},
    "remote_last": {"keys": 3000, "signer": public_jwk("es256"), "signer_position": "last"},
    "remote_oversize": {"keys": 5000, "signer": public_jwk("es256"), "signer_position": "first"},
}
document = {
    "generator": f"integration/data/generate_hostile.py (PyJWT {jwt.__version__})",
    "issuer": ISS,
    "audience": AUD,
    "config": config,
    "remote_providers": remote,
    "cases": cases,
}
OUT.write_text(json.dumps(document, indent=1, ensure_ascii=True) + "\n")
print(f"wrote {len(cases)} cases to {OUT}")
