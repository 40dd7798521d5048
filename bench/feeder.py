"""The floor of what a server on one core can feed: an OpenAI-style stream server with nothing
around the socket writes — no ASGI, no task per stream. One selector loop keeps every stream's
next chunk in a heap and writes each due chunk with one ``send``, HTTP/1.1 chunked framing by
hand. Its chunks carry the sim's ``+stamp`` text (``"<send ns> <lateness ns> "``: the send
time, ``perf_counter_ns`` just before the write, and how late against the schedule), so
``bench/load.py`` reads them as it reads the sim's.

Why: on a 2-core machine one core is the client's, and the sim (uvicorn + Starlette, ~35 µs
per chunk) sends ~20,000 chunks/s from the other — 512 streams of 10 ms chunks ask 51,200. A
bare ``send`` per chunk costs ~9 µs here (``--floor``), so a loop this thin can feed them and
the client's capacity is measured rather than the server's.

Each request (any path) gets ``n`` chunks (``+n=N`` in the model name, default 100) 10 ms
apart after a 100 ms first token, then a finish chunk, ``[DONE]`` and the body's end;
connections are kept alive.

Usage: python bench/feeder.py   (prints its URL; bench/load.py starts it itself)
       python bench/feeder.py --floor [--sockets 512] [--seconds 3]
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
import selectors
import socket
import time

TTFT_NS, ITL_NS = 100_000_000, 10_000_000
HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n")
PREFIX = b'data: {"id":"c","object":"chat.completion.chunk","model":"feeder","choices":[{"index":0,"delta":{"content":"'
SUFFIX = b'"},"finish_reason":null}]}\n\n'
END = (b'data: {"id":"c","object":"chat.completion.chunk","model":"feeder","choices":[{"index":0,"delta":{},'
       b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')


def frame(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Stream:
    __slots__ = ("k", "left", "sock", "t0")

    def __init__(self, sock: socket.socket, t0: int, n: int) -> None:
        self.sock, self.t0, self.left, self.k = sock, t0, n, 0


def serve(listener: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, bytes] = {}  # a request's bytes so far
    due: list[tuple[int, int, Stream]] = []  # (due ns, tie, stream)
    tie = 0
    clock = time.perf_counter_ns
    while True:
        # sleep to 2 ms before the next chunk, then poll: a timer here wakes up to ~1.4 ms late
        timeout = max(0, (due[0][0] - clock()) // 1_000_000 - 2) / 1e3 if due else None
        for key, _ in sel.select(timeout):
            sock = key.fileobj
            if sock is listener:
                conn, _ = listener.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(conn, selectors.EVENT_READ)
                pending[conn] = b""
                continue
            assert isinstance(sock, socket.socket)
            data = sock.recv(65536)
            if not data:
                sel.unregister(sock)
                pending.pop(sock, None)
                sock.close()
                continue
            buf = pending[sock] + data
            head, sep, body = buf.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head) if sep else None
            if not sep or len(body) < (int(length[1]) if length else 0):
                pending[sock] = buf
                continue
            pending[sock] = b""
            n = re.search(rb"\+n=(\d+)", body)
            sock.sendall(HEAD)
            tie += 1
            heapq.heappush(due, (clock() + TTFT_NS, tie, Stream(sock, clock() + TTFT_NS, int(n[1]) if n else 100)))
        now = clock()
        while due and due[0][0] <= now:
            at, _, s = heapq.heappop(due)
            sent = clock()
            try:
                if s.left:
                    s.sock.send(frame(PREFIX + b"%d %d " % (sent, sent - at) + SUFFIX))
                    s.left -= 1
                    s.k += 1
                    tie += 1
                    heapq.heappush(due, (s.t0 + ITL_NS * s.k, tie, s))
                else:
                    s.sock.send(frame(END) + b"0\r\n\r\n")
            except OSError:
                pass
            now = clock()


def floor(n: int = 512, seconds: float = 3.0) -> None:
    """The machine's floor for the job: ``n`` loopback sockets, each written every 10 ms by a
    bare loop of ``send`` on this CPU, drained by a bare loop of ``epoll`` + ``recvmsg`` with
    kernel stamps (what the client's reads are) in a child on the other CPUs. Prints both
    loops' CPU share: what any server and any client pay before doing anything."""
    import os
    srv = socket.create_server(("127.0.0.1", 0), backlog=4096)
    cpus = sorted(os.sched_getaffinity(0))
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        if len(cpus) > 1:
            os.sched_setaffinity(0, set(cpus[:-1]))
        sel = selectors.DefaultSelector()
        for _ in range(n):
            c = socket.create_connection(srv.getsockname())
            c.setblocking(False)
            c.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_TIMESTAMPNS", 35), 1)
            sel.register(c, selectors.EVENT_READ)
        left, t0, c0 = n, time.perf_counter(), time.process_time()
        while left:
            for key, _ in sel.select():
                if not key.fileobj.recvmsg(65536, 1024)[0]:  # type: ignore[union-attr]
                    sel.unregister(key.fileobj)
                    left -= 1
        os.write(wfd, b"%f" % ((time.process_time() - c0) / (time.perf_counter() - t0)))
        os._exit(0)
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[-1]})
    conns = [srv.accept()[0] for _ in range(n)]
    payload = frame(PREFIX + b"1234567890123 12345 " + SUFFIX)
    t0, c0, k, sent = time.perf_counter(), time.process_time(), 0, 0
    while time.perf_counter() - t0 < seconds:
        k += 1
        time.sleep(max(0.0, t0 + k * ITL_NS / 1e9 - time.perf_counter()))
        for c in conns:
            c.send(payload)
            sent += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for c in conns:
        c.close()
    os.waitpid(pid, 0)
    reader = float(os.read(rfd, 64))
    print(json.dumps({"writes_per_s": round(sent / wall), "sender_cpu_share": round(cpu / wall, 3),
                      "us_per_write": round(cpu / sent * 1e6, 2), "reader_cpu_share": round(reader, 3),
                      "reader_us_per_read": round(reader * wall / sent * 1e6, 2)}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--floor", action="store_true", help="measure bare send and recvmsg loops instead")
    ap.add_argument("--sockets", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    if args.floor:
        floor(args.sockets, args.seconds)
    else:
        listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
        print(f"http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
        serve(listener)
