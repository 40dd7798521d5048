"""Timing fidelity: each recorded arrival stamp minus the sim's logged send time of the same
bytes (the sim runs in its own process; perf_counter_ns is CLOCK_MONOTONIC, shared by both).

Side by side in one run: the floor (a bare asyncio socket reader, no HTTP library), one
kral_nb stream, 8 concurrent streams, and 8 streams with live panes rendering at the default
rate in the caller's thread, as the magic does. Prints p50 / p99 / max in ms, ratios to the
floor, and the render rate. Usage: python bench/fidelity.py [--chunks 500] [--streams 8]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
from typing import Any

import h11
import httpx
import numpy as np
from cpus import pin_apart

import kral_nb
from kral_nb import sim
from kral_nb.clock import now_ns
from kral_nb.sweeps import sweep
from kral_nb.views import panes
from kral_nb.views.display import DEFAULT_RATE_HZ
from kral_nb.views.markdown import Markdown


def errors_ms(reads: list[tuple[int, bytes]], entry: dict[str, Any]) -> list[float]:
    """Match every write to the read that completed it, by cumulative body-byte offset."""
    read_ends, acc = [], 0
    for _, data in reads:
        acc += len(data)
        read_ends.append(acc)
    out, offset = [], 0
    for t_send, n in zip(entry["t_ns"], entry["n_bytes"], strict=True):
        offset += n
        i = bisect.bisect_left(read_ends, offset)
        out.append((reads[i][0] - t_send) / 1e6)
    assert offset == acc, "every byte sent was received"
    return out


def measure(root: str, n_streams: int, chunks: int, render: bool) -> tuple[list[float], float]:
    models = [f"sim:steady+n={chunks}+seed={i}-{render}" for i in range(n_streams)]
    sw = sweep("fidelity", models, trace=True, base_url=root + "/v1")
    renders = 0
    md = Markdown()  # what LivePanes renders: the panes' HTML, model Markdown as safe HTML

    def tick() -> None:
        nonlocal renders
        if render:
            panes.html_panes(sw.result.run_list, now_ns(), md=md)
            renders += 1

    t0 = now_ns()
    sw.submit()
    sw.wait(tick, 1.0 / DEFAULT_RATE_HZ)
    wall_s = (now_ns() - t0) / 1e9
    log = {e["model"]: e for e in httpx.get(root + "/_sim/log").json()}
    errs: list[float] = []
    for run in sw.result.run_list:
        assert run.status == "ok", run.error
        assert run.trace is not None
        errs += errors_ms(run.trace, log[run.model])
    return errs, renders / wall_s


async def _raw_reads(root: str, model: str) -> list[tuple[int, bytes]]:
    """The floor: a bare asyncio socket reader (no HTTP library), stamped the same way."""
    host, port = root.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "x"}]}).encode()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nhost: sim\r\ncontent-type: application/json\r\n"
                 b"content-length: %d\r\n\r\n%s" % (len(body), body))
    conn, reads, done = h11.Connection(h11.CLIENT), [], False
    conn.send(h11.Request(method="POST", target="/", headers=[("host", "sim")]))  # sync h11's state
    while not done:
        data = await reader.read(65536)
        t = now_ns()
        if not data:
            break
        conn.receive_data(data)
        body = b""
        while (event := conn.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                done = True
                break
        if body:
            reads.append((t, body))
        done = done or b"[DONE]" in body
    writer.close()
    return reads  # (arrival, body bytes) per read: the same matching as kral_nb's trace


def floor(root: str, chunks: int) -> list[float]:
    model = f"steady+n={chunks}+seed=floor"
    reads = asyncio.run(_raw_reads(root, model))
    entry = next(e for e in httpx.get(root + "/_sim/log").json() if e["model"] == model)
    return errors_ms(reads, entry)


def show(label: str, errs: list[float], extra: str = "") -> float:
    a = np.array(errs)
    print(f"{label:26s} {len(a):5d} writes: arrival - send  p50 {np.percentile(a, 50):.3f} ms  "
          f"p99 {np.percentile(a, 99):.3f} ms  max {a.max():.3f} ms{extra}")
    return float(np.percentile(a, 50))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=500)
    ap.add_argument("--streams", type=int, default=8)
    args = ap.parse_args()
    with sim.serve(process=True) as root:
        kral_nb.compare("warm", [f"sim:fast+n=5+seed={i}" for i in range(args.streams)],
                        base_url=root + "/v1")  # open the pooled connections first
        print(pin_apart())
        base = show("floor: raw asyncio socket", floor(root, args.chunks))
        n = args.streams
        for streams, render in ((1, False), (n, False), (n, True)):
            errs, rate = measure(root, streams, args.chunks, render)
            label = f"kral_nb, {streams} stream(s)" + (", live panes" if render else "")
            p50 = show(label, errs, f"  renders {rate:.1f}/s (limit {DEFAULT_RATE_HZ:g})" if render else "")
            print(f"{'':26s} p50 / floor p50 = {p50 / base:.2f}x")


if __name__ == "__main__":
    main()
