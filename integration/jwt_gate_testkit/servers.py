"""The HTTP servers the tests run beside Envoy, each on 127.0.0.1 from a daemon thread:

- the echo backend (EchoHandler), which answers with everything it received;
- the demo identity provider (DemoIssuer), of `make run` and the compose demo;
- a controllable identity provider (IdentityProvider), which serves keys in every format jwt-gate
  reads and injects faults on demand: down, slow, garbage, oversize, errors, reset connections;
- Server, the ThreadingHTTPServer under them, which cuts its open connections when closed."""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .tokens import b64url, public_jwk, self_signed_certificate, valid_claims


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


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now, for a server started on it later."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
