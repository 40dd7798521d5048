"""Pure metric helpers (docs/metrics.md): token estimates, tokens per chunk, per-token
gaps and the buffered flag."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: where a chunk's token count came from (chunks frame ``n_tokens_source``)
TOKEN_SOURCES = ("tokenizer", "usage")


def estimate_tokens(n_chars: int) -> int:
    """Estimated tokens of a text of ``n_chars`` characters: ``ceil(chars / 4)`` (OpenAI's
    rule of thumb). Deliberately no tokenizer library: tiktoken fetches its encodings from the
    network on first use, and an estimate must work offline and give the same number on
    every machine (a frame saved on one is read on another)."""
    return math.ceil(n_chars / 4) if n_chars > 0 else 0


def chunk_tokens(content: np.ndarray, read_of_row: np.ndarray, usage_rows: Sequence[tuple[int, int]],
                 counted: Sequence[int] | None) -> tuple[np.ndarray, str | None]:
    """Tokens of each content chunk where the stream tells them, else -1, and their source.

    ``content``: bool per row; ``read_of_row``: the read each row arrived in; ``usage_rows``:
    (row, cumulative output tokens) of each usage record carrying output tokens, in order;
    ``counted``: tokens per content chunk from the model's tokenizer, when known.

    ``usage``: cumulative usage after every event (Gemini, vLLM ``continuous_usage_stats``,
    the sim): the tokens a usage record adds since the previous one belong to the content
    chunks between them, when those arrived in one read (shared evenly between chunks of that
    read, the remainder to the first). Content that several reads share one increase with, or
    with no increase, stays unknown (-1). ``tokenizer``: ``counted`` as given."""
    n = len(content)
    out = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(content)
    if counted is not None and len(counted) == len(rows):
        out[rows] = np.asarray(counted, dtype=np.int64)
        return out, "tokenizer"
    if not usage_rows or not len(rows):
        return out, None
    known = False
    prev_total = 0
    start = 0  # first row after the previous usage record
    for row, total in usage_rows:
        pending = rows[(rows >= start) & (rows < row)]
        delta = total - prev_total
        if len(pending) and delta > 0 and read_of_row[pending[0]] == read_of_row[pending[-1]]:
            share, extra = divmod(delta, len(pending))
            out[pending] = share
            out[pending[:extra]] += 1
            known = True
        prev_total, start = max(prev_total, total), row + 1
    return out, "usage" if known else None


def token_gaps(read_t_ns: np.ndarray, read_tokens: np.ndarray) -> np.ndarray:
    """Per-token inter-token latencies (s) from the content reads' arrival times and the
    tokens each carried: the gap before a read is spread evenly over its tokens (a read of
    0 tokens passes its gap on to the next). The first read's tokens belong to TTFT."""
    if len(read_t_ns) < 2:
        return np.empty(0)
    gaps = np.diff(read_t_ns).astype(float) / 1e9
    tokens = read_tokens[1:]
    carried = np.cumsum(gaps)
    keep = tokens > 0
    ends = carried[keep]
    spans = np.diff(ends, prepend=0.0)  # gaps of 0-token reads roll into the next
    return np.repeat(spans / tokens[keep], tokens[keep])


def is_buffered(ttft_s: float, e2e_s: float, n_content: int, gaps_s: Sequence[float]) -> bool:
    """Content that arrives in one burst at the end: at least 4 content chunks, TTFT >= 90%
    of an e2e over 0.5 s, and every gap between arrivals < 5 ms (or one single read).
    A proxy is holding the stream back: its TTFT is not the model's."""
    if n_content < 4 or not (e2e_s > 0.5) or math.isnan(ttft_s):
        return False
    return ttft_s >= 0.9 * e2e_s and (not gaps_s or max(gaps_s) < 0.005)
