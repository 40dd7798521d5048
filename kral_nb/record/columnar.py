"""A run's records held as compact columns instead of a tuple and a ``Chunk`` object each.

Per read that carried chunks: its arrival time, the raw bytes since the previous record and
the number of chunks (machine integers). Per chunk: a kind byte and its text's UTF-8 bytes and
offsets, laid out as an Arrow ``large_string`` column is (``n + 1`` int64 offsets from 0, the
bytes back to back), so the chunks frame's text column *is* these buffers, not a copy. The
rare chunks with more than text (tool fragments, usage, finish, errors, server metrics) are
kept whole beside them. ``bench/scale.py`` measures the memory held and at the frame's build
peak. Pickles as a handful of buffers, so a
worker process or a Ray actor ships a run's records as columns, not an object per chunk.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import Any, cast, overload

import numpy as np

from ..protocols.records import DONE, KEEPALIVE, KINDS, OTHER, REASONING, REFUSAL, START, TEXT, Chunk

#: Chunk.kind <-> its one-byte code in ``RecordColumns.kind``
KIND_CODE: dict[str, int] = {k: i for i, k in enumerate(KINDS)}
#: kinds whose chunks carry nothing but ``text`` (the parsers build them as ``Chunk(kind, text)``)
PLAIN_CODES = frozenset(KIND_CODE[k] for k in (START, TEXT, REASONING, REFUSAL, KEEPALIVE, DONE, OTHER))

Row = tuple[int, int, Chunk]


def utf8(text: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (JSON allows ``"\\ud800"``, UTF-8 does not)
    becomes U+FFFD, as in every frame and file kral_nb writes."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode()


_kind = attrgetter("kind")
_text = attrgetter("text")
_choice = attrgetter("choice")


class RecordColumns(Sequence[Row]):
    """The records of one run in arrival order; reads as a sequence of ``(t_ns, n_bytes, chunk)``.

    Per read that produced chunks: its arrival time, the raw bytes since the previous record
    and how many chunks it carried (one entry, however many chunks a read holds). Per chunk:
    a kind byte and its text. The engine thread appends whole reads to ``pending`` (one tuple
    per read: the cheapest thing the hot path can do) and moves them into the columns a batch
    at a time; readers on any thread get every row through ``settled()``."""

    __slots__ = ("_lock", "closed", "extra", "kind", "pending", "pending_chunks", "read_count", "read_n_bytes",
                 "read_t_ns", "text", "text_offsets")
    BATCH = 1024

    def __init__(self) -> None:
        self.read_t_ns = array("q")  # arrival time of each read that carried chunks
        self.read_n_bytes = array("q")  # raw bytes received since the previous such read
        self.read_count = array("i")  # chunks it carried (int32: a read holds far fewer)
        self.kind = bytearray()  # KIND_CODE of each chunk
        self.text = bytearray()  # every chunk's text, UTF-8, back to back
        self.text_offsets = array("q", [0])  # chunk i's text is text[offsets[i]:offsets[i + 1]]
        self.extra: dict[int, Chunk] = {}  # row -> the whole chunk, for kinds not in PLAIN_CODES
        self.pending: list[tuple[int, int, int]] = []  # (t_ns, n_bytes, n_chunks) of reads not yet in
        self.pending_chunks: list[Chunk] = []  # the columns, and their chunks
        self.closed = False  # no more rows will come: readers may use the columns in place
        self._lock = threading.Lock()  # a flush against a reader's copy

    def add(self, t_ns: int, n_bytes: int, chunks: list[Chunk]) -> bool:
        """One read's chunks (the engine thread); True when a batch moved into the columns."""
        self.pending.append((t_ns, n_bytes, len(chunks)))
        self.pending_chunks += chunks
        if len(self.pending_chunks) >= self.BATCH:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Move the pending reads into the columns (the appending thread only)."""
        with self._lock:
            reads = self.pending
            if not reads:
                return
            ts, nbs, counts = zip(*reads, strict=True)
            chunks = self.pending_chunks
            codes = bytes(map(KIND_CODE.__getitem__, map(_kind, chunks)))
            other = any(map(_choice, chunks))  # n > 1: a chunk of another choice keeps its index
            if other or not PLAIN_CODES.issuperset(codes):
                base = len(self.kind)
                for i, code in enumerate(codes):
                    if code not in PLAIN_CODES or chunks[i].choice:
                        self.extra[base + i] = chunks[i]
            texts = list(map(_text, chunks))
            joined = "".join(texts)
            if joined.isascii():
                data = joined.encode("ascii")
            else:
                texts = [utf8(t) for t in texts]
                data = b"".join(texts)
            ends = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            np.cumsum(ends, out=ends)
            ends += len(self.text)
            self._grow("text_offsets", ends.tobytes())
            self._grow("text", data)
            self._grow("read_t_ns", np.array(ts, dtype=np.int64).tobytes())
            self._grow("read_n_bytes", np.array(nbs, dtype=np.int64).tobytes())
            self._grow("read_count", np.array(counts, dtype=np.int32).tobytes())
            self._grow("kind", codes)  # last: len(kind) rows are complete in every column
            self.pending, self.pending_chunks = [], []

    def _grow(self, name: str, data: bytes) -> None:
        """Append ``data`` to a column. A frame may hold a column of a closed run without a
        copy (``chunks_frame``), which pins its buffer; a run reopened for a retry then grows
        a copy and leaves the frame's intact."""
        column = getattr(self, name)
        try:
            column.frombytes(data) if isinstance(column, array) else column.extend(data)
        except BufferError:
            column = column[:]
            column.frombytes(data) if isinstance(column, array) else column.extend(data)
            setattr(self, name, column)

    def close(self) -> None:
        """The run ended: everything into the columns, which no longer change."""
        self.flush()
        self.closed = True

    def settled(self) -> RecordColumns:
        """These columns once closed, else a consistent copy of every row so far (safe to
        read, and to view with NumPy, while the engine thread appends)."""
        if self.closed and not self.pending:
            return self
        copy = RecordColumns()
        with self._lock:
            for name in ("read_t_ns", "read_n_bytes", "read_count", "text_offsets"):
                setattr(copy, name, getattr(self, name)[:])
            copy.kind, copy.text = bytearray(self.kind), bytearray(self.text)
            copy.pending, copy.pending_chunks = list(self.pending), list(self.pending_chunks)
            copy.extra = dict(self.extra)
        copy.close()
        return copy

    def row_t_ns(self) -> np.ndarray:
        """Every row's arrival time (a settled copy's or closed columns')."""
        return np.repeat(np.frombuffer(self.read_t_ns, dtype=np.int64),
                         np.frombuffer(self.read_count, dtype=np.int32))

    def row_n_bytes(self) -> np.ndarray:
        """Every row's raw bytes since the previous row (the first row of a read gets them)."""
        out = np.zeros(len(self.kind), dtype=np.int64)
        counts = np.frombuffer(self.read_count, dtype=np.int32)
        out[np.cumsum(counts) - counts] = np.frombuffer(self.read_n_bytes, dtype=np.int64)
        return out

    def __len__(self) -> int:
        return len(self.kind) + len(self.pending_chunks)

    def joined(self, code: int) -> str:
        """The texts of every row of kind ``code`` and choice 0, joined (the run's answer or
        reasoning, read from the columns: one byte mask over the text, no object per row)."""
        cols = self.settled()
        chosen = np.frombuffer(cols.kind, dtype=np.uint8) == code
        for row, chunk in cols.extra.items():
            if chunk.choice:
                chosen[row] = False
        if chosen.all():
            return cols.text.decode()
        offsets = np.frombuffer(cols.text_offsets, dtype=np.int64)
        lengths = offsets[1:] - offsets[:-1]
        picked: bytes = np.frombuffer(cols.text, dtype=np.uint8)[np.repeat(chosen, lengths)].tobytes()
        return picked.decode()

    def _text_of(self, i: int) -> str:
        return self.text[self.text_offsets[i]:self.text_offsets[i + 1]].decode()

    def chunk(self, i: int) -> Chunk:
        """The chunk of row ``i`` (rebuilt for plain kinds)."""
        cols = self.settled()
        c = cols.extra.get(i)
        return c if c is not None else Chunk(KINDS[cols.kind[i]], cols._text_of(i))

    @overload
    def __getitem__(self, i: int) -> Row: ...
    @overload
    def __getitem__(self, i: slice) -> list[Row]: ...
    def __getitem__(self, i: int | slice) -> Row | list[Row]:
        rows = list(self)
        return rows[i]

    def __iter__(self) -> Iterator[Row]:
        cols = self.settled()
        row = 0
        for t, nb, count in zip(cols.read_t_ns, cols.read_n_bytes, cols.read_count, strict=True):
            for k in range(count):
                yield t, nb if k == 0 else 0, cols.chunk(row)
                row += 1

    def __repr__(self) -> str:
        return f"<RecordColumns {len(self)} record(s)>"

    def __getstate__(self) -> dict[str, object]:
        cols = self.settled()
        return {name: getattr(cols, name) for name in
                ("read_t_ns", "read_n_bytes", "read_count", "kind", "text", "text_offsets", "extra")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__()  # type: ignore[misc]
        ends = state.pop("text_end", None)  # pickled before the offsets began at 0: the ends alone
        if ends is not None:
            state["text_offsets"] = array("q", [0]) + array("q", cast(Any, ends))
        counts = state.get("read_count")
        if isinstance(counts, array) and counts.typecode != "i":  # pickled when counts were int64
            state["read_count"] = array("i", counts)
        for name, value in state.items():
            setattr(self, name, value)
        self.closed = True


class TextBuffer:
    """A run's answer (or reasoning) as it grows: ``append`` is a plain list append; every
    ``compact()`` (the run calls it once per batch of records) joins the parts added since
    into one, so a long stream holds a few long strings, not one per chunk. Once the run
    ends, ``settle`` drops the parts: the text is read from the records, which hold the same
    bytes (one copy of a long answer, not two)."""

    __slots__ = ("_joined", "_n_joined", "_source", "append", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.append = self.parts.append
        self._joined = 0  # parts[:_joined] are joined batches
        self._n_joined = 0  # how many appended parts they hold
        self._source: tuple[RecordColumns, int] | None = None  # settled: (records, kind code)

    def compact(self) -> None:
        tail = self.parts[self._joined:]
        if len(tail) > 1:
            self._n_joined += len(tail)
            self.parts[self._joined:] = ["".join(tail)]
            self._joined += 1
        elif tail:
            self._n_joined += 1
            self._joined += 1

    def settle(self, records: RecordColumns, kind: str) -> None:
        """The run ended: its text is the ``kind`` chunks of choice 0 in ``records`` (closed)."""
        if self._source is not None:
            return
        n = len(self)
        self._source = (records, KIND_CODE[kind])  # first: a reader on another thread reads the records now
        self._n_joined, self._joined = n, 0
        self.parts.clear()

    def reopen(self) -> None:
        """A retry appends again: the settled text back into parts."""
        if self._source is not None:
            text, self._source = str(self), None
            n, self._n_joined = self._n_joined, 0
            self.parts.append(text)
            self._joined, self._n_joined = 1, n

    def n_chars(self) -> int:
        """Characters so far."""
        return len(str(self)) if self._source is not None else sum(map(len, self.parts))

    def __len__(self) -> int:
        """How many parts were appended."""
        return self._n_joined + len(self.parts) - self._joined

    def __str__(self) -> str:
        if self._source is not None:
            records, code = self._source
            return records.joined(code) if self._n_joined else ""
        return "".join(self.parts)

    def __getstate__(self) -> tuple[Any, int]:
        """The settled records (pickled once with the run that holds them), else the text."""
        return (self._source if self._source is not None else str(self)), len(self)

    def __setstate__(self, state: tuple[Any, int]) -> None:
        self.__init__()  # type: ignore[misc]
        text, n = state
        if isinstance(text, tuple):
            self._source, self._n_joined = text, n
        elif n:
            self.parts.append(text)
            self._joined, self._n_joined = 1, n
