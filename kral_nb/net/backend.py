"""The network backend httpcore connects through: TCP (kernel-stamped sockets where the
loop and the system give stamps) and Unix sockets, each as a :class:`netstream.StampedStream`
over an asyncio protocol. httpcore's documented interface (``AsyncNetworkBackend``); errors
map to httpcore's exceptions, which httpx turns into its own."""

from __future__ import annotations

import asyncio
import socket
from asyncio import selector_events
from typing import Any

import httpcore

from .kernelstamp import DelaySample, StampingSocket, kernel_gives_stamps
from .netstream import Receiver, StampedStream


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
            r = Receiver()
            await _connect(loop.create_connection(lambda: r, host, port, local_addr=local), timeout)
        else:
            sock = await _connect(_open(loop, host, port, local), timeout)
            r = Receiver(sock, self.read_delays)
            await _connect(loop.create_connection(lambda: r, sock=sock), timeout)
        _set_options(r, socket_options)
        return StampedStream(r)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        r = Receiver()
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


def _set_options(r: Receiver, options: Any) -> None:
    sock = r.transport.get_extra_info("socket") if r.transport is not None else None
    for opt in options or ():
        if sock is not None and not (opt[0] == socket.IPPROTO_TCP and sock.family == socket.AF_UNIX):
            sock.setsockopt(*opt)
