"""Hand-assembled proxy-wasm modules, for tests that need a module that misbehaves on purpose
(traps, denies everything): jwt-gate itself has no known way to trap."""

from __future__ import annotations

from collections.abc import Sequence


def proxy_wasm_module(
    on_request_headers: bytes, imports: Sequence[tuple[str, str, tuple[int, int]]] = ()
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
            section(7, [*exports, name("memory") + b"\x02\x00"]),
            section(10, [size(len(body)) + body for _, body in functions.values()]),
        ]
    )
