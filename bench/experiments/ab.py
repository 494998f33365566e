#!/usr/bin/env python3
"""A/B of jwt-gate builds (and jwt_authn, no filter) by Envoy CPU time per request.

    .venv/bin/python -m bench.experiments.ab --wasm a=path/a.wasm --wasm b=path/b.wasm \
        --scenarios none,same --rounds 3 --duration 3
    .venv/bin/python -m bench.experiments.ab --so native=target/release/libjwt_gate.so \
        --wasm wasm=target/wasm32-wasip1/release/jwt_gate.wasm --scenarios same,rs256,none

Every variant is its own Envoy (pinned to core 0, wrk on core 1, as bench/run.py does); in each
round every (scenario, variant) gets one wrk run, order rotated. `--wasm` variants load a .wasm,
`--so` variants a native module (each from a folder of its own, as libjwt_gate.so). Prints req/s
and Envoy CPU µs per request (Envoy process CPU time / requests), the medians over the rounds. CPU
per request is far less sensitive to the load generator than req/s; compare variants within one
invocation only.
`--perf NAME` also records `perf record -g` of that variant for the last round's runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench import run
from jwt_gate_testkit.bootstrap import jwt_gate_filter


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wasm", action="append", default=[], help="name=path of a .wasm")
    parser.add_argument(
        "--so", action="append", default=[], help="name=path of a native libjwt_gate.so"
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="name=extra JSON merged into the plugin config",
    )
    parser.add_argument("--scenarios", default="none,same")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--baselines", default="none,authn_cache")
    parser.add_argument("--perf", default="")
    args = parser.parse_args()
    wrk_args = argparse.Namespace(threads=1, connections=16)
    os.sched_setaffinity(0, {run.WRK_CPU})
    tokens = run.Tokens(5000)
    base = {v.name: v for v in run.make_variants(tokens, None, None, False)}
    variants = [base[name] for name in args.baselines.split(",") if name]
    extras = dict(c.split("=", 1) for c in args.config)
    for spec in args.wasm:
        name, path = spec.split("=", 1)
        config = {**base["authn_cache"].config, **json.loads(extras.get(name, "{}"))}
        variants.append(
            run.Variant(name, name, "gate", jwt_gate_filter(config, Path(path).resolve()), config)
        )
    for spec in args.so:
        name, path = spec.split("=", 1)
        config = {**base["authn_cache"].config, **json.loads(extras.get(name, "{}"))}
        variants.append(run.native_variant(name, name, config, Path(path)))
    if len({v.name for v in variants}) != len(variants):
        parser.error("variant names must differ")
    scenarios = [s for s in run.SCENARIOS if s.name in args.scenarios.split(",")]
    results: dict = {}
    with contextlib.ExitStack() as stack:
        for v in variants:
            v.envoy = run.start_envoy(v.name, v.http_filter, True, v.modules)
            stack.callback(v.envoy.stop)
        for v in variants:
            v.envoy.wait_ready(60)
            v.port = v.envoy.port("bench")
        cursors = {(v.name, p): 0 for v in variants for p in run.Tokens.POOLS}
        warm = next(s for s in run.SCENARIOS if s.name == "mix")
        for v in variants:
            _, _, cursors[(v.name, "mix")] = run.run_wrk(
                v, warm, tokens, cursors[(v.name, "mix")], 2, wrk_args, True
            )
        envoys = [v.envoy for v in variants]
        run.wait_quiet(envoys)
        for r in range(args.rounds):
            for s in scenarios:
                off = r % len(variants)
                for v in variants[off:] + variants[:off]:
                    pool = (v.name, s.pool or "rs256")
                    run.wait_quiet(envoys)
                    perf = None
                    if v.name in args.perf.split(",") and r == args.rounds - 1:
                        perf = subprocess.Popen(
                            [
                                "perf",
                                "record",
                                "-g",
                                "-o",
                                str(run.TMP / f"perf-{v.name}-{s.name}.data"),
                                "-p",
                                str(v.envoy.process.pid),
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    result, _, cursors[pool] = run.run_wrk(
                        v, s, tokens, cursors[pool], args.duration, wrk_args, True
                    )
                    if perf:
                        perf.send_signal(2)
                        perf.wait()
                        (run.TMP / f"perf-{v.name}-{s.name}.requests").write_text(
                            str(result["requests"])
                        )
                    us = result["envoy_cpu"] / result["rps"] * 1e6 if result["rps"] else 0
                    other = result.get("envoy_core_other", 0)
                    results.setdefault((s.name, v.name), []).append((result["rps"], us, other))
                    print(
                        f"round {r + 1} {s.name:6} {v.name:14} {result['rps']:>8,.0f} req/s"
                        f" {us:6.1f} µs/req other {other:.0%}",
                        flush=True,
                    )
    print()
    for s in scenarios:
        for v in variants:
            rows = results[(s.name, v.name)]
            rps = statistics.median(r[0] for r in rows)
            cpu = [r[1] for r in rows]
            print(
                f"{s.name:6} {v.name:14} {rps:>8,.0f} req/s {statistics.median(cpu):6.1f} µs/req"
                f" min {min(cpu):6.1f}  (cpu µs: {', '.join(f'{us:.1f}' for us in cpu)})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
