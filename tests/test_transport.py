"""Transport stamps: arrival time is read when the socket read returns, before HTTP parsing,
so every body piece delivered by one read carries that read's stamp."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import httpx
import pytest

import kral_nb
from kral_nb import transport


def _sse(obj: object) -> bytes:
    data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chunk(content: str) -> dict[str, object]:
    return {"object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


@pytest.fixture()
def burst_server() -> Iterator[str]:
    """A bare OpenAI-compatible server: headers and three content chunks in ONE socket
    write, then, 50 ms later, the end of the stream in a second write."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n"
                     + _sse(_chunk("one")) + _sse(_chunk(" two")) + _sse(_chunk(" three")))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(_sse(b"[DONE]") + b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def start() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert ready.wait(5)
    yield f"http://127.0.0.1:{port[0]}/v1"
    loop.call_soon_threadsafe(loop.stop)


def test_the_client_stamps_socket_reads() -> None:
    """Fails when an httpx/httpcore release moves the pool's backend attribute: update
    ``transport._stamp_socket_reads`` then (reads would be stamped after parsing)."""
    assert transport._stamp_socket_reads(httpx.AsyncHTTPTransport())


def test_pieces_of_one_read_share_its_stamp(burst_server: str) -> None:
    r = kral_nb.run("hi", model="m", provider="openai", base_url=burst_server, api_key="x",
                    trace=True)
    assert r.status == "ok" and r.text == "one two three"
    run = r.run_list[0]
    assert run.trace is not None
    text_ns = [t for t, _, c in run.records if c.kind == "text"]
    # one socket read brought the headers and three chunked pieces: one stamp for all
    assert len(text_ns) == 3 and len(set(text_ns)) == 1
    assert text_ns[0] == run.headers_ns
    assert len({t for t, _ in run.trace[:3]}) == 1 and len(run.trace) >= 4
    # the end came in a later read, 50 ms after
    assert run.end_ns is not None and run.end_ns - text_ns[0] >= 40_000_000
