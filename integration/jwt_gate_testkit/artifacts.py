"""Where things are: the repository, what `make build` produces (the .wasm Envoy loads, the
native dynamic module `libjwt_gate.so` and the `jwt-gate` command line), the Envoy binary of the
virtualenv, and the tests' scratch directory. `JWT_GATE_WASM`, `JWT_GATE_SO` and `JWT_GATE_CLI`
(paths relative to the repository, or absolute) pick other builds, to run the tests against an
older one; `JWT_GATE_BUILDS` (`wasm`, `native` or `wasm,native`, the default) which builds of the
filter the integration suite runs against."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
ENVOY_BIN = REPO / ".venv" / "bin" / "envoy"
WASM = REPO / os.environ.get("JWT_GATE_WASM", "target/wasm32-wasip1/release/jwt_gate.wasm")
SO = REPO / os.environ.get("JWT_GATE_SO", "target/release/libjwt_gate.so")
CLI = REPO / os.environ.get("JWT_GATE_CLI", "target/release/jwt-gate")
TMP = REPO / "integration" / ".tmp"

# The two builds of the filter: the proxy-wasm module and the native Envoy dynamic module.
BUILDS = ("wasm", "native")


def selected_builds() -> tuple[str, ...]:
    """The builds named by `JWT_GATE_BUILDS` (comma-separated; default both), in BUILDS order."""
    listed = os.environ.get("JWT_GATE_BUILDS", ",".join(BUILDS))
    names = {name.strip() for name in listed.split(",")}
    unknown = names - set(BUILDS) - {""}
    if unknown:
        raise ValueError(f"JWT_GATE_BUILDS: unknown build {sorted(unknown)}; known: {BUILDS}")
    selected = tuple(build for build in BUILDS if build in names)
    if not selected:
        # Else every test of a build would be skipped, and an empty run would pass.
        raise ValueError(f"JWT_GATE_BUILDS names no build; known: {BUILDS}")
    return selected


def artifact(build: str) -> Path:
    """The file Envoy loads for `build`: WASM or SO."""
    return {"wasm": WASM, "native": SO}[build]


def run_cli(
    *args: str, input: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """`jwt-gate ARGS...` (the CLI build), its output as text; fails the caller's test when the
    binary is missing."""
    assert CLI.is_file(), f"{CLI} not found: `make build` builds it"
    return subprocess.run(
        [str(CLI), *args], input=input, capture_output=True, text=True, timeout=timeout
    )
