"""Where things are: the repository, what `make build` produces (the .wasm Envoy loads and the
`jwt-gate` command line), the Envoy binary of the virtualenv, and the tests' scratch directory.
`JWT_GATE_WASM` and `JWT_GATE_CLI` (paths relative to the repository, or absolute) pick other
builds, to run the tests against an older one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
ENVOY_BIN = REPO / ".venv" / "bin" / "envoy"
WASM = REPO / os.environ.get("JWT_GATE_WASM", "target/wasm32-wasip1/release/jwt_gate.wasm")
CLI = REPO / os.environ.get("JWT_GATE_CLI", "target/release/jwt-gate")
TMP = REPO / "integration" / ".tmp"


def run_cli(
    *args: str, input: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """`jwt-gate ARGS...` (the CLI build), its output as text; fails the caller's test when the
    binary is missing."""
    assert CLI.is_file(), f"{CLI} not found: `make build` builds it"
    return subprocess.run(
        [str(CLI), *args], input=input, capture_output=True, text=True, timeout=timeout
    )
