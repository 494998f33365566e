#!/usr/bin/env python3
"""µs per request by DSO from the perf-<variant>-<scenario>.data files ab.py --perf writes."""
import subprocess, sys, re
from pathlib import Path
tmp = Path(__file__).resolve().parent.parent / ".tmp"
for data in sorted(tmp.glob("perf-*.data")):
    requests = int((data.with_suffix(".requests")).read_text())
    out = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "-g", "none", "--stdio", "-F", "sample,dso"],
                         capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s+(\d+)\s+(.*\S)", line)
        if m:
            rows.append((int(m.group(1)), re.sub(r"tid \d+", "", m.group(2))))
    total = sum(n for n, _ in rows)
    per = lambda n: n * 250 / requests  # 4000 Hz cpu-clock: 250 µs per sample
    print(f"{data.stem:30} {per(total):6.1f} µs/req: " + ", ".join(f"{d} {per(n):.1f}" for n, d in rows if per(n) >= 0.3))
