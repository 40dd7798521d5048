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

Usage: python bench/load.py [--levels 1,4,16,64,128,256] [--chunks 100]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,4,16,32,64,128,256")
    ap.add_argument("--chunks", type=int, default=100, help="chunks per stream (10 ms apart)")
    args = ap.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    with sim.serve(process=True) as root:
        print(pin_apart())
        n_default = default_shards()  # one per client core (after pinning: every core but the sim's)
        print(f"default shards here: {n_default}")
        for shards in dict.fromkeys([1, n_default]):
            rows = sweep(root, levels, args.chunks, shards)
            print(f"\n{shards} shard(s), {rows[0]['loop']} loop, {rows[0]['stamps']} stamps: "
                  "arrival - send (ms) per concurrent 10 ms-chunk streams")
            print("  streams   p50     p99     max  | sim late p50   p99 | chunks/s  shard CPU  "
                  "loop lag p99  read delay p99  saturated  failed")
            for r in rows:
                print(f"  {r['level']:7d} {r['p50']:7.3f} {r['p99']:7.3f} {r['max']:8.2f} | {r['sim_late_p50']:8.3f} "
                      f"{r['sim_late_p99']:7.2f} | {r['chunks_per_s']:8.0f} "
                      f"{r['cpu']:9.0%} {r['lag_p99_ms']:10.2f} ms {r['delay_p99_ms']:11.2f} ms  "
                      f"{r['saturated']!s:9s} {r['failed']}")
            within = [r["level"] for r in rows if r["p99"] <= 1.0]
            top = rows[-1]
            print(f"  largest level with p99 <= 1 ms: {max(within) if within else 'none'}; at {top['level']} streams "
                  f"{top['chunks_per_s'] / shards:,.0f} chunks/s per shard (CPU {top['cpu']:.0%})")


if __name__ == "__main__":
    main()
