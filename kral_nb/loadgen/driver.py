"""What one shard sends in one cell of a load level (``shard.ShardRunner.run_cell`` drives
it): the closed loop's workers, the open loop's arrivals, a workload's items and sessions, and
the runs and progress reported back. The clock is read for due times and think times only."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from ..clock import now_ns
from ..net import engine
from ..net.engine import Job
from ..record.recorder import Asked, Run
from .tasks import CellReport, CellTask

if TYPE_CHECKING:
    from ..workloads import Item


class Clients(Protocol):
    """What a cell needs of its shard (``shard.ShardRunner``): a client per request in flight,
    and the journal each request is written to before it is sent."""

    journal: Callable[[int, str, int, int], None] | None

    def borrow(self) -> httpx.AsyncClient: ...

    def give_back(self, client: httpx.AsyncClient) -> None: ...


class CellState:
    def __init__(self, task: CellTask, clients: Clients, lag: list[float]) -> None:
        self.task, self.clients, self.lag = task, clients, lag
        self.runs: list[Run] = []
        self.sent: list[tuple[str, int, int]] = []  # not yet reported
        self.outbox: list[Run] = []  # ended, not yet reported
        self.in_flight = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.reported = 0
        self.quota = task.requests  # closed loop: requests this shard may still send
        self.taken = 0  # closed loop: items (or sessions) this shard has taken
        self.built: dict[Item, Job] = {}  # a workload's repeating items, built once each

    def _new_run(self, item: Item | None) -> Job:
        if item is None:
            return fresh_job(self.task.job, len(self.runs))
        wl, target = self.task.workload, self.task.target
        assert wl is not None and target is not None
        if wl.distinct is not None:  # a list of prompts, a dataset: the same few requests again
            template = self.built.get(item)
            if template is None:
                template = self.built[item] = target.job(None, item.chat(), max_tokens=item.max_tokens,
                                                         exact=item.exact)
            return fresh_job(template, len(self.runs))
        return target.job(None, item.chat(), max_tokens=item.max_tokens, exact=item.exact, repeat=len(self.runs))

    def _next_index(self) -> int:
        i = self.task.first_index + self.task.stride * self.taken
        self.taken += 1
        return i

    def _take(self) -> bool:
        """One request of the closed loop's quota (none left: False)."""
        if self.quota == 0:
            return False
        if self.quota is not None:
            self.quota -= 1
        return True

    async def _one(self, scheduled: int, item: Item | None = None, asked: Asked | None = None,
                   job: Job | None = None) -> Run:
        job = job or self._new_run(item)
        if asked is not None or item is not None:
            job.run.asked = asked or Asked(None, None, item.input_tokens if item else None,
                                           item.max_tokens if item and item.exact else None,
                                           item.prefix_id if item else None)
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
        return job.run

    def _open_for(self, t: int) -> bool:
        d = self.task.duration_s
        return d is None or t < self.task.start_ns + int(d * 1e9)

    async def _session(self, s: int, due: int, *, closed: bool) -> None:
        """Session ``s``: its turns one after another, each carrying the conversation so far
        (every earlier prompt and the answer received), the next due when this one has ended
        plus the think time. No turn starts after the level's end (or the quota's)."""
        from ..workloads import Sessions

        wl = self.task.workload
        assert isinstance(wl, Sessions)
        history: tuple[tuple[str, str], ...] = ()
        for turn in range(wl.turns):
            if turn:
                due = now_ns() + int(wl.think_time_s * 1e9)
                await _sleep_until(due)
                if not self._open_for(due) or (closed and not self._take()):
                    return
            item = wl.turn(s, turn, history)
            asked = Asked(f"c{self.task.cell}s{s}", turn + 1, item.input_tokens,
                          item.max_tokens if item.exact else None, item.prefix_id)
            run = await self._one(due, item, asked)
            history = (*item.messages, ("assistant", run.text))

    async def closed(self) -> None:
        sessions = self.task.workload is not None and self.task.workload.kind == "sessions"
        wl = self.task.workload

        async def worker() -> None:
            while True:
                t = max(now_ns(), self.task.start_ns)
                if not self._open_for(t) or not self._take():
                    return
                if sessions:
                    await self._session(self._next_index(), t, closed=True)
                else:
                    await self._one(t, wl.item(self._next_index()) if wl is not None else None)

        await _sleep_until(self.task.start_ns)
        await asyncio.gather(*(worker() for _ in range(self.task.concurrency)))

    async def open(self) -> None:
        slots = asyncio.Semaphore(self.task.max_in_flight)
        wl = self.task.workload
        sessions = wl is not None and wl.kind == "sessions"
        indices = self.task.indices or list(range(len(self.task.offsets_s)))
        for offset, i in zip(self.task.offsets_s, indices, strict=True):
            due = self.task.start_ns + int(offset * 1e9)
            item = wl.item(i) if wl is not None and not sessions else None
            job = None if sessions else self._new_run(item)  # built before it is due, not on its time
            await _sleep_until(due)
            await slots.acquire()  # at the cap, the request (or session) waits: its queue delay shows it
            work = self._session(i, due, closed=False) if sessions else self._one(due, item, job=job)
            t = asyncio.ensure_future(work)
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
        timed = [r for r in new if r.first_content_ns is not None and r.t0_ns is not None and not r.warmup
                 and r.status == "ok"]  # as the levels frame: a failed run is counted in "failed", once
        ttfts = [(r.first_content_ns - r.t0_ns) / 1e9 for r in timed]  # type: ignore[operator]
        turns = [(r.asked.turn if r.asked is not None else None) or 0 for r in timed]  # 0: not a session
        usage = [r.usage for r in new if not r.warmup and isinstance(r.usage.get("input_tokens"), int)]
        return {"cell": self.task.cell, "shard": self.task.shard, "sent": len(self.runs),
                "done": len(done), "failed": sum(r.status != "ok" for r in done),
                "in_flight": self.in_flight, "ttft_s": ttfts, "final": final,
                "ttft_turn1_s": [t for t, n in zip(ttfts, turns, strict=True) if n == 1],  # sessions
                "ttft_later_turns_s": [t for t, n in zip(ttfts, turns, strict=True) if n > 1],
                "input_tokens": sum(u["input_tokens"] for u in usage),
                "cached_tokens": sum(u.get("cached_tokens") or 0 for u in usage),
                "cache_reported": any(u.get("cached_tokens") is not None for u in usage),
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


