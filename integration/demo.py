"""`make run`: Envoy with jwt-gate (envoy/envoy.yaml), a demo identity provider and an echo backend,
on the fixed ports of envoy/envoy.yaml, in the foreground until Ctrl-C (SIGINT or SIGTERM).
integration/test_demo.py boots the same stack through `demo_stack`."""

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from jwt_gate_testkit.artifacts import REPO
from jwt_gate_testkit.envoy import Envoy, EnvoyFailed
from jwt_gate_testkit.servers import DemoIssuer, EchoHandler, IdentityProviderHandler, Server

# The ports of envoy/envoy.yaml (and of the README's curl commands).
LISTENER_PORT = 10000
ADMIN_PORT = 9901
BACKEND_PORT = 9000
IDP_PORT = 9080
PORTS = (LISTENER_PORT, ADMIN_PORT, BACKEND_PORT, IDP_PORT)

ENVOY_YAML = REPO / "envoy" / "envoy.yaml"
ISSUER = DemoIssuer(
    private_key_pem=REPO / "envoy" / "demo" / "demo-only-private-key.pem",
    jwks_path=REPO / "envoy" / "demo" / "jwks.json",
    issuer=f"http://127.0.0.1:{IDP_PORT}",
    audience="jwt-gate-demo",
)

INSTRUCTIONS = f"""
jwt-gate demo: Envoy on 127.0.0.1:{LISTENER_PORT} (admin :{ADMIN_PORT}), identity provider on
127.0.0.1:{IDP_PORT}, echo backend on 127.0.0.1:{BACKEND_PORT}. Try:

  # a token from the demo identity provider (add ?sub=bob for another user)
  TOKEN=$(curl -s 127.0.0.1:{IDP_PORT}/token)
  # 200: the backend echoes the headers it received (x-user, x-jwt-payload; no authorization)
  curl -i -H "Authorization: Bearer $TOKEN" 127.0.0.1:{LISTENER_PORT}/hello
  # 401 Jwt is missing
  curl -i 127.0.0.1:{LISTENER_PORT}/hello
  # 200 without a token: /public and what is under it are not checked
  curl -i 127.0.0.1:{LISTENER_PORT}/public/hello
  # 401: path_separated_prefix matches whole segments, so /publicity is checked
  curl -i 127.0.0.1:{LISTENER_PORT}/publicity
  # jwt-gate's counters
  curl -s 127.0.0.1:{ADMIN_PORT}/stats?filter=jwt_gate

Envoy's log: {{log}}
Ctrl-C stops everything.
"""


@contextlib.contextmanager
def demo_stack() -> Iterator[Envoy]:
    """The echo backend, the identity provider and Envoy (ready); all stopped on exit."""
    with contextlib.ExitStack() as stack:
        stack.callback(Server(EchoHandler, BACKEND_PORT).close)
        stack.callback(Server(IdentityProviderHandler, IDP_PORT, issuer=ISSUER).close)
        envoy = Envoy(ENVOY_YAML, "demo", cwd=REPO)
        stack.callback(envoy.stop)
        yield envoy.wait_ready()


def main() -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with demo_stack() as envoy:
            print(INSTRUCTIONS.format(log=envoy.log_path.relative_to(REPO)), flush=True)
            while not stop.wait(0.5):
                if envoy.process.poll() is not None:
                    raise EnvoyFailed(
                        f"envoy exited with {envoy.process.returncode}\n{envoy.log_tail()}"
                    )
    except EnvoyFailed as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"demo failed: {error}; it needs the ports {PORTS} of 127.0.0.1", file=sys.stderr)
        return 1
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
