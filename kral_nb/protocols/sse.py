"""Server-Sent Events decoder (sans-I/O), following the WHATWG "event stream interpretation".

``SSEDecoder().decode(data: bytes) -> list[Event | Comment]`` and ``flush() -> list``.
Any split of the same bytes gives the same items: UTF-8 characters and CRLF pairs may
straddle reads. Comments (``: keep-alive``) are returned as :class:`Comment` so that idle
gaps stay visible. No I/O, no clock.

We do not use httpx-sse here: it drops comments (kral_nb records them as keepalives),
iterates lines through httpx (one Python call per line) and cannot tell which raw read
an event came from, which the per-read arrival stamps need.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 3x, once per chunk (bench/throughput.py)
class Event:
    """One dispatched event: ``event`` defaults to ``"message"``. Treat as read-only."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


@dataclass(slots=True)
class Comment:
    """A comment line (the text after the colon, one leading space removed)."""

    text: str


Item = Event | Comment


class SSEDecoder:
    """Incremental decoder. ``last_event_id`` persists across events, as the spec says.
    Linear in line length: an unterminated line is kept as a list of pieces and joined once
    when its end arrives (``bench/decode_lines.py``: time per MB flat from 1 to 64 MB)."""

    MEDIA_TYPE = "text/event-stream"

    __slots__ = (
        "_data",
        "_event",
        "_has_data",
        "_retry",
        "_skip_lf",
        "_started",
        "_tail",
        "_utf8",
        "last_event_id",
    )

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail: list[str] = []  # pieces of an unterminated line
        self._skip_lf = False  # the previous text ended with CR: a leading LF is part of it
        self._started = False
        self._data: list[str] = []
        self._has_data = False
        self._event = ""
        self._retry: int | None = None
        self.last_event_id: str | None = None

    def decode(self, data: bytes) -> list[Item]:
        """Feed raw bytes; return the events and comments completed by them."""
        text = self._utf8.decode(data)
        return self._feed_text(text) if text else []

    def flush(self) -> list[Item]:
        """End of stream: the spec discards an event not terminated by a blank line.

        Returns the comment on an unterminated last line, if any; the caller learns about
        an unterminated event from :attr:`pending`.
        """
        text = self._utf8.decode(b"", final=True)
        out = self._feed_text(text) if text else []
        tail = "".join(self._tail)
        if tail.startswith(":"):
            out.append(Comment(tail[1:].removeprefix(" ")))
        self._tail = []
        return out

    @property
    def pending(self) -> bool:
        """True when bytes of an unfinished event (or line) are buffered."""
        return bool(self._tail) or self._has_data or bool(self._event)

    def _feed_text(self, text: str) -> list[Item]:
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
                if not text:
                    return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            if text[-1] == "\r":
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._tail.append(text)
            return []
        if self._tail:
            self._tail.append(text)
            text = "".join(self._tail)
            self._tail = []
        lines = text.split("\n")
        last = lines.pop()
        if last:
            self._tail.append(last)
        out: list[Item] = []
        data = self._data
        for line in lines:
            if not line:
                self._dispatch(out)
                data = self._data
            elif line[:6] == "data: ":  # the common case, fast
                data.append(line[6:])
                self._has_data = True
            elif line[0] == ":":
                out.append(Comment(line[1:].removeprefix(" ")))
            else:
                self._field(line)
        return out

    def _field(self, line: str) -> None:
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, out: list[Item]) -> None:
        if self._has_data:
            out.append(
                Event(
                    "\n".join(self._data),
                    self._event or "message",
                    self.last_event_id,
                    self._retry,
                )
            )
        self._data = []
        self._has_data = False
        self._event = ""
        self._retry = None
