"""Envoy processes: started from a bootstrap (a dict, or a file such as envoy/envoy.yaml) with
the virtualenv's Envoy (or another binary), waited for until ready, stopped; their admin API
(listener ports, stats, jwt-gate's counters), their logs, and the health of their wasm VMs.
Every Envoy gets ENVOY_DYNAMIC_MODULES_SEARCH_PATH, the folder of the built libjwt_gate.so, so
that jwt-gate's native build loads wherever a bootstrap or a later listener names it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from .artifacts import ENVOY_BIN, REPO, SO, TMP
from .bootstrap import bootstrap
from .client import Response, request

READY_TIMEOUT = 30.0  # V8 compiles the module at startup: seconds, not minutes.

_run_ids = itertools.count()


def remove_stale_run_dirs(runs: Path = TMP) -> None:
    """Remove the run directories (`<name>-<pid>-<n>` under `runs`) of processes that are gone;
    a failed run's logs stay until the next run."""
    for path in runs.glob("*-*-*"):
        try:
            os.kill(int(path.name.rsplit("-", 2)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, PermissionError):
            pass  # not ours, or a live process of another user


class EnvoyFailed(Exception):
    """Envoy exited or never became ready; the message ends with its log tail."""


class Envoy:
    """One Envoy process: `--concurrency 2` (or `concurrency`), a dynamic `--base-id` (unique per
    process), admin and listener addresses discovered from the admin API, its configuration and
    stderr in a run directory of its own under `runs` (`<name>-<pid>-<n>`: `dir`, `log_path`);
    `args` adds command-line options (`("--drain-time-s", "1")`). Started at once; as a context
    manager, ready on entry (`wait_ready`) and stopped on exit. `envoy_bin` runs another Envoy;
    the native module is found in `modules` (default: SO's folder), through
    ENVOY_DYNAMIC_MODULES_SEARCH_PATH."""

    def __init__(
        self,
        config: dict | Path,
        name: str = "envoy",
        cwd: Path = REPO,
        concurrency: int = 2,
        args: tuple[str, ...] = (),
        runs: Path = TMP,
        envoy_bin: Path = ENVOY_BIN,
        modules: Path = SO.parent,
    ) -> None:
        self.dir = runs / f"{name}-{os.getpid()}-{next(_run_ids)}"
        self.dir.mkdir(parents=True, exist_ok=True)
        if isinstance(config, dict):
            config_path = self.dir / "envoy.json"
            config_path.write_text(json.dumps(config, indent=1))
        else:
            config_path = config
        # Every Envoy may load the native module, also from listeners it gets later (LDS).
        environment = {**os.environ, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH": str(modules)}
        self.log_path = self.dir / "envoy.log"
        self.admin_address_path = self.dir / "admin-address"
        command = [
            str(envoy_bin),
            "-c",
            str(config_path),
            "--concurrency",
            str(concurrency),
            "--use-dynamic-base-id",
            "--admin-address-path",
            str(self.admin_address_path),
            "--log-level",
            "info",
            *args,
        ]
        with open(self.log_path, "wb") as log:
            # A session of its own: a terminal's Ctrl-C reaches Python, which stops Envoy itself.
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=environment,
                start_new_session=True,
            )
        self.admin_port = 0

    # Lifecycle

    def __enter__(self) -> Envoy:
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> Envoy:
        """Poll admin /ready until 200; raise EnvoyFailed (with the log tail) if Envoy exits or the
        deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EnvoyFailed(f"envoy exited with {self.process.returncode}\n{self.log_tail()}")
            if not self.admin_port and self.admin_address_path.exists():
                text = self.admin_address_path.read_text().strip()
                if text:
                    self.admin_port = int(text.rsplit(":", 1)[1])
            if self.admin_port:
                try:
                    if self.admin("/ready").status == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise EnvoyFailed(f"envoy not ready after {timeout} s\n{self.log_tail()}")

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if Envoy still runs after `timeout` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            if self.wait_exit(10) is None:
                self.process.kill()
                self.process.wait(10)

    # Observation

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the log, without the startup listing of extensions ("]   ...")."""
        return "\n".join([line for line in self.log().splitlines() if "]   " not in line][-lines:])

    def log_lines(self, containing: str) -> list[str]:
        """The log lines that contain `containing`."""
        return [line for line in self.log().splitlines() if containing in line]

    def admin(self, path: str) -> Response:
        return request(self.admin_port, path)

    def port(self, listener: str) -> int:
        """The port the named listener is bound to."""
        for status in self.admin("/listeners?format=json").json()["listener_statuses"]:
            if status["name"] == listener:
                return status["local_address"]["socket_address"]["port_value"]
        raise KeyError(listener)

    def stats(self, filter: str = "") -> dict[str, int]:
        """Counters and gauges from admin /stats (histograms left out)."""
        text = self.admin("/stats?filter=" + urllib.parse.quote(filter)).body.decode()
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.lstrip("-").isdigit():
                values[name] = int(value)
        return values

    def gate_stats(self) -> dict[str, int]:
        """jwt-gate's counters and gauges by their own name (`gate_stat_names`)."""
        return gate_stat_names(self.stats("jwt_gate"))


def gate_stat_names(stats: dict[str, int]) -> dict[str, int]:
    """jwt-gate's counters and gauges among `stats`, by their own name (Envoy 1.40 lists the
    .wasm's as `wasmcustom.jwt_gate.*`, the native module's as `jwt_gate.*` with
    metrics_namespace jwt_gate, as `dynamicmodulescustom.*` without)."""
    return {
        name.removeprefix("wasmcustom.").removeprefix("dynamicmodulescustom."): value
        for name, value in stats.items()
        if "jwt_gate." in name and not name.startswith("wasm.")
    }


@dataclass
class Listener:
    """One listener of a running Envoy: where tests send requests."""

    envoy: Envoy
    name: str

    def __post_init__(self) -> None:
        self.port = self.envoy.port(self.name)

    def request(self, path: str, **kwargs) -> Response:
        return request(self.port, path, **kwargs)


def running_envoy(
    listeners: dict[str, dict | None],
    backend_port: int | None,
    name: str,
    clusters: dict[str, int | dict] | None = None,
    concurrency: int = 2,
    **options,
) -> Envoy:
    """`with running_envoy(...) as envoy:` an Envoy with `bootstrap(listeners, backend_port,
    clusters, **options)`, ready, stopped on exit."""
    return Envoy(
        bootstrap(listeners, backend_port, clusters, **options), name, concurrency=concurrency
    )


def refusal_log(envoy: Envoy, timeout: float = READY_TIMEOUT) -> str:
    """The log of `envoy`, which must exit with status 1 within `timeout` seconds, as Envoy 1.40
    does when jwt-gate refuses its configuration at load (asserted; stopped either way)."""
    try:
        exit_code = envoy.wait_exit(timeout)
    finally:
        envoy.stop()
    assert exit_code == 1, f"exit code {exit_code}\n{envoy.log_tail()}"
    return envoy.log()


def connections_per_worker(envoy: Envoy, listener: str, workers: int = 2) -> list[int]:
    """Connections each worker of `envoy` accepted on `listener` so far."""
    stats = envoy.stats(f"listener.{listener}.worker_")
    return [
        stats.get(f"listener.{listener}.worker_{n}.downstream_cx_total", 0) for n in range(workers)
    ]


# The wasm stats Envoy 1.40 keeps (admin /stats): VMs created and alive, and the plugin's
# reloads (failure_policy FAIL_RELOAD). A VM that traps or is replaced moves one of them.
WASM_HEALTH = (
    "wasm.envoy.wasm.runtime.v8.created",
    "wasm.envoy.wasm.runtime.v8.active",
    "wasm.wasm_vm_count",
    "wasm.jwt_gate.vm_reload",
    "wasm.jwt_gate.vm_reload_backoff",
    "wasm.jwt_gate.vm_reload_failure",
    "wasm.jwt_gate.vm_reload_success",
)


def wasm_health(envoy: Envoy) -> dict[str, int]:
    """The WASM_HEALTH stats, and `vm_failures`: the log lines of trapped VM calls (Envoy logs
    "Function: proxy_on_... failed" for a trap; it has no counter for it)."""
    stats = envoy.stats("^wasm\\.")
    health = {name: stats.get(name, 0) for name in WASM_HEALTH}
    health["vm_failures"] = len(vm_failures(envoy))
    return health


def vm_failures(envoy: Envoy) -> list[str]:
    """The log lines of wasm calls that trapped."""
    return [line for line in envoy.log().splitlines() if "Function: " in line and " failed" in line]
