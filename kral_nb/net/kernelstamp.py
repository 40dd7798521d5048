"""The kernel's receive time of socket reads: ``StampingSocket`` reads through ``recvmsg`` with
``SO_TIMESTAMPNS`` (Linux) and keeps the time the last packet of each read reached the socket,
moved onto the ``perf_counter_ns`` clock; ``kernel_gives_stamps`` says whether this kernel
gives them; ``DelaySample`` keeps how late the loop came to stamped reads, in bounded memory.
``netstream.py`` builds the connections on top of it."""

from __future__ import annotations

import functools
import socket
import struct
import sys
from typing import Any

from ..clock import now_ns, wall_ns

#: Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS, ``struct timespec`` in CLOCK_REALTIME); Python
#: does not export the constant. 0: not available here.
SO_TIMESTAMPNS = 35 if sys.platform == "linux" else 0
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if SO_TIMESTAMPNS else 0


class StampingSocket(socket.socket):
    """A TCP socket whose reads also keep the kernel's receive time of what they returned
    (``kernel_ns``, on the ``perf_counter_ns`` clock; 0 when the kernel gave none).

    asyncio's selector transports read with ``sock.recv`` / ``sock.recv_into`` (TLS
    included: the TLS layer sits above the transport), so these two are the hook; uvloop
    reads the file descriptor itself and never calls them."""

    __slots__ = ("kernel_ns", "stamped")

    def __init__(self, family: int, type: int, proto: int) -> None:
        super().__init__(family, type, proto)
        self.kernel_ns = 0
        try:
            self.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.stamped = True
        except OSError:  # a kernel without it (a sandbox): no cmsg, so data_received uses its own clock
            self.stamped = False

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data, ancillary, _, _ = self.recvmsg(bufsize, _ANCILLARY, flags)
        self.kernel_ns = _kernel_ns(ancillary)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        target = memoryview(buffer)[:nbytes] if nbytes else buffer
        n, ancillary, _, _ = self.recvmsg_into([target], _ANCILLARY, flags)
        self.kernel_ns = _kernel_ns(ancillary)
        return n


def _kernel_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The SO_TIMESTAMPNS stamp (CLOCK_REALTIME) moved onto CLOCK_MONOTONIC: the offset
    between the two clocks is read now (both clocks are slewed alike by NTP; only a step of
    the wall clock between the packet and this read would skew it, and ``data_received``
    never takes a stamp later than its own clock)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return int(sec) * 1_000_000_000 + int(nsec) - (wall_ns() - now_ns())
    return 0


class DelaySample:
    """An even sample of the read delays (ns) appended to it, in bounded memory: it keeps
    every ``stride``-th value and doubles the stride (halving what it holds) whenever it
    holds ``2 × cap``. A 10-minute load level at 10^4 reads a second keeps at most 2 × cap
    ints, not 6 million."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.values: list[int] = []
        self.stride = 1
        self._seen = 0

    def append(self, delay_ns: int) -> None:
        self._seen += 1
        if self._seen % self.stride:
            return
        self.values.append(delay_ns)
        if len(self.values) >= 2 * self.cap:
            del self.values[1::2]
            self.stride *= 2

    def take(self) -> list[int]:
        """At most ``cap`` values, evenly spread over everything appended; then empty."""
        values = self.values[:: max(1, -(-len(self.values) // self.cap))]
        self.clear()
        return values

    def clear(self) -> None:
        self.values, self.stride, self._seen = [], 1, 0


@functools.cache
def kernel_gives_stamps() -> bool:
    """Whether this kernel accepts ``SO_TIMESTAMPNS`` (asked once, on a socket never connected):
    a sandbox that refuses it gets loop stamps, and says so (``stamps = loop``)."""
    if not SO_TIMESTAMPNS:
        return False
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True
