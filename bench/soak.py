#!/usr/bin/env python3
"""Soak: jwt-gate in a real Envoy under wrk for a fixed time, every answer checked.

    .venv/bin/python bench/soak.py                  # 10 minutes (make soak)
    .venv/bin/python bench/soak.py --seconds 120

One Envoy (--concurrency 2) runs jwt-gate with three providers: local RSA keys, local P-256 keys,
and remote keys from a local identity provider that expire every 30 s, so that refreshes happen
all along. wrk (bench/soak.lua, 2 threads, 16 connections) sends, for each provider, valid tokens
(70 %, from a pool larger than the verified-token cache, so that entries keep being evicted and
re-verified), expired (10 %), forged (10 %) and missing ones (10 %), and checks every answer
against its kind: status and body. A warm-up run comes first; Envoy's RSS is read after it and
at the end (and every 10 s in between).

It fails (exit status 1) on any wrong answer, any wrk socket error or timeout, jwt-gate counters
that disagree with the answers wrk saw, a wasm VM failure, Envoy exiting, or RSS growth beyond
--max-rss-growth-mib from the end of the warm-up to the end. A report goes to stdout and to
bench/.tmp/soak/result.json. Everything listens on 127.0.0.1; wrk runs for a fixed time under a
subprocess timeout."""

from __future__ import annotations

import argparse
import datetime
import json
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from jwt_gate_testkit.artifacts import WASM
from jwt_gate_testkit.bootstrap import bootstrap, jwt_gate_filter
from jwt_gate_testkit.envoy import (
    Envoy,
    Listener,
    connections_per_worker,
    vm_failures,
    wasm_health,
)
from jwt_gate_testkit.servers import IdentityProvider
from jwt_gate_testkit.tokens import AUDIENCE, Keys

BENCH = Path(__file__).resolve().parent
TMP = BENCH / ".tmp" / "soak"
LUA = BENCH / "soak.lua"
LISTENER = "soak"
WORKERS = 2
# kind -> (share of the requests, expected status, expected body or None)
KINDS = {
    "valid": (0.7, 200, None),
    "expired": (0.1, 401, "Jwt is expired"),
    "forged": (0.1, 401, "Jwt verification fails"),
    "missing": (0.1, 401, "Jwt is missing"),
}
# Requests that pass are answered by Envoy itself (no backend to measure), naming the path they
# were sent to, as jwt-gate's denials do in their realm: soak.lua tells every answer's kind.
ANSWER_FROM_ENVOY = {
    "virtual_hosts": [
        {
            "name": "soak",
            "domains": ["*"],
            "routes": [
                {
                    "match": {"prefix": "/"},
                    "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}},
                    "response_headers_to_add": [
                        {"header": {"key": "x-soak-path", "value": "%REQ(:PATH)%"}}
                    ],
                }
            ],
        }
    ]
}
# kind -> the jwt-gate counter its answers move
COUNTERS = {
    "valid": "jwt_gate.allowed",
    "expired": "jwt_gate.denied_by_reason.jwt_expired",
    "forged": "jwt_gate.denied_by_reason.jwt_verification_fails",
    "missing": "jwt_gate.denied_by_reason.jwt_missing",
}


def log(message: str) -> None:
    print(message, flush=True)


# --- The system under test -----------------------------------------------------------------------


@dataclass
class Provider:
    """One provider of the plugin configuration, and tokens of every kind for it."""

    name: str
    config: dict
    tokens: dict[str, list[str | None]] = field(default_factory=dict)


def providers(keys: Keys, idp: IdentityProvider, pool: int, exp: int) -> list[Provider]:
    """local_rs (RS256), local_es (ES256) and remote (RS256 keys from `idp`), each with its own
    issuer; `pool` valid tokens each (valid until `exp`), 16 expired and 16 forged ones."""
    past = int(time.time()) - 3600
    other_p256 = ec.generate_private_key(ec.SECP256R1())

    def local(name: str, issuer: str, alg: str, kid: str) -> Provider:
        config = {
            "issuer": issuer,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks(kid)},
        }
        provider = Provider(name, config)

        def mint(n: int, **claims) -> str:
            return keys.mint(alg, iss=issuer, sub=f"user-{n}", jti=f"{name}-{n}", **claims)

        def forge(n: int) -> str:
            claims = keys.claims(iss=issuer, exp=exp, jti=f"forged-{n}")
            if alg == "RS256":  # the kid of the provider's key, another key
                other = keys.private["rsa2"]
            else:
                other = other_p256
            return jwt.encode(claims, other, algorithm=alg, headers={"kid": kid})

        provider.tokens = {
            "valid": [mint(n, exp=exp) for n in range(pool)],
            "expired": [mint(n, exp=past) for n in range(16)],
            "forged": [forge(n) for n in range(16)],
            "missing": [None],
        }
        return provider

    remote_config = {
        "issuer": idp.issuer,
        "audiences": [AUDIENCE],
        "remote_jwks": {
            "http_uri": {"uri": idp.url("/jwks"), "cluster": "idp", "timeout": "2s"},
            "cache_duration": "30s",
        },
    }
    remote = Provider("remote", remote_config)
    remote.tokens = {
        "valid": [idp.mint(exp=exp, jti=f"remote-{n}") for n in range(pool)],
        "expired": [idp.mint(exp=past, jti=f"expired-{n}") for n in range(16)],
        "forged": [idp.mint(key=idp.stranger, exp=exp, jti=f"forged-{n}") for n in range(16)],
        "missing": [None],
    }
    return [
        local("local_rs", "https://rs.soak.test", "RS256", "rsa"),
        local("local_es", "https://es.soak.test", "ES256", "es256"),
        remote,
    ]


def plugin_config(all_providers: list[Provider]) -> dict:
    return {
        "providers": {p.name: p.config for p in all_providers},
        "rules": [
            {"match": {"prefix": f"/soak/{p.name}/"}, "requires": {"provider_name": p.name}}
            for p in all_providers
        ],
    }


def write_inputs(all_providers: list[Provider], pool: int) -> tuple[Path, Path]:
    """soak.lua's two files: the requests (in a fixed shuffled order, every valid token once per
    cycle) and the expectations."""
    TMP.mkdir(parents=True, exist_ok=True)
    lines = []
    for provider in all_providers:
        for kind, (share, _, _) in KINDS.items():
            count = round(pool * share / KINDS["valid"][0])
            tokens = provider.tokens[kind]
            for n in range(count):
                token = tokens[n % len(tokens)]
                lines.append(f"/soak/{provider.name}/{kind}/{n} {token or '-'}")
    random.Random(6).shuffle(lines)
    requests = TMP / "requests.txt"
    requests.write_text("\n".join(lines) + "\n")
    expectations = TMP / "expectations.txt"
    expectations.write_text(
        "".join(f"{kind} {status} {body or '-'}\n" for kind, (_, status, body) in KINDS.items())
    )
    return requests, expectations


# --- Measuring -----------------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    """The process's resident set size (VmRSS), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1)) / 1024


class RssSampler:
    """Envoy's RSS every `interval` seconds, from a daemon thread, until stop()."""

    def __init__(self, pid: int, interval: float = 10.0) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.monotonic()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(self.interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append((time.monotonic() - self._start, rss_mib(self.pid)))
            except OSError:
                return


def run_wrk(port: int, seconds: int, requests: Path, expectations: Path, args) -> dict:
    """One wrk run with soak.lua; its soak-result."""
    command = [
        "wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
        "--timeout", "5s", "-s", str(LUA), f"http://127.0.0.1:{port}/",
        "--", str(requests), str(expectations),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in completed.stdout.splitlines() if x.startswith("soak-result ")), None)
    if completed.returncode != 0 or line is None:
        output = f"{completed.stdout}\n{completed.stderr}"
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{output}")
    return json.loads(line.removeprefix("soak-result "))


def check(result: dict, counters: dict[str, int], connections: int) -> list[str]:
    """What is wrong with one wrk run: wrong answers, socket errors, and jwt-gate counters that
    disagree with the answers seen (each may exceed them by the requests cut off at the end)."""
    problems = []
    if result["wrong"]:
        problems.append(f"{result['wrong']} wrong answers, e.g. {result['wrong_samples']}")
    errors = {name: n for name, n in result["errors"].items() if n and name != "status"}
    if errors:
        problems.append(f"wrk socket errors {errors}")
    for kind, counter in COUNTERS.items():
        seen, counted = result["kinds"].get(kind, 0), counters.get(counter, 0)
        if not 0 <= counted - seen <= connections:
            problems.append(f"{counter} moved by {counted}, but wrk saw {seen} {kind} answers")
    return problems


def deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: value - before.get(name, 0) for name, value in after.items()}


# --- Main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="main run (default 600)")
    parser.add_argument("--warmup", type=int, default=15, help="warm-up run (default 15)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pool", type=int, default=3000, help="valid tokens per provider")
    parser.add_argument("--max-rss-growth-mib", type=float, default=32.0)
    args = parser.parse_args()
    if not WASM.is_file():
        log(f"{WASM} not found: make build (or set JWT_GATE_WASM)")
        return 2

    started = datetime.datetime.now(datetime.UTC)
    keys, idp = Keys(), IdentityProvider()
    envoy = None
    try:
        exp = int(time.time()) + args.warmup + args.seconds + 3600
        log(f"soak: minting {args.pool} valid tokens per provider ...")
        all_providers = providers(keys, idp, args.pool, exp)
        requests, expectations = write_inputs(all_providers, args.pool)
        filters = {LISTENER: jwt_gate_filter(plugin_config(all_providers))}
        managers = {LISTENER: {"route_config": ANSWER_FROM_ENVOY}}
        config = bootstrap(filters, None, {"idp": idp.port}, managers=managers)
        envoy = Envoy(config, "soak")
        envoy.wait_ready()
        port, pid = Listener(envoy, LISTENER).port, envoy.process.pid
        health = wasm_health(envoy)

        log(f"soak: warm-up, {args.warmup} s")
        before = envoy.gate_stats()
        warmup = run_wrk(port, args.warmup, requests, expectations, args)
        problems = check(warmup, deltas(before, envoy.gate_stats()), args.connections)
        rss_start = rss_mib(pid)
        spread_start = connections_per_worker(envoy, LISTENER, WORKERS)

        log(f"soak: main run, {args.seconds} s (RSS {rss_start:.1f} MiB)")
        before = envoy.gate_stats()
        with RssSampler(pid) as sampler:
            result = run_wrk(port, args.seconds, requests, expectations, args)
        after = envoy.gate_stats()
        rss_end = rss_mib(pid)
        counters = deltas(before, after)
        problems += check(result, counters, args.connections)
        spread = [
            now - then
            for now, then in zip(
                connections_per_worker(envoy, LISTENER, WORKERS), spread_start, strict=True
            )
        ]
        if envoy.process.poll() is not None:
            problems.append("Envoy exited")
        if vm_failures(envoy) or wasm_health(envoy) != health:
            problems.append(f"wasm VM failure: {wasm_health(envoy)} (was {health})")
        growth = rss_end - rss_start
        if growth > args.max_rss_growth_mib:
            problems.append(f"RSS grew by {growth:.1f} MiB (bound {args.max_rss_growth_mib} MiB)")

        duration = result["duration_us"] / 1e6
        report = {
            "date": started.isoformat(timespec="seconds"),
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "threads": args.threads,
            "connections": args.connections,
            "requests": result["requests"],
            "requests_per_second": round(result["requests"] / duration, 1),
            "answers_by_kind": result["kinds"],
            "wrong_answers": result["wrong"] + warmup["wrong"],
            "latency_ms": {k: v / 1000 for k, v in result["latency_us"].items()},
            "wrk_errors": result["errors"],
            "rss_mib": {"start": round(rss_start, 1), "end": round(rss_end, 1)},
            "rss_samples_mib": [[round(t), round(m, 1)] for t, m in sampler.samples],
            "connections_per_worker": spread,
            "key_fetches": counters.get("jwt_gate.jwks_fetch_success", 0),
            "key_fetch_failures": counters.get("jwt_gate.jwks_fetch_failed", 0),
            "problems": problems,
        }
        (TMP / "result.json").write_text(json.dumps(report, indent=1) + "\n")
        log(json.dumps(report, indent=1))
        latency = report["latency_ms"]
        log(
            f"soak: {report['requests']:,} requests in {duration:.0f} s "
            f"({report['requests_per_second']:,.0f}/s), {report['wrong_answers']} wrong, "
            f"p50 {latency['p50']:.2f} ms, p99 {latency['p99']:.2f} ms, "
            f"max {latency['max']:.1f} ms, "
            f"RSS {rss_start:.1f} -> {rss_end:.1f} MiB"
        )
        for problem in problems:
            log(f"soak: FAIL: {problem}")
        return 1 if problems else 0
    finally:
        if envoy is not None:
            envoy.stop()
        idp.stop()


if __name__ == "__main__":
    sys.exit(main())
