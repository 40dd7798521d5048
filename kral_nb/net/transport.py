"""HTTP transport: one request's I/O. With ``client.py`` (the pooled client whose socket
reads are stamped), the only place that touches the network and reads the arrival clock.

Every raw read is fed to the pipeline with the stamp of the socket read that delivered it
(``netstream.StampedStream``); the request start stamp comes from httpx's ``trace`` extension.
Error bodies are capped, Content-Encoding is decoded (``encoding.py``), content types are
checked, and the run ends at the protocol's terminator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import httpx

from ..clock import now_ns
from ..errors import ConnectError, HTTPStatusError, KralTimeoutError, StreamError
from ..options import Timeouts
from ..protocols.encoding import BodyDecodeError, Identity, decoder_for
from ..protocols.messages import error_message
from ..protocols.request import RequestSpec
from ..record.pipeline import Pipeline
from ..redact import clip, scrub
from .callbody import read_body
from .client import httpx_timeout
from .netstream import StampedStream

#: error bodies (non-2xx) are read up to this size and for at most ERROR_BODY_S seconds
ERROR_BODY_BYTES = 64 * 1024
ERROR_BODY_S = 2.0
#: a whole non-streamed JSON answer is read up to this size
COMPLETE_BODY_BYTES = 32 * 1024 * 1024
#: after the protocol's terminator, the rest of the body (HTTP's own end) is read for at most
#: this long so the connection can go back to the pool; then it is closed
DRAIN_S = 0.1
#: answers that are certainly not a stream (a proxy's or a login page)
NOT_A_STREAM = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")


async def stream(client: httpx.AsyncClient, spec: RequestSpec, pipe: Pipeline,
                 timeouts: Timeouts, secrets: tuple[str, ...] = ()) -> None:
    """Send ``spec`` and feed every raw read, stamped, into ``pipe``.

    Raises :class:`HTTPStatusError` (non-2xx, with the start of the provider's message, read
    with a size cap and a short deadline), :class:`KralTimeoutError` (connect / idle read) or
    :class:`KralError` (connection). ``asyncio.CancelledError`` propagates after the response
    is closed. The run ends at the protocol's terminator: bytes after it are not parsed, and
    a server that keeps the connection open cannot hold the run.
    """
    run = pipe.run
    connect: list[int] = []

    async def trace(name: str, info: Any) -> None:
        t = now_ns()
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
        extensions={"trace": trace, "timeout": httpx_timeout(timeouts).as_dict()},
    )
    run.started_at = datetime.now(timezone.utc)
    run.t0_ns = now_ns()  # replaced by the trace stamp just before the bytes are written
    run.headers_ns = None
    host = _host(spec.url)
    try:
        response = await client.send(request, stream=True)
    except httpx.ConnectTimeout:
        raise KralTimeoutError(f"connect timeout ({timeouts.connect_s:g} s) to {host}") from None
    except httpx.TimeoutException:
        raise KralTimeoutError(f"no response headers within {timeouts.idle_s:g} s from {host}") from None
    except httpx.ConnectError as exc:
        raise ConnectError(f"could not connect to {host}: {scrub(str(exc), secrets) or type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise ConnectError(f"{host} closed the connection after the request was sent, before answering "
                           f"({scrub(str(exc), secrets) or type(exc).__name__})") from None
    net = response.extensions.get("network_stream")
    stamped = net if isinstance(net, StampedStream) else None
    try:
        if stamped is not None:  # the read that completed the headers
            run.headers_ns = stamped.read_ns
        elif run.headers_ns is None:
            run.headers_ns = now_ns()
        run.connect_ns = connect[1] - connect[0] if connect else 0
        run.http_status = response.status_code
        run.http_version = response.http_version
        if not response.is_success:
            body = await _read_capped(response, ERROR_BODY_BYTES, ERROR_BODY_S)
            run.end_ns = now_ns()
            message = _message(body, secrets)
            raise HTTPStatusError(
                f"HTTP {response.status_code} from {host}: {message}",
                status=response.status_code, provider_message=message,
            ).with_retry_after(response.headers.get("retry-after"), datetime.now(timezone.utc))
        run.begin_streaming()
        ctype = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        expected = pipe.decoder.MEDIA_TYPE
        if ctype in NOT_A_STREAM:
            body = await _read_capped(response, ERROR_BODY_BYTES, ERROR_BODY_S)
            pipe.fail(now_ns(), len(body), f"the server answered {response.status_code} with {ctype}, "
                      f"not {expected} (a proxy or login page?): {_snippet(body, secrets)}")
        elif ctype == "application/json" != expected:
            body = await _read_capped(response, COMPLETE_BODY_BYTES, timeouts.idle_s)
            pipe.complete(stamped.read_ns if stamped is not None else now_ns(), body)
        else:
            await _body(response, pipe, stamped, timeouts, secrets)
            return
        pipe.close(now_ns())
    finally:
        if stamped is not None and stamped.kernel:  # the loop's lateness, measured by the reads themselves
            lag_s = stamped.take_delay_max_ns() / 1e9
            if not run.loop_lag_max_s >= lag_s:  # NaN or smaller (a retry keeps the worst)
                run.loop_lag_max_s = lag_s
        await response.aclose()


async def _body(response: httpx.Response, pipe: Pipeline, stamped: StampedStream | None,
                timeouts: Timeouts, secrets: tuple[str, ...]) -> None:
    """Feed the body's reads, decoded from their Content-Encoding, until the terminator or
    the end of the body; ``n_bytes`` counts the bytes on the wire."""
    run = pipe.run
    feed = pipe.feed
    t = 0
    try:
        decoder = decoder_for(response.headers.get("content-encoding"))
    except BodyDecodeError as exc:
        pipe.fail(now_ns(), 0, str(exc))
        pipe.close(now_ns())
        return
    identity = isinstance(decoder, Identity)
    if (stamped is not None and identity and response.status_code != 204  # (h11: a 204 has no body)
            and response.headers.get("transfer-encoding", "").lower() == "chunked"):
        await _body_in_callbacks(response, pipe, stamped, timeouts, secrets)
        return
    reads = response.aiter_raw().__aiter__()
    try:
        async for data in reads:  # bytes httpx yields all come from the latest read
            t = stamped.read_ns if stamped is not None else now_ns()
            if identity:
                feed(t, data)
            else:
                feed(t, decoder.decode(data), len(data))
            if pipe.done:
                break
        else:
            t = now_ns()
            if not identity:
                feed(t, decoder.flush(), 0)
    except BodyDecodeError as exc:
        if exc.partial:  # what the failing read held before its first bad byte
            feed(t or now_ns(), exc.partial, 0)
        pipe.fail(t or now_ns(), 0, f"could not decode the response body after {run.n_bytes} bytes ({exc})")
    except httpx.ReadTimeout:
        raise _idle(pipe, timeouts) from None
    except httpx.RemoteProtocolError:
        t = now_ns()  # the peer closed mid-body: the pipeline decides cut_off below
    except httpx.TransportError as exc:
        raise _broken(pipe, exc, secrets) from None
    pipe.close(t)
    if pipe.done:  # let the body's own end arrive, so the connection can be reused
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_drain(reads), DRAIN_S)


async def _body_in_callbacks(response: httpx.Response, pipe: Pipeline, stamped: StampedStream,
                             timeouts: Timeouts, secrets: tuple[str, ...]) -> None:
    """The common case (a chunked, unencoded body on a stamped connection) fed from the
    receive callback (``callbody.py``); each outcome as :func:`_body` treats it."""
    body = await read_body(pipe, stamped, timeouts.idle_s)
    outcome = body.outcome.result()
    if outcome == "idle":
        raise _idle(pipe, timeouts)
    if outcome == "reset":
        raise _broken(pipe, body.exc, secrets)
    pipe.close(body.t_ns if outcome == "terminator" else now_ns())
    if not body.drained.done():  # after the terminator: let the body's own end arrive
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(body.drained), DRAIN_S)
        if not body.drained.done():
            stamped.detach()  # the connection is closed with the response, not reused
            return
    if body.drained.result():
        with contextlib.suppress(Exception):  # h11 reads the end of the body: the connection is reusable
            await asyncio.wait_for(_drain(response.aiter_raw()), DRAIN_S)


def _idle(pipe: Pipeline, timeouts: Timeouts) -> KralTimeoutError:
    pipe.run.end_ns = now_ns()
    return KralTimeoutError(f"idle-read timeout: no bytes for {timeouts.idle_s:g} s after "
                            f"{len(pipe.run.records)} chunks (raise timeout idle_s, or ask for keepalives)")


def _broken(pipe: Pipeline, exc: BaseException | None, secrets: tuple[str, ...]) -> StreamError:
    pipe.run.end_ns = now_ns()
    return StreamError(f"connection error while streaming: {scrub(str(exc) or type(exc).__name__, secrets)}")


async def _drain(reads: AsyncIterator[bytes]) -> None:
    async for _ in reads:
        pass


async def _read_capped(response: httpx.Response, cap: int, deadline_s: float) -> bytes:
    """At most ``cap`` bytes of the body, read for at most ``deadline_s``: a dripping or
    huge body can neither hold the run nor fill the memory."""
    parts: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for data in response.aiter_bytes():
            parts.append(data)
            size += len(data)
            if size >= cap:
                break

    with contextlib.suppress(asyncio.TimeoutError, httpx.HTTPError):
        await asyncio.wait_for(read(), deadline_s)
    return b"".join(parts)[:cap]


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _snippet(body: bytes, secrets: tuple[str, ...]) -> str:
    """The start of a body that is not a stream, scrubbed before it is shortened."""
    return repr(clip(" ".join(body[:4000].decode("utf-8", "replace").split()), secrets, 200))


def _message(body_bytes: bytes, secrets: tuple[str, ...]) -> str:
    """The provider's error message, scrubbed of secrets *before* it is shortened (a key
    straddling the cut would leak as a prefix)."""
    body = scrub(body_bytes.decode("utf-8", "replace"), secrets)
    try:
        obj = json.loads(body)
    except ValueError:
        return clip(" ".join(body.split()), (), 500) or "(empty body)"
    return scrub(error_message(obj), secrets)  # the decoded message too (a key in JSON escapes)


_bos_counts: dict[str, int] = {}  # per tokenize URL: what the empty text counts (a BOS token)


async def count_tokens(client: httpx.AsyncClient, root_url: str, style: str, text: str,
                       timeout_s: float = 2.0) -> int | None:
    """Tokens of ``text`` by the server's tokenizer, special tokens it adds (BOS) excluded:
    llama-cpp-python ``POST /extras/tokenize/count``, llama.cpp ``POST /tokenize``. None when
    the server cannot say (the caller keeps its estimate)."""
    try:
        if style == "llama.cpp":
            r = await client.post(root_url + "/tokenize", json={"content": text, "add_special": False},
                                  timeout=timeout_s)
            tokens = r.json().get("tokens") if r.is_success else None
            return len(tokens) if isinstance(tokens, list) else None
        url = root_url + "/extras/tokenize/count"

        async def count(t: str) -> int | None:
            r = await client.post(url, json={"input": t}, timeout=timeout_s)
            n = r.json().get("count") if r.is_success else None
            return n if type(n) is int and n >= 0 else None

        if url not in _bos_counts:
            bos = await count("")
            if bos is None:
                return None
            _bos_counts[url] = bos
        n = await count(text)
        return None if n is None else max(0, n - _bos_counts[url])
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
