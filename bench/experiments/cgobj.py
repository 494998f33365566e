#!/usr/bin/env python3
"""Self cost (Ir) per object file in a callgrind output file, ÷ requests."""

import re
import sys
from collections import defaultdict

path, requests = sys.argv[1], float(sys.argv[2])
names = {}
cost = defaultdict(int)
ob = "?"
skip = False
for line in open(path, errors="replace"):
    if line.startswith("ob="):
        m = re.match(r"ob=\((\d+)\)(?: (.*))?", line.strip())
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2)
            ob = names.get(m.group(1), m.group(1))
        else:
            ob = line[3:].strip()
        continue
    if line.startswith("calls="):
        skip = True
        continue
    if line[:1].isdigit() or line[:1] in "+-*":
        if skip:
            skip = False
            continue
        parts = line.split()
        if len(parts) >= 2:
            cost[ob] += int(parts[1])
for ob, c in sorted(cost.items(), key=lambda x: -x[1])[:8]:
    print(f"{c / requests:12,.0f}  {ob}")
