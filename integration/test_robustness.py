"""Hostile bytes do not hurt the VMs. Envoy 1.40's HTTP/1 codec passes bytes 0x80-0xff in header
values through to filters (it answers 400 itself only for such bytes in the path or Host), so
jwt-gate sees them and must deny, not crash; both workers keep serving afterwards."""

import re

import pytest

from jwt_gate_testkit.bootstrap import jwt_gate_filter
from jwt_gate_testkit.client import raw_request
from jwt_gate_testkit.envoy import Listener, connections_per_worker, running_envoy
from jwt_gate_testkit.shared_config import gate_config
from jwt_gate_testkit.wasm import proxy_wasm_module

WORKERS = 2  # jwt_gate_testkit's Envoy runs --concurrency 2
ROUNDS = 20  # fresh connections per phase: the kernel spreads them over both workers


@pytest.fixture(scope="module")
def listener(keys, echo, build):
    """An Envoy of its own, so that a crash here cannot take other tests down with it."""
    with running_envoy(
        {"gate": jwt_gate_filter(gate_config(keys), build=build)}, echo.port, "robustness"
    ) as envoy:
        yield Listener(envoy, "gate")


def raw_get(path: str, *headers: bytes) -> bytes:
    return b"\r\n".join([f"GET {path} HTTP/1.1".encode(), b"Host: gate.test", *headers, b"", b""])


def send(listener: Listener, requests: list[bytes], status: int) -> list[int]:
    """Send each request on a fresh connection, expecting `status`; the connections each worker
    took meanwhile."""
    before = connections_per_worker(listener.envoy, listener.name, WORKERS)
    for data in requests:
        response = raw_request(listener.port, data)
        assert response.status == status, response.text
    after = connections_per_worker(listener.envoy, listener.name, WORKERS)
    return [now - then for now, then in zip(after, before, strict=True)]


def test_non_utf8_header_bytes_are_denied_and_the_workers_survive(listener, keys):
    token = keys.mint().encode()
    hostile = [
        raw_get("/api/x", b"Authorization: Bearer \xff\xfe" + token, b"X-Other: \xff\xfe"),
        raw_get("/api/x", b"Authorization: Bearer " + token[:20] + b"\xff" + token[20:]),
        raw_get("/api/x", b"Authorization: \xff\xfe\x80"),
        raw_get("/api/x", b"Authorization: Bearer \xc3\x28", b"X-Sub: \xff"),
    ]
    hostile_spread = send(listener, [hostile[n % len(hostile)] for n in range(ROUNDS)], 401)
    assert all(hostile_spread), f"hostile requests did not reach every worker: {hostile_spread}"
    valid = raw_get("/api/x", b"Authorization: Bearer " + token)
    spread = send(listener, [valid] * ROUNDS, 200)
    assert all(spread), f"valid requests did not reach every worker: {spread}"
    assert_no_vm_failure(listener)


def test_non_utf8_bytes_in_other_headers_pass_through(listener, keys):
    request = raw_get(
        "/api/x", b"Authorization: Bearer " + keys.mint().encode(), b"X-Other: \xff\xfe"
    )
    upstream = raw_request(listener.port, request).upstream
    assert upstream.header("x-other") == "\xff\xfe"
    assert upstream.header("x-sub") == "alice"
    assert_no_vm_failure(listener)


def assert_no_vm_failure(listener: Listener) -> None:
    """No VM trapped: Envoy 1.40 logs "Function: proxy_on_... failed" for a trap, and with
    FAIL_CLOSED answers every later request of that worker with 503 (it has no VM-failure stat)."""
    failures = re.findall(r".*Function: \S+ failed.*", listener.envoy.log())
    assert not failures, "\n".join(failures[:5])
    name = f"http.{listener.name}.downstream_rq_5xx"
    assert listener.envoy.stats(f"^{name}$") == {name: 0}


@pytest.mark.wasm_only("a stand-in proxy-wasm module traps")
def test_vm_failure_would_be_detected(echo, tmp_path):
    """The check above against a module whose proxy_on_request_headers traps."""
    wasm = tmp_path / "trap.wasm"
    wasm.write_bytes(trapping_module())
    with running_envoy({"gate": jwt_gate_filter({}, wasm)}, echo.port, "trap") as envoy:
        listener = Listener(envoy, "gate")
        assert listener.request("/x").status == 503
        with pytest.raises(AssertionError, match="proxy_on_request_headers failed"):
            assert_no_vm_failure(listener)


def trapping_module() -> bytes:
    """The smallest proxy-wasm module Envoy loads: it configures fine, then traps (`unreachable`)
    on every request."""
    return proxy_wasm_module(b"\x00\x00\x0b")  # no locals, unreachable, end
