"""The HTTP client kral_nb measures with (the only place an httpx client is built), and
kral_nb's timeouts as httpx's.

Its httpcore pool gets a network backend on asyncio protocols (``backend.py``, ``netstream.py``) that stamps
every piece of received bytes with its arrival (the kernel's receive time where it gives one,
before any parsing, HTTP included), and each body piece httpx yields carries the stamp of the
piece that delivered it. Pooled connections, ``TCP_NODELAY``, the environment's proxies except
for loopback.
"""

from __future__ import annotations

import socket
import ssl

import httpcore
import httpx

from ..options import Timeouts
from .backend import StampingBackend
from .kernelstamp import DelaySample

__all__ = ["httpx_timeout", "new_client"]


def httpx_timeout(t: Timeouts) -> httpx.Timeout:
    """kral_nb's timeouts as httpx's: ``idle_s`` bounds every read and write."""
    return httpx.Timeout(connect=t.connect_s, read=t.idle_s, write=t.idle_s, pool=t.connect_s)


def _stamp_socket_reads(tr: httpx.AsyncHTTPTransport, read_delays: DelaySample | None = None) -> bool:
    """Install :class:`backend.StampingBackend` in the transport's httpcore pool.

    httpx 0.28 has no public argument for a network backend (encode/httpx#3749 adds one), so
    this sets the pool's backend attribute; if a release moves it, reads are stamped after
    httpx instead and ``test_transport`` fails, which is the signal to update this."""
    pool = getattr(tr, "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        return False
    pool._network_backend = StampingBackend(read_delays)
    return True


def _transport(proxy: str | None, read_delays: DelaySample | None, tls: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    # TCP_NODELAY: without it, Nagle + delayed ACK hold small writes for ~40 ms
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    tr = httpx.AsyncHTTPTransport(verify=tls, limits=limits, socket_options=nodelay, proxy=proxy)
    _stamp_socket_reads(tr, read_delays)
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


def new_client(read_delays: DelaySample | None = None, tls: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The engine's shared client: pooled connections, socket-stamped reads, identity
    encoding so raw reads are the wire bytes, the environment's proxies honoured except
    for loopback (the sim and the local model are always reached directly).
    ``read_delays``: see :class:`backend.StampingBackend`; ``tls``: an SSL context to share
    (building one reads the CA bundle: ~10 ms), else httpx's default (``SSL_CERT_FILE``…)."""
    tls = tls or httpx.create_ssl_context()
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        pattern: None if url is None else _transport(url, read_delays, tls)
        for pattern, url in _environment_proxies().items()
    }
    mounts.update(dict.fromkeys(LOOPBACK))
    return httpx.AsyncClient(
        transport=_transport(None, read_delays, tls),
        mounts=mounts,
        headers={"accept-encoding": "identity", "user-agent": "kral-nb"},
        timeout=httpx_timeout(Timeouts()),
    )


def plain_client(timeout_s: float) -> httpx.Client:
    """A synchronous client for what is read beside the measurement, never measured itself (a
    server's Prometheus page): no stamps, no redirects followed, no credentials (nothing but
    the URL is sent), the environment's proxies honoured except for loopback, as above."""
    mounts: dict[str, httpx.BaseTransport | None] = {
        pattern: None if url is None else httpx.HTTPTransport(proxy=url) for pattern, url in _environment_proxies().items()
    }
    mounts.update(dict.fromkeys(LOOPBACK))
    return httpx.Client(transport=httpx.HTTPTransport(), mounts=mounts, timeout=timeout_s, follow_redirects=False,
                        headers={"user-agent": "kral-nb"})
