"""The async engine: runs jobs (one request each) with retries, a deadline, cancellation
and event-loop-lag measurement. Sync callers and ``astream`` run it on kral_nb's loop thread
(``loop.py``: ``astream`` hands the records to the caller's loop); load shards and Ray actors
on their own loop."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from ..clock import now_ns
from ..errors import HTTPStatusError, KralError
from ..options import RetryPolicy, Timeouts
from ..protocols.request import RequestSpec
from ..record.pipeline import Pipeline
from ..record.recorder import Run
from ..servers.startup import NOTES, Ready, answered
from ..servers.startup import wait as wait_ready
from . import transport
from .backend import kernel_stamps

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 502, 503, 529})


@dataclass
class Job:
    """One request to execute: the spec, how to parse it, and the run that records it."""

    run: Run
    spec: RequestSpec
    make_pipeline: Callable[[Run], Pipeline]
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    tokenizer: tuple[str, str] | None = None  # (GGUF path, "gguf") or (server root URL, style)
    ready: Ready | None = None  # a helper server (sim, local model) to wait for first


class GCPause:
    """The cyclic garbage collector is paused while any stream is open, as ``timeit`` does:
    a full collection over a long session's records stalled arrival stamps by up to 50 ms
    (measured). It resumes, if it was on, when the last stream ends. ``enabled = False``
    opts out."""

    enabled = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._open == 0 and self.enabled:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._open += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0 and self._was_enabled:
                self._was_enabled = False
                gc.enable()

    def reset(self) -> None:
        """In a forked child: no stream of the parent is open here."""
        self._lock = threading.Lock()
        if self._open and self._was_enabled:
            gc.enable()
        self._open, self._was_enabled = 0, False


gc_pause = GCPause()


async def execute(client: httpx.AsyncClient, job: Job, rng: random.Random | None = None) -> Run:
    """Run one job to a final status. Never raises except ``CancelledError``. Where the
    server has a tokenizer endpoint and the stream carried no usage, the output is then
    counted by the model's own tokenizer (after the run: no timing is affected)."""
    if job.ready is not None and not answered(job.ready) and not await _helper_ready(job.run, job.ready):
        return job.run
    with gc_pause:
        run = await _execute(client, job, rng)
    if job.tokenizer is not None and "output_tokens" not in run.usage and run.records:
        where, style = job.tokenizer
        if style == "gguf":
            from ..servers.local import count_chunk_tokens, count_tokens

            run.counted_output_tokens = count_tokens(where, run.generated_text())
            run.counted_chunk_tokens = count_chunk_tokens(where, run.content_texts())
        else:
            run.counted_output_tokens = await transport.count_tokens(client, where, style, run.generated_text())
    return run


async def _helper_ready(run: Run, ready: Ready) -> bool:
    """Wait (in a worker thread) for the helper server ``run`` needs, with a note in its pane;
    False, with the run failed, if it cannot start."""
    run.note = ready.note or NOTES.get(ready.kind, "starting…")
    t0 = now_ns()
    try:
        await asyncio.to_thread(wait_ready, ready)
    except KralError as exc:
        run.fail("error", str(exc), now_ns())
        return False
    finally:
        run.note = ""
        run.helper_wait_s = (now_ns() - t0) / 1e9
    return True


async def _execute(client: httpx.AsyncClient, job: Job, rng: random.Random | None) -> Run:
    run, rng = job.run, rng or random.Random()
    total_s = job.timeouts.total_s
    deadline_ns = now_ns() + int(total_s * 1e9) if total_s is not None else None
    lag = lag_monitor()
    lag.open(run)  # a no-op where the kernel stamps the reads
    try:
        attempt = -1
        while attempt < job.retry.max_retries:
            attempt += 1
            run.attempts += 1
            run.begin_attempt()
            left_s = None if deadline_ns is None else (deadline_ns - now_ns()) / 1e9
            try:
                if left_s is not None and left_s <= 0:
                    raise asyncio.TimeoutError
                await asyncio.wait_for(
                    transport.stream(client, job.spec, job.make_pipeline(run), job.timeouts, job.secrets),
                    left_s,
                )
                return run
            except KralError as exc:  # before TimeoutError: KralTimeoutError is one too
                run.fail(exc.kind, str(exc), now_ns())  # type: ignore[arg-type]
                if isinstance(exc, HTTPStatusError) and exc.status == 400 \
                        and "stream_options" in exc.provider_message and _drop_stream_options(job):
                    attempt -= 1  # a protocol fallback, not a retry: once, at once, tokens estimated
                    continue
                if not _retryable(exc) or attempt == job.retry.max_retries or run.records:
                    return run  # never retry once content arrived: billed twice, timing lies
                wait = job.retry.wait_s(attempt, getattr(exc, "retry_after_s", None), rng)
            except asyncio.TimeoutError:
                if run.final:  # the deadline fell while draining after the terminator
                    return run
                message = f"total timeout: the request took more than {total_s:g} s"
                if attempt:
                    message += f" ({attempt + 1} attempts, {run.retry_wait_s:.1f} s of retry waits included)"
                run.fail("timeout", message, now_ns())
                return run
            if deadline_ns is not None and now_ns() + int(wait * 1e9) >= deadline_ns:
                run.fail(run.error_kind or "error",
                         f"{run.error} (not retried: waiting {wait:.1f} s would pass the total timeout of "
                         f"{total_s:g} s)")
                return run
            run.retry_wait_s += wait
            await asyncio.sleep(wait)
        return run
    except asyncio.CancelledError:
        run.cancel(now_ns())
        raise
    finally:
        lag.close(run)


def _retryable(exc: KralError) -> bool:
    """Before any response byte: connection failures and 429/502/503/529; never a timeout
    (an idle timeout means a stall, and a retry would bill again)."""
    if isinstance(exc, HTTPStatusError):
        return exc.status in RETRY_STATUSES
    return exc.kind in ("connect", "stream")


def _drop_stream_options(job: Job) -> bool:
    """Some OpenAI-compatible servers reject ``stream_options`` with a 400: ask again without
    it (once); the run's tokens are then estimated (``tokens_source = estimate``)."""
    body = job.spec.json
    if isinstance(body, dict) and "stream_options" in body:
        del body["stream_options"]
        return True
    return False


class LagMonitor:
    """Where the loop stamps arrivals (uvloop, not Linux): one 10 ms timer per event loop
    while runs are open (not one per run: 64 streams would wake the loop 6,400 times a
    second). Each tick's lateness is charged to every open run as ``loop_lag_max_s``: the
    run's timing uncertainty.

    Where the kernel stamps them, the timer stays off: the transport measures the lag by
    the reads themselves (how long each waited for the loop), for free. The timer's 100
    wake-ups a second cost the local model 5–8 % of its speed on 2 cores (each one preempts
    a llama.cpp thread; ``bench/local.py``)."""

    period_s = 0.01

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._runs: dict[int, Run] = {}
        self._task: asyncio.Future[None] | None = None

    def open(self, run: Run) -> None:
        if not self.enabled:
            return
        self._runs[id(run)] = run
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._watch())

    def close(self, run: Run) -> None:
        self._runs.pop(id(run), None)

    async def _watch(self) -> None:
        period_ns = int(self.period_s * 1e9)
        while self._runs:
            t = now_ns()
            await asyncio.sleep(self.period_s)
            late_s = max(0, now_ns() - t - period_ns) / 1e9
            for run in self._runs.values():
                if not run.loop_lag_max_s >= late_s:  # NaN (no tick yet) or smaller
                    run.loop_lag_max_s = late_s


_monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LagMonitor] = weakref.WeakKeyDictionary()


def lag_monitor() -> LagMonitor:
    """The running loop's monitor (the engine's loop, or the caller's for ``astream``)."""
    loop = asyncio.get_running_loop()
    monitor = _monitors.get(loop)
    if monitor is None:
        monitor = _monitors[loop] = LagMonitor(enabled=not kernel_stamps(loop))
    return monitor


async def execute_all(client: httpx.AsyncClient, jobs: list[Job], concurrency: int,
                      on_done: Callable[[Run], None] | None = None, seed: int | None = None) -> None:
    """Start jobs in list order, at most ``concurrency`` at a time."""
    sem = asyncio.Semaphore(max(1, concurrency))
    rng = random.Random(seed)

    async def one(job: Job) -> None:
        async with sem:
            await execute(client, job, rng)
        if on_done is not None:
            on_done(job.run)

    tasks = [asyncio.ensure_future(one(j)) for j in jobs]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for j in jobs:
            j.run.cancel(now_ns())
        raise


def _after_fork() -> None:
    """A forked child has none of the parent's open streams (see also ``loop._after_fork``)."""
    global _monitors
    _monitors = weakref.WeakKeyDictionary()
    gc_pause.reset()


os.register_at_fork(after_in_child=_after_fork)


__all__ = ["Job", "RetryPolicy", "execute", "execute_all"]
