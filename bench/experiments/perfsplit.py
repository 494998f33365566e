#!/usr/bin/env python3
"""µs per request by DSO from the perf-<variant>-<scenario>.data files ab.py --perf writes."""

import re
import subprocess
from pathlib import Path

REPORT_OPTIONS = ["--no-children", "--sort", "dso", "-g", "none", "--stdio", "-F", "sample,dso"]
US_PER_SAMPLE = 250  # perf's cpu-clock at 4000 Hz


def main() -> None:
    tmp = Path(__file__).resolve().parent.parent / ".tmp"
    for data in sorted(tmp.glob("perf-*.data")):
        requests = int((data.with_suffix(".requests")).read_text())
        command = ["perf", "report", "-i", str(data), *REPORT_OPTIONS]
        out = subprocess.run(command, capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            m = re.match(r"\s+(\d+)\s+(.*\S)", line)
            if m:
                rows.append((int(m.group(1)), re.sub(r"tid \d+", "", m.group(2))))
        per_request = [(dso, n * US_PER_SAMPLE / requests) for n, dso in rows]
        total = sum(us for _, us in per_request)
        parts = ", ".join(f"{dso} {us:.1f}" for dso, us in per_request if us >= 0.3)
        print(f"{data.stem:30} {total:6.1f} µs/req: {parts}")


if __name__ == "__main__":
    main()
