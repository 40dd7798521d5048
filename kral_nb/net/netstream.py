"""The network streams kral_nb measures with: an httpcore network backend on asyncio
protocols that stamps each piece of received bytes with the moment it arrived, before any
task runs, parsing included.

Which moment: on Linux with asyncio's own loop, the **kernel's receive time** of the read
that delivered the bytes (``SO_TIMESTAMPNS``: the socket's reads go through ``recvmsg``,
which returns the time the last packet of the read reached the socket), moved onto the
monotonic clock. It does not depend on how busy the event loop is: a loop that comes back
to its sockets 5 ms late still stamps each chunk when its packet arrived (``bench/load.py``).
Elsewhere (uvloop reads through libuv, other systems, Unix sockets) the stamp is read when the
loop's poll hands the bytes over (``Protocol.data_received``). ``kernel_stamps()`` says which.

Why not wrap httpcore's anyio streams (the earlier design): a read's stamp was taken when the
reading task resumed, after every callback queued ahead of it. One stream at a time that is
the same instant; with 64 streams on one loop the task for the 64th socket resumes after the
other 63 have parsed their chunks, and its stamp carried that queue (``bench/load.py``: p50
arrival − send 9–15 ms at 64 streams). Stamped in ``data_received``, every socket's bytes
get the time of the loop's I/O poll that delivered them. It also drops anyio's per-read
cancel scope, a fifth of a shard's CPU at high concurrency (py-spy). Plain asyncio and uvloop
both call ``data_received`` from their poll phase.

httpcore's documented interface (``AsyncNetworkBackend`` / ``AsyncNetworkStream``); errors
map to httpcore's exceptions, which httpx turns into its own.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from asyncio import selector_events
from collections import deque
from typing import Any

import httpcore

from ..clock import now_ns
from .kernelstamp import DelaySample, StampingSocket, kernel_gives_stamps

HIGH_WATER = 4 << 20  # bytes buffered before the socket is paused (a reader far behind)
LOW_WATER = 1 << 20


class _Receiver(asyncio.Protocol):
    """Collects ``(arrival t_ns, bytes, loop delay ns)`` pieces; wakes the one reader waiting
    for them. The delay is how late the loop came to bytes the kernel had stamped (0 for
    pieces stamped by the loop itself: not measured)."""

    def __init__(self, sock: StampingSocket | None = None, delays: DelaySample | None = None) -> None:
        self.sock = sock
        self.delays = delays
        self.transport: asyncio.Transport | None = None
        self.pieces: deque[tuple[int, bytes, int]] = deque()
        self.buffered = 0
        self.eof = False
        self.exc: BaseException | None = None
        self.waiter: asyncio.Future[bool] | None = None
        self.paused = False
        self.write_paused = False
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        t = now_ns()  # the loop's poll delivered these bytes now; the kernel had them at k
        k = self.sock.kernel_ns if self.sock is not None else 0
        if 0 < k <= t:
            self.pieces.append((k, data, t - k))
            if self.delays is not None:
                self.delays.append(t - k)  # how late the loop came to bytes the kernel had
        else:
            self.pieces.append((t, data, 0))
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof, self.exc = True, exc
        self._wake()
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

    def __init__(self, receiver: _Receiver) -> None:
        self._r = receiver
        self.read_ns = 0
        self.kernel = receiver.sock is not None and receiver.sock.stamped
        self._delay_max_ns = 0

    def take_delay_max_ns(self) -> int:
        """The longest loop delay of the pieces read since the last call (then reset)."""
        worst, self._delay_max_ns = self._delay_max_ns, 0
        return worst

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
        t, data, delay = r.pieces.popleft()
        if len(data) > max_bytes:
            r.pieces.appendleft((t, data[max_bytes:], delay))
            data = data[:max_bytes]
        r.buffered -= len(data)
        if r.paused and r.buffered < LOW_WATER and r.transport is not None:
            r.paused = False
            r.transport.resume_reading()
        self.read_ns = t
        if delay > self._delay_max_ns:
            self._delay_max_ns = delay
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


class StampingBackend(httpcore.AsyncNetworkBackend):
    """Connections as asyncio protocols (asyncio's loop or uvloop). With ``read_delays``,
    every kernel-stamped read appends how long its bytes waited for the loop (ns): the
    client's own lateness, measured where it matters (``shard.py`` reports it per level)."""

    def __init__(self, read_delays: DelaySample | None = None) -> None:
        self.read_delays = read_delays

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        if not kernel_stamps(loop):
            r = _Receiver()
            await _connect(loop.create_connection(lambda: r, host, port, local_addr=local), timeout)
        else:
            sock = await _connect(_open(loop, host, port, local), timeout)
            r = _Receiver(sock, self.read_delays)
            await _connect(loop.create_connection(lambda: r, sock=sock), timeout)
        _set_options(r, socket_options)
        return StampedStream(r)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        r = _Receiver()
        await _connect(loop.create_unix_connection(lambda: r, path), timeout)
        _set_options(r, socket_options)
        return StampedStream(r)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def kernel_stamps(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether TCP reads on ``loop`` are stamped with the kernel's receive time."""
    return isinstance(loop, selector_events.BaseSelectorEventLoop) and kernel_gives_stamps()


async def _open(loop: asyncio.AbstractEventLoop, host: str, port: int,
                local: tuple[str, int] | None) -> StampingSocket:
    """A connected, non-blocking :class:`StampingSocket`: each address ``host`` resolves to
    in turn, as asyncio's ``create_connection`` does (without Happy Eyeballs, its default)."""
    try:  # an address needs no resolver (and no executor thread)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned no address")
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = StampingSocket(family, kind, proto)
        try:
            sock.setblocking(False)
            if local is not None:
                sock.bind(local)
            await loop.sock_connect(sock, address)
            return sock
        except OSError as e:
            sock.close()
            errors.append(e)
        except BaseException:
            sock.close()
            raise
    raise errors[0] if len(errors) == 1 else OSError(f"could not connect to {host}:{port}: "
                                                     + "; ".join(str(e) for e in errors))


async def _connect(opening: Any, timeout: float | None) -> Any:
    try:
        return await asyncio.wait_for(opening, timeout)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"could not connect within {timeout} s") from None
    except OSError as e:
        raise httpcore.ConnectError(str(e) or type(e).__name__) from None


def _set_options(r: _Receiver, options: Any) -> None:
    sock = r.transport.get_extra_info("socket") if r.transport is not None else None
    for opt in options or ():
        if sock is not None and not (opt[0] == socket.IPPROTO_TCP and sock.family == socket.AF_UNIX):
            sock.setsockopt(*opt)
