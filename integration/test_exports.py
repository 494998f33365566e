"""The built module's exports: the callbacks Envoy calls on every request only when a module
exports them are left out by the build (tools/wasm-ld); the ones jwt-gate runs on are there."""

import pytest

from jwt_gate_testkit.artifacts import WASM

pytestmark = pytest.mark.wasm_only("the .wasm's exports")

# Envoy calls each of these, when exported, on every request; jwt-gate implements none of them.
NOT_EXPORTED = {
    "proxy_on_done",
    "proxy_on_log",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
}
REQUIRED = {
    "_initialize",
    "memory",
    "proxy_abi_version_0_2_1",
    "proxy_on_memory_allocate",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_tick",
    "proxy_on_context_create",
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_http_call_response",
    "proxy_on_delete",
}


def leb128(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


def exports(module: bytes) -> set[str]:
    assert module[:8] == b"\0asm\1\0\0\0"
    names = set()
    offset = 8
    while offset < len(module):
        section, offset = module[offset], offset + 1
        size, offset = leb128(module, offset)
        if section == 7:
            count, at = leb128(module, offset)
            for _ in range(count):
                length, at = leb128(module, at)
                names.add(module[at : at + length].decode())
                at += length + 1  # the name, then the kind byte
                _, at = leb128(module, at)  # the index
        offset += size
    return names


def test_per_request_callbacks_jwt_gate_does_not_use_are_not_exported():
    names = exports(WASM.read_bytes())
    assert REQUIRED <= names
    assert not NOT_EXPORTED & names
