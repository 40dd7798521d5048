"""Transport over real sockets (plain, TLS, through a proxy): arrival time is read when the
socket read returns, before HTTP parsing, so every body piece delivered by one read carries
that read's stamp."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trustme

import kral_nb
from kral_nb.net import client as http_client
from kral_nb.net import kernelstamp
from kral_nb.record.recorder import Run


def _sse(obj: object) -> bytes:
    data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chunk(content: str) -> dict[str, object]:
    return {"object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


@pytest.fixture()
def burst_server() -> Iterator[str]:
    yield from _burst_server(None)


@pytest.fixture()
def tls_burst_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The same server over TLS, with a throwaway CA the client trusts via SSL_CERT_FILE
    (httpx honours it, as for a corporate proxy's CA)."""
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    yield from _burst_server(ctx)


def _burst_server(tls: ssl.SSLContext | None) -> Iterator[str]:
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
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert ready.wait(5)
    yield f"{'https' if tls else 'http'}://127.0.0.1:{port[0]}/v1"
    loop.call_soon_threadsafe(loop.stop)


def test_the_client_stamps_socket_reads() -> None:
    """Fails when an httpx/httpcore release moves the pool's backend attribute: update
    ``client._stamp_socket_reads`` then (reads would be stamped after parsing)."""
    assert http_client._stamp_socket_reads(httpx.AsyncHTTPTransport())


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
    # the trace keeps socket reads: the first holds all three events, the [DONE] a later one
    assert run.trace[0][0] == run.headers_ns and run.trace[0][1].count(b"data:") == 3
    assert len(run.trace) >= 2 and run.trace[1][0] - run.trace[0][0] >= 40_000_000
    # the end came in a later read, 50 ms after
    assert run.end_ns is not None and run.end_ns - text_ns[0] >= 40_000_000


@pytest.mark.skipif(not kernelstamp.kernel_gives_stamps(), reason="kernel receive stamps are Linux's")
@pytest.mark.parametrize("tls", [False, True])
def test_a_busy_loop_does_not_delay_the_stamps(tls: bool, burst_server: str, tls_burst_server: str) -> None:
    """The stamp is the kernel's receive time: [DONE] leaves the server 50 ms after the
    first chunks; the client's loop is blocked from 15 to 150 ms, so it only sees [DONE]
    ~100 ms late, yet the records still say 50 ms (a loop-time stamp would say >= 135)."""
    async def blocker() -> None:
        await asyncio.sleep(0.015)
        time.sleep(0.135)  # noqa: ASYNC251 (the loop is stuck on purpose: a saturated client)

    records = _collect(tls_burst_server if tls else burst_server, beside=blocker)
    text = [r for r in records if r.kind == "text"]
    assert "".join(r.text for r in text) == "one two three"
    gap_s = records[-1].t_s - text[0].t_s
    assert records[-1].kind == "done" and 0.04 <= gap_s < 0.1, gap_s


def test_tls_reads_are_stamped_too(tls_burst_server: str) -> None:
    """Real providers are HTTPS: the TLS stream httpcore swaps in must stamp its reads too."""
    records = _collect(tls_burst_server)
    text = [r for r in records if r.kind == "text"]
    assert "".join(r.text for r in text) == "one two three"
    assert len({r.t_s for r in text}) == 1
    assert records[-1].kind == "done" and records[-1].t_s - text[0].t_s >= 0.04


def _collect(base_url: str, beside: Callable[[], Awaitable[None]] | None = None) -> list[kral_nb.Record]:
    """One stream over a client built now (so it reads the environment as it is now), with
    ``beside()`` running on the same loop."""
    run, _ = _run(base_url, beside)
    return [kral_nb.Record(run.run_id, i, (t - (run.t0_ns or 0)) / 1e9, c)
            for i, (t, _, c) in enumerate(run.records)]


def _run(base_url: str, beside: Callable[[], Awaitable[None]] | None = None,
         loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> tuple[Run, bool]:
    """The run, and whether the loop ran the lag timer."""
    from kral_nb.net import engine
    from kral_nb.net.client import new_client
    from kral_nb.options import Options
    from kral_nb.plan import plan

    job = plan("hi", None, "m", Options(provider="openai", base_url=base_url, api_key="x"))

    async def collect() -> None:
        async with new_client() as client:
            if beside is None:
                await engine.execute(client, job)
            else:
                await asyncio.gather(engine.execute(client, job), beside())
            monitors.append(engine.lag_monitor())

    monitors: list[engine.LagMonitor] = []
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(collect())
    return job.run, monitors[0].enabled


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_blocked_loop_is_measured_as_the_runs_loop_lag(loop: str, burst_server: str) -> None:
    """``loop_lag_max_s`` sees a loop blocked 135 ms while [DONE] arrives. Where the kernel
    stamps the reads (asyncio's loop on Linux) it is measured by the reads themselves and no
    lag timer runs (its 100 wake-ups a second slowed a 2-thread local model 5-8 %); on
    uvloop (loop stamps) by the 10 ms timer."""
    uvloop = pytest.importorskip("uvloop") if loop == "uvloop" else None

    async def blocker() -> None:
        await asyncio.sleep(0.015)
        time.sleep(0.135)  # noqa: ASYNC251 (the loop is stuck on purpose)

    run, timer = _run(burst_server, blocker, uvloop.new_event_loop if uvloop else None)
    assert run.status == "ok" and 0.08 <= run.loop_lag_max_s < 1.0, run.loop_lag_max_s
    assert timer is (loop == "uvloop" or not kernelstamp.kernel_gives_stamps())


def test_environment_proxy_is_used_and_stamped(burst_server: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured (the target host does not resolve: only the proxy can
    answer), and the proxied connection's reads are socket-stamped too."""
    monkeypatch.setenv("HTTP_PROXY", burst_server.removesuffix("/v1"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    records = _collect("http://kral-nb-proxy-test.invalid/v1")
    text = [r for r in records if r.kind == "text"]
    assert "".join(r.text for r in text) == "one two three"
    assert len({r.t_s for r in text}) == 1


def test_loopback_bypasses_the_environment_proxy(burst_server: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A corporate HTTP(S)_PROXY without NO_PROXY must not swallow the sim / local model."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed once the with-block ends: nothing listens there
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{dead}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    records = _collect(burst_server)
    assert "".join(r.text for r in records if r.kind == "text") == "one two three"


def test_read_delays_are_an_even_sample_in_bounded_memory() -> None:
    """A long load level's reads: the shard keeps at most 2 × cap delays however many reads
    there are, and reports at most cap of them spread evenly over the whole level."""
    sample = kernelstamp.DelaySample(cap=100)
    for i in range(200_000):
        sample.append(i)
        assert len(sample.values) < 200
    got = sample.take()
    assert 50 <= len(got) <= 100 and got == sorted(got)
    assert got[0] < 5_000 and got[-1] > 190_000 and abs(got[len(got) // 2] - 100_000) < 5_000
    assert sample.take() == []
