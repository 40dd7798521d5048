"""Decode time per MB of one long line, fed in 64 KB reads: it must stay flat from 1 MB to
64 MB (linear decoders; a quadratic one made a 40 MB line cost 9 s of CPU on the engine loop,
where every concurrent stream's timing suffers).

Measures kral_nb's SSE decoder and Gemini's JSON-array decoder, and — side by side, as the
peer — httpx-sse's line decoder over the same reads. Prints ms/MB per size and the ratio
of the largest size's ms/MB to the smallest's (1.0 = linear).
Usage: python bench/decode_lines.py [--sizes 1,4,16,64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from kral_nb.protocols.gemini import JSONArrayDecoder
from kral_nb.protocols.sse import SSEDecoder

READ = 64 * 1024


def sse_body(mb: int) -> bytes:
    return b'data: {"choices":[{"delta":{"content":"' + b"x" * (mb << 20) + b'"}}]}\n\ndata: [DONE]\n\n'


def array_body(mb: int) -> bytes:
    return b'[{"candidates":[{"content":{"parts":[{"text":"' + b"x" * (mb << 20) + b'"}]}}]}]'


def kral_sse(data: bytes) -> int:
    d = SSEDecoder()
    n = sum(len(d.decode(data[i:i + READ])) for i in range(0, len(data), READ))
    return n + len(d.flush())


def kral_array(data: bytes) -> int:
    d = JSONArrayDecoder()
    n = sum(len(d.decode(data[i:i + READ])) for i in range(0, len(data), READ))
    return n + len(d.flush())


def httpx_sse(data: bytes) -> int:
    from httpx_sse._decoders import SSEDecoder as PeerDecoder
    from httpx_sse._decoders import SSELineDecoder

    lines, events = SSELineDecoder(), PeerDecoder()
    n = 0
    for i in range(0, len(data), READ):
        for line in lines.decode(data[i:i + READ].decode()):
            n += events.decode(line) is not None
    return n


def ms_per_mb(fn: Callable[[bytes], int], data: bytes, mb: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        assert fn(data) >= 1
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000 / mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1,4,16,64")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    decoders: list[tuple[str, Callable[[bytes], int], Callable[[int], bytes]]] = [
        ("kral_nb SSE", kral_sse, sse_body), ("kral_nb JSON array", kral_array, array_body),
        ("httpx-sse (peer)", httpx_sse, sse_body)]
    print(f"one line of N MB in {READ // 1024} KB reads; ms per MB (median of {args.repeat})")
    print(f"{'decoder':<20}" + "".join(f"{s:>8} MB" for s in sizes) + f"{'ratio':>10}")
    for name, fn, make in decoders:
        row = [ms_per_mb(fn, make(mb), mb, args.repeat) for mb in sizes]
        print(f"{name:<20}" + "".join(f"{v:>11.2f}" for v in row) + f"{row[-1] / row[0]:>10.2f}")
    print("ratio = ms/MB at the largest size / ms/MB at the smallest (1.0 = linear)")


if __name__ == "__main__":
    main()
