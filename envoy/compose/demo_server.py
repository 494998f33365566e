"""The demo identity provider or the echo backend alone, for envoy/docker-compose.yaml.

    python envoy/compose/demo_server.py idp  [--host H] [--port 9080] [--issuer URL]
    python envoy/compose/demo_server.py echo [--host H] [--port 9000]

Both are the very handlers `make run` uses (jwt_gate_testkit.servers: DemoIssuer,
IdentityProviderHandler, EchoHandler), with the demo keys of envoy/demo/; this file only binds
them to an address. The default host is 127.0.0.1; the compose file passes 0.0.0.0, which inside
a container is the container's own network. SIGTERM (`docker compose stop`) and Ctrl-C stop it.
The test kit comes from .venv (`make deps` installs it) or, in the image, from its PYTHONPATH.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from jwt_gate_testkit.servers import DemoIssuer, EchoHandler, IdentityProviderHandler

DEMO_KEYS = Path(__file__).resolve().parent.parent / "demo"
AUDIENCE = "jwt-gate-demo"  # as in envoy/envoy.yaml and envoy/compose/envoy.yaml


def make_server(role: str, host: str, port: int, issuer: str | None = None) -> ThreadingHTTPServer:
    """The HTTP server of `role` ("idp" or "echo"), bound but not serving yet."""
    if role == "idp":
        server = ThreadingHTTPServer((host, port), IdentityProviderHandler)
        server.issuer = DemoIssuer(
            private_key_pem=DEMO_KEYS / "demo-only-private-key.pem",
            jwks_path=DEMO_KEYS / "jwks.json",
            issuer=issuer or f"http://{host}:{server.server_address[1]}",
            audience=AUDIENCE,
        )
    elif role == "echo":
        server = ThreadingHTTPServer((host, port), EchoHandler)
    else:
        raise ValueError(f"unknown role {role!r}")
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", choices=["idp", "echo"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: 9080 for idp, 9000 for echo")
    parser.add_argument("--issuer", help="idp only: the iss of its tokens (default: its own URL)")
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else {"idp": 9080, "echo": 9000}[args.role]
    server = make_server(args.role, args.host, port, args.issuer)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.start()
    host, bound_port = server.server_address[:2]
    issuer = f", issuer {server.issuer.issuer}" if args.role == "idp" else ""
    print(f"jwt-gate demo {args.role} on {host}:{bound_port}{issuer}", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
