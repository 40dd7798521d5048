"""Throughput of the full pipeline vs the official openai SDK and httpx-sse + json, and beside
the raw transport (httpx ``iter_raw``, nothing parsed), on the same local stream (the sim
replaying a pre-rendered body of N chunks in 64 KB writes).

Prints ratios measured side by side in one run (rounds alternate the three clients; the
median of each is compared). Usage: python bench/throughput.py [--chunks 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time

import httpx
from cpus import pin_apart

import kral_nb
from kral_nb import sim
from kral_nb.sim.script import Ev
from kral_nb.sim.wire import OpenAIWire


def body(n: int) -> bytes:
    wire = OpenAIWire("bench", "chatcmpl-bench", include_usage=True)
    parts = [wire.render(Ev(0, "start"))]
    parts += [wire.render(Ev(0, "text", f" tok{i}")) for i in range(n)]
    parts += [wire.render(Ev(0, "finish", "stop")),
              wire.render(Ev(0, "usage", {"input": 5, "output": n, "reasoning": 0, "cached": 0})),
              wire.render(Ev(0, "done"))]
    return b"".join(parts)


def load(root: str, data: bytes) -> str:
    reads = [[0, data[i:i + 65536].decode("latin-1")] for i in range(0, len(data), 65536)]
    trace = {"run_id": "bench", "provider": "sim", "model": "bench", "protocol": "openai", "reads": reads}
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write(json.dumps(trace) + "\n")
    try:
        return sim.load_traces(f.name, root)[0]
    finally:
        os.unlink(f.name)


def run_kral(root: str, n: int) -> float:
    t = time.perf_counter()
    r = kral_nb.run("x", model="sim:replay+run=bench", base_url=root + "/v1")
    assert len(r.run_list[0].records) == n + 4, len(r.run_list[0].records)
    return time.perf_counter() - t


def run_openai(root: str, n: int) -> float:
    import openai

    t = time.perf_counter()
    count = 0
    with openai.OpenAI(base_url=root + "/v1", api_key="bench") as client:
        for chunk in client.chat.completions.create(
                model="replay+run=bench", messages=[{"role": "user", "content": "x"}],
                stream=True, stream_options={"include_usage": True}):
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
    assert count == n, count
    return time.perf_counter() - t


def run_httpx_sse(root: str, n: int) -> float:
    from httpx_sse import connect_sse

    t = time.perf_counter()
    count = 0
    with httpx.Client(timeout=60) as client, connect_sse(
            client, "POST", root + "/v1/chat/completions",
            json={"model": "replay+run=bench", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as es:
        for ev in es.iter_sse():
            if ev.data == "[DONE]":
                break
            obj = json.loads(ev.data)
            if obj["choices"] and obj["choices"][0]["delta"].get("content"):
                count += 1
    assert count == n, count
    return time.perf_counter() - t


def run_raw(root: str, n: int) -> float:
    """The transport floor: the same request and body through httpx ``iter_raw``, nothing parsed."""
    t = time.perf_counter()
    size = 0
    with httpx.Client(timeout=60) as client, client.stream(
            "POST", root + "/v1/chat/completions",
            json={"model": "replay+run=bench", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as resp:
        for piece in resp.iter_raw():
            size += len(piece)
    assert size > n * 100, size
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    data = body(args.chunks)
    with sim.serve(process=True) as root:
        load(root, data)
        print(pin_apart())
        clients = {"kral_nb": run_kral, "openai SDK": run_openai, "httpx-sse + json": run_httpx_sse,
                   "httpx iter_raw": run_raw}
        for f in clients.values():  # warm up connections, imports and caches
            f(root, args.chunks)
        times: dict[str, list[float]] = {k: [] for k in clients}
        for _ in range(args.rounds):
            for name, f in clients.items():
                gc.collect()  # nobody pays for the garbage another client left behind
                times[name].append(f(root, args.chunks))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.chunks} chunks ({len(data) / 1e6:.1f} MB) x {args.rounds} rounds, median wall time per stream:")
    for k, v in med.items():
        print(f"  {k:18s} {v * 1000:8.1f} ms  {args.chunks / v:10.0f} chunks/s  {v / args.chunks * 1e6:6.2f} us/chunk")
    print(f"ratio openai SDK / kral_nb:       {med['openai SDK'] / med['kral_nb']:.2f}x")
    print(f"ratio httpx-sse+json / kral_nb:   {med['httpx-sse + json'] / med['kral_nb']:.2f}x")
    print(f"ratio kral_nb / httpx iter_raw:   {med['kral_nb'] / med['httpx iter_raw']:.2f}x (the raw transport, "
          f"nothing parsed: kral_nb's parsing and records add "
          f"{(med['kral_nb'] - med['httpx iter_raw']) / args.chunks * 1e6:.2f} us/chunk)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
