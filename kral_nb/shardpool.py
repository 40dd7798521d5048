"""Load shards as local processes: N spawned workers (spawn, not fork: the parent has
threads), each with one event loop and one ``ShardRunner`` for the whole sweep; cell i's task
for shard j goes to process j over a pipe. Ray actors are the other host for the same
``ShardRunner``."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal
import time
from typing import TYPE_CHECKING, Any

from .errors import KralError
from .shard import CellReport, CellTask, ShardRunner

if TYPE_CHECKING:
    from .loadview import LoadView

now_ns = time.perf_counter_ns


def _shard_main(conn: Any, progress: Any, stop: Any) -> None:
    """A shard process: one event loop and one ShardRunner for the whole sweep."""
    import asyncio

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns an interrupt into ``stop``
    from . import protocols, transport  # noqa: F401 - imported now, not inside the first level's timing

    for name in protocols.PROTOCOLS:
        protocols.get(name)
    runner = ShardRunner()
    loop = asyncio.new_event_loop()
    try:
        while True:
            task = conn.recv()
            if task is None:
                break
            report = loop.run_until_complete(runner.run_cell(task, progress=progress.put, stop=stop.is_set))
            conn.send(report)
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        loop.run_until_complete(runner.close())
        loop.close()


class ShardPool:
    """``n`` shard processes (spawned: the parent has threads), task i to shard i."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ctx = multiprocessing.get_context("spawn")
        self.progress = self.ctx.Queue()
        self.stop = self.ctx.Event()
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self.pending: dict[int, Any] = {}  # shard -> its connection, while a report is due

    def start(self) -> None:
        for i in range(self.n):
            parent, child = self.ctx.Pipe()
            p = self.ctx.Process(target=_shard_main, args=(child, self.progress, self.stop), daemon=True,
                                 name=f"kral-nb-shard-{i}")
            p.start()
            self.procs.append(p)
            self.conns.append(parent)

    def run(self, tasks: list[CellTask], view: LoadView) -> list[CellReport]:
        start_ns = now_ns() + 200_000_000  # every shard starts together, 0.2 s from now
        for t in tasks:
            t.start_ns = start_ns
            view.cells_by_id[t.cell]["start_ns"] = start_ns
            self.conns[t.shard].send(t)
            self.pending[t.shard] = self.conns[t.shard]
        return self._collect(view)

    def _collect(self, view: LoadView, timeout_s: float | None = None) -> list[CellReport]:
        reports: list[CellReport] = []
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.pending:
            if deadline is not None and time.monotonic() > deadline:
                break
            ready = multiprocessing.connection.wait(list(self.pending.values()), timeout=0.25)
            view.drain(self.progress)
            for conn in ready:
                shard = next(i for i, c in self.pending.items() if c is conn)
                try:
                    reports.append(self.pending[shard].recv())
                except EOFError:
                    code = self.procs[shard].exitcode
                    raise KralError(f"load shard {shard} died (exit code {code}); its runs are lost") from None
                del self.pending[shard]
            for shard in list(self.pending):
                if not self.procs[shard].is_alive():
                    raise KralError(f"load shard {shard} died (exit code {self.procs[shard].exitcode})")
        view.drain(self.progress)
        return reports

    def stop_and_collect(self, view: LoadView) -> list[CellReport]:
        """After an interrupt: every shard cancels its streams and sends what it has."""
        self.stop.set()
        try:
            return self._collect(view, timeout_s=15)
        except (KeyboardInterrupt, KralError):
            return []

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()
        self.progress.close()
