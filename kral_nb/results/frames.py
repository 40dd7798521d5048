"""Build the two pandas frames (docs/metrics.md) from runs. Pure: records in, frames out."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..protocols.records import CONTENT_KINDS, KINDS
from ..record import runrow
from ..record.columnar import KIND_CODE, RecordColumns, utf8
from ..record.metrics import TOKEN_SOURCES
from ..record.recorder import Run
from ..redact import mask
from .columns import CHUNK_COLUMNS, RUN_DTYPES

#: pandas keeps "string" columns in Arrow (pandas >= 3 with pyarrow installed)
_ARROW_STRINGS = isinstance(pd.array([], dtype="string"), pd.arrays.ArrowStringArray)
_SPARSE_INTS = ("tool_index", "input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens")
_SPARSE_TEXTS = ("tool_id", "tool_name", "tool_args", "finish_reason")
_CONTENT_CODES = np.array(sorted(KIND_CODE[k] for k in CONTENT_KINDS), dtype=np.uint8)


def _concat(parts: list[Any], dtype: Any) -> np.ndarray:
    return np.concatenate([np.frombuffer(p, dtype=dtype) for p in parts]) if parts else np.empty(0, dtype)


def _category(values: Sequence[str], n_per: np.ndarray) -> Any:
    """A per-run value repeated over the run's rows, as a categorical (sorted categories)."""
    cats = sorted(set(values))
    codes = np.repeat(np.array([cats.index(v) for v in values], dtype=np.int32), n_per)
    return pd.Categorical.from_codes(codes, categories=pd.Index(cats)).remove_unused_categories()


def _strings(offsets: np.ndarray, data: bytes, valid: np.ndarray) -> Any:
    """A "string" column from UTF-8 ``data`` and the ``n + 1`` offsets of its rows in it (no
    object per row when pandas keeps strings in Arrow)."""
    n = len(valid)
    if not _ARROW_STRINGS:
        texts = np.empty(n, dtype=object)
        texts[:] = [data[a:b].decode() if ok else None
                    for (a, b), ok in zip(itertools.pairwise(offsets.tolist()), valid.tolist(), strict=True)]
        return pd.array(texts, dtype="string")
    import pyarrow as pa

    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap)
    return pd.arrays.ArrowStringArray(pa.chunked_array([arr], pa.large_string()))


def _masked(cols: RecordColumns, secrets: tuple[str, ...]) -> bytes:
    """A run's chunk texts (UTF-8, back to back) masked of its secrets stream by stream: the
    texts of each (kind, choice) are joined, masked with lengths kept and split back, so a key
    split across two chunks is caught even with other chunks between them (latin-1 maps bytes
    1:1; keys are ASCII)."""
    if not secrets or not len(cols.kind):
        return bytes(cols.text)
    ends = np.frombuffer(cols.text_end, dtype=np.int64).tolist()
    pieces = [bytes(cols.text[a:b]).decode("latin-1") for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    streams: dict[tuple[int, int], list[int]] = {}
    for row, code in enumerate(cols.kind):
        extra = cols.extra.get(row)
        streams.setdefault((code, extra.choice if extra is not None else 0), []).append(row)
    for rows in streams.values():
        joined = mask("".join(pieces[r] for r in rows), secrets)
        pos = 0
        for r in rows:
            pieces[r], pos = joined[pos:pos + len(pieces[r])], pos + len(pieces[r])
    return "".join(pieces).encode("latin-1")


def _masked_args(cols: RecordColumns, secrets: tuple[str, ...]) -> dict[int, str]:
    """Each tool call's argument fragments (by choice and index) joined, masked, split back."""
    calls: dict[tuple[int, int | None], list[int]] = {}
    for row, chunk in sorted(cols.extra.items()):
        if chunk.tool_args:
            calls.setdefault((chunk.choice, chunk.tool_index), []).append(row)
    out: dict[int, str] = {}
    for rows in calls.values():
        parts = [cols.extra[r].tool_args or "" for r in rows]
        joined, pos = mask("".join(parts), secrets), 0
        for r, part in zip(rows, parts, strict=True):
            out[r], pos = joined[pos:pos + len(part)], pos + len(part)
    return out


def _sparse_strings(n: int, values: dict[int, str]) -> Any:
    """A mostly missing "string" column: ``values`` by row."""
    offsets = np.zeros(n + 1, dtype=np.int64)  # row lengths first, then their running sum
    valid = np.zeros(n, dtype=bool)
    encoded = {row: utf8(v) for row, v in sorted(values.items())}
    for row, b in encoded.items():
        offsets[row + 1], valid[row] = len(b), True
    return _strings(np.cumsum(offsets, out=offsets), b"".join(encoded.values()), valid)


def _n_chars(text: Any, n: int) -> np.ndarray:
    """Characters of each text."""
    if _ARROW_STRINGS:
        import pyarrow.compute as pc

        arr = text._pa_array
        lengths: np.ndarray = pc.utf8_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
        return lengths.astype(np.int64)
    return np.fromiter((0 if v is pd.NA else len(v) for v in text), dtype=np.int64, count=n)


def chunks_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Built column by column from each run's :class:`~kral_nb.columnar.RecordColumns`, each
    column once in its final form (no object per row, few temporaries: the build peak stays
    close to the frame's own size)."""
    cols = [r.records.settled() for r in runs]
    n_per = np.array([len(c) for c in cols], dtype=np.int64)
    n = int(n_per.sum())
    bounds = list(itertools.pairwise([0, *np.cumsum(n_per).tolist()]))
    seq = np.empty(n, dtype=np.int64)
    t_s = np.empty(n)
    dt_s = np.full(n, np.nan)
    n_tokens = np.full(n, -1, dtype=np.int64)
    token_source: list[str | None] = []
    for run, c, (a, b) in zip(runs, cols, bounds, strict=True):
        tokens, source = runrow.chunk_tokens(run, c)
        token_source.append(source)
        if a == b:
            continue
        n_tokens[a:b] = tokens
        t = c.row_t_ns()
        seq[a:b] = np.arange(b - a)
        t_s[a:b] = (t - (run.t0_ns or 0)) / 1e9
        # gap since the previous content chunk of the same run (nan before the first)
        last = np.where(np.isin(np.frombuffer(c.kind, dtype=np.uint8), _CONTENT_CODES), seq[a:b], -1)
        np.maximum.accumulate(last, out=last)
        prev = last[:-1]
        ok = prev >= 0
        dt_s[a + 1:b][ok] = (t[1:][ok] - t[prev[ok]]) / 1e9
        del t, last, prev, ok
    codes = _concat([c.kind for c in cols], np.uint8)
    kinds = pd.Categorical.from_codes(codes, categories=pd.Index(KINDS)).remove_unused_categories()
    del codes
    bases = np.cumsum([0] + [len(c.text) for c in cols]).tolist()
    offsets = np.zeros(n + 1, dtype=np.int64)
    for c, base, (a, b) in zip(cols, bases, bounds, strict=False):
        np.add(np.frombuffer(c.text_end, dtype=np.int64), base, out=offsets[a + 1:b + 1])
    text = _strings(offsets, b"".join(_masked(c, r.secrets) for c, r in zip(cols, runs, strict=True)),
                    offsets[1:] > offsets[:-1])
    n_chars = _n_chars(text, n)
    del offsets
    choice = np.zeros(n, dtype=np.int64)
    ints = {name: np.zeros(n, dtype=np.int64) for name in _SPARSE_INTS}
    masks = {name: np.ones(n, dtype=bool) for name in _SPARSE_INTS}
    texts: dict[str, dict[int, str]] = {name: {} for name in _SPARSE_TEXTS}
    for run, c, (a, _) in zip(runs, cols, bounds, strict=True):
        masked_args = _masked_args(c, run.secrets) if run.secrets else {}
        for i, chunk in c.extra.items():
            row = a + i
            if not chunk.text and chunk.tool_args:
                n_chars[row] = len(chunk.tool_args)
            if chunk.choice:
                choice[row] = chunk.choice
            for name in _SPARSE_INTS:
                v = getattr(chunk, name)
                if v is not None:
                    ints[name][row], masks[name][row] = v, False
            for name in _SPARSE_TEXTS:
                v = masked_args.get(i, chunk.tool_args) if name == "tool_args" else getattr(chunk, name)
                if v is not None:
                    texts[name][row] = v
    ids = [utf8(r.run_id) for r in runs]
    id_offsets = np.zeros(n + 1, dtype=np.int64)
    for run_id, (a, b) in zip(ids, bounds, strict=True):
        id_offsets[a + 1:b + 1] = len(run_id)
    np.cumsum(id_offsets, out=id_offsets)
    data: dict[str, Any] = {
        "run_id": _strings(id_offsets, b"".join(i * k for i, k in zip(ids, n_per.tolist(), strict=True)),
                           np.ones(n, dtype=bool)),
        "provider": _category([r.provider for r in runs], n_per),
        "model": _category([r.model for r in runs], n_per),
        "protocol": _category([r.protocol for r in runs], n_per),
        "seq": seq, "kind": kinds.reorder_categories(sorted(kinds.categories)),
        "t_s": t_s, "dt_s": dt_s, "text": text, "n_chars": n_chars,
        "n_bytes": np.concatenate([c.row_n_bytes() for c in cols]) if cols else np.empty(0, np.int64),
    }
    for name in _SPARSE_INTS:
        data[name] = pd.arrays.IntegerArray(ints[name], masks[name])
    unknown = n_tokens < 0
    data["n_tokens"] = pd.arrays.IntegerArray(np.where(unknown, 0, n_tokens), unknown)
    cats = list(TOKEN_SOURCES)  # fixed: frames of different runs concatenate, and Parquet keeps them
    codes = np.repeat(np.array([cats.index(src) if src else -1 for src in token_source], dtype=np.int32), n_per)
    codes[unknown] = -1
    data["n_tokens_source"] = pd.Categorical.from_codes(codes, categories=pd.Index(cats))
    for name in _SPARSE_TEXTS:
        data[name] = _sparse_strings(n, texts[name])
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
