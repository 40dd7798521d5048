"""Hostile servers over real loopback HTTP: every byte a server sends ends as data or as a
clear, recorded error — with the status, the message, and every chunk that arrived kept."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc
import zlib
from email.utils import formatdate

import pytest

import kral_nb

from .hostile import SSE_HEAD, chunk, hostile, openai_events

FIVE = openai_events("one ", "two ", "three ", "four ", "five")


async def gzip_ok(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    body = gzip.compress(FIVE)
    w.write(SSE_HEAD + b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    await w.drain()


async def gzip_bogus(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"content-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n" + chunk(FIVE) + chunk(b""))
    await w.drain()


async def gzip_corrupt_midway(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = z.compress(openai_events("alpha ", "beta ", done=False)) + z.flush(zlib.Z_SYNC_FLUSH)
    w.write(SSE_HEAD + b"content-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n" + chunk(first))
    await w.drain()
    await asyncio.sleep(0.05)
    w.write(chunk(b"\x00garbage that is not deflate\xff" * 4) + chunk(b""))
    await w.drain()


async def brotli_body(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"content-encoding: br\r\ncontent-length: 4\r\n\r\n\x0b\x02\x80x")
    await w.drain()


@pytest.fixture(scope="module")
def server() -> object:
    routes = {"/gzip-ok": gzip_ok, "/gzip-bogus": gzip_bogus, "/gzip-corrupt": gzip_corrupt_midway,
              "/br": brotli_body}
    with hostile(routes) as (url, h):
        yield url, h


def go(url: str, path: str, **kw: object) -> kral_nb.Result:
    kw.setdefault("retries", 0)
    return kral_nb.run("hi", model="llamacpp:m", base_url=f"{url}/{path}", check=False, **kw)  # type: ignore[arg-type]


def test_gzip_body_is_decoded_and_wire_bytes_counted(server: tuple[str, object]) -> None:
    url, h = server
    r = go(url, "gzip-ok")
    assert r.status == "ok" and r.text == "one two three four five"
    assert r.runs["n_bytes"].iloc[0] == len(gzip.compress(FIVE))  # bytes on the wire, not decompressed
    assert b"accept-encoding: identity" in h.requests[-1].lower()  # nothing else is offered


def test_bogus_gzip_is_an_error_and_compare_goes_on(server: tuple[str, object]) -> None:
    url, _ = server
    r = go(url, "gzip-bogus")
    assert r.status == "error" and "could not decode the response body" in r.error
    assert "gzip" in r.error
    with pytest.raises(kral_nb.StreamError):
        kral_nb.run("hi", model="llamacpp:m", base_url=f"{url}/gzip-bogus", retries=0)
    both = kral_nb.compare("hi", [{"model": "llamacpp:m", "base_url": f"{url}/gzip-bogus"},
                                  {"model": "llamacpp:m", "base_url": f"{url}/gzip-ok"}], retries=0)
    assert list(both.runs["status"]) == ["error", "ok"]


def test_gzip_corrupted_midway_keeps_what_came_before(server: tuple[str, object]) -> None:
    url, _ = server
    r = go(url, "gzip-corrupt")
    assert r.status == "error" and "could not decode" in r.error
    assert r.text == "alpha beta "
    kinds = list(r.chunks["kind"])
    assert kinds.count("text") == 2 and kinds[-1] == "error"


def test_undecodable_encoding_is_named(server: tuple[str, object]) -> None:
    url, _ = server
    r = go(url, "br")
    assert r.status == "error" and "'br'-encoded body" in r.error and "asked for identity" in r.error


# -- not an event stream ----------------------------------------------------------------

COMPLETION = json.dumps({"id": "c1", "object": "chat.completion", "choices": [{
    "index": 0, "message": {"role": "assistant", "content": "Whole answer at once"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}).encode()
MESSAGE = json.dumps({"id": "m1", "type": "message", "role": "assistant", "content": [
    {"type": "text", "text": "Anthropic whole"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
    "stop_reason": "tool_use", "usage": {"input_tokens": 5, "output_tokens": 6}}).encode()


def static(head: bytes, body: bytes) -> object:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
        w.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
        await w.drain()

    return handler


def test_json_completion_is_a_single_chunk_run_not_streamed() -> None:
    routes = {"/oa": static(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n", COMPLETION),
              "/an": static(b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n", MESSAGE),
              "/html": static(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n",
                              b"<html><body><h1>Please sign in</h1></body></html>")}
    with hostile(routes) as (url, _):  # type: ignore[arg-type]
        r = go(url, "oa")
        row = r.runs.iloc[0]
        assert r.status == "ok" and r.text == "Whole answer at once" and not row["streamed"]
        assert row["output_tokens"] == 4 and row["tokens_source"] == "usage" and row["finish_reason"] == "stop"
        assert row["n_content_chunks"] == 1
        a = kral_nb.run("hi", model="llamacpp:m", protocol="anthropic", base_url=f"{url}/an", check=False)
        assert a.status == "ok" and a.text == "Anthropic whole" and not a.runs["streamed"].iloc[0]
        assert [t.to_dict() for t in a.tool_calls] == [{"index": 1, "id": "t1", "name": "f", "arguments": '{"a": 1}'}]
        h = go(url, "html")
        assert h.status == "error" and "text/html" in h.error and "text/event-stream" in h.error
        assert "Please sign in" in h.error
        assert bool(go(url, "html").runs["streamed"].iloc[0])  # an error, not a non-streamed answer


# -- after the terminator ------------------------------------------------------------------

async def done_then_hold(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(openai_events("kept")))
    w.write(chunk(b'data: {"choices":[{"delta":{"content":" EXTRA"}}]}\n\n'))
    await w.drain()
    await asyncio.sleep(30)  # the body never ends: an idle proxy or a buggy server


async def done_same_read_extra(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    body = openai_events("kept") + b'data: {"choices":[{"delta":{"content":" EXTRA"}}]}\n\n' + b"data: {bad\n\n"
    w.write(SSE_HEAD + b"content-length: %d\r\n\r\n" % len(body) + body)
    await w.drain()


def test_terminator_ends_the_run_at_once() -> None:
    with hostile({"/hold": done_then_hold, "/extra": done_same_read_extra}) as (url, _):  # type: ignore[arg-type]
        t0 = time.perf_counter()
        r = go(url, "hold", timeout=kral_nb.Timeouts(idle_s=20, total_s=25))
        assert time.perf_counter() - t0 < 3  # neither the idle nor the total timeout
        assert r.status == "ok" and r.text == "kept" and r.error is None
        e = go(url, "extra")
        assert e.status == "ok" and e.text == "kept" and "error" not in set(e.chunks["kind"])


# -- error bodies ----------------------------------------------------------------------------

async def dripping_error(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n")
    w.write(chunk(b"upstream exploded: "))
    await w.drain()
    for _ in range(120):
        await asyncio.sleep(0.5)
        w.write(chunk(b"."))
        await w.drain()


async def huge_error(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % (200 << 20))
    w.write(b"gateway says no " + b"x" * ((1 << 20) - 16))
    for _ in range(199):
        await w.drain()
        w.write(b"x" * (1 << 20))
    await w.drain()


def test_error_bodies_are_capped_and_prompt() -> None:
    with hostile({"/drip": dripping_error, "/huge": huge_error}) as (url, _):  # type: ignore[arg-type]
        t0 = time.perf_counter()
        r = go(url, "drip", timeout=kral_nb.Timeouts(idle_s=30, total_s=60))
        assert time.perf_counter() - t0 < 5
        assert r.status == "http_error" and r.error.startswith("HTTP 500 from 127.0.0.1: upstream exploded:")
        tracemalloc.start()
        t0 = time.perf_counter()
        r = go(url, "huge", timeout=kral_nb.Timeouts(idle_s=30, total_s=60))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert time.perf_counter() - t0 < 5 and peak < 20 << 20  # not 200 MB
        assert r.status == "http_error" and "gateway says no" in r.error and len(r.error) < 700


# -- retries -----------------------------------------------------------------------------------

def status_then_ok(status: int, retry_after: object, n_fail: int) -> object:
    seen = {"n": 0}

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
        seen["n"] += 1
        if seen["n"] <= n_fail:
            ra = retry_after() if callable(retry_after) else retry_after
            body = b'{"error": {"message": "slow down"}}'
            w.write(b"HTTP/1.1 %d Too Many\r\nretry-after: %s\r\ncontent-length: %d\r\n\r\n%s"
                    % (status, str(ra).encode(), len(body), body))
        else:
            w.write(SSE_HEAD + b"content-length: %d\r\n\r\n" % len(FIVE) + FIVE)
        await w.drain()

    return handler


async def close_after_request(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.close()


def test_retry_after_http_date_is_honoured() -> None:
    routes = {"/date": status_then_ok(429, lambda: formatdate(time.time() + 2, usegmt=True), 1)}
    with hostile(routes) as (url, _):  # type: ignore[arg-type]
        r = go(url, "date", retries=2)
        row = r.runs.iloc[0]
        assert r.status == "ok" and row["attempts"] == 2
        assert 0.9 <= row["retry_wait_s"] <= 3.8  # 1-2 s (HTTP dates have whole seconds) + jitter


def test_retry_waits_count_against_the_total_timeout() -> None:
    with hostile({"/long": status_then_ok(429, 10, 99)}) as (url, _):  # type: ignore[arg-type]
        t0 = time.perf_counter()
        r = go(url, "long", retries=3, timeout=5)
        assert time.perf_counter() - t0 < 5
        assert r.status == "http_error" and "would pass the total timeout of 5 s" in r.error


def test_retry_after_zero_storm_is_bounded() -> None:
    with hostile({"/zero": status_then_ok(503, 0, 99)}) as (url, h):  # type: ignore[arg-type]
        t0 = time.perf_counter()
        r = go(url, "zero", retries=10)
        assert r.status == "http_error" and r.runs["attempts"].iloc[0] == 11 and len(h.requests) == 11
        assert time.perf_counter() - t0 >= 10 * 0.1  # a floor between attempts, never a tight loop


def test_closed_after_request_is_not_could_not_connect() -> None:
    with hostile({"/": close_after_request}) as (url, _):  # type: ignore[arg-type]
        r = go(url, "x")
        assert r.status == "error" and "closed the connection after the request was sent" in r.error
        assert "could not connect" not in r.error
    r = kral_nb.run("hi", model="llamacpp:m", base_url="http://127.0.0.1:9/v1", retries=0, check=False)
    assert "could not connect" in r.error


# -- model output is rendered safely ---------------------------------------------------------

EVIL = ('Hi <script>alert(1)</script> <img src=x onerror="alert(2)"> AT&T costs $5, `a<b`\n\n'
        '```html\n<div onclick="x()">$code</div>\n```\n> quoted')


def test_model_html_never_becomes_markup() -> None:
    """The panes' HTML (kral_nb renders the answers' Markdown, raw HTML off), as a saved
    notebook keeps it and nbconvert copies it."""
    from kral_nb.record.recorder import Run
    from kral_nb.views import panes
    from kral_nb.views.markdown import Markdown

    run = Run("r", "sim", "fast", "openai", status="ok")
    run.text_parts.append(EVIL)
    html = panes.html_panes([run], 0, md=Markdown())
    assert "<script" not in html and "<img" not in html and "onerror=" not in html.replace("onerror=&quot;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "AT&amp;T" in html
    assert "<div onclick" not in html and "onclick" in html  # shown literally in the code block
    assert "<blockquote>" in html and "&#36;5" in html and "\\$" not in html
