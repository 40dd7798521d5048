"""A deliberately hostile HTTP/1.1 server on loopback, for faults the sim cannot produce:
raw bytes on the socket, written by a handler chosen from the request path."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]

SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def openai_events(*texts: str, done: bool = True) -> bytes:
    import json

    out = b"".join(b"data: " + json.dumps({"choices": [{"delta": {"content": t}}]}).encode() + b"\n\n"
                   for t in texts)
    return out + (b"data: [DONE]\n\n" if done else b"")


class Hostile:
    """``with Hostile({"/a": handler}) as url:`` — each request to ``url + "/a/..."`` runs
    ``handler(reader, writer, request_bytes)``; the connection is closed afterwards."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.requests: list[bytes] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            request = head + await reader.readexactly(length)
            self.requests.append(request)
            path = request.split(b" ")[1].decode()
            handler = next(h for prefix, h in self.routes.items() if path.startswith(prefix))
            await handler(reader, writer, request)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def __enter__(self) -> str:
        self._thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self.loop).result(5)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@contextlib.contextmanager
def hostile(routes: dict[str, Handler]) -> Iterator[tuple[str, Hostile]]:
    h = Hostile(routes)
    with h as url:
        yield url, h
