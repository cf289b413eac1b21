#!/usr/bin/python3
"""sim_bench: how quilt-sim scales, per transport and mesh size.

Runs a random mesh (degree 4) of each size on each transport where it fits,
waits for full routes, pings across the mesh and broadcasts once, and prints
one table row per run: time to converge (simulated: virtual in deterministic
mode), wall time, peak RSS per node, and messages sent per node (every
command). The last line is machine-readable (SIM_BENCH_JSON).

    bench/sim_bench.py [--quilt-sim PATH] [--sizes 100,1000,3000,10000]
                       [--transports inproc,tcp,direct,deterministic]
                       [--timeout-s 600] [--max-rss-gib 16]

A run that exceeds --max-rss-gib (address-space limit) or --timeout-s is
reported as such rather than taking the machine down.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# The largest size each transport is run at. ZeroMQ needs file descriptors
# and ports per node, so tcp and inproc stop at 1,000. Real-time direct links
# stop at 3,000: at 10,000 every first flood is on its way at once (on
# virtual time each wave finishes before the next starts) and the process
# outgrows the machine's memory; see README, "How far it scales".
LIMITS = {"inproc": 1000, "tcp": 1000, "direct": 3000, "deterministic": 10000}


def find_sim(explicit):
    if explicit:
        return explicit
    if os.environ.get("QUILT_SIM"):
        return os.environ["QUILT_SIM"]
    for d in ("build", "build-lead"):
        p = os.path.join(REPO, d, "apps", "quilt-sim", "quilt-sim")
        if os.path.exists(p):
            return p
    sys.exit("sim_bench: no quilt-sim binary (build it, or pass --quilt-sim)")


def scenario(n, transport, base_port):
    det = transport == "deterministic"
    return f"""
[simulation]
seed = {n}
transport = "{'direct' if det else transport}"
deterministic = {'true' if det else 'false'}
settle_ms = 500
base_port = {base_port}

[defaults]
heartbeat_ms = 1000
dead_after_ms = 5000

[topology]
kind = "random"
nodes = {n}
degree = 4

[[events]]
at_ms = 0
action = "ping"
from = "n0"
to = "n{n - 1}"
expect = "delivered"

[[events]]
at_ms = 100
action = "broadcast"
from = "n{n // 2}"
text = "bench"
expect = "all"
"""


def run(sim, n, transport, timeout_s, max_rss_gib, tmp):
    path = os.path.join(tmp, f"bench-{transport}-{n}.toml")
    report = os.path.join(tmp, f"bench-{transport}-{n}.json")
    # Below Linux's ephemeral range (32768 up), where earlier connections'
    # TIME-WAIT states could hold a port.
    base = random.randint(20000, 32767 - n) if transport == "tcp" else 30000
    with open(path, "w") as f:
        f.write(scenario(n, transport, base))

    def limit():
        cap = int(max_rss_gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    start = time.monotonic()
    try:
        p = subprocess.run([sim, path, "--report", report],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, timeout=timeout_s, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        return {"nodes": n, "transport": transport,
                "outcome": f"no report within {timeout_s} s"}
    wall = time.monotonic() - start
    row = {"nodes": n, "transport": transport, "exit": p.returncode}
    if not os.path.exists(report):
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        row["outcome"] = f"exit {p.returncode} without report ({last[:60]})"
        return row
    with open(report) as f:
        r = json.load(f)
    sent = sum(r["messages"].values())
    row.update({
        "outcome": "ok" if p.returncode == 0 else "expectation failed",
        "converged_ms": r["converged_ms"],
        "wall_ms": r["wall_ms"],
        "process_wall_s": round(wall, 2),
        "peak_rss_bytes": r["peak_rss_bytes"],
        "rss_per_node_kib": round(r["peak_rss_bytes"] / n / 1024, 1),
        "messages_per_node": round(sent / n, 1),
        "link_state_per_node": round(r["messages"]["link_state"] / n, 1),
        "duplicate_deliveries": r["duplicate_deliveries"],
    })
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quilt-sim")
    ap.add_argument("--sizes", default="100,1000,3000,10000")
    ap.add_argument("--transports", default="inproc,tcp,direct,deterministic")
    ap.add_argument("--timeout-s", type=float, default=600)
    ap.add_argument("--max-rss-gib", type=float, default=16)
    args = ap.parse_args()
    sim = find_sim(args.quilt_sim)
    rows = []
    print(f"sim_bench: random meshes of degree 4, {os.cpu_count()} cores")
    print(f"{'nodes':>6} {'transport':<13} {'converged_ms':>12} {'wall_ms':>8}"
          f" {'KiB/node':>9} {'msgs/node':>9}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            for t in args.transports.split(","):
                if n > LIMITS[t]:
                    continue
                row = run(sim, n, t, args.timeout_s, args.max_rss_gib, tmp)
                rows.append(row)
                conv = row.get("converged_ms")
                print(f"{n:>6} {t:<13} {conv if conv is not None else '-':>12}"
                      f" {row.get('wall_ms', '-'):>8}"
                      f" {row.get('rss_per_node_kib', '-'):>9}"
                      f" {row.get('messages_per_node', '-'):>9}  {row['outcome']}",
                      flush=True)
    print("SIM_BENCH_JSON " + json.dumps(rows))
    return 0 if all(r["outcome"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
