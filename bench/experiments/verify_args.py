#!/usr/bin/env python3
"""Prints hostcalls/ configurations that call Envoy's `verify_signature` once per request, with the
arguments jwt-gate sends for a new RS256 or ES256 token (a fresh key, a ~490-byte signing input):

    .venv/bin/python bench/experiments/verify_args.py rs256   # or es256

Use the output as `--config NAME=...` for ab.py or as cg.py's extra JSON."""

import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field."""
    out, n = bytes([number << 3 | 2]), len(data)
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out + data


def arguments(alg: str) -> bytes:
    text = b"e" * 40 + b"." + b"p" * 450
    if alg == "rs256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signature = key.sign(text, padding.PKCS1v15(), hashes.SHA256())
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        signature = key.sign(text, ec.ECDSA(hashes.SHA256()))  # DER, as the host wants it
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # VerifySignatureArguments: hash_function = 1, public_key = 2, signature = 3, text = 4.
    return field(1, b"sha256") + field(2, der) + field(3, signature) + field(4, text)


if __name__ == "__main__":
    print(
        json.dumps(
            {
                "ops": ["verify"],
                "verify": arguments(sys.argv[1] if len(sys.argv) > 1 else "rs256").hex(),
            }
        )
    )
