"""The network streams kral_nb measures with: an httpcore network backend on asyncio
protocols that stamps each piece of received bytes with the moment it arrived, before any
task runs, parsing included.

Which moment: on Linux with asyncio's own loop, the **kernel's receive time** of the read
that delivered the bytes (``SO_TIMESTAMPNS``: the socket's reads go through ``recvmsg``,
which returns the time the last packet of the read reached the socket), moved onto the
monotonic clock. It does not depend on how busy the event loop is: a loop that comes back
to its sockets 5 ms late still stamps each chunk when its packet arrived (``bench/load.py``).
Elsewhere (uvloop reads through libuv, other systems, Unix sockets) the stamp is read when the
loop's poll hands the bytes over (``Protocol.data_received``). ``backend.kernel_stamps()``
says which.

Why not wrap httpcore's anyio streams (the earlier design): a read's stamp was taken when the
reading task resumed, after every callback queued ahead of it. One stream at a time that is
the same instant; with 64 streams on one loop the task for the 64th socket resumes after the
other 63 have parsed their chunks, and its stamp carried that queue (``bench/load.py``: p50
arrival − send 9–15 ms at 64 streams). Stamped in ``data_received``, every socket's bytes
get the time of the loop's I/O poll that delivered them. It also drops anyio's per-read
cancel scope, a fifth of a shard's CPU at high concurrency (py-spy). Plain asyncio and uvloop
both call ``data_received`` from their poll phase.

A response's body can also skip the reading task altogether: after a request, reads end where
the response's head ends, so h11 holds nothing of the body, and a :class:`BodySink` attached
then takes every later read in ``data_received`` itself (``callbody.py``).

httpcore's documented interface (``AsyncNetworkStream``); errors map to httpcore's
exceptions, which httpx turns into its own. The connections are made in ``backend.py``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from typing import Any, Protocol

import httpcore

from ..clock import now_ns
from .kernelstamp import DelaySample, StampingSocket

HIGH_WATER = 4 << 20  # bytes buffered before the socket is paused (a reader far behind)
LOW_WATER = 1 << 20
_HEAD_END = re.compile(rb"\n\r?\n")  # where h11 ends a response head
_REQUEST_LINE = re.compile(rb"[A-Z]+ [^ \r\n]+ HTTP/1\.[01]\r\n")  # a request's head starts so
#: what h11 is handed when a chunked body read in the callbacks ended (its framing only)
LAST_CHUNK = b"0\r\n\r\n"


class BodySink(Protocol):
    """Takes a response body's reads in the receive callback (``callbody.py``): no task
    wakes for them."""

    def data(self, t_ns: int, data: bytes) -> None: ...

    def end(self, exc: BaseException | None) -> None: ...


class Receiver(asyncio.Protocol):
    """Collects ``(arrival t_ns, bytes)`` pieces and wakes the one reader waiting for them,
    or hands each read to a :class:`BodySink`. ``delay_max_ns``: the longest the loop came
    late to bytes the kernel had stamped (pieces stamped by the loop itself: not measured)."""

    def __init__(self, sock: StampingSocket | None = None, delays: DelaySample | None = None) -> None:
        self.sock = sock
        self.delays = delays
        self.transport: asyncio.Transport | None = None
        self.pieces: deque[tuple[int, bytes]] = deque()
        self.buffered = 0
        self.eof = False
        self.exc: BaseException | None = None
        self.waiter: asyncio.Future[bool] | None = None
        self.paused = False
        self.write_paused = False
        self.drained: asyncio.Future[None] | None = None
        self.sink: BodySink | None = None
        self.delay_max_ns = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        t = now_ns()  # the loop's poll delivered these bytes now; the kernel had them at k
        k = self.sock.kernel_ns if self.sock is not None else 0
        if 0 < k <= t:
            if self.delays is not None:
                self.delays.append(t - k)  # how late the loop came to bytes the kernel had
            if t - k > self.delay_max_ns:
                self.delay_max_ns = t - k
            t = k
        if self.sink is not None:
            self.sink.data(t, data)
            return
        self.pieces.append((t, data))
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        if self.sink is not None:
            self.sink.end(None)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof, self.exc = True, exc
        self._wake()
        if self.sink is not None:
            self.sink.end(exc)
        self.resume_writing()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(True)


def _expire(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(False)


class StampedStream(httpcore.AsyncNetworkStream):
    """One connection. ``read`` returns the oldest received piece (at most ``max_bytes``)
    and sets ``read_ns`` to the moment it arrived. Where the kernel stamps (``kernel``), it
    also keeps the longest any piece waited for the event loop (:meth:`take_delay_max_ns`)."""

    def __init__(self, receiver: Receiver) -> None:
        self._r = receiver
        self.read_ns = 0
        self.kernel = receiver.sock is not None and receiver.sock.stamped
        self._head = False  # reads end where a response head ends (see ``read``)
        self._tail = b""
        self._status = b""  # the start of the head being read: "HTTP/1.1 1" is informational

    def take_delay_max_ns(self) -> int:
        """The longest loop delay of the pieces received since the last call (then reset)."""
        worst, self._r.delay_max_ns = self._r.delay_max_ns, 0
        return worst

    def attach(self, sink: BodySink) -> None:
        """From now on the reads go to ``sink`` in the receive callback, those already
        received first. Only between a response's head and its body: h11 has read exactly
        the head (``read`` ends there), so every byte of the body reaches ``sink``."""
        r = self._r
        r.sink = sink
        while r.pieces and r.sink is sink:
            t, data = r.pieces.popleft()
            r.buffered -= len(data)
            sink.data(t, data)
        if r.sink is sink and r.eof:
            sink.end(r.exc)
        if r.paused and r.transport is not None:
            r.paused = False
            r.transport.resume_reading()

    def detach(self, t_ns: int = 0, ended: bool = False, rest: bytes = b"") -> None:
        """Reads go back to ``read``. ``ended``: the sink read the whole body; h11, which saw
        only the head, is handed the last chunk (then ``rest``, what came after the body) so
        the connection ends its response cleanly and can serve the next one."""
        r = self._r
        r.sink = None
        if rest:
            r.pieces.appendleft((t_ns, rest))
        if ended:
            r.pieces.appendleft((t_ns, LAST_CHUNK))
        r.buffered += len(rest) + (len(LAST_CHUNK) if ended else 0)
        r._wake()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        r = self._r
        if not r.pieces:
            if r.eof:
                if r.exc is not None:
                    raise httpcore.ReadError(str(r.exc) or type(r.exc).__name__)
                return b""
            if not await self._wait(timeout):
                raise httpcore.ReadTimeout(f"no bytes for {timeout} s")
            if not r.pieces:
                return await self.read(max_bytes, timeout)
        t, data = r.pieces.popleft()
        if len(data) > max_bytes:
            r.pieces.appendleft((t, data[max_bytes:]))
            data = data[:max_bytes]
        if self._head:  # h11 gets the head and nothing after it: the body can go to a sink
            m = _HEAD_END.search(self._tail + data)
            if len(self._status) < 10:
                self._status += data[:10 - len(self._status)]
            if m is None:
                self._tail = (self._tail + data)[-2:]
            else:
                cut = m.end() - len(self._tail)
                self._tail = b""
                if cut < len(data):
                    r.pieces.appendleft((t, data[cut:]))
                    data = data[:cut]
                if self._status[9:10] != b"1":  # the final head: nothing after it is cut
                    self._head = False
                self._status = b""
        r.buffered -= len(data)
        if r.paused and r.buffered < LOW_WATER and r.transport is not None:
            r.paused = False
            r.transport.resume_reading()
        self.read_ns = t
        return data

    async def _wait(self, timeout: float | None) -> bool:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self._r.waiter = fut
        timer = loop.call_later(timeout, _expire, fut) if timeout is not None else None
        try:
            return await fut
        finally:
            self._r.waiter = None
            if timer is not None:
                timer.cancel()

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        r = self._r
        if r.transport is None or r.transport.is_closing() or r.exc is not None:
            raise httpcore.WriteError("the connection is closed")
        if _REQUEST_LINE.match(buffer):  # a request's head (not its body, not a SOCKS handshake)
            self._head, self._tail, self._status = True, b"", b""  # its response's head comes next
        r.transport.write(buffer)
        if r.write_paused:
            r.drained = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(r.drained, timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout(f"could not write for {timeout} s") from None
            finally:
                r.drained = None

    async def aclose(self) -> None:
        if self._r.transport is not None:
            self._r.transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        r = self._r
        assert r.transport is not None
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(r.transport, r, ssl_context, server_hostname=server_hostname,
                                       ssl_handshake_timeout=timeout)
        except TimeoutError:
            r.transport.close()
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout} s") from None
        except (OSError, ssl.SSLError) as e:
            r.transport.close()
            raise httpcore.ConnectError(str(e) or type(e).__name__) from None
        if tls is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        r.transport = tls  # type: ignore[assignment]
        return self

    def get_extra_info(self, info: str) -> Any:
        t = self._r.transport
        if info == "is_readable":  # httpcore: an idle pooled connection the server closed
            return bool(self._r.pieces) or self._r.eof
        if t is None:
            return None
        key = {"client_addr": "sockname", "server_addr": "peername"}.get(info, info)
        return t.get_extra_info(key)
