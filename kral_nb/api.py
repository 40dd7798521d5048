"""Public entry points for single requests: ``run``, ``stream``, ``astream`` (comparisons:
``sweeps.py``; the session's runs: ``results/history.py``)."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .errors import ERROR_CLASSES, HTTPStatusError, StreamError
from .net import engine as _engine
from .net import loop as _loop
from .options import Options, with_options
from .plan import plan
from .protocols.records import Chunk, Record
from .protocols.request import Message
from .record.recorder import Run
from .results.history import HISTORY, cancelled
from .results.result import Result

__all__ = ["Stream", "astream", "run", "stream"]


def _options(kw: dict[str, Any]) -> Options:
    return Options.from_kwargs(kw)




def _raise_for(result: Result) -> Result:
    """``run(check=True)``: a run that is not ok raises the exception of its error kind
    (``errors.ERROR_CLASSES``), the result attached."""
    run = result.run_list[0]
    if run.status == "ok":
        return result
    cls = ERROR_CLASSES.get(run.error_kind or "", StreamError)
    message = run.error or run.status
    if cls is HTTPStatusError:
        raise HTTPStatusError(message, status=run.http_status or 0, result=result)
    raise cls(f"{run.status}: {message}", result=result)


@with_options(Options)
def run(prompt: str | None = None, *, messages: list[Message] | None = None, model: str,
        check: bool = True, **options: Any) -> Result:
    """Stream one request to the end and return its :class:`Result`.

    Options: ``provider, base_url, api_key, protocol, system, tools, temperature, max_tokens,
    timeout, retries, include_usage``; anything else goes into the request body.
    With ``check=True`` (default) a run that is not ``ok`` raises (``.result`` keeps it).
    """
    job = plan(prompt, messages, model, _options(options))
    try:
        _loop.run_sync(lambda client: _engine.execute(client, job))
    except KeyboardInterrupt:
        raise cancelled(Result([job.run])) from None
    HISTORY.keep(job.run)
    result = Result([job.run])
    return _raise_for(result) if check else result


def _records_to(run: Run, put: Callable[[Record], None]) -> Callable[[int, list[Chunk]], None]:
    """A run listener handing each new chunk, as a :class:`Record`, to ``put``."""

    def listener(t_ns: int, chunks: list[Chunk]) -> None:
        base = len(run.records) - len(chunks)  # called after the chunks were recorded
        t_s = (t_ns - (run.t0_ns or t_ns)) / 1e9
        for i, c in enumerate(chunks):
            put(Record(run.run_id, base + i, t_s, c))

    return listener


class Stream:
    """Iterator of :class:`Record` as they arrive; ``.result`` once exhausted. Leaving the
    loop early stops the request (also ``with kral_nb.stream(...) as s:``)."""

    def __init__(self, job: _engine.Job) -> None:
        self._job = job
        self._q: queue.SimpleQueue[Record | None] = queue.SimpleQueue()
        run = job.run
        self.result = Result([run])

        run.listener = _records_to(run, self._q.put)
        loop = _loop.engine()
        self._future = loop.submit(lambda client: self._go(client))

    async def _go(self, client: Any) -> None:
        try:
            await _engine.execute(client, self._job)
        finally:
            self._q.put(None)
            HISTORY.keep(self._job.run)

    def __iter__(self) -> Iterator[Record]:
        """Records as they arrive. Leaving the loop early (``break``, an exception, dropping
        the iterator) stops the stream: the request is cancelled and its connection closed,
        nothing streams (and bills) on in the background."""
        try:
            while (item := self._q.get()) is not None:
                yield item
        except KeyboardInterrupt:
            self.cancel()
            raise cancelled(self.result) from None
        finally:
            if not self._future.done():  # the reader left before the end
                self.cancel()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Stop the stream and wait until it has unwound (connection closed); the run is
        ``cancelled`` with every record that arrived."""
        if not self._future.done():
            self._future.cancel_task()
            self._job.run.cancel()
            HISTORY.keep(self._job.run)


@with_options(Options)
def stream(prompt: str | None = None, *, messages: list[Message] | None = None, model: str,
           **options: Any) -> Stream:
    """Like :func:`run`, but iterate the records live: ``for r in stream(...): print(r.text)``."""
    return Stream(plan(prompt, messages, model, _options(options)))


@with_options(Options)
async def astream(prompt: str | None = None, *, messages: list[Message] | None = None,
                  model: str, **options: Any) -> AsyncIterator[Record]:
    """Async iterator of records, awaited on the caller's event loop. The stream itself runs
    on kral_nb's engine loop with the same pooled client as :func:`run` (no per-call connect
    cost, and a busy caller loop never delays an arrival stamp). Leaving the loop early
    stops the stream when the generator is closed (``contextlib.aclosing``), at the latest
    when the caller's event loop closes."""
    job = plan(prompt, messages, model, _options(options))
    caller = asyncio.get_running_loop()
    q: asyncio.Queue[Record | None] = asyncio.Queue()

    def put(item: Record | None) -> None:  # engine thread -> caller's loop
        try:
            caller.call_soon_threadsafe(q.put_nowait, item)
        except RuntimeError:  # the caller's loop has closed: nobody is listening, stop
            future.cancel()

    async def go(client: Any) -> None:
        try:
            await _engine.execute(client, job)
        finally:
            HISTORY.keep(job.run)
            put(None)

    job.run.listener = _records_to(job.run, put)
    future = _loop.engine().submit(go)
    try:
        while (item := await q.get()) is not None:
            yield item
        await asyncio.wrap_future(future)
    finally:
        if not future.done():  # the consumer stopped early or was cancelled: unwind the stream
            future.cancel()
            await asyncio.to_thread(future.cancel_task)
            job.run.cancel()
        HISTORY.keep(job.run)
