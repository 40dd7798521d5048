"""A chunked stream's body read in the receive callback: each socket read is stamped, its
HTTP/1.1 framing undone (``protocols/chunked.py``) and its payload fed to the pipeline in the
same call, before the loop polls again. httpx sent the request and parsed the head; for the
body no task wakes per read, no h11 event or httpcore iteration is built: under load that
machinery was most of the client's CPU per chunk (``docs/benchmarks.md``).

The reading task waits once, for the outcome. What each outcome means is the transport's
(``transport.py``), the same as when httpx reads the body.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from ..clock import now_ns
from ..protocols.chunked import ChunkedDecoder
from ..protocols.encoding import BodyDecodeError
from ..record.pipeline import Pipeline
from .netstream import StampedStream

#: "terminator": the protocol's end arrived (the body may go on: see ``drained``);
#: "ended": the body ended first; "closed": the peer closed mid-body or broke the framing;
#: "reset": the connection failed (``exc``); "idle": no bytes for the idle timeout
Outcome = Literal["terminator", "ended", "closed", "reset", "idle"]


class CallbackBody:
    """The sink a :class:`StampedStream` feeds. ``outcome`` resolves once, ``drained`` when
    the body's framing has ended after the terminator (the connection can be reused);
    ``t_ns``: the stamp of the last read fed to the pipeline (the terminator's, if it came)."""

    __slots__ = ("_chunks", "_stream", "drained", "exc", "last_ns", "outcome", "pipe", "t_ns")

    def __init__(self, pipe: Pipeline, stream: StampedStream, loop: asyncio.AbstractEventLoop) -> None:
        self.pipe = pipe
        self._stream = stream
        self._chunks = ChunkedDecoder()
        self.outcome: asyncio.Future[Outcome] = loop.create_future()
        self.drained: asyncio.Future[bool] = loop.create_future()
        self.t_ns = 0
        self.last_ns = now_ns()
        self.exc: BaseException | None = None

    def data(self, t_ns: int, data: bytes) -> None:
        self.last_ns = t_ns
        if not self.outcome.done():
            self.t_ns = t_ns
        chunks = self._chunks
        try:
            payload = chunks.decode(data)
        except BodyDecodeError as exc:  # keep what the read held before the bad framing
            self._feed(t_ns, exc.partial)
            self._stop("closed")
            return
        self._feed(t_ns, payload)
        if chunks.done:
            self._stream.detach(t_ns, ended=True, rest=chunks.rest)
            self._settle("ended")
            if not self.drained.done():
                self.drained.set_result(True)

    def _feed(self, t_ns: int, payload: bytes) -> None:
        pipe = self.pipe
        if not payload or pipe.done or self.outcome.done():  # after the terminator: framing only
            return
        try:
            pipe.feed(t_ns, payload)
        except Exception as exc:  # a defect below: the reading task raises it
            self._stream.detach()
            if not self.outcome.done():
                self.outcome.set_exception(exc)
            return
        if pipe.done:
            self._settle("terminator")

    def end(self, exc: BaseException | None) -> None:
        """The connection closed (``exc``: how, None for a clean close) before the body's
        framing ended."""
        self.exc = exc
        self._stop("closed" if exc is None else "reset")

    def idle(self, idle_s: float) -> None:
        """Called every ``idle_s``: settles "idle" when no read came for that long."""
        if now_ns() - self.last_ns >= idle_s * 1e9:
            self._stop("idle")

    def _stop(self, outcome: Outcome) -> None:
        self._stream.detach()
        self._settle(outcome)
        if not self.drained.done():
            self.drained.set_result(False)

    def _settle(self, outcome: Outcome) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


async def read_body(pipe: Pipeline, stream: StampedStream, idle_s: float) -> CallbackBody:
    """Feed the body into ``pipe`` from the callbacks until an outcome; the returned sink
    still drains the framing after a terminator (await ``drained``; :meth:`StampedStream.detach`
    is called when it is done or abandoned)."""
    loop = asyncio.get_running_loop()
    body = CallbackBody(pipe, stream, loop)

    def watch() -> None:
        body.idle(idle_s)
        if not body.outcome.done():
            timer[0] = loop.call_later(max(0.001, idle_s - (now_ns() - body.last_ns) / 1e9), watch)

    timer: list[asyncio.TimerHandle] = []
    try:
        timer.append(loop.call_later(idle_s, watch))
        stream.attach(body)
        await body.outcome
    except BaseException:  # cancelled (even once the outcome came), or a defect: reads go back
        stream.detach()
        raise
    finally:
        if timer:
            timer[0].cancel()
    return body
