"""Build the two pandas frames (docs/metrics.md) from runs. Pure: records in, frames out."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..protocols.records import CONTENT_KINDS, KINDS
from ..record import runrow
from ..record.columnar import KIND_CODE, utf8
from ..record.metrics import TOKEN_SOURCES
from ..record.recorder import Run
from . import strings
from .columns import CHUNK_COLUMNS, RUN_DTYPES

_SPARSE_INTS = ("tool_index", "input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens")
_SPARSE_TEXTS = ("tool_args",)
_SPARSE_LABELS = ("tool_id", "tool_name", "finish_reason")  # labels on a few rows: categoricals
_INT32_MAX = 2**31 - 1
_CONTENT_CODES = np.array(sorted(KIND_CODE[k] for k in CONTENT_KINDS), dtype=np.uint8)


def _concat(parts: list[Any], dtype: Any) -> np.ndarray:
    return np.concatenate([np.frombuffer(p, dtype=dtype) for p in parts]) if parts else np.empty(0, dtype)


def _code_type(n_categories: int) -> type[np.signedinteger[Any]]:
    """The narrowest integer for the codes of ``n_categories`` (pandas's own choice)."""
    return np.int8 if n_categories < 2**7 else np.int16 if n_categories < 2**15 else np.int32


def _category(values: Sequence[str], n_per: np.ndarray) -> Any:
    """A per-run value repeated over the run's rows, as a categorical (sorted categories)."""
    cats = sorted(set(values))
    index = {v: i for i, v in enumerate(cats)}
    codes = np.repeat(np.array([index[v] for v in values], dtype=_code_type(len(cats))), n_per)
    return pd.Categorical.from_codes(codes, categories=pd.Index(cats)).remove_unused_categories()


def _sparse_category(n: int, values: dict[int, str]) -> Any:
    """A mostly missing label column (``values`` by row) as a categorical."""
    cats = sorted(set(values.values()))
    index = {v: i for i, v in enumerate(cats)}
    codes = np.full(n, -1, dtype=_code_type(len(cats)))
    for row, v in values.items():
        codes[row] = index[v]
    cats = [utf8(v).decode() for v in cats]  # a lone surrogate becomes U+FFFD, as in every string column
    return pd.Categorical.from_codes(codes, categories=pd.Index(cats))


def chunks_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Built column by column from each run's :class:`~kral_nb.columnar.RecordColumns`, each
    column once in its final dtype: no object per row, the text shared with the records
    (``strings.text_column``), temporaries of a run's size at most (``bench/scale.py``: the
    records and the frame's build peak per 10^6 rows)."""
    cols = [r.records.settled() for r in runs]
    n_per = np.array([len(c) for c in cols], dtype=np.int64)
    n = int(n_per.sum())
    bounds = list(itertools.pairwise([0, *np.cumsum(n_per).tolist()]))
    seq = np.empty(n, dtype=np.int32)
    t_s = np.empty(n)
    dt_s = np.full(n, np.nan)
    n_tokens = np.zeros(n, dtype=np.int32)
    no_tokens = np.ones(n, dtype=bool)
    n_bytes = np.zeros(n, dtype=np.int64)
    token_source: list[str | None] = []
    for run, c, (a, b) in zip(runs, cols, bounds, strict=True):
        tokens, source = runrow.chunk_tokens(run, c)
        token_source.append(source)
        if a == b:
            continue
        known = (tokens >= 0) & (tokens <= _INT32_MAX)
        n_tokens[a:b][known] = tokens[known]
        no_tokens[a:b] = ~known
        del tokens, known
        t = c.row_t_ns()
        seq[a:b] = np.arange(b - a, dtype=np.int32)
        t_s[a:b] = (t - (run.t0_ns or 0)) / 1e9
        # gap since the previous content chunk of the same run (nan before the first)
        last = np.where(np.isin(np.frombuffer(c.kind, dtype=np.uint8), _CONTENT_CODES), seq[a:b], -1)
        np.maximum.accumulate(last, out=last)
        prev = last[:-1]
        ok = prev >= 0
        dt_s[a + 1:b][ok] = (t[1:][ok] - t[prev[ok]]) / 1e9
        del t, last, prev, ok
        n_bytes[a:b] = c.row_n_bytes()
    codes = _concat([c.kind for c in cols], np.uint8)
    kinds = pd.Categorical.from_codes(codes, categories=pd.Index(KINDS)).remove_unused_categories()
    del codes
    text = strings.text_column(cols, [r.secrets for r in runs])
    n_chars = strings.n_chars(cols, n)
    choice = np.zeros(n, dtype=np.int32)
    ints = {name: np.zeros(n, dtype=np.int32) for name in _SPARSE_INTS}
    masks = {name: np.ones(n, dtype=bool) for name in _SPARSE_INTS}
    texts: dict[str, dict[int, str]] = {name: {} for name in (*_SPARSE_TEXTS, *_SPARSE_LABELS)}
    for run, c, (a, _) in zip(runs, cols, bounds, strict=True):
        masked_args = strings.masked_args(c, run.secrets) if run.secrets else {}
        for i, chunk in c.extra.items():
            row = a + i
            if not chunk.text and chunk.tool_args:
                n_chars[row] = len(chunk.tool_args)
            if chunk.choice:
                choice[row] = chunk.choice
            for name in _SPARSE_INTS:
                v = getattr(chunk, name)
                if v is not None and 0 <= v <= _INT32_MAX:  # the parsers' bound (a chunk built by hand: NA)
                    ints[name][row], masks[name][row] = v, False
            for name in (*_SPARSE_TEXTS, *_SPARSE_LABELS):
                v = masked_args.get(i, chunk.tool_args) if name == "tool_args" else getattr(chunk, name)
                if v is not None:
                    texts[name][row] = v
    data: dict[str, Any] = {
        "run_id": _category([r.run_id for r in runs], n_per),
        "provider": _category([r.provider for r in runs], n_per),
        "model": _category([r.model for r in runs], n_per),
        "protocol": _category([r.protocol for r in runs], n_per),
        "seq": seq, "kind": kinds.reorder_categories(sorted(kinds.categories)),
        "t_s": t_s, "dt_s": dt_s, "text": text, "n_chars": n_chars, "n_bytes": n_bytes,
    }
    for name in _SPARSE_INTS:
        data[name] = pd.arrays.IntegerArray(ints[name], masks[name])
    data["n_tokens"] = pd.arrays.IntegerArray(n_tokens, no_tokens)
    cats = list(TOKEN_SOURCES)  # fixed: frames of different runs concatenate, and Parquet keeps them
    codes = np.repeat(np.array([cats.index(src) if src else -1 for src in token_source], dtype=np.int8), n_per)
    codes[no_tokens] = -1
    data["n_tokens_source"] = pd.Categorical.from_codes(codes, categories=pd.Index(cats))
    for name in _SPARSE_TEXTS:
        data[name] = strings.sparse_strings(n, texts[name])
    for name in _SPARSE_LABELS:
        data[name] = _sparse_category(n, texts[name])
    data["choice"] = choice
    return pd.DataFrame({name: data[name] for name in CHUNK_COLUMNS}, copy=False)


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    from .cost import add_cost

    rows = [runrow.row(r) for r in runs]
    cols = {c: [row[c] for row in rows] for c in RUN_DTYPES}
    return add_cost(_typed(cols, RUN_DTYPES))


def _typed(cols: dict[str, list[Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    data = {}
    for name, dtype in dtypes.items():
        values = cols[name]
        if dtype == "datetime64[ns, UTC]":
            data[name] = pd.Series(pd.to_datetime(values, utc=True), dtype=dtype)
        else:
            data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)
