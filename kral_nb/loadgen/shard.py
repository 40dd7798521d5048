"""A load shard: one event loop driving its share of a load level's requests, in its own
process (``loadrun.py``) — or, unchanged, in a Ray async actor. It measures itself: event-loop
lag samples, how late the loop came to each kernel-stamped read (``netstream.py``) and CPU
time over the level, so a saturated client is flagged, never mistaken for a slow server.

Closed loop: ``concurrency`` workers, each sending its next request the moment the previous
one ends (scheduled = that moment). Open loop: every request is due at its offset in the
level's arrival schedule (``arrivals.py``), whatever the responses do; ``sent − scheduled``
(``queue_delay_s``) shows a client that falls behind (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..clock import now_ns, wall_ns
from ..net import engine
from ..net.client import new_client
from ..net.engine import Job
from ..net.kernelstamp import DelaySample
from ..net.netstream import kernel_stamps
from ..record.recorder import Run

MAX_IN_FLIGHT = 4096  # per shard, open loop: beyond it requests wait (and their queue delay shows)
LAG_PERIOD_S = 0.002
REPORT_PERIOD_S = 0.25
MAX_DELAY_SAMPLES = 20_000  # read delays reported per cell (evenly thinned beyond)


@dataclass
class CellTask:
    """One shard's part of one (model, level) cell: plain data, pickled to the shard."""

    cell: int
    shard: int
    job: Job  # the model's validated job; each request clones it with a fresh run
    mode: str  # "closed" | "open"
    start_ns: int  # the level's common start (CLOCK_MONOTONIC of the host that made the task)
    warmup_s: float
    duration_s: float | None
    concurrency: int = 0  # closed loop: this shard's workers
    requests: int | None = None  # closed loop: this shard's quota
    offsets_s: list[float] = field(default_factory=list)  # open loop: this shard's due times
    max_in_flight: int = 4096  # open loop: this shard's cap
    drain_s: float = 30.0  # after duration_s, how long requests in flight may still finish
    start_wall_ns: int | None = None  # across hosts: the common start as UTC wall time (time_ns)
    region: str = ""  # where the shard runs (Ray: the node's region:<name> resource)


@dataclass
class CellReport:
    """What a shard sends back, every ``REPORT_PERIOD_S`` while a cell runs and once at its
    end (``final``): the runs that finished since the last report (records as columns), every
    request sent since then (``sent``: run id, when it was due, how many of this shard's
    requests were in flight as it was sent, so a request lost with its shard still shows),
    progress for the live view, and, in the final report, the shard's own health."""

    cell: int
    shard: int
    runs: list[Run]
    sent: list[tuple[str, int, int]]
    progress: dict[str, Any]
    start_ns: int = 0  # the cell's start on this shard's own monotonic clock: run times count from it
    final: bool = False
    lag_s: list[float] = field(default_factory=list)  # event-loop lateness samples, every LAG_PERIOD_S
    cpu_s: float = 0.0  # process CPU time over the cell
    wall_s: float = 0.0
    loop: str = ""  # the event loop's implementation: "uvloop" or "asyncio"
    stamps: str = ""  # "kernel": arrival = the kernel's receive time; "loop": when the loop got the bytes
    read_delay_s: list[float] = field(default_factory=list)  # kernel-stamped reads: loop time − kernel time
    region: str = ""
    clock_offset_s: float = 0.0  # this host's wall clock minus the driver's (Ray), for started_at
    host: str = field(default_factory=lambda: os.uname().nodename)


class ShardRunner:
    """One event loop's worth of load; ``await run_cell(task)`` runs one cell. Hold one per
    process (a worker or a Ray actor): its HTTP clients keep their connections across cells.

    Each request in flight borrows a client of its own (``borrow`` / ``give_back``), so each
    client's pool holds one connection, kept alive for the next request: httpcore's pool
    walks every connection it holds at each request's start and end (encode/httpcore#1035),
    which was 44 % of a shard's CPU at 64 streams in one shared pool (py-spy)."""

    def __init__(self, journal: Callable[[int, str, int, int], None] | None = None) -> None:
        self.journal = journal  # (cell, run id, due ns, in flight), called before each request is sent
        self._client: httpx.AsyncClient | None = None
        self._free: list[httpx.AsyncClient] = []
        self._all: list[httpx.AsyncClient] = []
        self._tls: ssl.SSLContext | None = None
        self.read_delays = DelaySample(MAX_DELAY_SAMPLES)  # ns, from the client's kernel-stamped reads
        self.block_s = float(os.environ.get("KRAL_NB_BLOCK_SHARD_MS", "0")) / 1000  # diagnostics

    async def run_cell(self, task: CellTask, *, emit: Callable[[CellReport], None] | None = None,
                       stop: Callable[[], bool] = lambda: False) -> CellReport:
        """Run one cell; ``emit`` gets a partial report every ``REPORT_PERIOD_S``; the final
        report is returned."""
        if task.start_wall_ns is not None:  # another host's clock: meet at a wall-clock instant
            task = dataclasses.replace(task, start_ns=now_ns() + task.start_wall_ns - wall_ns())
        lag: list[float] = []
        self.read_delays.clear()
        state = _CellState(task, self, lag)
        cpu0, wall0 = time.process_time(), now_ns()
        watchers = [asyncio.ensure_future(_sample_lag(lag))]
        if self.block_s:
            watchers.append(asyncio.ensure_future(_block(self.block_s)))
        if emit is not None:
            watchers.append(asyncio.ensure_future(_report(state, emit)))
        driver = asyncio.ensure_future(state.closed() if task.mode == "closed" else state.open())
        deadline = (None if task.duration_s is None
                    else task.start_ns + int((task.duration_s + task.drain_s) * 1e9))
        try:
            while not driver.done():
                await asyncio.wait([driver], timeout=0.05)
                if driver.done():
                    break
                if stop():
                    driver.cancel()
                elif deadline is not None and now_ns() > deadline:  # the drain is over: stop waiting
                    state.expire(f"still in flight {task.drain_s:g} s after the level ended: cancelled (drain_s)")
                    driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
        finally:
            for w in watchers:
                w.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await state.cancel_all()
        final = state.report(final=True)
        final.lag_s, final.cpu_s, final.wall_s = lag, time.process_time() - cpu0, (now_ns() - wall0) / 1e9
        loop = asyncio.get_running_loop()
        final.loop = type(loop).__module__.split(".")[0]
        final.stamps = "kernel" if kernel_stamps(loop) else "loop"
        final.read_delay_s = [d / 1e9 for d in self.read_delays.take()]
        return final

    def client(self) -> httpx.AsyncClient:
        """One pooled client for many requests (``compare`` on Ray), made on first use."""
        if self._client is None:
            self._client = self._new()
        return self._client

    def borrow(self) -> httpx.AsyncClient:
        """A client for one request, with its kept-alive connection when it has one."""
        if self._free:
            return self._free.pop()
        c = self._new()
        self._all.append(c)
        return c

    def give_back(self, client: httpx.AsyncClient) -> None:
        self._free.append(client)

    def _new(self) -> httpx.AsyncClient:
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return new_client(self.read_delays, self._tls)

    async def close(self) -> None:
        clients = self._all + ([self._client] if self._client is not None else [])
        self._client, self._all, self._free = None, [], []
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


class _CellState:
    def __init__(self, task: CellTask, clients: ShardRunner, lag: list[float]) -> None:
        self.task, self.clients, self.lag = task, clients, lag
        self.runs: list[Run] = []
        self.sent: list[tuple[str, int, int]] = []  # not yet reported
        self.outbox: list[Run] = []  # ended, not yet reported
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.reported = 0

    def _new_run(self) -> Job:
        return fresh_job(self.task.job, len(self.runs))

    async def _one(self, scheduled: int) -> None:
        job = self._new_run()
        job.run.warmup = (scheduled - self.task.start_ns) / 1e9 < self.task.warmup_s
        self.runs.append(job.run)
        self.sent.append((job.run.run_id, scheduled, self.in_flight))
        if self.clients.journal is not None:  # before it goes out: outlives a killed shard
            self.clients.journal(self.task.cell, job.run.run_id, scheduled, self.in_flight)
        self.in_flight += 1
        client = self.clients.borrow()
        try:
            await engine.execute(client, job)
        finally:
            self.clients.give_back(client)
            self.in_flight -= 1
            self.outbox.append(job.run)  # cancelled ones too: cancel_all marks them before the final report

    def _open_for(self, t: int) -> bool:
        d = self.task.duration_s
        return d is None or t < self.task.start_ns + int(d * 1e9)

    async def closed(self) -> None:
        quota = [self.task.requests]

        async def worker() -> None:
            while True:
                t = max(now_ns(), self.task.start_ns)
                if not self._open_for(t) or quota[0] == 0:
                    return
                if quota[0] is not None:
                    quota[0] -= 1
                await self._one(t)

        await _sleep_until(self.task.start_ns)
        await asyncio.gather(*(worker() for _ in range(self.task.concurrency)))

    async def open(self) -> None:
        slots = asyncio.Semaphore(self.task.max_in_flight)
        for offset in self.task.offsets_s:
            due = self.task.start_ns + int(offset * 1e9)
            await _sleep_until(due)
            await slots.acquire()  # at the cap, the request waits: its queue delay shows it
            t = asyncio.ensure_future(self._one(due))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)
            t.add_done_callback(lambda _: slots.release())
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def expire(self, why: str) -> None:
        """Every request still in flight ends ``cancelled``, saying ``why``."""
        t = now_ns()
        for run in self.runs:
            run.cancel(t, why)

    async def cancel_all(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)
        for run in self.runs:
            run.cancel(now_ns())

    def report(self, final: bool = False) -> CellReport:
        """The runs ended and the requests sent since the last report (all of them, at the end)."""
        runs, self.outbox = self.outbox, []
        sent, self.sent = self.sent, []
        return CellReport(self.task.cell, self.task.shard, runs, sent, self.snapshot(final), self.task.start_ns, final,
                          region=self.task.region)

    def snapshot(self, final: bool = False) -> dict[str, Any]:
        """Progress for the live view: counts, and the TTFTs of the runs finished since the
        last snapshot (in sending order; at the end, every run not reported yet)."""
        k = self.reported
        if final:
            k = len(self.runs)
        else:
            while k < len(self.runs) and self.runs[k].final:
                k += 1
        new, self.reported = self.runs[self.reported:k], k
        done = [r for r in self.runs if r.final]
        ttfts = [(r.first_content_ns - r.t0_ns) / 1e9 for r in new
                 if r.first_content_ns is not None and r.t0_ns is not None and not r.warmup]
        return {"cell": self.task.cell, "shard": self.task.shard, "sent": len(self.runs),
                "done": len(done), "failed": sum(r.status != "ok" for r in done),
                "in_flight": self.in_flight, "ttft_s": ttfts, "final": final,
                "lag_s_p99": sorted(self.lag)[int(0.99 * (len(self.lag) - 1))] if self.lag else 0.0}


def fresh_job(template: Job, repeat: int) -> Job:
    """The template's request with a new run (its own id, no records)."""
    t = template.run
    run = Run(uuid.uuid4().hex[:12], t.provider, t.model, t.protocol, repeat=repeat, prompt_id=t.prompt_id,
              warmup=t.warmup)
    run.secrets, run.trace = t.secrets, ([] if t.trace is not None else None)
    run.request, run.request_key = t.request, t.request_key  # what was asked, as for every run
    return dataclasses.replace(template, run=run)


async def _sleep_until(t_ns: int) -> None:
    delay = (t_ns - now_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


async def _sample_lag(out: list[float]) -> None:
    """Lateness of a short timer, over and over: the loop's responsiveness under this load."""
    period_ns = int(LAG_PERIOD_S * 1e9)
    while True:
        t = now_ns()
        await asyncio.sleep(LAG_PERIOD_S)
        out.append(max(0, now_ns() - t - period_ns) / 1e9)


async def _block(block_s: float) -> None:
    """``KRAL_NB_BLOCK_SHARD_MS``: block the loop for that long every 50 ms (a deliberately
    saturated client, for tests and for checking the flag on a new machine)."""
    while True:
        await asyncio.sleep(0.05)
        time.sleep(block_s)  # noqa: ASYNC251 - the point: a blocked loop


async def _report(state: _CellState, emit: Callable[[CellReport], None]) -> None:
    while True:
        await asyncio.sleep(REPORT_PERIOD_S)
        emit(state.report())
