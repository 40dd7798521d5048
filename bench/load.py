"""How many concurrent streams one client core can time honestly: the largest number of
concurrent 10 ms-chunk streams at which arrival − send stays within 1 ms at p99, with 1 shard
and with the default shards, and the chunks per second ingested per client core at the top
level. Side by side in one run; the sim pinned to its own CPU (bench/cpus.py), the shards to
the others.

Each text chunk carries its own send time (the sim's ``+stamp``: ``perf_counter_ns`` just
before the write, CLOCK_MONOTONIC like the shards' arrival stamps), so no matching is needed,
and how late the sim sent it against its schedule. The two are printed apart: ``sim late``
is the server falling behind (chunks sent late, fewer chunks/s than offered), ``arrival −
send`` is the client's stamp error alone; a level where the sim is late says nothing about
the client's capacity beyond what it was fed.

The same levels are then fed by ``bench/feeder.py`` — a server with nothing around its socket
writes (~9 µs per chunk where the sim costs ~35): on a 2-core machine the sim, on its one core,
sends ~20,000 chunks/s, and 512 streams ask 51,200. A level counts only if its server fed it
on time (late p99 under one 10 ms chunk interval): past that, chunks pile up in the server and
say nothing about the client.

Usage: python bench/load.py [--levels 1,4,16,64,128,256] [--chunks 100] [--servers sim,feeder]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from cpus import pin_apart

import kral_nb
from kral_nb import sim
from kral_nb.loadgen.run import default_shards
from kral_nb.record.recorder import Run
from kral_nb.record.runrow import row as run_row


def errors_ms(runs: list[Run]) -> tuple[np.ndarray, np.ndarray]:
    """Per text chunk: arrival − send, and how late the sim sent it (ms)."""
    out, late = [], []
    for r in runs:
        for t, _, c in r.records:
            if c.kind == "text":
                sent, sim_late = c.text.split()
                out.append((t - int(sent)) / 1e6)
                late.append(int(sim_late) / 1e6)
    return np.array(out), np.array(late)


def sweep(root: str, levels: list[int], chunks: int, shards: int) -> list[dict[str, Any]]:
    lr = kral_nb.load("x", [f"sim:steady+n={chunks}+stamp"], concurrency=levels, requests=None,
                      duration_s=chunks * 0.01 + 0.3, base_url=root + "/v1", shards=shards, progress=False)
    level_of = dict(zip(lr.runs["run_id"], lr.runs["level"], strict=True))
    rows = []
    lv: Any  # a levels-frame row
    for lv in lr.levels.itertuples():
        runs = [r for r in lr.run_list if level_of[r.run_id] == lv.level and not r.warmup and r.status == "ok"]
        e, late = errors_ms(runs)
        if not len(e):
            statuses = lr.runs.loc[lr.runs["level"] == lv.level, "status"].value_counts().to_dict()
            raise SystemExit(f"level {lv.level:g}: no ok run ({statuses})")
        n_chunks = sum(run_row(r)["n_content_chunks"] for r in runs)
        rows.append({"level": int(lv.level), "streams": len(runs), "p50": np.percentile(e, 50),
                     "p99": np.percentile(e, 99), "max": e.max(),
                     "sim_late_p50": np.percentile(late, 50), "sim_late_p99": np.percentile(late, 99),
 "failed": int(lv.failed), "chunks_per_s": n_chunks / lv.window_s,
                     "cpu": lv.client_cpu_max, "lag_p99_ms": lv.loop_lag_s_p99 * 1000,
                     "delay_p99_ms": lv.read_delay_s_p99 * 1000, "stamps": lv.stamps, "loop": lv.loop,
                     "saturated": lv.client_saturated})
    return rows


#: a server later than this at p99 (one chunk interval) did not feed the level on time
FED_LATE_P99_MS = 10.0


@contextlib.contextmanager
def feeder() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("feeder.py"))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()


def report(server: str, shards: int, rows: list[dict[str, Any]]) -> None:
    print(f"\n{server}, {shards} shard(s), {rows[0]['loop']} loop, {rows[0]['stamps']} stamps: "
          "arrival - send (ms) per concurrent 10 ms-chunk streams")
    print("  streams   p50     p99     max  | server late p50  p99  fed | chunks/s  shard CPU  "
          "loop lag p99  read delay p99  saturated  failed")
    for r in rows:
        fed = r["sim_late_p99"] < FED_LATE_P99_MS
        print(f"  {r['level']:7d} {r['p50']:7.3f} {r['p99']:7.3f} {r['max']:8.2f} | {r['sim_late_p50']:8.3f} "
              f"{r['sim_late_p99']:9.2f} {'yes' if fed else 'NO':>4s} | {r['chunks_per_s']:8.0f} "
              f"{r['cpu']:9.0%} {r['lag_p99_ms']:10.2f} ms {r['delay_p99_ms']:11.2f} ms  "
              f"{r['saturated']!s:9s} {r['failed']}")
    within = [r["level"] for r in rows if r["p99"] <= 1.0 and r["sim_late_p99"] < FED_LATE_P99_MS]
    unfed = [r["level"] for r in rows if r["sim_late_p99"] >= FED_LATE_P99_MS]
    top = rows[-1]
    print(f"  largest level fed on time with p99 <= 1 ms: {max(within) if within else 'none'}"
          + (f" (not fed on time: {', '.join(map(str, unfed))})" if unfed else "")
          + f"; at {top['level']} streams {top['chunks_per_s'] / shards:,.0f} chunks/s per shard (CPU {top['cpu']:.0%})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,4,16,32,64,128,256")
    ap.add_argument("--chunks", type=int, default=100, help="chunks per stream (10 ms apart)")
    ap.add_argument("--servers", default="sim,feeder", help="sim, feeder (bench/feeder.py) or both")
    args = ap.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    servers = args.servers.split(",")
    with sim.serve(process=True) as root, feeder() as bare:
        print(pin_apart())  # both servers on the last CPU, the shards on the others
        n_default = default_shards()  # one per client core (after pinning: every core but the servers')
        print(f"default shards here: {n_default}")
        for server in servers:
            url = {"sim": root, "feeder": bare}[server]
            for shards in dict.fromkeys([1, n_default]):
                report(server, shards, sweep(url, levels, args.chunks, shards))


if __name__ == "__main__":
    main()
