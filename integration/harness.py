"""What the integration tests and the demo share: keys and tokens (PyJWT, never jwt-gate), the
echo backend and the demo identity provider, Envoy bootstraps, Envoy processes, and an HTTP client
that can send what a browser would not (duplicate headers, raw bytes).

Every server listens on 127.0.0.1 only; every wait has a deadline."""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import http.client
import itertools
import json
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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

REPO = Path(__file__).resolve().parent.parent
ENVOY_BIN = REPO / ".venv" / "bin" / "envoy"
WASM = REPO / os.environ.get("JWT_GATE_WASM", "target/wasm32-wasip1/release/jwt_gate.wasm")
TMP = REPO / "integration" / ".tmp"

READY_TIMEOUT = 30.0  # V8 compiles the module at startup: seconds, not minutes.
HTTP_TIMEOUT = 10.0


# --- Keys and tokens ---------------------------------------------------------------------------

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


# --- The shared plugin config ----------------------------------------------------------------

# The claims the "rsa" provider copies into headers, by header name.
CLAIM_HEADERS = {
    "x-sub": "sub",
    "x-n": "n",
    "x-flag": "flag",
    "x-roles": "roles",
    "x-team": "org.team",
    "x-role": "https://example.com/role",
}

OTHER_ISSUER = "https://other.test"

# What makes an OPTIONS request a CORS preflight (bypass_cors_preflight is on in gate_config).
CORS_PREFLIGHT = {"Origin": "https://app.test", "Access-Control-Request-Method": "POST"}


def gate_config(keys: Keys) -> dict:
    """Providers (each with its own issuer, so that an issuer picks exactly one):
    - rsa: every key, payload and claim headers, default token locations;
    - other: key rsa2 pinned to RS256, token in `x-other-token`, no payload header;
    - fwd: `forward` and a padded payload header; strict: `require_expiration`;
    - camel: written in lowerCamelCase; lifetime / lifetime_object: `max_lifetime` 300 s as
      "300s" and as {"seconds": 300}."""

    def provider(issuer: str, *kids: str, **fields) -> dict:
        return {
            "issuer": issuer,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks(*kids)},
            **fields,
        }

    everything_but_rsa2 = [kid for kid in keys.private if kid != "rsa2"]
    providers = {
        "rsa": provider(
            ISSUER,
            *everything_but_rsa2,
            forward_payload_header="x-jwt-payload",
            claim_to_headers=[
                {"header_name": h, "claim_name": c} for h, c in CLAIM_HEADERS.items()
            ],
        ),
        "other": {
            "issuer": OTHER_ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks("rsa2", alg={"rsa2": "RS256"})},
            "from_headers": [{"name": "x-other-token"}],
        },
        "fwd": provider(
            "https://fwd.test",
            "rsa",
            forward=True,
            forward_payload_header="x-jwt-payload",
            pad_forward_payload_header=True,
        ),
        "strict": provider("https://strict.test", "rsa", require_expiration=True),
        "camel": {
            "issuer": "https://camel.test",
            "localJwks": {"inlineString": keys.jwks("rsa")},
            "forwardPayloadHeader": "x-jwt-payload",
            "claimToHeaders": [{"headerName": "x-sub", "claimName": "sub"}],
        },
        "lifetime": provider("https://lifetime.test", "rsa", max_lifetime="300s"),
        "lifetime_object": provider(
            "https://lifetime-object.test", "rsa", max_lifetime={"seconds": 300}
        ),
    }
    return {
        "providers": providers,
        "rules": GATE_RULES,
        "requirement_map": {"by_name": {"provider_name": "other"}},
        "bypass_cors_preflight": True,
    }


def rule(match: dict, requires: dict | None = None, **fields) -> dict:
    return {"match": match, **({"requires": requires} if requires is not None else {}), **fields}


# First match wins. Paths under /open match no rule.
GATE_RULES = [
    rule({"prefix": "/public"}),
    rule({"path": "/exact"}, {"provider_name": "rsa"}),
    rule({"safe_regex": {"regex": "/re/[0-9]+"}}, {"provider_name": "rsa"}),
    rule(
        {"prefix": "/method", "headers": [{"name": ":method", "string_match": {"exact": "POST"}}]},
        {"provider_name": "rsa"},
    ),
    rule({"prefix": "/first"}, {"provider_name": "other"}),
    rule({"prefix": "/first/second"}, {"provider_name": "rsa"}),  # shadowed by /first
    rule({"prefix": "/named"}, requirement_name="by_name"),
    rule(
        {"prefix": "/requires-any"},
        {"requires_any": {"requirements": [{"provider_name": "rsa"}, {"provider_name": "other"}]}},
    ),
    rule(
        {"prefix": "/requires-all"},
        {"requires_all": {"requirements": [{"provider_name": "rsa"}, {"provider_name": "other"}]}},
    ),
    rule(
        {"prefix": "/audiences"},
        {"provider_and_audiences": {"provider_name": "rsa", "audiences": ["override.test"]}},
    ),
    rule({"prefix": "/allow-missing"}, {"allow_missing": {}}),
    rule({"prefix": "/allow-failed"}, {"allow_missing_or_failed": {}}),
    rule(
        {"prefix": "/istio"},
        {"requires_any": {"requirements": [{"provider_name": "rsa"}, {"allow_missing": {}}]}},
    ),
    rule({"prefix": "/fwd"}, {"provider_name": "fwd"}),
    rule({"prefix": "/strict"}, {"provider_name": "strict"}),
    {"match": {"prefix": "/camel"}, "requires": {"providerName": "camel"}},
    rule({"prefix": "/lifetime-object"}, {"provider_name": "lifetime_object"}),
    rule({"prefix": "/lifetime"}, {"provider_name": "lifetime"}),
    rule({"prefix": "/api"}, {"provider_name": "rsa"}),
]


# --- Echo backend and demo identity provider -----------------------------------------------------


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with 200 and JSON {"method", "path", "headers": [[name, value], ...]}:
    every header received, in order, duplicates included, values decoded latin-1."""

    protocol_version = "HTTP/1.1"

    def handle_one_request(self) -> None:
        # Every method (GET, POST, OPTIONS, ...) goes to `answer`.
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            self.close_connection = True
            return
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.answer()

    def answer(self) -> None:
        # One header per line, for people reading `curl -i` in the demo.
        headers = ",\n  ".join(json.dumps(list(header)) for header in self.headers.items())
        method, path = json.dumps(self.command), json.dumps(self.path)
        body = f'{{"method": {method}, "path": {path}, "headers": [\n  {headers}\n]}}\n'
        self.reply(200, "application/json", body.encode())

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class IdentityProviderHandler(EchoHandler):
    """GET only: the server's `issuer` (a DemoIssuer or an IdentityProvider) answers each path,
    `issuer.answer(path, query) -> (status, content_type, body)`."""

    def answer(self) -> None:
        if self.command != "GET":
            self.reply(405, "text/plain", b"GET only\n")
            return
        url = urllib.parse.urlsplit(self.path)
        try:
            answer = self.server.issuer.answer(url.path, urllib.parse.parse_qs(url.query))
        except ResetConnection:
            self.reset()
            return
        self.reply(*answer)

    def reset(self) -> None:
        """Cut the connection with a TCP reset (SO_LINGER 0), without answering."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.wfile.close()
        self.connection.close()  # the last reference: the kernel sends RST


class ResetConnection(Exception):
    """Raised by an issuer's `answer` to have IdentityProviderHandler reset the connection."""


Answer = tuple[int, str, bytes]  # status, content type, body


@dataclass
class DemoIssuer:
    """The demo identity provider: GET /token[?sub=...]: a fresh RS256 token;
    GET /.well-known/jwks.json: the public keys; GET /.well-known/openid-configuration: issuer
    and jwks_uri."""

    private_key_pem: Path
    jwks_path: Path
    issuer: str
    audience: str
    kid: str = "demo-key"
    lifetime: int = 3600

    def token(self, sub: str) -> str:
        key = serialization.load_pem_private_key(self.private_key_pem.read_bytes(), None)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "exp": now + self.lifetime,
        }
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        if path == "/token":
            sub = query.get("sub", ["demo-user"])[0]
            return 200, "text/plain", self.token(sub).encode()
        if path == "/.well-known/jwks.json":
            return 200, "application/json", self.jwks_path.read_bytes()
        if path == "/.well-known/openid-configuration":
            discovery = {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/.well-known/jwks.json"}
            return 200, "application/json", json.dumps(discovery).encode()
        return 404, "text/plain", b"not found\n"


def self_signed_certificate(key, common_name: str) -> str:
    """A PEM certificate for `key`'s public half, signed by itself, valid from yesterday to
    tomorrow."""
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
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


class IdentityProvider:
    """A controllable identity provider for remote keys, served by IdentityProviderHandler on
    127.0.0.1 (`port` 0: any free port, kept across `stop()`/`start()`).

    - GET /jwks: the JWK set of the published RSA keys (`rotate()` adds one, with a new kid);
    - GET /x509: a Google-style certificate map {kid: PEM} of an RSA and a P-256 key;
    - GET /symmetric: the base64url of an HMAC secret (ESP's symmetric key file, no JSON);
    - GET /.well-known/openid-configuration: {"issuer", "jwks_uri": <base_url>/jwks}.

    Modes (`set_mode`): healthy; down (503); slow (wait `delay` seconds, then as healthy);
    garbage (200 "not a key set"); oversize (200, a JWK set padded over 512 KiB); error (500);
    reset (the connection is reset, no answer). Requests are counted per path (`hits`), and the
    times of the 200s served recorded (`served`). `serve(path, body)` adds a document of one's
    own (a healthy provider serves it, like the others)."""

    MODES = ("healthy", "down", "slow", "garbage", "oversize", "error", "reset")
    PATHS = ("/jwks", "/x509", "/symmetric", "/.well-known/openid-configuration")
    OVERSIZE = 600 * 1024

    def __init__(
        self,
        port: int = 0,
        issuer: str | None = None,
        mode: str = "healthy",
        delay: float = 0.0,
        start: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._hits: collections.Counter[str] = collections.Counter()
        self._served: dict[str, list[float]] = collections.defaultdict(list)
        self._wake = threading.Event()  # set by stop(): slow answers give up at once
        self._kids = (f"key-{n}" for n in itertools.count(1))
        self._issuer = issuer
        self._x509: dict[str, tuple[object, str]] = {}
        self._stranger: rsa.RSAPrivateKey | None = None
        self._extra: dict[str, tuple[str, bytes]] = {}  # serve(): path -> (content type, body)
        self.mode, self.delay = "healthy", 0.0
        self.set_mode(mode, delay)
        self.port = port
        self.server: Server | None = None
        self.rsa: dict[str, rsa.RSAPrivateKey] = {}  # every RSA key it ever had, by kid
        self.published: list[str] = []  # the kids in /jwks
        self.secret = os.urandom(32)
        self.rotate(keep_old=False)
        if start:
            self.start()

    # Lifecycle

    def start(self) -> IdentityProvider:
        """Listen (again) on `port`."""
        assert self.server is None, "already started"
        self._wake.clear()
        self.server = Server(IdentityProviderHandler, self.port, issuer=self)
        self.port = self.server.port
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (nothing answers on that port)."""
        if self.server is not None:
            self._wake.set()
            self.server.close()
            self.server = None

    def __enter__(self) -> IdentityProvider:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # Control

    def set_mode(self, mode: str, delay: float = 0.0) -> None:
        assert mode in self.MODES, mode
        with self._lock:
            self.mode, self.delay = mode, delay

    def serve(self, path: str, body: bytes, content_type: str = "application/json") -> None:
        """Serve `body` on `path` from now on (replacing what was served there)."""
        with self._lock:
            self._extra[path] = (content_type, body)

    def rotate(self, keep_old: bool = True) -> str:
        """Publish a new RSA key (the new kid, returned, signs from now on), keeping the others
        in /jwks or not."""
        kid = next(self._kids)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with self._lock:
            self.rsa[kid] = key
            self.published = [*self.published, kid] if keep_old else [kid]
        return kid

    # Observation

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self._issuer or self.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def current_kid(self) -> str:
        with self._lock:
            return self.published[-1]

    def hits(self, path: str = "/jwks") -> int:
        with self._lock:
            return self._hits[path]

    def served(self, path: str = "/jwks") -> list[float]:
        """The time.time() of every 200 served on `path`."""
        with self._lock:
            return list(self._served[path])

    def describe(self) -> str:
        """For failure messages."""
        with self._lock:
            return (
                f"identity provider {self.base_url} ({'up' if self.server else 'stopped'}, "
                f"mode {self.mode}): hits {dict(self._hits)}, publishes {self.published}"
            )

    # Keys and tokens

    def x509_key(self, kid: str):
        """The private key behind the certificate `kid` of /x509 ("x509-rsa" or "x509-ec")."""
        return self._x509_keys()[kid][0]

    def _x509_keys(self) -> dict[str, tuple[object, str]]:
        with self._lock:
            if not self._x509:
                for kid, key in (
                    ("x509-rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                    ("x509-ec", ec.generate_private_key(ec.SECP256R1())),
                ):
                    self._x509[kid] = (key, self_signed_certificate(key, kid))
            return self._x509

    @property
    def stranger(self) -> rsa.RSAPrivateKey:
        """An RSA key this provider never publishes."""
        with self._lock:
            if self._stranger is None:
                self._stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._stranger

    def mint(self, kid: str | None = "", key=None, alg: str | None = None, **claims) -> str:
        """A token for this issuer and AUDIENCE (`claims` override; None removes one). `kid`
        defaults to the newest published key (None: no kid); `key` picks another signing key
        (a private key, or bytes as an HMAC secret) than the kid's; `alg` defaults to the key's
        (RS256, ES256, HS256)."""
        kid = self.current_kid if kid == "" else kid
        if key is None:
            key = self.rsa.get(kid) or self._x509_keys().get(kid, (None,))[0]
        assert key is not None, f"no key for kid {kid!r}: give one"
        if alg is None:
            is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
            alg = "HS256" if isinstance(key, bytes) else "ES256" if is_ec else "RS256"
        payload = valid_claims(**{"iss": self.issuer, **claims})
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else {})

    # Serving

    def documents(self) -> dict[str, tuple[str, bytes]]:
        """What a healthy provider serves, by path: (content type, body); `serve()`'s documents
        replace the others."""
        with self._lock:
            published = [(kid, self.rsa[kid]) for kid in self.published]
        jwks = {"keys": [{**public_jwk(key, kid, "RS256"), "use": "sig"} for kid, key in published]}
        x509_map = {kid: pem for kid, (_, pem) in self._x509_keys().items()}
        discovery = {"issuer": self.issuer, "jwks_uri": self.url("/jwks")}
        with self._lock:
            extra = dict(self._extra)
        return {
            "/jwks": ("application/json", json.dumps(jwks).encode()),
            "/x509": ("application/json", json.dumps(x509_map).encode()),
            "/symmetric": ("text/plain", b64url(self.secret).encode()),
            "/.well-known/openid-configuration": (
                "application/json",
                json.dumps(discovery).encode(),
            ),
            **extra,
        }

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        with self._lock:
            self._hits[path] += 1
            mode, delay = self.mode, self.delay
        if mode == "slow":
            self._wake.wait(delay)
        if mode == "down":
            return 503, "text/plain", b"down for maintenance\n"
        if mode == "error":
            return 500, "text/plain", b"internal error\n"
        if mode == "reset":
            raise ResetConnection
        with self._lock:
            extra = path in self._extra
        if path not in self.PATHS and not extra:
            return 404, "text/plain", b"not found\n"
        if mode == "garbage":
            return 200, "application/json", b"not a key set"
        content_type, body = self.documents()[path]
        if mode == "oversize":
            # A usable key set, but for its size.
            document = json.loads(self.documents()["/jwks"][1])
            document["padding"] = "x" * self.OVERSIZE
            body = json.dumps(document).encode()
        with self._lock:
            self._served[path].append(time.time())
        return 200, content_type, body


def proxy_wasm_module(
    on_request_headers: bytes, imports: list[tuple[str, str, tuple[int, int]]] = ()
) -> bytes:
    """The smallest proxy-wasm (ABI 0.2.1) module Envoy loads, for tests that need a misbehaving
    one: it allocates at offset 1024, starts and configures fine, and runs `on_request_headers`
    (a function body: locals, instructions, end; its i32 params are the context id, the header
    count and end of stream; it returns the action). `imports` are (module, name, (i32 params,
    i32 results)) functions, numbered first. One memory of at least one page, exported."""

    def size(n: int) -> bytes:  # unsigned LEB128
        return bytes([n & 0x7F | 0x80]) + size(n >> 7) if n > 0x7F else bytes([n])

    def vector(items: list[bytes]) -> bytes:
        return size(len(items)) + b"".join(items)

    def section(section_id: int, items: list[bytes]) -> bytes:
        payload = vector(items)
        return bytes([section_id]) + size(len(payload)) + payload

    def name(text: str) -> bytes:
        return size(len(text)) + text.encode()

    def function_type(params: int, results: int) -> bytes:
        return b"\x60" + vector([b"\x7f"] * params) + vector([b"\x7f"] * results)  # i32s

    types = [(0, 0), (1, 1), (2, 0), (2, 1), (3, 1)] + [signature for _, _, signature in imports]
    functions = {  # export name: (index in types, body: no locals, instructions, end)
        "proxy_abi_version_0_2_1": (0, b"\x00\x0b"),
        "proxy_on_memory_allocate": (1, b"\x00\x41\x80\x08\x0b"),  # return 1024
        "proxy_on_context_create": (2, b"\x00\x0b"),
        "proxy_on_vm_start": (3, b"\x00\x41\x01\x0b"),  # return 1: success
        "proxy_on_configure": (3, b"\x00\x41\x01\x0b"),
        "proxy_on_request_headers": (4, on_request_headers),
    }
    imported = [
        name(module) + name(function) + b"\x00" + size(5 + n)
        for n, (module, function, _) in enumerate(imports)
    ]
    exports = [
        name(export) + b"\x00" + size(len(imports) + n) for n, export in enumerate(functions)
    ]
    return b"".join(
        [
            b"\x00asm\x01\x00\x00\x00",
            section(1, [function_type(*t) for t in types]),
            *([section(2, imported)] if imports else []),
            section(3, [size(type_index) for type_index, _ in functions.values()]),
            section(5, [b"\x00\x01"]),  # one memory, at least one page
            section(7, exports + [name("memory") + b"\x02\x00"]),
            section(10, [size(len(body)) + body for _, body in functions.values()]),
        ]
    )


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now, for a server started on it later."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections, so that closing the server also cuts
    the keep-alive connections its handler threads still serve; and that does not print a
    traceback when a client hangs up (as Envoy does when a fetch times out)."""

    def __init__(self, *args, **kwargs) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 (port 0: any free port), served from a daemon thread.
    `close()` stops it and cuts its open connections."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, **attributes) -> None:
        self.httpd = _HTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        for name, value in attributes.items():
            setattr(self.httpd, name, value)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.close_connections()
        self.httpd.server_close()  # joins the handler threads, which end with their connections
        self.thread.join(timeout=5)


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.1):
    """Call `condition` until it returns something truthy (returned) or `timeout` seconds pass
    (then its last, falsy, value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- Envoy configuration -----------------------------------------------------------------------

ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def jwt_gate_filter(plugin_config: dict | str, wasm: Path = WASM) -> dict:
    """The jwt-gate filter; `plugin_config` is the JwtAuthentication JSON (a string is passed
    through as is, to test configs that are not valid JSON or that a dict cannot express)."""
    value = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)
    return {
        "name": "jwt_gate",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "jwt_gate",
                "root_id": "jwt_gate",
                "vm_config": {
                    "vm_id": "jwt_gate",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm)}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": value,
                },
                "failure_policy": "FAIL_CLOSED",
            },
        },
    }


def jwt_authn_filter(config: dict) -> dict:
    """Envoy's native jwt_authn with the same JSON."""
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            **config,
        },
    }


def address(port: int) -> dict:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def static_cluster(name: str, port: int, connect_timeout: str = "1s") -> dict:
    """A STATIC cluster of one endpoint, 127.0.0.1:`port`."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(port)}}]}],
        },
    }


def bootstrap(
    listeners: dict[str, dict],
    backend_port: int,
    clusters: dict[str, int] | None = None,
    headers_with_underscores_action: str | None = None,
) -> dict:
    """A static bootstrap: one listener per name (on a free port of 127.0.0.1) running that HTTP
    filter then the router, every route going to the backend; admin on a free port too.
    `clusters` adds a STATIC cluster (connect_timeout 1s) per name, to 127.0.0.1:<port> (an
    identity provider's). `headers_with_underscores_action` (`REJECT_REQUEST`, `DROP_HEADER`)
    sets the connection managers' `common_http_protocol_options`; by default Envoy's default,
    ALLOW, so that tests see what jwt-gate itself does with such headers (the bootstraps
    jwt-gate ships say REJECT_REQUEST)."""

    def listener(name: str, http_filter: dict) -> dict:
        manager = {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "route_config": {
                "virtual_hosts": [
                    {
                        "name": "all",
                        "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "backend"}}],
                    }
                ]
            },
            "http_filters": [http_filter, ROUTER],
        }
        if headers_with_underscores_action:
            manager["common_http_protocol_options"] = {
                "headers_with_underscores_action": headers_with_underscores_action
            }
        return {
            "name": name,
            "stat_prefix": name,
            "address": address(0),
            "filter_chains": [
                {
                    "filters": [
                        {
                            "name": "envoy.filters.network.http_connection_manager",
                            "typed_config": manager,
                        }
                    ]
                }
            ],
        }

    backend = static_cluster("backend", backend_port, connect_timeout="2s")
    others = [static_cluster(name, port) for name, port in (clusters or {}).items()]
    return {
        "admin": {"address": address(0)},
        "static_resources": {
            "listeners": [listener(name, http_filter) for name, http_filter in listeners.items()],
            "clusters": [backend, *others],
        },
    }


def connection_manager(config: dict, listener: str) -> dict:
    """The HttpConnectionManager of `listener` in a bootstrap from `bootstrap()`, to set more of
    its fields (`max_request_headers_kb`, `normalize_path`, ...) before Envoy starts."""
    for candidate in config["static_resources"]["listeners"]:
        if candidate["name"] == listener:
            return candidate["filter_chains"][0]["filters"][0]["typed_config"]
    raise KeyError(listener)


# --- Envoy processes ---------------------------------------------------------------------------

_run_ids = itertools.count()


def remove_stale_run_dirs() -> None:
    """Remove the run directories (`<name>-<pid>-<n>` under TMP) of processes that are gone;
    a failed run's logs stay until the next run."""
    for path in TMP.glob("*-*-*"):
        try:
            os.kill(int(path.name.rsplit("-", 2)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, PermissionError):
            pass  # not ours, or a live process of another user


class EnvoyFailed(Exception):
    """Envoy exited or never became ready; the message ends with its log tail."""


class Envoy:
    """One Envoy process: `--concurrency 2` (or `concurrency`), a dynamic `--base-id` (unique per
    process), admin and listener addresses discovered from the admin API, stderr in
    `<dir>/envoy.log`; `args` adds command-line options (`("--drain-time-s", "1")`)."""

    def __init__(
        self,
        config: dict | Path,
        name: str = "envoy",
        cwd: Path = REPO,
        concurrency: int = 2,
        args: tuple[str, ...] = (),
    ) -> None:
        self.dir = TMP / f"{name}-{os.getpid()}-{next(_run_ids)}"
        self.dir.mkdir(parents=True, exist_ok=True)
        if isinstance(config, dict):
            config_path = self.dir / "envoy.json"
            config_path.write_text(json.dumps(config, indent=1))
        else:
            config_path = config
        self.log_path = self.dir / "envoy.log"
        self.admin_address_path = self.dir / "admin-address"
        command = [
            str(ENVOY_BIN),
            "-c",
            str(config_path),
            "--concurrency",
            str(concurrency),
            "--use-dynamic-base-id",
            "--admin-address-path",
            str(self.admin_address_path),
            "--log-level",
            "info",
            *args,
        ]
        with open(self.log_path, "wb") as log:
            # A session of its own: a terminal's Ctrl-C reaches Python, which stops Envoy itself.
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.admin_port = 0

    # Lifecycle

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> Envoy:
        """Poll admin /ready until 200; raise EnvoyFailed (with the log tail) if Envoy exits or the
        deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EnvoyFailed(f"envoy exited with {self.process.returncode}\n{self.log_tail()}")
            if not self.admin_port and self.admin_address_path.exists():
                text = self.admin_address_path.read_text().strip()
                if text:
                    self.admin_port = int(text.rsplit(":", 1)[1])
            if self.admin_port:
                try:
                    if self.admin("/ready").status == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise EnvoyFailed(f"envoy not ready after {timeout} s\n{self.log_tail()}")

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if Envoy still runs after `timeout` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            if self.wait_exit(10) is None:
                self.process.kill()
                self.process.wait(10)

    # Observation

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the log, without the startup listing of extensions ("]   ...")."""
        return "\n".join([line for line in self.log().splitlines() if "]   " not in line][-lines:])

    def log_lines(self, containing: str) -> list[str]:
        """The log lines that contain `containing`."""
        return [line for line in self.log().splitlines() if containing in line]

    def admin(self, path: str) -> Response:
        return request(self.admin_port, path)

    def port(self, listener: str) -> int:
        """The port the named listener is bound to."""
        for status in self.admin("/listeners?format=json").json()["listener_statuses"]:
            if status["name"] == listener:
                return status["local_address"]["socket_address"]["port_value"]
        raise KeyError(listener)

    def stats(self, filter: str = "") -> dict[str, int]:
        """Counters and gauges from admin /stats (histograms left out)."""
        text = self.admin("/stats?filter=" + urllib.parse.quote(filter)).body.decode()
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.lstrip("-").isdigit():
                values[name] = int(value)
        return values


    def gate_stats(self) -> dict[str, int]:
        """jwt-gate's counters and gauges by their own name (Envoy 1.40 lists them as
        `wasmcustom.jwt_gate.*`)."""
        return {
            name.removeprefix("wasmcustom."): value
            for name, value in self.stats("jwt_gate").items()
            if "jwt_gate." in name and not name.startswith("wasm.")
        }


@dataclass
class Listener:
    """One listener of a running Envoy: where tests send requests."""

    envoy: Envoy
    name: str

    def __post_init__(self) -> None:
        self.port = self.envoy.port(self.name)

    def request(self, path: str, **kwargs) -> Response:
        return request(self.port, path, **kwargs)


@contextlib.contextmanager
def running_envoy(
    listeners: dict[str, dict],
    backend_port: int,
    name: str,
    clusters: dict[str, int] | None = None,
    concurrency: int = 2,
    headers_with_underscores_action: str | None = None,
) -> Iterator[Envoy]:
    """An Envoy with `bootstrap(listeners, backend_port, clusters,
    headers_with_underscores_action)`, ready, stopped on exit."""
    config = bootstrap(listeners, backend_port, clusters, headers_with_underscores_action)
    envoy = Envoy(config, name, concurrency=concurrency)
    try:
        yield envoy.wait_ready()
    finally:
        envoy.stop()


def connections_per_worker(envoy: Envoy, listener: str, workers: int = 2) -> list[int]:
    """Connections each worker of `envoy` accepted on `listener` so far."""
    stats = envoy.stats(f"listener.{listener}.worker_")
    return [
        stats.get(f"listener.{listener}.worker_{n}.downstream_cx_total", 0) for n in range(workers)
    ]


# The wasm stats Envoy 1.40 keeps (admin /stats): VMs created and alive, and the plugin's
# reloads (failure_policy FAIL_RELOAD). A VM that traps or is replaced moves one of them.
WASM_HEALTH = (
    "wasm.envoy.wasm.runtime.v8.created",
    "wasm.envoy.wasm.runtime.v8.active",
    "wasm.wasm_vm_count",
    "wasm.jwt_gate.vm_reload",
    "wasm.jwt_gate.vm_reload_backoff",
    "wasm.jwt_gate.vm_reload_failure",
    "wasm.jwt_gate.vm_reload_success",
)


def wasm_health(envoy: Envoy) -> dict[str, int]:
    """The WASM_HEALTH stats, and `vm_failures`: the log lines of trapped VM calls (Envoy logs
    "Function: proxy_on_... failed" for a trap; it has no counter for it)."""
    stats = envoy.stats("^wasm\\.")
    health = {name: stats.get(name, 0) for name in WASM_HEALTH}
    health["vm_failures"] = len(vm_failures(envoy))
    return health


def vm_failures(envoy: Envoy) -> list[str]:
    """The log lines of wasm calls that trapped."""
    return [line for line in envoy.log().splitlines() if "Function: " in line and " failed" in line]


# --- HTTP client ---------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    host: str = ""  # the request's Host and path, for the realm a denial must carry
    path: str = ""

    def header(self, name: str) -> str | None:
        """The first value of header `name`, or None."""
        values = header_values(self.headers, name)
        return values[0] if values else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    @property
    def upstream(self) -> Upstream:
        """What the echo backend received (only for 200s from the echo backend)."""
        assert self.status == 200, (
            f"expected 200 from the echo backend, got {self.status}: {self.text}"
        )
        echo = self.json()
        return Upstream(echo["method"], echo["path"], [tuple(h) for h in echo["headers"]])


@dataclass
class Upstream:
    """What the echo backend received."""

    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The value of header `name`, or None; failing if it arrived more than once."""
        values = header_values(self.headers, name)
        assert len(values) <= 1, f"{name} reached the backend {len(values)} times: {values}"
        return values[0] if values else None


def header_values(headers: list[tuple[str, str]], name: str) -> list[str]:
    """The values of header `name` (case-insensitive), in order."""
    return [value for key, value in headers if key.lower() == name.lower()]


def request(
    port: int,
    path: str,
    headers: list[tuple[str, str | bytes]] | dict | None = None,
    method: str = "GET",
    token: str | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> Response:
    """One request on a fresh connection. `headers` may repeat names; `token` adds
    `Authorization: Bearer <token>`."""
    headers = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    host = next((value for name, value in headers if name.lower() == "host"), f"127.0.0.1:{port}")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if not any(name.lower() == "host" for name, _ in headers):
            connection.putheader("Host", host)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Response(response.status, response.getheaders(), response.read(), host, path)
    finally:
        connection.close()


def raw_request(port: int, data: bytes, timeout: float = HTTP_TIMEOUT) -> Response:
    """Send `data` as is on a fresh connection and parse the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Response(response.status, response.getheaders(), response.read())


def assert_denied(response: Response, status: int, body: str) -> None:
    """A jwt-gate denial: this status and text/plain body, and a WWW-Authenticate realm naming
    the request's host and path without its query (`error="invalid_token"` unless the token
    was missing)."""
    assert (response.status, response.text) == (status, body), response.text[:300]
    assert (response.header("content-type") or "").startswith("text/plain")
    realm = f'Bearer realm="http://{response.host}{response.path.split("?")[0]}"'
    expected = realm if body == "Jwt is missing" else f'{realm}, error="invalid_token"'
    assert response.header("www-authenticate") == expected


def yaml_blocks(markdown: Path) -> list:
    """The documents of every ```yaml block of a Markdown file (indented ones too), in order: for
    tests that keep a doc's snippets equal to what they tested."""
    import yaml  # PyYAML: a test requirement, not needed by the rest of the harness

    fence = re.compile(r"^[ \t]*```ya?ml[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
    blocks = [textwrap.dedent(block) for block in fence.findall(markdown.read_text())]
    return [document for block in blocks for document in yaml.safe_load_all(block)]


# --- Load ----------------------------------------------------------------------------------------


@dataclass
class Sample:
    """One request of a Load: its `kind` (the caller's label), the answer (`status` None when no
    HTTP answer came; `error` says why), when it started (time.monotonic()) and how long it
    took, in seconds."""

    kind: str
    status: int | None
    body: str
    started: float
    elapsed: float
    error: str = ""


# What a Load sends: request number n -> (kind, path, headers).
RequestMaker = Callable[[int], tuple[str, str, list[tuple[str, str]]]]


class Load:
    """`threads` threads sending requests one after the other, each on a fresh connection (the
    kernel spreads connections over Envoy's workers), from `__enter__` until `stop()` or
    `__exit__`, and at most `max_seconds` or `max_requests` in all: a forgotten load ends."""

    def __init__(
        self,
        port: int,
        make: RequestMaker,
        threads: int = 4,
        max_seconds: float = 30.0,
        max_requests: int = 100_000,
        timeout: float = HTTP_TIMEOUT,
    ) -> None:
        self.port, self.make, self.timeout = port, make, timeout
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._samples: list[Sample] = []
        self._threads = [
            threading.Thread(target=self._run, name=f"load-{n}", daemon=True)
            for n in range(threads)
        ]
        self._deadline = 0.0

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending and wait for the requests under way (each bounded by `timeout`)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def count(self) -> int:
        with self._lock:
            return len(self._samples)

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                number = next(self._numbers)
            if number >= self.max_requests:
                return
            kind, path, headers = self.make(number)
            started = time.monotonic()
            try:
                response = request(self.port, path, headers=headers, timeout=self.timeout)
                sample = Sample(kind, response.status, response.text, started, 0.0)
            except (OSError, http.client.HTTPException) as error:
                sample = Sample(kind, None, "", started, 0.0, f"{type(error).__name__}: {error}")
            sample.elapsed = time.monotonic() - started
            with self._lock:
                self._samples.append(sample)


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` percentile (0.99: p99) of `values` (nearest rank); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
