"""A run's runs-frame row: its timing, token and flag columns derived from its records.

Pure: the records carry every timestamp; nothing here reads the clock or does I/O.
``recorder.py`` keeps a run's state, this module what is derived from it: frames and views
read a run through :func:`row` (the arrow points one way: recorder never imports this).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocols.records import ANSWER_KINDS, CONTENT_KINDS, USAGE
from ..redact import mask
from . import metrics
from .columnar import KIND_CODE, RecordColumns

if TYPE_CHECKING:
    from .recorder import Run

CONTENT_CODES = frozenset(KIND_CODE[k] for k in CONTENT_KINDS)
CONTENT_CODE_LIST = sorted(CONTENT_CODES)
ANSWER_CODES = frozenset(KIND_CODE[k] for k in ANSWER_KINDS)


def chunk_tokens(run: Run, cols: RecordColumns) -> tuple[np.ndarray, str | None]:
    """Tokens of each row of ``cols`` (this run's settled records), -1 where not content
    or not known, and their source (``metrics.chunk_tokens``)."""
    kinds = np.frombuffer(cols.kind, dtype=np.uint8)
    content = np.isin(kinds, CONTENT_CODE_LIST)
    reads = np.repeat(np.arange(len(cols.read_count)), np.frombuffer(cols.read_count, dtype=np.int32))
    usage = sorted((row, c.output_tokens) for row, c in cols.extra.items()
                   if c.kind == USAGE and c.output_tokens is not None)
    return metrics.chunk_tokens(content, reads, usage, run.counted_chunk_tokens)

def row(run: Run) -> dict[str, Any]:
    """The runs-frame row of ``run`` (definitions: docs/metrics.md)."""
    t_first_event = ttft = ttfa = math.nan
    content_t: list[int] = []  # arrival of each read that carried content
    n_content = 0
    cols = run.records.settled()
    row = 0
    for t, count in zip(cols.read_t_ns, cols.read_count, strict=True):
        if math.isnan(t_first_event):
            t_first_event = _s(run, t)
        codes = cols.kind[row:row + count]
        row += count
        n = sum(code in CONTENT_CODES for code in codes)
        if n:
            n_content += n
            content_t.append(t)
            if math.isnan(ttft):
                ttft = _s(run, t)
            if math.isnan(ttfa) and any(code in ANSWER_CODES for code in codes):
                ttfa = _s(run, t)
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(content_t)]
    e2e = _s(run, run.end_ns) if run.end_ns is not None else math.nan
    idle = math.nan if run._max_read_gap_ns is None else run._max_read_gap_ns / 1e9
    out_tok, source = run.output_tokens()
    itl_token = _token_gaps(run, cols)
    rate, tpot = decode(out_tok, e2e - ttft)
    return {
        "run_id": run.run_id, "provider": run.provider, "model": run.model,
        "protocol": run.protocol, "started_at": run.started_at, "status": run.status,
        "http_status": run.http_status, "http_version": run.http_version,
        "error": run.error, "connect_s": run.connect_ns / 1e9,
        "ttfb_s": _s(run, run.headers_ns), "t_first_event_s": t_first_event,
        "ttft_s": ttft, "ttfa_s": ttfa, "e2e_s": e2e, "n_chunks": len(run.records),
        "n_content_chunks": n_content,
        "input_tokens": run.usage.get("input_tokens"), "output_tokens": out_tok,
        "reasoning_tokens": run.usage.get("reasoning_tokens"),
        "cached_tokens": run.usage.get("cached_tokens"), "tokens_source": source,
        "output_tokens_per_s": rate,
        "itl_mean_s": sum(gaps) / len(gaps) if gaps else math.nan,
        "itl_p50_s": float(np.percentile(gaps, 50)) if gaps else math.nan,
        "itl_p95_s": float(np.percentile(gaps, 95)) if gaps else math.nan,
        "itl_max_s": max(gaps) if gaps else math.nan, "tpot_s": tpot,
        "finish_reason": run.finish_reason, "text": run.text,
        "tool_calls": _json(run, [tc.to_dict() for tc in run.tool_calls.values()]),
        "repeat": run.repeat, "prompt_id": run.prompt_id, "warmup": run.warmup,
        "buffered": metrics.is_buffered(ttft, e2e, n_content, gaps),
        "max_idle_s": idle, "attempts": run.attempts,
        "retry_wait_s": run.retry_wait_s, "loop_lag_max_s": run.loop_lag_max_s,
        "n_bytes": run.n_bytes,
        "server_metrics": json.dumps(run.server_metrics) if run.server_metrics else None,
        "server_tool_calls": _json(run, [tc.to_dict() for tc in run.server_tool_calls.values()]),
        "streamed": run.streamed,
        "itl_token_p50_s": float(np.percentile(itl_token, 50)) if len(itl_token) else math.nan,
        "itl_token_p95_s": float(np.percentile(itl_token, 95)) if len(itl_token) else math.nan,
        "request_key": run.request_key, "request": run.request,
        "terminator": run.terminator, "n_choices": 1 + len(run.other_choices),
    }

def _json(run: Run, value: Any) -> str:
    """JSON of values joined from the wire (tool arguments), masked of the run's secrets."""
    text = json.dumps(value)
    return mask(text, run.secrets) if run.secrets else text


def decode(output_tokens: int, decode_s: float) -> tuple[float, float]:
    """(output tokens/s, TPOT): the tokens after the first over the time after the first
    content (docs/metrics.md); NaN with fewer than two tokens."""
    if output_tokens > 1 and decode_s > 0:
        return (output_tokens - 1) / decode_s, decode_s / (output_tokens - 1)
    return math.nan, math.nan


@dataclass(frozen=True)
class Live:
    """A run's figures while it streams, by the same definitions as its row: seconds since
    the request (``elapsed_s``), TTFT, the output tokens and their source, tokens/s."""

    elapsed_s: float
    ttft_s: float
    tokens: int
    source: str
    tokens_per_s: float


def live(run: Run, now_ns: int) -> Live:
    """:class:`Live` figures of ``run`` at ``now_ns`` (its end once it ended): cheap enough
    for every render of a pane (no pass over the records)."""
    end = run.end_ns if run.end_ns is not None else now_ns
    tokens, source = run.output_tokens()
    ttft = _s(run, run.first_content_ns)
    rate = decode(tokens, (end - run.first_content_ns) / 1e9)[0] if run.first_content_ns is not None else math.nan
    return Live(_s(run, end), ttft, tokens, source, rate)


def _token_gaps(run: Run, cols: RecordColumns) -> np.ndarray:
    """Per-token gaps where every content chunk's token count is known, else empty."""
    tokens, source = chunk_tokens(run, cols)
    kinds = np.frombuffer(cols.kind, dtype=np.uint8)
    content = np.isin(kinds, CONTENT_CODE_LIST)
    if source is None or (tokens[content] < 0).any():
        return np.empty(0)
    counts = np.frombuffer(cols.read_count, dtype=np.int32)
    reads = np.repeat(np.arange(len(counts)), counts)
    per_read = np.bincount(reads[content], weights=tokens[content], minlength=len(counts)).astype(np.int64)
    has = np.bincount(reads[content], minlength=len(counts)) > 0
    return metrics.token_gaps(np.frombuffer(cols.read_t_ns, dtype=np.int64)[has], per_read[has])


def _s(run: Run, t_ns: int | None) -> float:
    if t_ns is None or run.t0_ns is None:
        return math.nan
    return (t_ns - run.t0_ns) / 1e9
