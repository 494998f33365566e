#!/usr/bin/env python3
"""jwt-gate (the native module and the .wasm) against Envoy's jwt_authn and a filter-less Envoy,
side by side, with wrk.

    .venv/bin/python -m bench.run                 # full run: 3 runs x 8 s per cell (~12 min)
    .venv/bin/python -m bench.run --quick         # smoke test: 1 run x 2 s per cell (~3 min)
    .venv/bin/python -m bench.run --only gate*,authn_cache,same,rs256
    .venv/bin/python -m bench.run --ring          # also the .wasm verifying with ring (+2.5 min)
    .venv/bin/python -m bench.run --render-only   # re-render docs/ from bench/results.json

from the repository root (bench/ is a package: it imports bench.report and jwt_gate_testkit).

Every Envoy variant runs at once (one process each, `--concurrency 1`, every thread pinned to
core 0), each answering from a direct_response route so that the filter is what is measured; wrk
(`-t1 -c16`, pinned to core 1) loads one of them at a time, cycling through the variants and
scenarios run after run. A full run writes bench/results.json, docs/benchmarks.md and
docs/benchmarks.png; --quick and --only runs write under bench/.tmp/ unless --publish is given.

Everything listens on 127.0.0.1; every wrk run has a fixed duration and a subprocess timeout."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import fnmatch
import hashlib
import http.client
import itertools
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bench import report
from jwt_gate_testkit.artifacts import ENVOY_BIN, REPO, SO, WASM
from jwt_gate_testkit.bootstrap import bootstrap, jwt_authn_filter, jwt_gate_filter
from jwt_gate_testkit.client import request
from jwt_gate_testkit.envoy import Envoy, EnvoyFailed, gate_stat_names, remove_stale_run_dirs
from jwt_gate_testkit.tokens import AUDIENCE, ISSUER, public_jwk

# The native module's file name: Envoy loads lib<name>.so from ENVOY_DYNAMIC_MODULES_SEARCH_PATH.
SO_NAME = "libjwt_gate.so"

BENCH = Path(__file__).resolve().parent
TMP = BENCH / ".tmp"
ENVOY_RUNS = TMP / "envoy"  # Envoy configs and logs, one directory per Envoy
TOKENS_DIR = TMP / "tokens"
LUA = BENCH / "tokens.lua"
RESULTS = BENCH / "results.json"
DOC = REPO / "docs" / "benchmarks.md"
CHART = REPO / "docs" / "benchmarks.png"

TOKEN_LIFETIME = 24 * 3600  # pool tokens are reused across invocations while they have 3 h left
TOKEN_MIN_LEFT = 3 * 3600
ENVOY_CPU = 0
WRK_CPU = 1
STAT_PREFIX = "bench"
OTHER_LOAD_LIMIT = 0.05  # a run with more of Envoy's core used by others is repeated
STEAL_LIMIT = 0.03


def log(message: str) -> None:
    print(message, flush=True)


# --- Keys and tokens ------------------------------------------------------------------------------


def _mint_chunk(job: tuple) -> list[str]:
    """Worker: tokens `start`..`stop` of one pool (each a distinct jti and sub)."""
    pem, alg, kid, prefix, start, stop, iat, exp = job
    key = serialization.load_pem_private_key(pem, None)
    return [
        jwt.encode(
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": f"user-{n}",
                "iat": iat,
                "exp": exp,
                "jti": f"{prefix}-{n}",
            },
            key,
            algorithm=alg,
            headers={"kid": kid},
        )
        for n in range(start, stop)
    ]


class Tokens:
    """The signing keys (RSA-2048 `rsa`, P-256 `es256`; `rsa-other`/`es256-other` sign forgeries)
    and the token pools, kept in bench/.tmp/tokens/ and reused while valid for 3 more hours.

    Pools: `rs256` and `es256` (one token per request in the distinct-token scenarios) and `mix`
    (the distinct RS256 part of the mix), each of `size` tokens; `same` is minted per invocation."""

    POOLS: ClassVar[dict[str, tuple[str, str]]] = {
        "rs256": ("RS256", "rsa"),
        "es256": ("ES256", "es256"),
        "mix": ("RS256", "rsa"),
    }

    def __init__(self, size: int) -> None:
        self.dir = TOKENS_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest_path = self.dir / "manifest.json"
        manifest = {}
        if manifest_path.exists():
            with contextlib.suppress(ValueError):
                manifest = json.loads(manifest_path.read_text())
        now = int(time.time())
        fresh = (
            manifest.get("version") == 1
            and manifest.get("exp", 0) - now > TOKEN_MIN_LEFT
            and manifest.get("size", 0) >= size
            and all((self.dir / f"{pool}.txt").exists() for pool in self.POOLS)
            and (self.dir / "keys.json").exists()
        )
        if fresh:
            pems = json.loads((self.dir / "keys.json").read_text())
            self.private = {
                kid: serialization.load_pem_private_key(pem.encode(), None)
                for kid, pem in pems.items()
            }
            log(f"tokens: reusing the pools in {rel(self.dir)} (minted {manifest['created']})")
        else:
            self.private = {
                "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "es256": ec.generate_private_key(ec.SECP256R1()),
                "rsa-other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "es256-other": ec.generate_private_key(ec.SECP256R1()),
            }
            self._mint(size, now)
            manifest = {
                "version": 1,
                "created": datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat(),
                "exp": now + TOKEN_LIFETIME,
                "size": size,
            }
            manifest_path.write_text(json.dumps(manifest, indent=1))
        self.size = size
        self.pools = {pool: self._prefix(pool, size) for pool in self.POOLS}
        self.same = self.mint("RS256", sub="same-user", jti="same")
        self.same_file = self.dir / "same.txt"
        self.same_file.write_text(self.same + "\n")

    def _mint(self, size: int, now: int) -> None:
        pems = {kid: self.pem(kid) for kid in self.private}
        (self.dir / "keys.json").write_text(json.dumps(pems))
        started = time.monotonic()
        log(f"tokens: minting {len(self.POOLS)} pools of {size:,} tokens with PyJWT ...")
        workers = max(1, os.cpu_count() or 1)
        chunk = 1000
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            for name, (alg, kid) in self.POOLS.items():
                jobs = [
                    (
                        pems[kid].encode(),
                        alg,
                        kid,
                        name,
                        start,
                        min(start + chunk, size),
                        now,
                        now + TOKEN_LIFETIME,
                    )
                    for start in range(0, size, chunk)
                ]
                tokens = [token for part in pool.map(_mint_chunk, jobs) for token in part]
                (self.dir / f"{name}.txt").write_text("\n".join(tokens) + "\n")
        log(f"tokens: minted in {time.monotonic() - started:.1f} s")

    def _prefix(self, pool: str, size: int) -> Path:
        """The pool file, or a file with its first `size` tokens when it holds more."""
        path = self.dir / f"{pool}.txt"
        lines = path.read_text().split()
        if len(lines) == size:
            return path
        prefix = self.dir / f"{pool}-{size}.txt"
        if not prefix.exists() or len(prefix.read_text().split()) != size:
            prefix.write_text("\n".join(lines[:size]) + "\n")
        return prefix

    def pool_tokens(self, pool: str) -> list[str]:
        return self.pools[pool].read_text().split()

    def pem(self, kid: str) -> str:
        return (
            self.private[kid]
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )

    def jwks(self) -> str:
        return json.dumps({"keys": [public_jwk(self.private[k], k) for k in ("rsa", "es256")]})

    def mint(
        self, alg: str = "RS256", key: str | None = None, kid: str | None = None, **claims
    ) -> str:
        """A token like the pools' (valid for an hour unless `claims` say otherwise)."""
        kid = kid or {"RS256": "rsa", "ES256": "es256"}[alg]
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "check", "iat": now, "exp": now + 3600}
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, self.private[key or kid], algorithm=alg, headers={"kid": kid})


# --- Variants and scenarios -----------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    title: str
    pattern: str  # per request, cycled: S same token, D next pool token, N no token
    pool: str | None
    description: str

    @property
    def no_token_share(self) -> float:
        return self.pattern.count("N") / len(self.pattern)

    @property
    def distinct_share(self) -> float:
        return self.pattern.count("D") / len(self.pattern)


# 16 S, 3 D, 1 N: 80 % the same token, 15 % a new RS256 token, 5 % no token, interleaved.
MIX = "SSSSSDSSSSSSDSSNSSSD"
assert (MIX.count("S"), MIX.count("D"), MIX.count("N")) == (16, 3, 1)

SCENARIOS = [
    Scenario(
        "same",
        "same RS256 token",
        "S",
        None,
        "the same valid RS256 token on every request (cacheable)",
    ),
    Scenario(
        "rs256",
        "new RS256 token",
        "D",
        "rs256",
        "a distinct valid RS256 token on every request (a signature check each time)",
    ),
    Scenario(
        "es256",
        "new ES256 token",
        "D",
        "es256",
        "a distinct valid ES256 token on every request (a signature check each time)",
    ),
    Scenario(
        "none",
        "no token (401)",
        "N",
        None,
        "no Authorization header: every request denied with 401",
    ),
    Scenario(
        "mix",
        "mix 80/15/5",
        MIX,
        "mix",
        "per 20 requests: 16 the same RS256 token, 3 distinct RS256 tokens, 1 without a token",
    ),
]


@dataclass
class Variant:
    name: str
    title: str
    kind: str  # none | authn | gate (jwt-gate, either build)
    http_filter: dict | None
    config: dict | None = None  # the JwtAuthentication JSON (authn) / plugin configuration (gate)
    modules: Path | None = None  # the native build: ENVOY_DYNAMIC_MODULES_SEARCH_PATH
    envoy: Envoy | None = field(default=None, repr=False)
    port: int = 0
    log_lines: list[str] = field(default_factory=list)

    @property
    def auth(self) -> bool:
        return self.kind != "none"


def authn_config(jwks: str, cache: bool) -> dict:
    """The JwtAuthentication JSON every auth variant uses: one provider with the RSA and EC keys
    inline, every path requiring it; `cache` adds jwt_cache_config (jwt_authn's default size)."""
    provider: dict = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": {"inline_string": jwks},
    }
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": 100}
    return {
        "providers": {"bench": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
    }


def native_filter(plugin_config: dict | str) -> dict:
    """jwt-gate's native build with the same plugin JSON as the .wasm."""
    return jwt_gate_filter(plugin_config, build="native")


def module_folder(so: Path, name: str) -> Path:
    """A folder Envoy can load `so` from as libjwt_gate.so: its own, or a symlink under
    bench/.tmp/modules/<name>/ when the file has another name."""
    so = so.resolve()
    if so.name == SO_NAME:
        return so.parent
    folder = TMP / "modules" / name
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / SO_NAME
    link.unlink(missing_ok=True)
    link.symlink_to(so)
    return folder


def native_variant(name: str, title: str, config: dict, so: Path) -> Variant:
    return Variant(
        name, title, "gate", native_filter(config), config, modules=module_folder(so, name)
    )


def make_variants(tokens: Tokens, wasm: Path | None, so: Path | None, ring: bool) -> list[Variant]:
    """No filter, jwt_authn with and without its cache, and jwt-gate's builds (those given)
    configured with the cache-on jwt_authn JSON, byte for byte (the default signature_verifier,
    auto); `ring` adds the .wasm verifying every signature with ring compiled to wasm."""
    jwks = tokens.jwks()
    cached, uncached = authn_config(jwks, True), authn_config(jwks, False)
    variants = [
        Variant("none", "no filter (ceiling)", "none", None),
        Variant("authn_cache", "jwt_authn, cache on", "authn", jwt_authn_filter(cached), cached),
        Variant(
            "authn_nocache", "jwt_authn, cache off", "authn", jwt_authn_filter(uncached), uncached
        ),
    ]
    if so:
        variants.append(native_variant("gate_native", "jwt-gate native", cached, so))
    if wasm:
        variants.append(
            Variant("gate", "jwt-gate .wasm", "gate", jwt_gate_filter(cached, wasm), cached)
        )
    if wasm and ring:
        ring_config = {**cached, "signature_verifier": "ring"}
        variants.append(
            Variant(
                "gate_ring",
                "jwt-gate .wasm (ring)",
                "gate",
                jwt_gate_filter(ring_config, wasm),
                ring_config,
            )
        )
    return variants


# --- Processes ------------------------------------------------------------------------------------


@contextlib.contextmanager
def affinity(cpus: set[int] | None):
    """Run the block with this thread pinned to `cpus` (children started inside inherit it)."""
    if cpus is None:
        yield
        return
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


def start_envoy(
    name: str, http_filter: dict | None, pin: bool, modules: Path | None = None
) -> Envoy:
    """An Envoy (`--concurrency 1`) with one listener, STAT_PREFIX, on a free port of 127.0.0.1:
    `http_filter` (if any), then the router, Envoy itself answering 200 "ok\\n" for every path
    (no backend: the filter is what is measured). Started pinned to ENVOY_CPU: every thread it
    ever creates inherits the affinity, as with `taskset -c 0 envoy ...`; `modules` is where it
    finds the native build."""
    with affinity({ENVOY_CPU} if pin else None):
        config = bootstrap({STAT_PREFIX: http_filter})
        if modules is None:
            return Envoy(config, f"bench-{name}", concurrency=1, runs=ENVOY_RUNS)
        return Envoy(config, f"bench-{name}", concurrency=1, runs=ENVOY_RUNS, modules=modules)


def thread_affinities(pid: int) -> set[str]:
    """The Cpus_allowed_list of every thread of `pid`."""
    lists = set()
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("Cpus_allowed_list:"):
                    lists.add(line.split(":", 1)[1].strip())
    return lists


def cpu_times() -> dict[str, list[int]]:
    """Per-core /proc/stat times (ticks): user nice system idle iowait irq softirq steal."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if re.match(r"cpu\d+ ", line):
            name, *values = line.split()
            times[name] = [int(v) for v in values[:8]]
    return times


def core_usage(before: dict, after: dict, core: int, seconds: float) -> dict:
    """Busy (everything but idle, iowait and steal) and steal shares of `core` over `seconds`."""
    name = f"cpu{core}"
    if name not in before or name not in after or not seconds:
        return {"busy": 0.0, "steal": 0.0}
    delta = [a - b for a, b in zip(after[name], before[name], strict=True)]
    tick = os.sysconf("SC_CLK_TCK")
    busy = delta[0] + delta[1] + delta[2] + delta[5] + delta[6]
    return {"busy": busy / tick / seconds, "steal": delta[7] / tick / seconds}


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(envoys: list[Envoy], timeout: float = 30.0) -> float:
    """Wait until the Envoys together use under 5 % of a core over half a second (V8 compiles
    hot wasm functions again in background threads, on the pinned core, after the first load);
    the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = sum(process_cpu_seconds(e.process.pid) for e in envoys)
        time.sleep(0.5)
        if sum(process_cpu_seconds(e.process.pid) for e in envoys) - before < 0.025:
            break
    return time.monotonic() - started


def jwt_gate_log(envoy: Envoy) -> list[str]:
    """jwt-gate's own log lines (`wasm log ... jwt-gate: ...`), without the prefix."""
    lines = [line.split("jwt-gate: ", 1)[1] for line in envoy.log_lines("jwt-gate: ")]
    return list(dict.fromkeys(lines))  # each VM logs the same lines


# --- Memory ---------------------------------------------------------------------------------------


def wasm_memories(pid: int) -> list[dict]:
    """The linear memory of each wasm VM in the process: V8 reserves a multi-GiB region per
    memory and makes its first `size` bytes read-write, so each VM shows up in /proc/<pid>/smaps
    as an rw mapping followed directly by a large inaccessible one. `size_kib` is the memory's
    current size (wasm pages), `rss_kib` what of it is resident."""
    mappings = []
    current = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        match = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ", line)
        if match:
            current = {
                "start": int(match.group(1), 16),
                "end": int(match.group(2), 16),
                "perm": match.group(3),
                "rss": 0,
            }
            mappings.append(current)
        elif line.startswith("Rss:") and current is not None:
            current["rss"] = int(line.split()[1])
    memories = []
    for before, after in itertools.pairwise(mappings):
        if (
            after["perm"] == "---p"
            and after["end"] - after["start"] >= 4 << 30
            and before["end"] == after["start"]
            and before["perm"].startswith("rw")
        ):
            memories.append(
                {"size_kib": (before["end"] - before["start"]) >> 10, "rss_kib": before["rss"]}
            )
    return memories


def memory_snapshot(envoy: Envoy) -> dict:
    pid = envoy.process.pid
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
    tcmalloc = envoy.admin("/memory").json()  # live, unlike the server.memory_* gauges
    gate = {
        name: value
        for name, value in gate_counters(envoy.stats("jwt_gate")).items()
        if name.startswith("jwt_gate.token_cache")
    }
    return {
        "rss_kib": rss,
        "allocated_bytes": int(tcmalloc.get("allocated", 0)),
        "heap_bytes": int(tcmalloc.get("heap_size", 0)),
        "wasm_vms": wasm_memories(pid),
        "wasm_vm_count": envoy.stats("wasm.wasm_vm_count").get("wasm.wasm_vm_count", 0),
        "cache_stats": gate,
    }


def gate_counters(stats: dict) -> dict:
    """jwt-gate's counters by their own name, `jwt_gate.*` (the test kit's `gate_stat_names`)."""
    return {name: v for name, v in gate_stat_names(stats).items() if name.startswith("jwt_gate.")}


def load_tokens(port: int, tokens: list[str], timeout: float) -> dict[int, int]:
    """Send one request per token on keep-alive connections; the count of each status."""
    counts: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for token in tokens:
            if time.monotonic() > deadline:
                raise TimeoutError(f"memory load not done after {timeout} s")
            connection.request("GET", "/", headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            counts[response.status] = counts.get(response.status, 0) + 1
            if response.getheader("connection", "").lower() == "close":
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    finally:
        connection.close()
    return counts


def measure_memory(
    variants: list[Variant],
    tokens: Tokens,
    count: int,
    wasm: Path | None,
    so: Path | None,
    pin: bool,
) -> dict:
    """Memory of a fresh Envoy after one request, then after `count` requests with distinct RS256
    tokens: the .wasm with jwt_cache_size `count` (every token cached) and with the benchmark's
    100 (the bound holds), the native module with jwt_cache_size `count`, and jwt_authn with
    jwt_cache_size `count` for comparison."""
    jwks = tokens.jwks()

    def sized(size: int) -> dict:
        config = authn_config(jwks, True)
        config["providers"]["bench"]["jwt_cache_config"] = {"jwt_cache_size": size}
        return config

    setups = []
    if so and any(v.modules for v in variants):
        setups.append(
            (
                f"gate_native_cache_{count}",
                f"jwt-gate native, jwt_cache_size {count:,}",
                count,
                native_filter(sized(count)),
                module_folder(so, "gate_native"),
            )
        )
    if wasm and any(v.kind == "gate" and not v.modules for v in variants):
        setups += [
            (
                f"gate_cache_{count}",
                f"jwt-gate .wasm, jwt_cache_size {count:,}",
                count,
                jwt_gate_filter(sized(count), wasm),
                None,
            ),
            (
                "gate_cache_100",
                "jwt-gate .wasm, jwt_cache_size 100",
                100,
                jwt_gate_filter(sized(100), wasm),
                None,
            ),
        ]
    if any(v.kind == "authn" for v in variants):
        setups.append(
            (
                f"authn_cache_{count}",
                f"jwt_authn, jwt_cache_size {count:,}",
                count,
                jwt_authn_filter(sized(count)),
                None,
            )
        )
    results = {}
    pool = tokens.pool_tokens("rs256")[:count]
    for name, title, cache_size, http_filter, modules in setups:
        envoy = start_envoy(f"mem-{name}", http_filter, pin, modules)
        try:
            envoy.wait_ready(60)
            port = envoy.port("bench")
            load_tokens(port, [tokens.same], 30)
            before = memory_snapshot(envoy)
            started = time.monotonic()
            statuses = load_tokens(port, pool, 300)
            seconds = time.monotonic() - started
            after = memory_snapshot(envoy)
        finally:
            envoy.stop()
        ok = statuses == {200: len(pool)}
        results[name] = {
            "title": title,
            "kind": "gate" if name.startswith("gate") else "authn",
            "cache_size": cache_size,
            "tokens": len(pool),
            "statuses": {str(k): v for k, v in statuses.items()},
            "ok": ok,
            "seconds": round(seconds, 2),
            "before": before,
            "after": after,
        }
        grown = [
            a["size_kib"] - b["size_kib"]
            for b, a in zip(before["wasm_vms"], after["wasm_vms"], strict=False)
        ]
        log(
            f"memory {title}: {len(pool):,} distinct tokens ({'all 200' if ok else statuses}),"
            f" RSS {before['rss_kib']:,} -> {after['rss_kib']:,} KiB"
            + (
                f", wasm VMs {[v['size_kib'] for v in after['wasm_vms']]} KiB (grew {grown} KiB)"
                if after["wasm_vms"]
                else ""
            )
        )
    return results


# --- Checks ---------------------------------------------------------------------------------------


def prechecks(variant: Variant, tokens: Tokens) -> list[dict]:
    """A few requests whose answers are known, before any load: a filter that lets a forged
    token through or refuses a valid one is reported wrong, however fast it is."""
    now = int(time.time())
    cases = [
        ("the same-token scenario's token", tokens.same, 200),
        ("a fresh RS256 token", tokens.mint("RS256"), 200),
        ("a fresh ES256 token", tokens.mint("ES256"), 200),
        ("the last token of the rs256 pool", tokens.pool_tokens("rs256")[-1], 200),
        ("the last token of the es256 pool", tokens.pool_tokens("es256")[-1], 200),
        ("the last token of the mix pool", tokens.pool_tokens("mix")[-1], 200),
        ("no token", None, 401),
        ("RS256 signed by another key (kid rsa)", tokens.mint("RS256", key="rsa-other"), 401),
        ("ES256 signed by another key (kid es256)", tokens.mint("ES256", key="es256-other"), 401),
        ("the same token with its signature's last byte changed", flip_signature(tokens.same), 401),
        ("an expired RS256 token", tokens.mint("RS256", iat=now - 7200, exp=now - 3600), 401),
        ("an RS256 token for another audience", tokens.mint("RS256", aud="other.test"), 403),
        ("an RS256 token from another issuer", tokens.mint("RS256", iss="https://x.test"), 401),
    ]
    results = []
    for label, token, expected in cases:
        expected = expected if variant.auth else 200
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            got = request(variant.port, "/", headers=headers).status
        except OSError as error:
            got = f"{type(error).__name__}: {error}"
        results.append({"check": label, "expected": expected, "got": got, "ok": got == expected})
    return results


def flip_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    last = "A" if signature[-2] != "A" else "B"  # the second-to-last char: every bit is significant
    return f"{head}.{payload}.{signature[:-2]}{last}{signature[-1]}"


def check_run(variant: Variant, scenario: Scenario, wrk: dict, delta: dict, connections: int):
    """What is wrong with one run (answers that differ from what the scenario calls for), and
    warnings (cache hits in a scenario meant to have none)."""
    wrong, warnings = [], []
    requests = wrk["requests"]
    non2xx = wrk["errors"]["status"]
    expected = scenario.no_token_share * requests if variant.auth else 0
    slack = connections + 2 if 0 < expected < requests else 0
    if abs(non2xx - expected) > slack:
        wrong.append(
            f"{non2xx:,} of {requests:,} responses were not 2xx, expected {round(expected):,}"
        )
    errors = {k: v for k, v in wrk["errors"].items() if k != "status" and v}
    if errors.get("connect") or errors.get("timeout") or sum(errors.values()) > connections:
        wrong.append(f"socket errors: {errors}")
    rq = lambda cls: delta.get(f"http.{STAT_PREFIX}.downstream_rq_{cls}", 0)  # noqa: E731
    if rq("5xx"):
        wrong.append(f"Envoy answered {rq('5xx'):,} requests with 5xx")
    if abs(rq("4xx") - non2xx) > connections + 2:
        wrong.append(f"Envoy counted {rq('4xx'):,} 4xx, wrk {non2xx:,} non-2xx")
    if variant.kind == "gate":
        reasons = {
            name.rsplit(".", 1)[1]: value
            for name, value in delta.items()
            if ".denied_by_reason." in name and value and not name.endswith(".jwt_missing")
        }
        if reasons:
            wrong.append(
                f"jwt-gate denied requests for other reasons than a missing token: {reasons}"
            )
    hits = cache_hits(variant, delta)
    if hits is not None and scenario.pattern == "D" and requests and hits > 0.01 * requests:
        warnings.append(
            f"{hits:,} cache hits in {requests:,} requests: the token pool ({scenario.pool}) is"
            " smaller than what the cache keeps, so not every request verified a signature"
        )
    return wrong, warnings


def disturbance(result: dict) -> str | None:
    """Why a run does not represent the filter: other work on Envoy's core (other processes,
    interrupts: over 5 % of the core) or time taken by the hypervisor (steal: over 3 %)."""
    reasons = []
    if result.get("envoy_core_other", 0) > OTHER_LOAD_LIMIT:
        reasons.append(f"{result['envoy_core_other']:.0%} of Envoy's core used by others")
    if result.get("envoy_core_steal", 0) > STEAL_LIMIT:
        reasons.append(f"{result['envoy_core_steal']:.0%} steal")
    return ", ".join(reasons) or None


def cache_hits(variant: Variant, delta: dict) -> int | None:
    """Token cache hits in `delta`: jwt_authn's jwt_cache_hit, or any jwt-gate counter whose name
    speaks of cache hits; None when the variant has no such counter."""
    if variant.kind == "authn":
        return delta.get(f"http.{STAT_PREFIX}.jwt_authn.jwt_cache_hit")
    if variant.kind == "gate":
        counters = gate_counters(delta)
        names = [
            name for name in counters if "cache" in name and "hit" in name and "miss" not in name
        ]
        return sum(counters[name] for name in names) if names else None
    return None


# --- wrk ------------------------------------------------------------------------------------------


def wrk_command(
    port: int,
    scenario: Scenario,
    tokens: Tokens,
    cursor: int,
    seconds: int,
    args,
    pin: bool,
    display: bool = False,
) -> list[str]:
    """The wrk command line; `display` writes paths relative to the repository and <port>."""
    path = (lambda p: rel(p)) if display else str
    same = path(tokens.same_file) if "S" in scenario.pattern else "-"
    pool = path(tokens.pools[scenario.pool]) if scenario.pool else "-"
    return [
        *(["taskset", "-c", str(WRK_CPU)] if pin else []),
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        path(LUA),
        f"http://127.0.0.1:{'<port>' if display else port}/",
        "--",
        scenario.pattern,
        same,
        pool,
        "<cursor>" if display else str(cursor),
    ]


def run_wrk(
    variant: Variant, scenario: Scenario, tokens: Tokens, cursor: int, seconds: int, args, pin: bool
) -> tuple[dict, dict, int]:
    """One wrk run against `variant`: wrk's result, the Envoy stat deltas, the next cursor."""
    envoy = variant.envoy
    before = envoy.stats()
    cpu_before = process_cpu_seconds(envoy.process.pid)
    cores_before = cpu_times()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = wrk_command(variant.port, scenario, tokens, cursor, seconds, args, pin)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, cwd=REPO
    )
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cores_after = cpu_times()
    cpu_after = process_cpu_seconds(envoy.process.pid)
    after = envoy.stats()
    if envoy.process.poll() is not None:
        raise EnvoyFailed(f"{variant.name} exited\n{envoy.log_tail()}")
    line = next(
        (line for line in completed.stdout.splitlines() if line.startswith("bench-result ")), None
    )
    if completed.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({completed.returncode}): {' '.join(command)}\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    result = json.loads(line.removeprefix("bench-result "))
    duration = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / duration if duration else 0.0
    wrk_cpu = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    result["envoy_cpu"] = (cpu_after - cpu_before) / duration if duration else 0.0
    result["wrk_cpu"] = wrk_cpu / duration if duration else 0.0
    if pin:
        core = core_usage(cores_before, cores_after, ENVOY_CPU, duration)
        # What ran on Envoy's core besides Envoy (other processes, interrupts), and what the
        # hypervisor took from it (steal): either makes the run unrepresentative.
        result["envoy_core_other"] = max(0.0, core["busy"] - result["envoy_cpu"])
        result["envoy_core_steal"] = core["steal"]
    delta = {name: after[name] - before.get(name, 0) for name in after}
    return result, delta, max(result["cursors"] or [cursor])


# --- Orchestration --------------------------------------------------------------------------------


def rel(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(path).resolve().relative_to(REPO))
    return str(path)


def command_output(command: list[str]) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return (completed.stdout + completed.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"({error})"


def machine_info() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    mhz = re.search(r"^cpu MHz\s*:\s*(.*)$", cpuinfo, re.M)
    envoy_version = command_output([str(ENVOY_BIN), "--version"])
    envoy_version = envoy_version.split("version:", 1)[-1].strip()
    return {
        "nproc": command_output(["nproc"]),
        "cpu_model": model.group(1).strip() if model else "unknown",
        "cpu_mhz": mhz.group(1).strip() if mhz else "unknown",
        "kernel": platform.release(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "envoy": envoy_version,
        "wrk": command_output(["wrk", "-v"]).splitlines()[0].split(" [")[0]
        if shutil.which("wrk")
        else "missing",
        "python": platform.python_version(),
    }


def build_info(wasm: Path | None, so: Path | None) -> dict:
    """The commit and, per build given (`wasm`, `so`), its path, size, sha256 and build time."""
    commit = command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = command_output(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"]
    )
    info: dict = {"git_commit": commit, "git_dirty": bool(dirty)}
    for key, path in (("wasm", wasm), ("so", so)):
        if path is None:
            continue
        data = path.read_bytes()
        built = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
        info.update(
            {
                key: rel(path),
                f"{key}_bytes": len(data),
                f"{key}_sha256": hashlib.sha256(data).hexdigest(),
                f"{key}_built": built.isoformat(timespec="seconds"),
            }
        )
    return info


def supports_ring(wasm: Path, tokens: Tokens, pin: bool) -> tuple[bool, str]:
    """Whether this build accepts `"signature_verifier": "ring"` (an Envoy that fails to start
    with it, or whose plugin rejects it, means no)."""
    config = {**authn_config(tokens.jwks(), True), "signature_verifier": "ring"}
    envoy = start_envoy("probe-ring", jwt_gate_filter(config, wasm), pin)
    try:
        envoy.wait_ready(60)
        return True, "; ".join(jwt_gate_log(envoy))
    except EnvoyFailed:
        rejected = [line for line in jwt_gate_log(envoy) if "rejected" in line]
        return False, rejected[0] if rejected else envoy.log_tail(3)
    finally:
        envoy.stop()


def run_seconds(variants: int, scenarios: int, runs: int, duration: int, warmup: int) -> float:
    """About how long a run takes on an idle 2-core machine: every wrk run plus ~0.4 s of idle
    wait and stats, the warm-ups, and ~40 s for the tokens, the memory loads and the Envoys'
    start (measured: 5 variants x 5 scenarios x 3 x 8 s took 696 s). Repeated disturbed runs
    come on top."""
    cells = variants * scenarios
    return cells * runs * (duration + 0.4) + cells * warmup + variants * max(2, warmup) + 40


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def summarize(variants, scenarios, runs: dict) -> dict:
    cells: dict = {}
    for variant in variants:
        for scenario in scenarios:
            measured = runs.get((variant.name, scenario.name), [])
            if not measured:
                continue
            rps = [r["rps"] for r in measured]
            cell = {
                "rps": median(rps),
                "rps_min": min(rps),
                "rps_max": max(rps),
                "p50_ms": median([r["latency_us"]["p50"] / 1000 for r in measured]),
                "p99_ms": median([r["latency_us"]["p99"] / 1000 for r in measured]),
                "envoy_cpu": median([r["envoy_cpu"] for r in measured]),
                "envoy_core_other": median([r.get("envoy_core_other", 0) for r in measured]),
                "envoy_core_steal": median([r.get("envoy_core_steal", 0) for r in measured]),
                "wrk_cpu": median([r["wrk_cpu"] for r in measured]),
                "requests": sum(r["requests"] for r in measured),
                "non2xx": sum(r["errors"]["status"] for r in measured),
                "cache_hits": (
                    None
                    if all(r["cache_hits"] is None for r in measured)
                    else sum(r["cache_hits"] or 0 for r in measured)
                ),
                "wrong": sorted({w for r in measured for w in r["wrong"]}),
                "warnings": sorted({w for r in measured for w in r["warnings"]}),
                "runs": measured,
            }
            cells.setdefault(variant.name, {})[scenario.name] = cell
    return cells


def ratios(cells: dict, gate_variants: list[str], scenarios) -> dict:
    def value(variant: str, scenario: str) -> float | None:
        cell = cells.get(variant, {}).get(scenario)
        if not cell or cell["wrong"] or not cell["rps"]:
            return None
        return cell["rps"]

    result: dict = {}
    for gate in gate_variants:
        for scenario in scenarios:
            mine = value(gate, scenario.name)
            entry = {}
            for baseline in ("authn_cache", "authn_nocache", "none"):
                other = value(baseline, scenario.name)
                entry[f"vs_{baseline}"] = round(mine / other, 3) if mine and other else None
            result.setdefault(gate, {})[scenario.name] = entry
    return result


# Issue 15: jwt-gate's requests/s over jwt_authn's in the same run, per scenario and build.
TARGETS = {
    "gate_native": {"same": 1.05, "rs256": 1.05, "es256": 1.0, "none": 1.10},
    "gate": {"same": 0.92, "rs256": 0.97, "es256": 0.97, "none": 0.92},
}
AUTHN_VARIANTS = ("authn_cache", "authn_nocache")


def faster_authn(cells: dict, scenario: str) -> str | None:
    """The jwt_authn variant that served more requests/s in `scenario` (cache on for the same
    token), the one the targets compare with; None when neither has a right result."""
    measured = [
        (cells[name][scenario]["rps"], name)
        for name in AUTHN_VARIANTS
        if scenario in cells.get(name, {}) and not cells[name][scenario]["wrong"]
    ]
    return max(measured)[1] if measured else None


def cpu_us_above_none(cells: dict, variant: str, scenario: str) -> float | None:
    """Envoy CPU µs per request of `variant` minus the no-filter Envoy's in the same scenario."""
    mine, base = cells.get(variant, {}).get(scenario), cells.get("none", {}).get(scenario)
    if not (mine and base and mine["rps"] and base["rps"]) or mine["wrong"]:
        return None
    return round((mine["envoy_cpu"] / mine["rps"] - base["envoy_cpu"] / base["rps"]) * 1e6, 2)


def targets(cells: dict, ratio_table: dict) -> list[dict]:
    """One entry per (build, scenario) of TARGETS measured in this run: the ratio to the faster
    jwt_authn variant, the minimum, met or not (never met by a wrong cell)."""
    result = []
    for variant, minimums in TARGETS.items():
        for scenario, minimum in minimums.items():
            cell = cells.get(variant, {}).get(scenario)
            if cell is None:
                continue
            authn = faster_authn(cells, scenario)
            if authn is None:
                continue  # no jwt_authn in this run: nothing to compare with
            ratio = ratio_table.get(variant, {}).get(scenario, {}).get(f"vs_{authn}")
            result.append(
                {
                    "variant": variant,
                    "scenario": scenario,
                    "versus": authn,
                    "ratio": ratio,
                    "minimum": minimum,
                    "met": ratio is not None and ratio >= minimum and not cell["wrong"],
                }
            )
    return result


def summary(cells: dict, ratio_table: dict, variants: list, scenarios: list) -> dict:
    """The main table, per scenario: requests/s and CPU µs per request above no filter of each
    variant, and each jwt-gate build's ratio to the faster jwt_authn variant."""
    table = {}
    for scenario in scenarios:
        authn = faster_authn(cells, scenario.name)
        row: dict = {"authn": authn, "rps": {}, "cpu_us_above_none": {}, "vs_authn": {}}
        for variant in variants:
            cell = cells.get(variant.name, {}).get(scenario.name)
            if cell is None:
                continue
            row["rps"][variant.name] = round(cell["rps"], 1)
            if variant.name != "none":
                row["cpu_us_above_none"][variant.name] = cpu_us_above_none(
                    cells, variant.name, scenario.name
                )
            if variant.kind == "gate":
                entry = ratio_table.get(variant.name, {}).get(scenario.name, {})
                row["vs_authn"][variant.name] = entry.get(f"vs_{authn}") if authn else None
        table[scenario.name] = row
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs",
        type=int,
        help="runs per (variant, scenario); the median is reported (default 3, --quick 1)",
    )
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 8, --quick 2)")
    parser.add_argument(
        "--warmup",
        type=int,
        help="seconds of unrecorded load before each cell's first run (default 1)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 1 run x 2 s, 2,000-token memory load"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated variant and/or scenario names (globs), e.g. gate*,authn_cache,same",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="extra attempts for a run disturbed by other load on Envoy's core (default 2)",
    )
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (default 16)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="wrk -t (default 1; with more, the threads share pool positions, so distinct tokens "
        "may repeat)",
    )
    parser.add_argument("--tokens", type=int, help="tokens per pool (default 20000, --quick 5000)")
    parser.add_argument(
        "--memory-tokens",
        type=int,
        help="distinct tokens sent before the second memory reading (default 10000, --quick 2000; "
        "0 skips)",
    )
    parser.add_argument(
        "--wasm",
        type=Path,
        default=WASM,
        help="the jwt-gate .wasm (default: $JWT_GATE_WASM or the release build)",
    )
    parser.add_argument(
        "--so",
        type=Path,
        default=SO,
        help="the jwt-gate native module (default: $JWT_GATE_SO or the release build)",
    )
    parser.add_argument(
        "--ring",
        action="store_true",
        help='also the .wasm with "signature_verifier": "ring" (gate_ring; about 2.5 min more)',
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin Envoy and wrk to separate cores"
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="write bench/results.json and docs/ even for --quick/--only runs",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="re-render the docs from bench/results.json, run nothing",
    )
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.duration = args.duration or (2 if args.quick else 8)
    args.warmup = args.warmup if args.warmup is not None else 1
    args.tokens = args.tokens or (5000 if args.quick else 20000)
    if args.memory_tokens is None:
        args.memory_tokens = 2000 if args.quick else 10000
    args.only = [item.strip() for item in args.only.split(",") if item.strip()]
    if args.runs < 1 or args.duration < 1 or args.tokens < 100:
        parser.error("--runs and --duration must be ≥ 1, --tokens ≥ 100")
    return args


def output_paths(args) -> tuple[Path, Path, Path]:
    if (args.quick or args.only) and not args.publish:
        return TMP / "results.json", TMP / "benchmarks.md", TMP / "benchmarks.png"
    return RESULTS, DOC, CHART


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results_path, doc_path, chart_path = output_paths(args)
    if args.render_only:
        results = json.loads(results_path.read_text())
        report.write(results, doc_path, chart_path)
        log(report.text_table(results))
        log(f"rendered {rel(doc_path)} and {rel(chart_path)} from {rel(results_path)}")
        return 0

    for tool in ("wrk",):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install -y {tool}")
    if not ENVOY_BIN.exists():
        sys.exit(f"{ENVOY_BIN} not found: run `make deps`")
    wasm, so = args.wasm.resolve(), args.so.resolve()
    for path in (wasm, so):
        if not path.is_file():
            sys.exit(f"{path} not found: run `make build`")

    machine = machine_info()  # before this process pins itself (nproc honours the affinity)
    pin = (
        not args.no_pin
        and len(os.sched_getaffinity(0)) >= 2
        and {ENVOY_CPU, WRK_CPU} <= os.sched_getaffinity(0)
    )
    if pin:
        os.sched_setaffinity(0, {WRK_CPU})  # this script waits on wrk: keep it off Envoy's core
    remove_stale_run_dirs(ENVOY_RUNS)

    started = time.monotonic()
    all_variants = ["none", "authn_cache", "authn_nocache", "gate_native", "gate", "gate_ring"]
    matches = lambda name, patterns: any(fnmatch.fnmatch(name, p) for p in patterns)  # noqa: E731
    unknown = [
        p
        for p in args.only
        if not any(fnmatch.fnmatch(n, p) for n in [*all_variants, *(s.name for s in SCENARIOS)])
    ]
    if unknown:
        sys.exit(f"--only: no variant or scenario matches {unknown}")
    variant_patterns = [p for p in args.only if any(fnmatch.fnmatch(n, p) for n in all_variants)]
    scenario_patterns = [p for p in args.only if any(fnmatch.fnmatch(s.name, p) for s in SCENARIOS)]
    scenarios = [
        s for s in SCENARIOS if not scenario_patterns or matches(s.name, scenario_patterns)
    ]

    tokens = Tokens(args.tokens)
    # gate_ring only when asked for: --ring, or --only naming it apart from gate.
    if args.ring or any(
        fnmatch.fnmatch("gate_ring", p) and not fnmatch.fnmatch("gate", p) for p in variant_patterns
    ):
        ring, ring_note = supports_ring(wasm, tokens, pin)
        log(f"signature_verifier option: {'supported' if ring else 'not available'} ({ring_note})")
    else:
        ring, ring_note = False, "not selected (--ring adds it)"
    variants = [
        v
        for v in make_variants(tokens, wasm, so, ring)
        if not variant_patterns or matches(v.name, variant_patterns)
    ]
    if not variants or not scenarios:
        sys.exit("nothing to run")

    build = build_info(wasm, so)
    log(
        f"jwt-gate: {build['so']} {build['so_bytes']:,} bytes, {build['wasm']} "
        f"{build['wasm_bytes']:,} bytes, commit {build['git_commit']}"
        f"{' + uncommitted changes' if build['git_dirty'] else ''}"
    )
    machine["pinned"] = pin
    log(
        f"machine: {machine['nproc']} CPUs ({machine['cpu_model']}), Envoy {machine['envoy']}, "
        f"{'Envoy pinned to core 0, wrk to core 1' if pin else 'no pinning'}"
    )

    estimate = run_seconds(len(variants), len(scenarios), args.runs, args.duration, args.warmup)
    full = run_seconds(len(variants), len(scenarios), 3, 8, 1)
    log(
        f"{len(variants)} variants x {len(scenarios)} scenarios x {args.runs} run(s) of "
        f"{args.duration} s: about {estimate / 60:.0f} min (with the defaults: {full / 60:.0f} min)"
    )

    memory = {}
    if args.memory_tokens and any(v.auth for v in variants):
        memory = measure_memory(
            variants, tokens, min(args.memory_tokens, args.tokens), wasm, so, pin
        )

    runs: dict = {}
    checks: dict = {}
    with contextlib.ExitStack() as stack:
        for variant in variants:
            variant.envoy = start_envoy(variant.name, variant.http_filter, pin, variant.modules)
            stack.callback(variant.envoy.stop)
        for variant in variants:
            variant.envoy.wait_ready(60)
            variant.port = variant.envoy.port("bench")
            variant.log_lines = jwt_gate_log(variant.envoy)
            if pin:
                cpus = thread_affinities(variant.envoy.process.pid)
                if cpus != {str(ENVOY_CPU)}:
                    raise RuntimeError(
                        f"{variant.name}: threads allowed on {cpus}, not {ENVOY_CPU}"
                    )
            checks[variant.name] = prechecks(variant, tokens)
            failed = [c for c in checks[variant.name] if not c["ok"]]
            log(
                f"{variant.name}: ready on 127.0.0.1:{variant.port}"
                + (f"; {len(failed)} CHECKS FAILED: {failed}" if failed else "; checks passed")
                + (f"; {'; '.join(variant.log_lines)}" if variant.log_lines else "")
            )

        # Where each Envoy is in each pool: a pool token comes back only after the whole pool.
        cursors = {(v.name, pool): 0 for v in variants for pool in Tokens.POOLS}
        envoys = [v.envoy for v in variants]
        if args.warmup:
            # Every code path once under load (the mix has them all), then let V8 settle.
            warm = next(s for s in SCENARIOS if s.name == "mix")
            for variant in variants:
                key = (variant.name, warm.pool)
                _, _, cursors[key] = run_wrk(
                    variant, warm, tokens, cursors[key], max(2, args.warmup), args, pin
                )
            log(
                f"warm-up: every variant under the mix for {max(2, args.warmup)} s; quiet after "
                f"{wait_quiet(envoys):.1f} s"
            )
        total = args.runs * len(variants) * len(scenarios)
        done = 0
        for run in range(args.runs):
            for scenario in scenarios:
                offset = run % len(variants)
                for variant in variants[offset:] + variants[:offset]:
                    key = (variant.name, scenario.name)
                    pool = (variant.name, scenario.pool or "rs256")
                    if run == 0 and args.warmup:
                        _, _, cursors[pool] = run_wrk(
                            variant, scenario, tokens, cursors[pool], args.warmup, args, pin
                        )
                    attempts = []
                    for attempt in range(args.retries + 1):
                        quiet = wait_quiet(envoys)
                        if quiet > 5:
                            log(f"  (waited {quiet:.1f} s for the Envoys to go idle)")
                        result, delta, cursors[pool] = run_wrk(
                            variant, scenario, tokens, cursors[pool], args.duration, args, pin
                        )
                        wrong, warnings = check_run(
                            variant, scenario, result, delta, args.connections
                        )
                        failed = [c["check"] for c in checks[variant.name] if not c["ok"]]
                        if failed:
                            wrong.append(f"failed the pre-load checks: {failed}")
                        result.update(
                            run=run + 1,
                            wrong=wrong,
                            warnings=warnings,
                            disturbed=disturbance(result),
                            cache_hits=cache_hits(variant, delta),
                            envoy_2xx=delta.get(f"http.{STAT_PREFIX}.downstream_rq_2xx", 0),
                            envoy_4xx=delta.get(f"http.{STAT_PREFIX}.downstream_rq_4xx", 0),
                            envoy_5xx=delta.get(f"http.{STAT_PREFIX}.downstream_rq_5xx", 0),
                        )
                        attempts.append(result)
                        flag = (
                            "WRONG: " + "; ".join(wrong)
                            if wrong
                            else ("warning: " + "; ".join(warnings) if warnings else "ok")
                        )
                        if result["disturbed"]:
                            flag += f"; disturbed ({result['disturbed']})" + (
                                ", again" if attempt < args.retries else ""
                            )
                        log(
                            f"[{done + 1}/{total}] run {run + 1} {scenario.name:6} "
                            f"{variant.name:13} {result['rps']:>9,.0f} req/s  p50 "
                            f"{result['latency_us']['p50'] / 1000:6.2f} ms  p99 "
                            f"{result['latency_us']['p99'] / 1000:6.2f} ms  cpu envoy "
                            f"{result['envoy_cpu']:.0%} wrk {result['wrk_cpu']:.0%} other "
                            f"{result.get('envoy_core_other', 0):.0%} steal "
                            f"{result.get('envoy_core_steal', 0):.0%}  {flag}"
                        )
                        if not result["disturbed"]:
                            break
                        time.sleep(3)
                    # The least disturbed attempt counts; the others are kept for the record.
                    best = min(
                        attempts,
                        key=lambda r: r.get("envoy_core_other", 0) + r.get("envoy_core_steal", 0),
                    )
                    best["discarded_attempts"] = [
                        {"rps": r["rps"], "disturbed": r["disturbed"]}
                        for r in attempts
                        if r is not best
                    ]
                    if best["disturbed"]:
                        best["warnings"].append(
                            f"run {run + 1} disturbed in all {len(attempts)} attempts: "
                            f"{best['disturbed']}"
                        )
                    runs.setdefault(key, []).append(best)
                    done += 1

    cells = summarize(variants, scenarios, runs)
    gate_names = [v.name for v in variants if v.kind == "gate"]
    ratio_table = ratios(cells, gate_names, scenarios)
    results = {
        "schema": 1,
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "elapsed_seconds": round(time.monotonic() - started),
        "full_run_estimate_seconds": round(full),
        "settings": {
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "retries": args.retries,
            "other_load_limit": OTHER_LOAD_LIMIT,
            "steal_limit": STEAL_LIMIT,
            "wrk_threads": args.threads,
            "connections": args.connections,
            "tokens_per_pool": args.tokens,
            "memory_tokens": min(args.memory_tokens, args.tokens),
            "quick": args.quick,
            "only": args.only,
            "pinned": pin,
            "envoy_cpu": ENVOY_CPU if pin else None,
            "wrk_cpu": WRK_CPU if pin else None,
        },
        "machine": machine,
        "build": {
            **build,
            "signature_verifier_option": ring,
            "signature_verifier_probe": ring_note,
        },
        "commands": {
            "envoy": " ".join(
                [
                    *(["taskset", "-c", str(ENVOY_CPU)] if pin else []),
                    rel(ENVOY_BIN),
                    "-c",
                    "bench/.tmp/envoy/bench-<variant>-<pid>-<n>/envoy.json",
                    "--concurrency",
                    "1",
                    "--use-dynamic-base-id",
                    "--admin-address-path",
                    "<file>",
                    "--log-level",
                    "info",
                ]
            ),
            "wrk": {
                s.name: " ".join(
                    wrk_command(0, s, tokens, 0, args.duration, args, pin, display=True)
                )
                for s in scenarios
            },
        },
        "configs": {v.name: report.elide_jwks(v.config) for v in variants if v.config is not None},
        "gate_filter": jwt_gate_filter("<the JSON above>", Path(rel(wasm)))["typed_config"],
        "native_filter": native_filter("<the JSON above>")["typed_config"],
        "native_search_path": rel(module_folder(so, "gate_native")),
        "variants": [
            {"name": v.name, "title": v.title, "kind": v.kind, "log": v.log_lines} for v in variants
        ],
        "scenarios": [
            {
                "name": s.name,
                "title": s.title,
                "pattern": s.pattern,
                "pool": s.pool,
                "description": s.description,
                "no_token_share": s.no_token_share,
            }
            for s in scenarios
        ],
        "prechecks": checks,
        "cells": cells,
        "ratios": ratio_table,
        "summary": summary(cells, ratio_table, variants, scenarios),
        "targets": targets(cells, ratio_table),
        "memory": memory,
    }
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=1) + "\n")
    report.write(results, doc_path, chart_path)
    log("")
    log(report.text_table(results))
    log(
        f"\nwrote {rel(results_path)}, {rel(doc_path)}, {rel(chart_path)} in "
        f"{results['elapsed_seconds']} s"
    )
    wrong = [(v, s) for v, row in cells.items() for s, c in row.items() if c["wrong"]]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
