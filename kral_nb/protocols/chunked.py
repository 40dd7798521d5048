"""HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), undone read by read. Pure: bytes in,
payload bytes out; no I/O, no clock.

Why not h11's reader: h11 (through httpcore and httpx) reads a stream's body well, but each
read becomes an event object, an httpcore iteration and a task wake-up: under 256 streams on
one core that per-read machinery was 38 % of the client's CPU (``docs/benchmarks.md``,
"Ingest at the limit"). The transport undoes the framing in the receive callback instead
(``net/callbody.py``). What is accepted is exactly what h11 0.16 accepts — a size line of 1–20
hex digits, an extension after ``;``, blanks before CRLF; CRLF after each chunk's data; a
trailer section ended by a blank line, its fields checked by h11 itself (once per body) —
which ``tests/test_chunked.py`` checks against h11 on generated bodies cut at every byte and on
mutated framing. Lines are capped as httpcore caps h11's (100 KiB).
"""

from __future__ import annotations

import re

import h11

from .encoding import BodyDecodeError

#: the longest size line or trailer section kept while waiting for its end (httpcore's cap)
MAX_LINE = 100 * 1024

_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[^\n]*)?[ \t]*")
_TRAILER_END = re.compile(rb"\n\r?\n")  # h11's end of a block of lines

_SIZE, _DATA, _CRLF, _TRAILER, _DONE = range(5)


class ChunkedDecoder:
    """Feed each read to :meth:`decode`; it returns the payload bytes the read carried.
    ``done``: the last chunk and its trailer section have arrived; ``rest``: bytes that came
    after them. Malformed framing raises :class:`BodyDecodeError` with the payload decoded
    before it as ``partial``."""

    __slots__ = ("_held", "_left", "_state", "done", "rest")

    def __init__(self) -> None:
        self._state = _SIZE
        self._left = 0  # data bytes still to come in this chunk, or CRLF bytes to match
        self._held = b""  # an unfinished size line or trailer section
        self.done = False
        self.rest = b""

    def decode(self, data: bytes) -> bytes:
        if self._held:
            data, self._held = self._held + data, b""
        out: list[bytes] = []
        i, n = 0, len(data)
        while i < n:
            state = self._state
            if state == _DATA:
                take = self._left if self._left < n - i else n - i
                out.append(data[i:i + take])
                i += take
                self._left -= take
                if not self._left:
                    self._state, self._left = _CRLF, 2
            elif state == _CRLF:
                want = b"\r\n"[2 - self._left:]
                got = data[i:i + len(want)]
                if not want.startswith(got):
                    raise BodyDecodeError(f"malformed chunk footer: {got!r} (expected {want!r})", _join(out))
                i += len(got)
                self._left -= len(got)
                if not self._left:
                    self._state = _SIZE
            elif state == _SIZE:
                j = data.find(b"\r\n", i)
                if j < 0 or j - i > MAX_LINE:
                    self._hold(data[i:], out, "chunk size line")
                    break
                m = _SIZE_LINE.fullmatch(data, i, j)
                if m is None:
                    raise BodyDecodeError(f"illegal chunk header: {data[i:j][:80]!r}", _join(out))
                size = int(m[1], 16)
                i = j + 2
                if size:
                    self._state, self._left = _DATA, size
                else:
                    self._state = _TRAILER
            elif state == _TRAILER:
                if data.startswith(b"\r\n", i) or data.startswith(b"\n", i):  # no trailer fields
                    i += 2 if data[i] == 13 else 1
                else:
                    m = _TRAILER_END.search(data, i)
                    if m is None or m.end() - i > MAX_LINE:
                        self._hold(data[i:], out, "trailer section")
                        break
                    if not _trailer_ok(data[i:m.end()]):
                        raise BodyDecodeError(f"illegal trailer section: {data[i:m.end()][:80]!r}", _join(out))
                    i = m.end()
                self._state, self.done = _DONE, True
            else:
                self.rest += data[i:]
                break
        return _join(out)

    def _hold(self, part: bytes, out: list[bytes], what: str) -> None:
        if len(part) > MAX_LINE:
            raise BodyDecodeError(f"{what} longer than {MAX_LINE} bytes", _join(out))
        self._held = part


def _trailer_ok(section: bytes) -> bool:
    """Whether h11 reads ``section`` as a chunked body's trailer fields."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n" + section)
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.EndOfMessage) or event is h11.NEED_DATA:
                return event is not h11.NEED_DATA
    except h11.ProtocolError:
        return False


def _join(out: list[bytes]) -> bytes:
    return out[0] if len(out) == 1 else b"".join(out)
