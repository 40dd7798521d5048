"""A load shard: one event loop driving its share of a load level's requests, in its own
process (``loadrun.py``) — or, unchanged, in a Ray async actor. It measures itself: event-loop
lag samples, how late the loop came to each kernel-stamped read (``netstream.py``) and CPU
time over the level, so a saturated client is flagged, never mistaken for a slow server.

Closed loop: ``concurrency`` workers, each sending its next request the moment the previous
one ends (scheduled = that moment). Open loop: every request is due at its offset in the
level's arrival schedule (``arrivals.py``), whatever the responses do; ``sent − scheduled``
(``queue_delay_s``) shows a client that falls behind (no coordinated omission).

A workload (``kral_nb.workloads``) gives each request its own messages and lengths: this shard
builds request ``i`` of it from the model's target (``plan.Target``) — item indices are dealt
across shards, so every request is built once and the same wherever it runs. With sessions,
a worker (closed loop) or an arrival (open loop) runs a whole conversation, turn after turn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
import time
from collections.abc import Callable

import httpx

from ..clock import now_ns, wall_ns
from ..net.backend import kernel_stamps
from ..net.client import new_client
from ..net.kernelstamp import DelaySample
from .driver import CellState
from .tasks import REPORT_PERIOD_S, CellReport, CellTask

LAG_PERIOD_S = 0.002
MAX_DELAY_SAMPLES = 20_000  # read delays reported per cell (evenly thinned beyond)


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
        state = CellState(task, self, lag)
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

    def warm(self) -> None:
        """Pay now what the first request would pay inside a level's timing: the TLS context,
        the modules a workload's requests are built with."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        import anyio._backends._asyncio  # noqa: F401 - httpcore's pool imports it on its first request (~35 ms)

        from .. import plan, workloads  # noqa: F401

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


async def _report(state: CellState, emit: Callable[[CellReport], None]) -> None:
    while True:
        await asyncio.sleep(REPORT_PERIOD_S)
        emit(state.report())
