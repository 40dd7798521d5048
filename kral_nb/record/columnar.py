"""A run's records held as compact columns instead of a tuple and a ``Chunk`` object each.

Per read that carried chunks: its arrival time, the raw bytes since the previous record and
the number of chunks (machine integers). Per chunk: a kind byte and its text's UTF-8 bytes and
end offset. The rare chunks with more than text (tool fragments, usage, finish, errors, server
metrics) are kept whole beside them. About 75 MB per 10^6 chunk rows held (tuples and objects:
about 300), and the chunks frame's text column is built straight from those bytes (Arrow);
``bench/scale.py`` measures both layouts side by side. Pickles as a handful of buffers, so a
worker process or a Ray actor ships a run's records as columns, not an object per chunk.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import overload

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
                 "read_t_ns", "text", "text_end")
    BATCH = 1024

    def __init__(self) -> None:
        self.read_t_ns = array("q")  # arrival time of each read that carried chunks
        self.read_n_bytes = array("q")  # raw bytes received since the previous such read
        self.read_count = array("q")  # chunks it carried
        self.kind = bytearray()  # KIND_CODE of each chunk
        self.text = bytearray()  # every chunk's text, UTF-8, back to back
        self.text_end = array("q")  # where each chunk's text ends in ``text``
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
            self.text_end.frombytes(ends.tobytes())
            self.text += data
            self.read_t_ns.frombytes(np.array(ts, dtype=np.int64).tobytes())
            self.read_n_bytes.frombytes(np.array(nbs, dtype=np.int64).tobytes())
            self.read_count.frombytes(np.array(counts, dtype=np.int64).tobytes())
            self.kind += codes  # last: len(kind) rows are complete in every column
            self.pending, self.pending_chunks = [], []

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
            for name in ("read_t_ns", "read_n_bytes", "read_count", "text_end"):
                setattr(copy, name, array("q", getattr(self, name)))
            copy.kind, copy.text = bytearray(self.kind), bytearray(self.text)
            copy.pending, copy.pending_chunks = list(self.pending), list(self.pending_chunks)
            copy.extra = dict(self.extra)
        copy.close()
        return copy

    def row_t_ns(self) -> np.ndarray:
        """Every row's arrival time (a settled copy's or closed columns')."""
        return np.repeat(np.frombuffer(self.read_t_ns, dtype=np.int64),
                         np.frombuffer(self.read_count, dtype=np.int64))

    def row_n_bytes(self) -> np.ndarray:
        """Every row's raw bytes since the previous row (the first row of a read gets them)."""
        out = np.zeros(len(self.kind), dtype=np.int64)
        counts = np.frombuffer(self.read_count, dtype=np.int64)
        out[np.cumsum(counts) - counts] = np.frombuffer(self.read_n_bytes, dtype=np.int64)
        return out

    def __len__(self) -> int:
        return len(self.kind) + len(self.pending_chunks)

    def _text_of(self, i: int) -> str:
        return self.text[self.text_end[i - 1] if i else 0:self.text_end[i]].decode()

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
                ("read_t_ns", "read_n_bytes", "read_count", "kind", "text", "text_end", "extra")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__()  # type: ignore[misc]
        for name, value in state.items():
            setattr(self, name, value)
        self.closed = True


class TextBuffer:
    """A run's answer (or reasoning) as it grows: ``append`` is a plain list append; every
    ``compact()`` (the run calls it once per batch of records) joins the parts added since
    into one, so a long stream holds a few long strings, not one per chunk."""

    __slots__ = ("_joined", "_n_joined", "append", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.append = self.parts.append
        self._joined = 0  # parts[:_joined] are joined batches
        self._n_joined = 0  # how many appended parts they hold

    def compact(self) -> None:
        tail = self.parts[self._joined:]
        if len(tail) > 1:
            self._n_joined += len(tail)
            self.parts[self._joined:] = ["".join(tail)]
            self._joined += 1
        elif tail:
            self._n_joined += 1
            self._joined += 1

    def n_chars(self) -> int:
        """Characters so far."""
        return sum(map(len, self.parts))

    def __len__(self) -> int:
        """How many parts were appended."""
        return self._n_joined + len(self.parts) - self._joined

    def __str__(self) -> str:
        return "".join(self.parts)

    def __getstate__(self) -> tuple[str, int]:
        return str(self), len(self)

    def __setstate__(self, state: tuple[str, int]) -> None:
        self.__init__()  # type: ignore[misc]
        text, n = state
        if n:
            self.parts.append(text)
            self._joined, self._n_joined = 1, n
