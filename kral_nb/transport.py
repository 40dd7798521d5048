"""HTTP transport: the only module that touches the network and reads the arrival clock.

``time.perf_counter_ns()`` is read once per raw read, before any parsing; the request
start and response-headers stamps come from httpx's ``trace`` extension.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from .errors import HTTPStatusError, KralError, KralTimeoutError
from .recorder import Pipeline
from .request import RequestSpec, scrub

perf_ns = time.perf_counter_ns


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``idle_s``: longest wait for the next bytes; ``total_s``: whole request."""

    connect_s: float = 10.0
    idle_s: float = 60.0
    total_s: float | None = 600.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect_s, read=self.idle_s, write=self.idle_s,
                             pool=self.connect_s)


def new_client() -> httpx.AsyncClient:
    """The engine's shared client: pooled connections, no proxies from the environment
    for loopback, identity encoding so raw reads are the wire bytes."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    # TCP_NODELAY: without it, Nagle + delayed ACK hold small writes for ~40 ms
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(limits=limits, socket_options=nodelay),
        headers={"accept-encoding": "identity", "user-agent": "kral-nb"},
        timeout=Timeouts().httpx(),
    )


async def stream(client: httpx.AsyncClient, spec: RequestSpec, pipe: Pipeline,
                 timeouts: Timeouts, secrets: tuple[str, ...] = ()) -> None:
    """Send ``spec`` and feed every raw read, stamped, into ``pipe``.

    Raises :class:`HTTPStatusError` (non-2xx, with the provider's message),
    :class:`KralTimeoutError` (connect / idle read) or :class:`KralError` (connection).
    ``asyncio.CancelledError`` propagates after the response is closed.
    """
    run = pipe.run
    connect: list[int] = []

    async def trace(name: str, info: Any) -> None:
        t = perf_ns()
        if name == "connection.connect_tcp.started":
            connect[:] = [t, t]
        elif name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            if connect:
                connect[1] = t
        elif name.endswith("send_request_headers.started"):
            run.t0_ns = t
        elif name.endswith("receive_response_headers.complete"):
            run.headers_ns = t

    request = client.build_request(
        spec.method, spec.url, headers=spec.headers, json=spec.json,
        extensions={"trace": trace, "timeout": timeouts.httpx().as_dict()},
    )
    run.started_at = datetime.now(timezone.utc)
    run.t0_ns = perf_ns()  # replaced by the trace stamp just before the bytes are written
    run.headers_ns = None
    try:
        response = await client.send(request, stream=True)
    except httpx.ConnectTimeout:
        raise KralTimeoutError(f"connect timeout ({timeouts.connect_s:g} s) to {_host(spec.url)}") from None
    except httpx.TimeoutException:
        raise KralTimeoutError(f"no response headers within {timeouts.idle_s:g} s from {_host(spec.url)}") from None
    except httpx.TransportError as exc:
        raise KralError(f"could not connect to {_host(spec.url)}: {scrub(str(exc), secrets) or type(exc).__name__}") from None
    try:
        if run.headers_ns is None:
            run.headers_ns = perf_ns()
        run.connect_ns = connect[1] - connect[0] if connect else 0
        run.http_status = response.status_code
        run.http_version = response.http_version
        if not response.is_success:
            body = (await response.aread()).decode("utf-8", "replace")
            run.end_ns = perf_ns()
            raise HTTPStatusError(
                f"HTTP {response.status_code} from {_host(spec.url)}: {scrub(_message(body), secrets)}",
                status=response.status_code,
            ).with_retry_after(response.headers.get("retry-after"))
        run.status = "streaming"
        feed = pipe.feed
        encoded = response.headers.get("content-encoding", "identity") != "identity"
        reads = response.aiter_bytes() if encoded else response.aiter_raw()
        try:
            async for data in reads:
                feed(perf_ns(), data)
        except httpx.ReadTimeout:
            run.end_ns = perf_ns()
            raise KralTimeoutError(
                f"idle-read timeout: no bytes for {timeouts.idle_s:g} s after "
                f"{len(run.records)} chunks (raise timeout idle_s, or ask for keepalives)"
            ) from None
        except httpx.RemoteProtocolError:
            pass  # the peer closed mid-body: the pipeline decides cut_off below
        except httpx.TransportError as exc:
            run.end_ns = perf_ns()
            raise KralError(f"connection error while streaming: {scrub(str(exc), secrets)}") from None
        pipe.close(perf_ns())
    finally:
        await response.aclose()


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _message(body: str) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "(empty body)"
    from .protocols.openai import error_message

    return error_message(obj)
