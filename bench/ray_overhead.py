"""The same load level with local shard processes and with Ray actors on a local Ray, side
by side: per-chunk arrival fidelity (arrival − send, each chunk carrying its send time via the
sim's ``+stamp``) and, for ``--rows`` chunk rows, the gather: wall time of the sweep, the
driver's peak memory above its baseline, and that peak over the size of the final frames
(target ≤ 2). Each mode runs in a fresh interpreter so peak RSS is its own; the sim is pinned
to one CPU and everything else (the shards, or Ray's daemons and actors, started after the
pinning) to the others, so Ray's extra processes cannot slow the sim's writes.

    pip install 'kral-nb[ray]'
    python bench/ray_overhead.py [--rows 1000000] [--streams 16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
from cpus import pin_apart
from load import errors_ms

import kral_nb
from kral_nb import sim


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def one(mode: str, rows: int, streams: int) -> dict[str, Any]:
    cluster = kral_nb.RayCluster(init={"num_cpus": 2}) if mode == "ray" else None
    with sim.serve(process=True) as root:
        pin_apart()  # the sim alone on one CPU; the shards (or Ray: its daemons and actors) on the other
        url = root + "/v1"
        kral_nb.load("x", ["sim:fast"], concurrency=[2], requests=2, shards=2, base_url=url, progress=False,
                     cluster=cluster)  # start the shards / Ray once, outside the measurements
        lr = kral_nb.load("x", ["sim:steady+n=100+stamp"], concurrency=[streams], requests=2 * streams, shards=2,
                          base_url=url, progress=False, cluster=cluster)
        e = errors_ms([r for r in lr.run_list if r.status == "ok"])
        per = 5000
        n_req = max(1, rows // per)
        base, t0 = rss_mb(), time.perf_counter()
        big = kral_nb.load("x", [f"sim:instant+n={per}"], concurrency=[8], requests=n_req, shards=2,
                           base_url=url, progress=False, cluster=cluster)
        chunks, runs = big.chunks, big.runs
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        frames = (chunks.memory_usage(deep=True).sum() + runs.memory_usage(deep=True).sum()) / 2**20
        return {"mode": mode, "p50": float(np.percentile(e, 50)), "p99": float(np.percentile(e, 99)),
                "rows": len(chunks), "wall_s": wall, "peak_mb": peak - base, "frames_mb": frames}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--one", choices=["local", "ray"])
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.rows, args.streams)))
        return
    out = {}
    for mode in ("local", "ray"):
        done = subprocess.run([sys.executable, __file__, "--one", mode, "--rows", str(args.rows),
                               "--streams", str(args.streams)], capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
        out[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{args.streams} concurrent 10 ms-chunk streams, 2 shards; then {args.rows:,} chunk rows gathered")
    print("  mode    arrival-send p50   p99 (ms)   rows       sweep s   driver peak MB  frames MB  peak/frames")
    for m, r in out.items():
        print(f"  {m:6s} {r['p50']:12.3f} {r['p99']:10.3f} {r['rows']:10,d} {r['wall_s']:9.1f} {r['peak_mb']:13.0f} "
              f"{r['frames_mb']:10.0f} {r['peak_mb'] / r['frames_mb']:9.2f}")
    lo, ry = out["local"], out["ray"]
    print(f"  ray / local: p50 {ry['p50'] / lo['p50']:.2f}x  p99 {ry['p99'] / lo['p99']:.2f}x  "
          f"sweep time {ry['wall_s'] / lo['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
