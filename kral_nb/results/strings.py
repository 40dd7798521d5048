"""The chunks frame's string columns, built from the records' buffers. Pure: bytes in, columns out.

Where pandas keeps strings in Arrow (pandas >= 3 with pyarrow, or ``string[pyarrow]``), no
column holds a Python object per row: the ``text`` column is one Arrow chunk per run made of
the run's own record buffers (offsets and UTF-8 bytes, shared, not copied: a frame of 10^6
rows adds no second copy of the text), runs of fewer than ``SHARE_MIN_ROWS`` rows are joined
into one chunk (many tiny chunks slow every later operation), and a run with secrets gets a
masked copy.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..record.columnar import RecordColumns, utf8
from ..redact import mask

#: pandas keeps "string" columns in Arrow (pandas >= 3 with pyarrow installed)
ARROW_STRINGS = isinstance(pd.array([], dtype="string"), pd.arrays.ArrowStringArray)
#: a run with at least this many rows lends its buffers to the text column; smaller runs are joined
SHARE_MIN_ROWS = 4096


def _valid(offsets: np.ndarray) -> np.ndarray:
    return offsets[1:] > offsets[:-1]  # an empty text is missing (NA), as it always was


def _objects(offsets: np.ndarray, data: bytes | bytearray, valid: np.ndarray) -> Any:
    texts = np.empty(len(valid), dtype=object)
    texts[:] = [bytes(data[a:b]).decode() if ok else None
                for (a, b), ok in zip(itertools.pairwise(offsets.tolist()), valid.tolist(), strict=True)]
    return pd.array(texts, dtype="string")


def _arrow(offsets: Any, data: Any, valid: np.ndarray) -> Any:
    """One Arrow string array over ``offsets`` and ``data`` (buffers, shared where possible)."""
    import pyarrow as pa

    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.LargeStringArray.from_buffers(len(valid), pa.py_buffer(offsets), pa.py_buffer(data), bitmap)


def strings(offsets: np.ndarray, data: bytes, valid: np.ndarray) -> Any:
    """A "string" column from UTF-8 ``data`` and the ``n + 1`` int64 offsets of its rows in it
    (``large_string``: what pandas keeps a "string" column as whatever it is handed)."""
    if not ARROW_STRINGS:
        return _objects(offsets, data, valid)
    import pyarrow as pa

    return pd.arrays.ArrowStringArray(pa.chunked_array([_arrow(offsets, data, valid)]))


def masked(cols: RecordColumns, secrets: tuple[str, ...]) -> bytes:
    """A run's chunk texts (UTF-8, back to back) masked of its secrets stream by stream: the
    texts of each (kind, choice) are joined, masked with lengths kept and split back, so a key
    split across two chunks is caught even with other chunks between them (latin-1 maps bytes
    1:1; keys are ASCII)."""
    if not secrets or not len(cols.kind):
        return bytes(cols.text)
    offsets = np.frombuffer(cols.text_offsets, dtype=np.int64).tolist()
    pieces = [bytes(cols.text[a:b]).decode("latin-1") for a, b in itertools.pairwise(offsets)]
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


def text_column(cols: Sequence[RecordColumns], secrets: Sequence[tuple[str, ...]]) -> Any:
    """The ``text`` column of the runs whose settled records are ``cols`` (in order)."""
    if not ARROW_STRINGS:
        parts, base = [np.zeros(1, dtype=np.int64)], 0
        for c in cols:
            parts.append(np.frombuffer(c.text_offsets, dtype=np.int64)[1:] + base)
            base += len(c.text)
        offsets = np.concatenate(parts)
        data = b"".join(masked(c, s) for c, s in zip(cols, secrets, strict=True))
        return _objects(offsets, data, _valid(offsets))
    import pyarrow as pa

    chunks: list[Any] = []
    small: list[tuple[np.ndarray, bytes]] = []

    def join_small() -> None:
        if small:
            sizes = np.cumsum([0] + [len(d) for _, d in small])
            offsets = np.concatenate([[0]] + [o[1:] - o[0] + base for (o, _), base in zip(small, sizes, strict=False)])
            chunks.append(_arrow(offsets, b"".join(d for _, d in small), _valid(offsets)))
            small.clear()

    for c, secret in zip(cols, secrets, strict=True):
        offsets = np.frombuffer(c.text_offsets, dtype=np.int64)
        if len(c.kind) >= SHARE_MIN_ROWS and not secret:
            join_small()
            chunks.append(_arrow(c.text_offsets, c.text, _valid(offsets)))  # the run's own buffers
        elif len(c.kind):
            small.append((offsets, masked(c, secret)))
    join_small()
    return pd.arrays.ArrowStringArray(pa.chunked_array(chunks, pa.large_string()))


def masked_args(cols: RecordColumns, secrets: tuple[str, ...]) -> dict[int, str]:
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


def sparse_strings(n: int, values: dict[int, str]) -> Any:
    """A mostly missing "string" column: ``values`` by row."""
    offsets = np.zeros(n + 1, dtype=np.int64)  # row lengths first, then their running sum
    valid = np.zeros(n, dtype=bool)
    encoded = {row: utf8(v) for row, v in sorted(values.items())}
    for row, b in encoded.items():
        offsets[row + 1], valid[row] = len(b), True
    return strings(np.cumsum(offsets, out=offsets), b"".join(encoded.values()), valid)


def n_chars(cols: Sequence[RecordColumns], n: int) -> np.ndarray:
    """Characters of each row's text (int32), counted in the records' UTF-8 bytes run by run
    (bytes that do not continue a character), so no temporary spans the whole frame."""
    out = np.empty(n, dtype=np.int32)
    a = 0
    for c in cols:
        offsets = np.frombuffer(c.text_offsets, dtype=np.int64)
        b = a + len(offsets) - 1
        if c.text.isascii():
            np.subtract(offsets[1:], offsets[:-1], out=out[a:b], casting="unsafe")
        else:
            starts = np.concatenate([[0], np.cumsum((np.frombuffer(c.text, dtype=np.uint8) & 0xC0) != 0x80)])
            np.subtract(starts[offsets[1:]], starts[offsets[:-1]], out=out[a:b], casting="unsafe")
        a = b
    return out
