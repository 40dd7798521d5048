"""Load and soak: many concurrent sim streams; nothing may be lost.

1. load: 64 concurrent streams at 10 ms per chunk: arrival-stamp error percentiles, compared
   side by side with one stream alone (ratio);
2. soak: 64 concurrent streams totalling 2·10^5 and 10^6 chunks: chunks and bytes sent vs
   recorded (must be equal) and resident memory per 10^6 chunk rows (records held, and the
   total with the chunks frame's build peak; counted from after a small warm-up sweep, whose
   one-time cost is printed apart), side by side with the layout of ``--baseline`` (records
   as a tuple and a Chunk object each), each soak in a fresh interpreter.

Usage: python bench/scale.py [--streams 64] [--soak-chunks 200000,1000000] [--baseline REF]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

if TYPE_CHECKING:
    from kral_nb.record.recorder import Run

sys.path.insert(0, __file__.rsplit("/", 1)[0])
# The soak also runs in a fresh interpreter on the ``--baseline`` tree, whose modules have the
# older layout: it imports what it needs by ``_layout()``, and the rest is imported by the
# load phase alone.


def _layout() -> tuple[Any, Any]:
    """``sweep`` and ``chunks_frame`` from this tree, or from the flat layout before the sub-packages."""
    try:
        from kral_nb.results.frames import chunks_frame
        from kral_nb.sweeps import sweep
    except ImportError:
        from kral_nb.frames import chunks_frame  # type: ignore[import-not-found,no-redef]

        from kral_nb.api import sweep  # type: ignore[attr-defined,no-redef]
    return sweep, chunks_frame


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def run(root: str, models: list[str], trace: bool) -> tuple[list[Run], dict[str, dict[str, Any]]]:
    from kral_nb.sweeps import sweep

    sw = sweep("scale", models, trace=trace, base_url=root + "/v1", retries=0, timeout=600)
    sw.submit()
    result = sw.wait()
    log = {e["model"]: e for e in httpx.get(root + "/_sim/log", timeout=60).json()}
    return result.run_list, log


def soak(root: str, n: int, total: int) -> dict[str, float]:
    """>= ``total`` content chunks over ``n`` streams; memory measured before anything else is
    held (the sim's log, with a number per chunk, is fetched afterwards)."""
    sweep, chunks_frame = _layout()
    per = -(-total // n)
    gc.collect()
    start = rss_mb()
    warm = sweep("warm-up", [f"sim:instant+n=8+seed=w{i}" for i in range(n)], base_url=root + "/v1", retries=0)
    warm.submit()
    chunks_frame(warm.wait().run_list)  # what a first sweep and frame cost once (imports, the
    del warm  # engine thread, clients, pyarrow's pools) is not per row: measured apart
    gc.collect()
    base = rss_mb()
    t = time.perf_counter()
    sw = sweep("scale", [f"sim:instant+n={per}+seed=s{i}" for i in range(n)], base_url=root + "/v1",
               retries=0, timeout=600)
    sw.submit()
    runs = sw.wait().run_list
    wall = time.perf_counter() - t
    gc.collect()
    held = rss_mb()
    rows = sum(len(r.records) for r in runs)
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to what is held now
        f.write("5")
    frame = chunks_frame(runs)
    peak = hwm_mb()
    frame_b = frame.memory_usage(deep=True).sum()
    recorded = int(frame["kind"].astype(str).isin(["text", "reasoning", "refusal", "tool_call"]).sum())
    del frame
    log = {e["model"]: e for e in httpx.get(root + "/_sim/log", timeout=60).json()}
    sent = per * n
    return {
        "rows": rows, "wall_s": wall, "sent": sent,
        "recorded": recorded,
        "bytes_sent": sum(sum(log[r.model]["n_bytes"]) for r in runs),
        "bytes_recorded": sum(r.n_bytes for r in runs),
        "fixed_mb": base - start, "records_mb": (held - base) / rows * 1e6, "total_mb": (peak - base) / rows * 1e6,
        "frame_b_per_row": frame_b / rows,
    }


def hwm_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) * 1024 / 1e6  # type: ignore[union-attr]


def soak_elsewhere(root: str, n: int, total: int, pythonpath: str) -> dict[str, float]:
    """The soak in a fresh interpreter (a clean peak), importing kral_nb from ``pythonpath``."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    out = subprocess.run([sys.executable, __file__, "--soak-only", root, "--streams", str(n),
                          "--soak-chunks", str(total)], env=env, check=True, capture_output=True, text=True)
    soak: dict[str, float] = json.loads(out.stdout.splitlines()[-1])
    return soak


def baseline_tree(ref: str) -> str | None:
    """A worktree of ``ref`` (the layout before columnar records), or None without git."""
    path = os.path.join(tempfile.gettempdir(), f"kral-nb-{ref}")
    if not os.path.isdir(path):
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        done = subprocess.run(["git", "-C", repo, "worktree", "add", "--detach", path, ref],
                              capture_output=True, text=True)
        if done.returncode:
            print(f"  (no baseline: {done.stderr.strip()})")
            return None
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--chunks", type=int, default=200, help="chunks per stream in the load phase")
    ap.add_argument("--soak-chunks", default="200000,1000000", help="soak sizes (content chunks), comma-separated")
    ap.add_argument("--baseline", default="65554c0",
                    help="git ref whose record layout the soak is compared with (records as objects)")
    ap.add_argument("--soak-only", metavar="SIM_URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.streams
    if args.soak_only:
        print(json.dumps(soak(args.soak_only, n, int(args.soak_chunks))))
        return
    from fidelity import errors_ms  # this tree's layout: the load phase runs here only

    from kral_nb import sim
    from kral_nb.record.runrow import row as run_row

    with sim.serve(process=True) as root:
        run(root, [f"sim:fast+n=3+seed=w{i}" for i in range(n)], False)  # open the connections
        one, log1 = run(root, [f"sim:steady+n={args.chunks}+seed=one"], True)
        many, logn = run(root, [f"sim:steady+n={args.chunks}+seed=l{i}" for i in range(n)], True)
        e1 = np.array(errors_ms(one[0].trace or [], log1[one[0].model]), dtype=float)
        en = np.concatenate([errors_ms(r.trace or [], logn[r.model]) for r in many])
        lost = sum(args.chunks - run_row(r)["n_content_chunks"] for r in many)
        print(f"load: {n} concurrent streams x {args.chunks} chunks at 10 ms, arrival - send:")
        for label, a in (("1 stream", e1), (f"{n} streams", en)):
            print(f"  {label:11s} p50 {np.percentile(a, 50):.3f} ms  p99 {np.percentile(a, 99):.3f} ms  "
                  f"max {a.max():.3f} ms")
        print(f"  p50 ratio {n} streams / 1 stream: {np.percentile(en, 50) / np.percentile(e1, 50):.2f}x; "
              f"chunks lost: {lost}")
        del one, many, log1, logn

        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        base_path = baseline_tree(args.baseline) if args.baseline else None  # --baseline "": none
        failed = bool(lost)
        for total in (int(v) for v in args.soak_chunks.split(",")):
            now = soak_elsewhere(root, n, total, here)
            before = soak_elsewhere(root, n, total, base_path) if base_path else None
            sent = now["sent"]
            print(f"soak: {n} streams, {sent:,} content chunks in {now['wall_s']:.1f} s "
                  f"({sent / now['wall_s']:,.0f} chunks/s)")
            print(f"  chunks sent {sent:,}  recorded {now['recorded']:,}  ratio {now['recorded'] / sent:.6f}")
            print(f"  bytes  sent {now['bytes_sent']:,}  recorded {now['bytes_recorded']:,}  "
                  f"ratio {now['bytes_recorded'] / now['bytes_sent']:.6f}")
            print(f"  memory per 10^6 chunk rows at {now['rows']:,} rows (after a warm-up sweep: "
                  f"{now['fixed_mb']:.0f} MB once)")
            print("                                 records held   total incl. frame build peak   frame")
            for label, m in (("columns (this tree)", now), (f"objects ({args.baseline})", before)):
                if m is not None:
                    print(f"  {label:30s} {m['records_mb']:8.0f} MB   {m['total_mb']:14.0f} MB"
                          f"               {m['frame_b_per_row']:.0f} B/row")
            if before is not None:
                print(f"  ratio columns / objects: records {now['records_mb'] / before['records_mb']:.2f}x, "
                      f"total {now['total_mb'] / before['total_mb']:.2f}x")
            failed |= now["recorded"] != sent or now["bytes_recorded"] != now["bytes_sent"]
        if failed:
            sys.exit("LOST DATA")

if __name__ == "__main__":
    main()
