"""A small HTTP client for tests: one request per fresh connection to 127.0.0.1, headers that may
repeat or hold raw bytes, raw requests sent as given; what the echo backend received; the check of
a jwt-gate denial; and `wait_for`, the bounded poll every test uses instead of sleeping."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HTTP_TIMEOUT = 10.0


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


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.1):
    """Call `condition` until it returns something truthy (returned) or `timeout` seconds pass
    (then its last, falsy, value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
