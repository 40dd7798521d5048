"""The chunked transfer decoder the transport runs in the receive callback
(``protocols/chunked.py``), checked against h11 itself — the reader httpx would have used — on
generated bodies cut at every byte and on mutated framing; then the callback path over real
loopback HTTP: split framing, extensions and trailers, broken framing, idle, reset, 1xx heads
and a connection reused after the terminator came before the body's end."""

from __future__ import annotations

import asyncio
import random

import h11
import pytest

import kral_nb
from kral_nb.protocols.chunked import MAX_LINE, ChunkedDecoder
from kral_nb.protocols.encoding import BodyDecodeError

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
