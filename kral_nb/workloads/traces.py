"""Replaying a recorded request trace (``workloads.trace``): each request goes at its recorded
offset, with its input and output lengths.

- **mooncake** JSONL (Kimi's Mooncake traces): ``timestamp`` (ms), ``input_length``,
  ``output_length``, ``hash_ids`` — one id per block of 512 input tokens, equal ids meaning equal
  blocks. Each block becomes the same 512 words wherever its id appears, so requests that share
  ids share a prefix (what a prefix cache reuses); the last block is cut to ``input_length``.
- **burstgpt** CSV: ``Timestamp`` (s), ``Request tokens``, ``Response tokens``; every input is
  new text.

The output is capped at the recorded length and asked to be exactly that long where the provider
can. ``speedup`` divides the offsets. Lengths are in kral_nb's token rule (``base.py``).
"""

from __future__ import annotations

import csv
import json
import os
import random
from typing import Any

from ..errors import ConfigError
from .base import Item, Workload, rng_for, text

FORMATS = ("mooncake", "burstgpt")
BLOCK_TOKENS = 512  # mooncake's hash block


def _read_mooncake(path: str) -> list[tuple[float, int, int, tuple[int, ...]]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                rows.append((float(r["timestamp"]) / 1000, int(r["input_length"]), int(r["output_length"]),
                             tuple(int(h) for h in r.get("hash_ids") or ())))
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}, line {n}: not a mooncake trace row (timestamp, input_length, "
                                  f"output_length, hash_ids): {exc}") from None
    return rows


def _read_burstgpt(path: str) -> list[tuple[float, int, int, tuple[int, ...]]]:
    rows: list[tuple[float, int, int, tuple[int, ...]]] = []
    with open(path, encoding="utf-8", newline="") as f:
        for n, r in enumerate(csv.DictReader(f), 2):
            try:
                rows.append((float(r["Timestamp"]), int(r["Request tokens"]), int(r["Response tokens"]), ()))
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}, line {n}: not a BurstGPT row (Timestamp, Request tokens, "
                                  f"Response tokens): {exc}") from None
    return rows


class Trace(Workload):
    kind = "trace"

    def __init__(self, path: str, *, format: str = "mooncake", speedup: float = 1.0) -> None:
        if format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        if isinstance(speedup, bool) or not isinstance(speedup, (int, float)) or not speedup > 0:
            raise ConfigError(f"speedup must be a positive number, got {speedup!r}")
        path = os.fspath(path)
        try:
            rows = _read_mooncake(path) if format == "mooncake" else _read_burstgpt(path)
        except FileNotFoundError:
            raise ConfigError(f"no trace file at {path!r}") from None
        if not rows:
            raise ConfigError(f"the trace {path!r} has no requests")
        rows.sort(key=lambda r: r[0])
        t0 = rows[0][0]
        self.path, self.format, self.speedup = path, format, float(speedup)
        self.rows = [((t - t0) / self.speedup, max(1, n_in), max(1, n_out), ids) for t, n_in, n_out, ids in rows]
        self.distinct = None

    def __len__(self) -> int:
        return len(self.rows)

    def item(self, i: int) -> Item:
        offset, n_in, n_out, ids = self.rows[i % len(self.rows)]
        if ids:
            words = " ".join(text(BLOCK_TOKENS, rng_for("block", h)) for h in ids).split(" ")
            prompt = " ".join(words[:n_in]) if len(words) >= n_in else \
                " ".join([*words, text(n_in - len(words), rng_for("tail", self.path, i))])
        else:
            prompt = text(n_in, rng_for("trace", self.path, i))
        return Item((("user", prompt),), max_tokens=n_out, exact=True, input_tokens=n_in, offset_s=offset,
                    prefix_id=str(ids[0]) if ids else None)

    def schedule(self) -> list[float]:
        return [r[0] for r in self.rows]

    def describe(self) -> dict[str, Any]:
        span = self.rows[-1][0]
        return {"kind": self.kind, "path": os.path.basename(self.path), "format": self.format,
                "requests": len(self.rows), "span_s": round(span, 3), "speedup": self.speedup,
                "rate_rps": round(len(self.rows) / span, 3) if span > 0 else None}

    def summary(self) -> str:
        fast = f", {self.speedup:g}× faster" if self.speedup != 1 else ""
        return (f"trace {os.path.basename(self.path)} ({self.format}, {len(self.rows):,} requests over "
                f"{self.rows[-1][0]:.1f} s{fast})")


def trace(path: str, *, format: str = "mooncake", speedup: float = 1.0) -> Trace:
    """Replay a request trace: every request sent at its recorded offset (÷ ``speedup``) from
    the level's start, its input built to its recorded length (mooncake: equal ``hash_ids``
    blocks are equal text, so shared prefixes are shared), its output capped at the recorded
    length. ``format``: ``"mooncake"`` (JSONL) or ``"burstgpt"`` (CSV). A trace brings its own
    arrival times: ``load(trace(...), models)`` takes no ``rate`` or ``concurrency``;
    ``requests=`` or ``duration_s=`` replay only its start."""
    return Trace(path, format=format, speedup=speedup)


def write_sample_trace(path: str, *, requests: int = 40, rate_rps: float = 4.0, documents: int = 3,
                       seed: int = 0) -> str:
    """A small mooncake-format trace for demos and tests: Poisson arrivals at ``rate_rps``;
    each request reads one of ``documents`` shared documents (two 512-token blocks each, so
    prefix caching has something to reuse) plus a block of its own, and asks for 20–80 tokens.
    Returns ``path``."""
    from ..results.files import write_text

    rng = random.Random(seed)
    t, lines, next_id = 0.0, [], 1000
    docs = [(2 * d + 1, 2 * d + 2) for d in range(documents)]
    for _ in range(requests):
        own = next_id
        next_id += 1
        ids = [*rng.choice(docs), own]
        lines.append(json.dumps({"timestamp": round(t * 1000), "input_length": BLOCK_TOKENS * 3 - rng.randrange(200),
                                 "output_length": rng.randrange(20, 81), "hash_ids": ids}))
        t += rng.expovariate(rate_rps)
    return write_text(path, "\n".join(lines) + "\n")
