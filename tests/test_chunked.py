"""The chunked transfer decoder the transport runs in the receive callback
(``protocols/chunked.py``), checked against h11 itself — the reader httpx would have used — on
generated bodies cut at random points and on mutated framing (and cut at every byte against
the known payload); then the callback path over real loopback HTTP: split framing, extensions
and trailers, broken framing, idle, reset, 1xx heads, a 204, and a connection reused after the
terminator came before the body's end; and the stream's head cut and sink over a socket pair."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time

import h11
import pytest

import kral_nb
from kral_nb import protocols
from kral_nb.net.callbody import read_body
from kral_nb.net.netstream import Receiver, StampedStream
from kral_nb.protocols.chunked import MAX_LINE, ChunkedDecoder
from kral_nb.protocols.encoding import BodyDecodeError
from kral_nb.protocols.sse import SSEDecoder
from kral_nb.record.pipeline import Pipeline
from kral_nb.record.recorder import Run

from .hostile import SSE_HEAD, chunk, hostile, openai_events

HEAD = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"


def by_h11(pieces: list[bytes]) -> tuple[bytes, bool, bool]:
    """(payload, ended, failed) as h11 reads the body, with httpcore's line cap."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=100 * 1024)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    out: list[bytes] = []
    try:
        for piece in [HEAD, *pieces]:
            conn.receive_data(piece)
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA or ev is h11.PAUSED:
                    break
                if isinstance(ev, h11.Data):
                    out.append(bytes(ev.data))
                elif isinstance(ev, h11.EndOfMessage):
                    return b"".join(out), True, False
    except h11.ProtocolError:
        return b"".join(out), False, True
    return b"".join(out), False, False


def by_us(pieces: list[bytes]) -> tuple[bytes, bool, bool]:
    d = ChunkedDecoder()
    out: list[bytes] = []
    try:
        for piece in pieces:
            out.append(d.decode(piece))
            if d.done:
                return b"".join(out), True, False
    except BodyDecodeError as exc:
        return b"".join(out) + exc.partial, False, True
    return b"".join(out), False, False


def body(rng: random.Random, trailers: bool = True) -> tuple[bytes, bytes]:
    """(wire bytes, payload) of a chunked body in the forms h11 accepts."""
    wire, payload = [], []
    for _ in range(rng.randint(0, 6)):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        size = f"{len(data):x}"
        size = rng.choice([size, size.upper(), "0" * rng.randint(1, 3) + size])
        ext = rng.choice([b"", b";a=b", b";name=\"quoted;x\"", b"; x"])
        blanks = rng.choice([b"", b" ", b"\t "])
        wire.append(size.encode() + ext + blanks + b"\r\n" + data + b"\r\n")
        payload.append(data)
    last = rng.choice([b"0", b"000", b"0;end=1"]) + b"\r\n"
    trailer = rng.choice([b"", b"x-a: 1\r\n", b"x-a: 1\r\nx-b: two\r\n"]) if trailers else b""
    return b"".join(wire) + last + trailer + b"\r\n", b"".join(payload)


def cuts(wire: bytes, rng: random.Random) -> list[bytes]:
    points = sorted(rng.sample(range(1, len(wire)), min(len(wire) - 1, rng.randint(0, 8))))
    return [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]


def test_generated_bodies_decode_as_h11_decodes_them() -> None:
    rng = random.Random(34)
    for _ in range(600):
        wire, payload = body(rng)
        pieces = cuts(wire, rng)
        assert by_us(pieces) == by_h11(pieces) == (payload, True, False), pieces


def test_a_body_cut_at_every_byte() -> None:
    wire, payload = body(random.Random(7))
    wire = b"5;ext=1 \r\nhello\r\n" + wire
    for i in range(1, len(wire)):
        assert by_us([wire[:i], wire[i:]]) == (b"hello" + payload, True, False), i
    assert by_us([wire[i:i + 1] for i in range(len(wire))]) == (b"hello" + payload, True, False)


def test_mutated_framing_fails_where_h11_fails() -> None:
    """A byte of framing changed, dropped or doubled: both readers agree on the outcome and
    on every payload byte before it."""
    rng = random.Random(3)
    checked = 0
    for _ in range(1500):
        wire, _ = body(rng)
        i = rng.randrange(len(wire))
        op = rng.randrange(3)
        byte = bytes([rng.choice(b"\r\n;0aZ \t-x")])
        bad = wire[:i] + (byte if op == 0 else b"" if op == 1 else wire[i:i + 1] * 2) + wire[i + 1:]
        pieces = cuts(bad, rng)
        ours, theirs = by_us(pieces), by_h11(pieces)
        assert ours == theirs, (bad, ours, theirs)
        checked += ours[2]
    assert checked > 200  # most mutations did break the framing


def test_bytes_after_the_body_and_long_lines() -> None:
    d = ChunkedDecoder()
    assert d.decode(b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200") == b"abc" and d.done and d.rest == b"HTTP/1.1 200"
    d = ChunkedDecoder()
    assert d.decode(b"3;" + b"x" * (MAX_LINE - 10)) == b""  # a long extension, still waiting
    with pytest.raises(BodyDecodeError, match="longer than"):
        d.decode(b"y" * 20)
    with pytest.raises(BodyDecodeError, match="illegal chunk header") as err:
        ChunkedDecoder().decode(b"2\r\nok\r\n-1\r\n")
    assert err.value.partial == b"ok"
    with pytest.raises(BodyDecodeError, match="footer"):
        ChunkedDecoder().decode(b"2\r\nokXX")


# over real loopback HTTP: the callback path end to end

TEXTS = [f"w{i} " for i in range(12)]
EVENTS = openai_events(*TEXTS)


async def dripped(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    """Framing and events split across many socket reads, at every kind of boundary."""
    wire = b"".join(chunk(EVENTS[i:i + 37]) for i in range(0, len(EVENTS), 37)) + b"0\r\nx-t: 1\r\n\r\n"
    w.write(SSE_HEAD + b"connection: close\r\ntransfer-encoding: chunked\r\n\r\n")  # (not pooled)
    for i in range(0, len(wire), 5):
        w.write(wire[i:i + 5])
        await w.drain()
        await asyncio.sleep(0.001)


async def whole(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    """The same events with a content-length: read by httpx as before."""
    w.write(SSE_HEAD + b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(EVENTS) + EVENTS)
    await w.drain()


async def early_hints(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + SSE_HEAD
            + b"connection: close\r\ntransfer-encoding: chunked\r\n\r\n" + chunk(EVENTS) + b"0\r\n\r\n")
    await w.drain()


async def broken(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(openai_events("kept ", done=False)))
    await w.drain()
    await asyncio.sleep(0.02)
    w.write(b"zz\r\nnot framing\r\n")
    await w.drain()
    await asyncio.sleep(0.5)


async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(openai_events("first ", done=False)))
    await w.drain()
    await asyncio.sleep(3)


async def reset(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(openai_events("first ", done=False)))
    await w.drain()
    await asyncio.sleep(0.02)
    w.transport.abort()  # RST


@pytest.fixture(scope="module")
def server() -> object:
    routes = {"/dripped": dripped, "/whole": whole, "/early": early_hints, "/broken": broken,
              "/silent": silent, "/reset": reset}
    with hostile(routes) as (url, _):
        yield url


def go(url: str, path: str, **kw: object) -> kral_nb.Result:
    kw.setdefault("retries", 0)
    return kral_nb.run("hi", model="llamacpp:m", base_url=f"{url}/{path}", check=False, **kw)  # type: ignore[arg-type]


def test_split_framing_reads_as_a_whole_body_does(server: str) -> None:
    a, b = go(server, "dripped"), go(server, "whole")
    assert a.status == b.status == "ok" and a.text == b.text == "".join(TEXTS), (a.error, b.error)
    ra, rb = a.run_list[0], b.run_list[0]
    assert ra.n_bytes == rb.n_bytes == len(EVENTS)  # payload bytes, framing not counted
    assert [c.kind for _, _, c in ra.records] == [c.kind for _, _, c in rb.records]
    assert len(set(t for t, _, _ in ra.records)) > 5  # many reads, each stamped


def test_an_informational_head_before_the_stream(server: str) -> None:
    r = go(server, "early")
    assert r.status == "ok" and r.text == "".join(TEXTS) and r.run_list[0].http_status == 200


def test_broken_framing_keeps_what_came_and_ends_the_run(server: str) -> None:
    r = go(server, "broken", timeout=5)
    assert r.text == "kept " and r.status == "cut_off"
    assert r.run_list[0].end_ns is not None


def test_idle_inside_a_callback_body(server: str) -> None:
    r = go(server, "silent", timeout=kral_nb.Timeouts(idle_s=0.3))
    assert r.status == "error" and "idle-read timeout" in (r.error or "") and r.text == "first "


def test_a_reset_mid_body_cuts_the_run_off(server: str) -> None:
    r = go(server, "reset", timeout=5)  # as when httpx read the body: the chunk kept, the run cut off
    assert r.status == "cut_off" and r.text == "first "


def test_the_connection_is_reused_when_the_body_ends_after_the_terminator() -> None:
    """[DONE] arrives, then 30 ms later the body's last chunk: the run ends at [DONE], h11 is
    told the body ended, and the next request goes over the same connection."""
    connections: list[int] = []

    async def keepalive(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
        connections.append(1)
        for n in range(3):
            if n:
                head = await r.readuntil(b"\r\n\r\n")
                length = next(int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length"))
                await r.readexactly(length)
            w.write(SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(openai_events(f"r{n}")))
            await w.drain()
            await asyncio.sleep(0.03)
            w.write(b"0\r\n\r\n")
            await w.drain()

    with hostile({"/ka": keepalive}) as (url, _):
        texts = [go(url, "ka").text for _ in range(3)]
    assert texts == ["r0", "r1", "r2"] and len(connections) == 1


# the stream's head cut and the sink, over a real socket pair

async def _pair() -> tuple[StampedStream, socket.socket]:
    a, b = socket.socketpair()
    receiver = Receiver()
    await asyncio.get_running_loop().create_connection(lambda: receiver, sock=a)
    return StampedStream(receiver), b


async def _read_all(stream: StampedStream, n: int) -> list[bytes]:
    return [await stream.read(65536, 2) for _ in range(n)]


def test_only_a_request_makes_reads_end_at_a_head() -> None:
    """A SOCKS reply (bytes 0a 0a in an address) is not an HTTP head: read whole; after a
    request, a 1xx head, then the final head, then a body with blank lines read uncut."""
    async def go() -> tuple[list[bytes], list[bytes]]:
        stream, peer = await _pair()
        await stream.write(b"\x05\x01\x00")
        peer.sendall(b"\x05\x00\x00\x01\n\n\x00\x05\x00\x50")
        await asyncio.sleep(0.05)
        socks = await _read_all(stream, 1)
        await stream.write(b"POST /v1/chat HTTP/1.1\r\nhost: x\r\n\r\n")
        peer.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Oops\r\ncontent-length: 8\r\n\r\nab\n\ncd\n\n")
        await asyncio.sleep(0.05)
        http = await _read_all(stream, 3)
        peer.close()
        return socks, http

    socks, http = asyncio.run(go())
    assert socks == [b"\x05\x00\x00\x01\n\n\x00\x05\x00\x50"]
    assert http == [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 500 Oops\r\ncontent-length: 8\r\n\r\n", b"ab\n\ncd\n\n"]


def test_the_run_ends_at_the_terminator_read_not_at_the_body_end() -> None:
    """Two reads already received when the sink attaches, [DONE] then the body's end 50 ms
    later: the run ends at the first one's stamp, and h11 is handed the last chunk."""
    async def go() -> tuple[int, str, list[bytes]]:
        stream, peer = await _pair()
        run = Run("r", "p", "m", "openai")
        run.t0_ns = 0
        pipe = Pipeline(SSEDecoder(), protocols.get("openai").new_parser(), run)
        stream._r.pieces.extend([(1_000, chunk(openai_events("a"))), (51_000_000, b"0\r\n\r\n")])
        body = await read_body(pipe, stream, 5.0)
        left = await _read_all(stream, 1)
        peer.close()
        return body.t_ns, body.outcome.result(), left

    t_ns, outcome, left = asyncio.run(go())
    assert (t_ns, outcome, left) == (1_000, "terminator", [b"0\r\n\r\n"])


def test_a_cancelled_reader_gives_the_reads_back() -> None:
    """Cancelled in the same loop turn as the terminator arrived (the outcome already set):
    the sink is detached all the same."""
    async def go() -> bool:
        stream, peer = await _pair()
        run = Run("r", "p", "m", "openai")
        pipe = Pipeline(SSEDecoder(), protocols.get("openai").new_parser(), run)
        task = asyncio.ensure_future(read_body(pipe, stream, 5.0))
        await asyncio.sleep(0.02)
        sink = stream._r.sink
        assert sink is not None
        sink.data(1_000, chunk(openai_events("a")))  # the terminator: the outcome is set...
        task.cancel()  # ...and the task cancelled before it resumes
        with contextlib.suppress(asyncio.CancelledError):
            await task
        peer.close()
        return stream._r.sink is None

    assert asyncio.run(go())


def test_a_whole_line_past_the_cap_fails_as_a_held_one_does() -> None:
    with pytest.raises(BodyDecodeError, match="longer than"):
        ChunkedDecoder().decode(b"5;" + b"x" * (MAX_LINE + 10) + b"\r\nhello\r\n0\r\n\r\n")
    with pytest.raises(BodyDecodeError, match="longer than"):
        ChunkedDecoder().decode(b"0\r\nx-a: " + b"y" * (MAX_LINE + 10) + b"\r\n\r\n")


async def no_content(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(b"HTTP/1.1 204 No Content\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    await w.drain()
    await asyncio.sleep(2)


def test_a_204_that_claims_a_chunked_body_ends_at_once() -> None:
    with hostile({"/nc": no_content}) as (url, _):
        t0 = time.monotonic()
        r = go(url, "nc", timeout=kral_nb.Timeouts(idle_s=1.5))
    assert r.status == "cut_off" and time.monotonic() - t0 < 1.0
