"""Load and soak: many concurrent sim streams; nothing may be lost.

1. load: 64 concurrent streams at 10 ms per chunk: arrival-stamp error percentiles, compared
   side by side with one stream alone (ratio);
2. soak: 64 concurrent streams totalling >= 10^6 chunks: chunks and bytes sent vs recorded
   (must be equal) and resident memory per 10^6 chunk rows (records held, then the frame).

Usage: python bench/scale.py [--streams 64] [--soak-chunks 1000000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time

import httpx
import numpy as np

from kral_nb import sim
from kral_nb.api import sweep

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from fidelity import errors_ms


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def run(root: str, models: list[str], trace: bool) -> tuple[list, dict]:
    sw = sweep("scale", models, trace=trace, base_url=root + "/v1", retries=0, timeout=600)
    sw.submit()
    result = sw.wait()
    log = {e["model"]: e for e in httpx.get(root + "/_sim/log", timeout=60).json()}
    return result.run_list, log


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--chunks", type=int, default=200, help="chunks per stream in the load phase")
    ap.add_argument("--soak-chunks", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.streams
    with sim.serve(process=True) as root:
        run(root, [f"sim:fast+n=3+seed=w{i}" for i in range(n)], False)  # open the connections
        one, log1 = run(root, [f"sim:steady+n={args.chunks}+seed=one"], True)
        many, logn = run(root, [f"sim:steady+n={args.chunks}+seed=l{i}" for i in range(n)], True)
        e1 = np.array(errors_ms(one[0].trace, log1[one[0].model]))
        en = np.concatenate([errors_ms(r.trace, logn[r.model]) for r in many])
        lost = sum(args.chunks - r.row()["n_content_chunks"] for r in many)
        print(f"load: {n} concurrent streams x {args.chunks} chunks at 10 ms, arrival - send:")
        for label, a in (("1 stream", e1), (f"{n} streams", en)):
            print(f"  {label:11s} p50 {np.percentile(a, 50):.3f} ms  p99 {np.percentile(a, 99):.3f} ms  "
                  f"max {a.max():.3f} ms")
        print(f"  p50 ratio {n} streams / 1 stream: {np.percentile(en, 50) / np.percentile(e1, 50):.2f}x; "
              f"chunks lost: {lost}")
        del one, many, log1, logn
        gc.collect()

        per = -(-args.soak_chunks // n)
        base = rss_mb()
        t = time.perf_counter()
        runs, log = run(root, [f"sim:instant+n={per}+seed=s{i}" for i in range(n)], False)
        wall = time.perf_counter() - t
        held = rss_mb()
        sent = per * n
        recorded = sum(r.row()["n_content_chunks"] for r in runs)
        bytes_sent = sum(sum(log[r.model]["n_bytes"]) for r in runs)
        bytes_recorded = sum(r.n_bytes for r in runs)
        rows = sum(len(r.records) for r in runs)
        from kral_nb.frames import chunks_frame

        frame = chunks_frame(runs)
        framed = rss_mb()
        print(f"soak: {n} streams, {sent:,} content chunks in {wall:.1f} s ({sent / wall:,.0f} chunks/s)")
        print(f"  chunks sent {sent:,}  recorded {recorded:,}  ratio {recorded / sent:.6f}")
        print(f"  bytes  sent {bytes_sent:,}  recorded {bytes_recorded:,}  ratio {bytes_recorded / bytes_sent:.6f}")
        print(f"  memory per 10^6 chunk rows: records {(held - base) / rows * 1e6:.0f} MB, "
              f"+ chunks frame {(framed - held) / rows * 1e6:.0f} MB (frame reports "
              f"{frame.memory_usage(deep=True).sum() / rows:.0f} B/row)")
        if recorded != sent or bytes_recorded != bytes_sent or lost:
            sys.exit("LOST DATA")


if __name__ == "__main__":
    main()
