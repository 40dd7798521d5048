"""The pipeline: decoder -> parser -> run, fed one raw read at a time by the transport (or by
``replay`` from recorded reads). Pure: every timestamp is data; no I/O, no clock."""

from __future__ import annotations

from ..protocols import Decoder, StreamParser, malformed
from ..protocols.jsonlib import loads
from ..protocols.records import ERROR, Chunk
from ..protocols.shape import ShapeError, abbrev
from ..protocols.sse import Comment, Event
from ..redact import scrub
from .recorder import Run

_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)
UNEXPECTED = "unexpected event shape"  # run(check=True) raises ProtocolError for it


def unexpected(item: Event | Comment, exc: Exception) -> Chunk:
    """The error record for valid JSON of the wrong shape: names the field and the value."""
    data = item.data if isinstance(item, Event) else item.text
    why = str(exc) if isinstance(exc, ShapeError) else f"{type(exc).__name__}: {exc}"
    return Chunk(ERROR, f"{UNEXPECTED} ({why}): {abbrev(data, 200)}", error_kind="protocol")


def _scrub_item(item: Event | Comment, secrets: tuple[str, ...]) -> None:
    if isinstance(item, Event):
        item.data = scrub(item.data, secrets)
    else:
        item.text = scrub(item.text, secrets)


_TEXT_FIELDS = ("text", "tool_id", "tool_name", "tool_args", "finish_reason")


def _scrub_chunks(chunks: list[Chunk], secrets: tuple[str, ...]) -> None:
    """Every string a chunk carries, scrubbed of the secrets as decoded values."""
    for c in chunks:
        for name in _TEXT_FIELDS:
            v = getattr(c, name)
            if v:
                setattr(c, name, scrub(v, secrets))


class Pipeline:
    """decoder -> parser -> run: ``feed(t_ns, data)`` per raw read, ``close(t_ns)`` at the end.

    Nothing after the protocol's terminator is parsed: bytes a server sends after ``[DONE]``
    or ``message_stop`` never change the answer. Every event is scrubbed of the run's secrets
    before the parser sees it (a server may echo the key in an error, a comment, a field of
    the wrong type): nothing the parser keeps or shortens can hold a key."""

    __slots__ = ("decoder", "parser", "run")

    def __init__(self, decoder: Decoder, parser: StreamParser, run: Run) -> None:
        self.decoder = decoder
        self.parser = parser
        self.run = run

    @property
    def done(self) -> bool:
        """The protocol's terminator arrived."""
        return self.parser.done

    def feed(self, t_ns: int, data: bytes, n_wire: int | None = None) -> None:
        """``data`` decoded from ``n_wire`` bytes on the wire (default ``len(data)``)."""
        if self.run.trace is not None:
            self.run.trace.append((t_ns, data))
        chunks = self._parse(self.decoder.decode(data)) if not self.parser.done else []
        self.run.add(t_ns, len(data) if n_wire is None else n_wire, chunks)

    def complete(self, t_ns: int, body: bytes) -> None:
        """A whole JSON answer where a stream was expected (a server that ignored
        ``stream: true``): parsed into one read's chunks, the run marked not streamed."""
        self.run.streamed = False
        text = scrub(body.decode("utf-8", "replace"), self.run.secrets)
        try:
            obj = loads(text)
        except ValueError:
            chunks = [malformed(text)]
        else:
            try:
                chunks = self.parser.complete(obj)
            except _SHAPE_ERRORS as exc:
                chunks = [unexpected(Event(text), exc)]
        if self.run.secrets:
            _scrub_chunks(chunks, self.run.secrets)
        self.run.add(t_ns, len(body), chunks)

    def fail(self, t_ns: int, n_wire: int, message: str) -> None:
        """Record data that is not the wire format, found below the parser (a body that fails
        to decompress, an HTML page)."""
        self.run.add(t_ns, n_wire, [Chunk(ERROR, message, error_kind="protocol")])

    def _parse(self, items: list[Event | Comment]) -> list[Chunk]:
        parser = self.parser
        secrets = self.run.secrets
        chunks: list[Chunk] = []
        for item in items:
            if parser.done:
                break
            if secrets:
                _scrub_item(item, secrets)
            try:
                new = parser.feed(item)
            except _SHAPE_ERRORS as exc:  # valid JSON of an unexpected shape: data, not a crash
                new = [unexpected(item, exc)]
            if secrets:  # the decoded values too: "sk\u002dabc" on the wire is the key once parsed
                _scrub_chunks(new, secrets)
            chunks += new
        return chunks

    def close(self, t_ns: int) -> None:
        """The body ended at ``t_ns``: flush, and settle ok / error / cut_off."""
        mid_event = self.decoder.pending
        chunks = self._parse(self.decoder.flush())
        close = getattr(self.parser, "close", None)
        if close is not None:
            chunks += close()
        if chunks:
            self.run.add(t_ns, 0, chunks)
        self.run.finish(t_ns, self.parser.done, mid_event)
