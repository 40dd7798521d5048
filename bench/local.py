"""The local model at full speed: tokens/s and TTFT through kral_nb's ``local`` provider
(llama-cpp-python's server on loopback, streamed, recorded) versus the same GGUF in process
with llama-cpp-python (no HTTP at all), with the same thread count, side by side in one run
(rounds alternate them). Target: kral_nb within 10 % of in-process tokens/s.

A third row reads the same server with a bare httpx client (no SSE or JSON parsing, no
records): it splits the gap into what llama-cpp-python's server costs (plain / in-process)
and what kral_nb's client costs (kral_nb / plain).

With ``--threads 1,2`` it also shows which thread count serves best on this machine while
the client runs beside it. Usage: python bench/local.py [--runs 5] [--max-tokens 200]
[--threads 2]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

import httpx

import kral_nb
from kral_nb.servers import local

PROMPT = "Write a long story about a lighthouse keeper who befriends a storm."


def in_process(llm: object, max_tokens: int) -> tuple[float, float, int]:
    """(TTFT s, decode tokens/s, tokens) of one streamed chat completion, in process."""
    t0 = time.perf_counter()
    first = last = 0.0
    n = 0
    for chunk in llm.create_chat_completion(  # type: ignore[attr-defined]
            messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens, temperature=0,
            stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            last = time.perf_counter()
            first = first or last
            n += 1  # llama-cpp-python streams one token per chunk
    return first - t0, (n - 1) / (last - first) if n > 1 else float("nan"), n


def through_kral_nb(max_tokens: int) -> tuple[float, float, int]:
    r = kral_nb.run(PROMPT, model="local:gemma3-270m", max_tokens=max_tokens, temperature=0)
    row = r.runs.iloc[0]
    assert row["tokens_source"] == "tokenizer", row["tokens_source"]
    return float(row["ttft_s"]), float(row["output_tokens_per_s"]), int(row["output_tokens"])


def plain_client(root: str, max_tokens: int) -> tuple[float, float, int]:
    """The same request to the same server, read by a bare httpx client: the server's floor."""
    t0 = time.perf_counter()
    first = last = 0.0
    n = 0
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{root}/v1/chat/completions", json=body, timeout=120) as r:
        for line in r.iter_lines():
            if '"content": "' in line:  # one token per chunk; the role and finish chunks have none
                last = time.perf_counter()
                first = first or last
                n += 1
    return first - t0, (n - 1) / (last - first) if n > 1 else float("nan"), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--threads", default=str(local.default_threads()))
    args = ap.parse_args()
    import llama_cpp

    path, chat_format = local.model_path(local.DEFAULT_MODEL)
    print(f"{os.path.basename(path)}, {args.max_tokens}-token answers, {args.runs} runs each, "
          f"{os.cpu_count()} cores; medians")
    for threads in (int(t) for t in args.threads.split(",")):
        os.environ["KRAL_LOCAL_THREADS"] = str(threads)
        local.stop_all()
        root = local.ensure_running()
        llm = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                              chat_format=chat_format, verbose=False)
        through_kral_nb(16)  # warm both: the first answer loads caches
        in_process(llm, 16)
        ours: list[tuple[float, float, int]] = []
        plain: list[tuple[float, float, int]] = []
        theirs: list[tuple[float, float, int]] = []
        rounds = [(ours, functools.partial(through_kral_nb, args.max_tokens)),
                  (plain, functools.partial(plain_client, root, args.max_tokens)),
                  (theirs, functools.partial(in_process, llm, args.max_tokens))]
        for i in range(args.runs):  # alternate, each round starting with the next one: drift and order hit all alike
            for rows, measure in rounds[i % 3:] + rounds[:i % 3]:
                rows.append(measure())
        del rounds
        del llm
        for name, rows in (("kral_nb local (HTTP)", ours), ("bare httpx, same server", plain),
                           ("in-process llama-cpp", theirs)):
            ttft = statistics.median(r[0] for r in rows)
            rate = statistics.median(r[1] for r in rows)
            toks = statistics.median(r[2] for r in rows)
            print(f"  threads={threads}  {name:<22} TTFT {ttft * 1000:7.1f} ms   {rate:6.1f} tok/s   "
                  f"{toks:.0f} tokens")
        rates = {name: statistics.median(r[1] for r in rows) for name, rows in
                (("ours", ours), ("plain", plain), ("theirs", theirs))}
        print(f"  threads={threads}  kral_nb / in-process tokens/s: {rates['ours'] / rates['theirs']:.3f}  "
              f"(target >= 0.90) = server (bare client / in-process) {rates['plain'] / rates['theirs']:.3f} "
              f"x client (kral_nb / bare client) {rates['ours'] / rates['plain']:.3f}")
    local.stop_all()


if __name__ == "__main__":
    main()
