"""The HTTP client kral_nb measures with, and its timeouts.

``time.perf_counter_ns()`` is read once per socket read, the moment it returns and before
any parsing, HTTP included: the client's httpcore pool gets a network backend whose streams
stamp their reads (:class:`StampedStream`), and each body piece httpx yields carries the
stamp of the read that delivered it. That is ~75 us earlier, on a 2-core VM, than stamping
after httpx has parsed the chunked body (``bench/fidelity.py``). Pooled connections,
``TCP_NODELAY``, the environment's proxies except for loopback.
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from .errors import ConfigError

perf_ns = time.perf_counter_ns


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``idle_s``: longest wait for the next bytes; ``total_s``: whole request."""

    connect_s: float = 10.0
    idle_s: float = 60.0
    total_s: float | None = 600.0

    def __post_init__(self) -> None:
        for name in ("connect_s", "idle_s", "total_s"):
            v = getattr(self, name)
            if v is None and name == "total_s":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"Timeouts({name}=...) must be a positive, finite number of seconds, got {v!r}")

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect_s, read=self.idle_s, write=self.idle_s,
                             pool=self.connect_s)


class StampedStream(httpcore.AsyncNetworkStream):
    """A network stream that stamps ``read_ns`` when a socket read returns."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self.read_ns = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        self.read_ns = perf_ns()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return StampedStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class StampingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's documented network-backend interface, wrapping the default backend."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return StampedStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return StampedStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _stamp_socket_reads(tr: httpx.AsyncHTTPTransport) -> bool:
    """Install :class:`StampingBackend` in the transport's httpcore pool.

    httpx 0.28 has no public argument for a network backend (encode/httpx#3749 adds one), so
    this sets the pool's backend attribute; if a release moves it, reads are stamped after
    httpx instead and ``test_transport`` fails, which is the signal to update this."""
    pool = getattr(tr, "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        return False
    pool._network_backend = StampingBackend(pool._network_backend)
    return True


def _transport(proxy: str | None = None) -> httpx.AsyncHTTPTransport:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    # TCP_NODELAY: without it, Nagle + delayed ACK hold small writes for ~40 ms
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    tr = httpx.AsyncHTTPTransport(limits=limits, socket_options=nodelay, proxy=proxy)
    _stamp_socket_reads(tr)
    return tr


def _environment_proxies() -> dict[str, str | None]:
    """The proxy mounts httpx itself derives from HTTP(S)_PROXY / ALL_PROXY / NO_PROXY
    (it skips them when a client is given its own transport, as ours is)."""
    try:
        from httpx._utils import get_environment_proxies
    except ImportError:  # a release moved it: tests/test_transport.py says so
        return {}
    return get_environment_proxies()


LOOPBACK = ("all://127.0.0.1", "all://localhost", "all://[::1]")


def new_client() -> httpx.AsyncClient:
    """The engine's shared client: pooled connections, socket-stamped reads, identity
    encoding so raw reads are the wire bytes, the environment's proxies honoured except
    for loopback (the sim and the local model are always reached directly)."""
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        pattern: None if url is None else _transport(url)
        for pattern, url in _environment_proxies().items()
    }
    mounts.update(dict.fromkeys(LOOPBACK))
    return httpx.AsyncClient(
        transport=_transport(),
        mounts=mounts,
        headers={"accept-encoding": "identity", "user-agent": "kral-nb"},
        timeout=Timeouts().httpx(),
    )
