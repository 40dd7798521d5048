"""kral_nb's event-loop thread: sync callers (``run``, ``compare``, the magic, the widget)
run the async engine here, which works the same in a Jupyter kernel whose loop is already
running, in a script and in tests. One loop, one shared pooled httpx client.

Kernel interrupt / Ctrl-C cancels the *task* on this loop and waits for it to unwind, so
httpx closes the connections and the partial records stay. After ``os.fork()`` a child
gets its own loop on first use (the parent's thread does not exist there).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx

from . import client as http_client

T = TypeVar("T")


class LoopThread:
    """A daemon thread running an event loop, plus the shared httpx client bound to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._client: httpx.AsyncClient | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="kral_nb-engine", daemon=True)
        self.thread.start()

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = http_client.new_client()
        return self._client

    def submit(self, make: Callable[[httpx.AsyncClient], Coroutine[Any, Any, T]]) -> TaskFuture[T]:
        """Start ``make(client)`` as a task on the loop; returns a future whose ``cancel()``
        cancels the task itself (so httpx unwinds and closes the connection)."""
        fut: TaskFuture[T] = TaskFuture(self.loop)

        def start() -> None:
            if fut.cancelled():
                return
            task = self.loop.create_task(make(self.client()))
            fut.task = task
            task.add_done_callback(lambda t: _transfer(t, fut))

        self.loop.call_soon_threadsafe(start)
        return fut

    def run_sync(self, make: Callable[[httpx.AsyncClient], Coroutine[Any, Any, T]]) -> T:
        """Run ``make(client)`` on the loop and wait. On KeyboardInterrupt, cancel the task,
        wait for it to unwind (connections closed) and re-raise."""
        fut = self.submit(make)
        try:
            return fut.result()
        except KeyboardInterrupt:
            fut.cancel_task(wait_s=10)
            raise

    def close(self) -> None:
        """Close the client, cancel what still runs on the loop (the lag monitor's timer
        among them: no "Task was destroyed but it is pending" at exit), stop the loop."""
        async def shutdown() -> None:
            if self._client is not None:
                client, self._client = self._client, None
                await client.aclose()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self.loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=3)
            except Exception:
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)


class TaskFuture(concurrent.futures.Future[T]):
    """A thread-safe future tied to a task on the engine loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.task: asyncio.Task[T] | None = None
        self._unwound = threading.Event()

    def cancel_task(self, wait_s: float = 10.0) -> None:
        """Cancel the task on its loop and wait (at most ``wait_s``) until it has unwound:
        connections closed, partial records settled."""
        self.cancel()
        self._unwound.wait(wait_s)

    def cancel(self) -> bool:
        """``concurrent.futures`` contract: False once done; else ask the task to stop (it
        unwinds on its loop; :meth:`cancel_task` waits for that) and return True at once."""
        if self.done():
            return False
        self.loop.call_soon_threadsafe(self._cancel_on_loop)
        return super().cancel()

    def _cancel_on_loop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        else:
            self._unwound.set()


def _transfer(task: asyncio.Task[T], fut: TaskFuture[T]) -> None:
    fut._unwound.set()
    if fut.done():
        return
    if task.cancelled():
        concurrent.futures.Future.cancel(fut)
    elif task.exception() is not None:
        fut.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        fut.set_result(task.result())


_engine: LoopThread | None = None
_engine_lock = threading.Lock()


def engine() -> LoopThread:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = LoopThread()
            atexit.register(_close_if_owner, _engine, os.getpid())
        return _engine


def _close_if_owner(loop: LoopThread, pid: int) -> None:
    if os.getpid() == pid:
        loop.close()


def run_sync(make: Callable[[httpx.AsyncClient], Coroutine[Any, Any, T]]) -> T:
    return engine().run_sync(make)




def _after_fork() -> None:
    global _engine, _engine_lock
    _engine, _engine_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
