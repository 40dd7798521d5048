"""Where a chunk's CPU goes once its bytes are in memory, stage by stage, beside what a compiled
decoder costs alone (the pipeline decodes the common OpenAI chunk with msgspec since
2026-12-03, ``protocols/openai_fast.py``): the same OpenAI body (bench/throughput.py's, N chunks in 64 KB pieces)
through kral_nb's pure stages cumulatively, beside two floors measured in the same run:

- ``split + orjson``: blocks split on blank lines, each data line parsed by orjson (the least
  any Python consumer of the JSON does, with no check of what it holds);
- ``msgspec typed``: each data line decoded by msgspec straight into typed structs (types
  checked in C, a maintained compiled decoder), the data lines found as above.

No network, no clock in the stages (bench/throughput.py has the wire and the raw httpx floor).
Usage: python bench/decode_chunks.py [--chunks 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from throughput import body

from kral_nb.protocols import openai
from kral_nb.protocols.request import RequestSpec
from kral_nb.record.pipeline import Pipeline
from kral_nb.record.recorder import Run

SPEC = RequestSpec("http://bench/", {}, None)


def pieces_of(data: bytes) -> list[bytes]:
    return [data[i:i + 65536] for i in range(0, len(data), 65536)]


def stage_decoder(pieces: list[bytes]) -> int:
    dec = openai.new_decoder(SPEC)
    return sum(len(dec.decode(p)) for p in pieces)


def stage_parser(pieces: list[bytes]) -> int:
    dec, parser = openai.new_decoder(SPEC), openai.new_parser()
    n = 0
    for p in pieces:
        for item in dec.decode(p):
            n += len(parser.feed(item))
    return n


def stage_pipeline(pieces: list[bytes]) -> int:
    run = Run("bench", "sim", "bench", "openai")
    run.t0_ns = 0
    pipe = Pipeline(openai.new_decoder(SPEC), openai.new_parser(), run)
    for i, p in enumerate(pieces):
        pipe.feed(i + 1, p)
    pipe.close(len(pieces) + 1)
    return len(run.records)


def data_lines(pieces: list[bytes]) -> Iterator[bytes]:
    """The data lines, piece by piece (a block cut between pieces carried over): the least
    event splitting there is, with none of SSE's rules (comments, CR, multi-line data)."""
    carry = b""
    for piece in pieces:
        blocks = (carry + piece).split(b"\n\n")
        carry = blocks.pop()
        for block in blocks:
            if block.startswith(b"data: ") and block != b"data: [DONE]":
                yield block[6:]


def floor_orjson(pieces: list[bytes]) -> int:
    loads, n = orjson.loads, 0
    for line in data_lines(pieces):
        loads(line)  # nothing kept, as a consumer that reads each chunk and moves on
        n += 1
    return n


try:  # a maintained compiled decoder, if installed (the dev extra has it)
    import msgspec
except ImportError:  # pragma: no cover - measured when present
    msgspec = None  # type: ignore[assignment]
else:
    class Delta(msgspec.Struct):
        role: str | None = None
        content: str | None = None
        reasoning_content: str | None = None
        refusal: str | None = None

    class Choice(msgspec.Struct):
        index: int = 0
        delta: Delta | None = None
        finish_reason: str | None = None

    class Usage(msgspec.Struct):
        prompt_tokens: int | None = None
        completion_tokens: int | None = None

    class ChunkMsg(msgspec.Struct):
        choices: list[Choice] = msgspec.field(default_factory=list)
        usage: Usage | None = None


def msgspec_floor() -> Callable[[list[bytes]], int] | None:
    if msgspec is None:
        return None
    decode = msgspec.json.Decoder(ChunkMsg).decode

    def floor(pieces: list[bytes]) -> int:
        n = 0
        for line in data_lines(pieces):
            decode(line)
            n += 1
        return n

    return floor


def best(f: Callable[[list[bytes]], int], pieces: list[bytes], rounds: int) -> tuple[float, int]:
    times, out = [], 0
    for _ in range(rounds):
        t = time.perf_counter()
        out = f(pieces)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    pieces = pieces_of(body(args.chunks))
    stages: dict[str, Any] = {"SSE decoder": stage_decoder, "+ JSON + parser": stage_parser,
                              "+ records (the pipeline)": stage_pipeline, "floor: split + orjson": floor_orjson}
    typed = msgspec_floor()
    if typed is not None:
        stages["floor: msgspec typed"] = typed
    med = {}
    for name, f in stages.items():
        best(f, pieces, 1)  # warm up
        med[name], _ = best(f, pieces, args.rounds)
    n = args.chunks
    print(f"{n} chunks in {len(pieces)} pieces of 64 KB, median of {args.rounds} rounds, us per chunk:")
    for name, v in med.items():
        print(f"  {name:26s} {v / n * 1e6:6.2f} us/chunk")
    if typed is None:
        print("  (msgspec not installed: pip install msgspec, to measure a compiled typed decoder)")
    pipe = med["+ records (the pipeline)"]
    print(f"ratio pipeline / split+orjson floor: {pipe / med['floor: split + orjson']:.2f}x")
    if typed is not None:
        print(f"ratio pipeline / msgspec typed floor: {pipe / med['floor: msgspec typed']:.2f}x "
              f"({(pipe - med['floor: msgspec typed']) / n * 1e6:.2f} us/chunk above it: SSE rules, chunks, records)")


if __name__ == "__main__":
    main()
