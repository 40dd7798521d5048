"""Load shards as local processes: N spawned workers (spawn, not fork: the parent has
threads), each with one event loop and one ``ShardRunner`` for the whole sweep; cell i's task
for shard j goes to process j over a pipe. Ray actors are the other host for the same
``ShardRunner``."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from ..clock import now_ns
from ..errors import ConfigError
from ..net.kernelstamp import kernel_gives_stamps
from .shard import CellReport, CellTask, ShardRunner

if TYPE_CHECKING:
    from .gather import Gather
    from .view import LoadView



def _shard_main(conn: Any, stop: Any) -> None:
    """A shard process: one event loop and one ShardRunner for the whole sweep; reports go
    back over ``conn`` (partial ones while a cell runs, then the final one)."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns an interrupt into ``stop``
    from .. import protocols
    from ..net import transport  # noqa: F401 - imported now, not inside the first level's timing

    for name in protocols.PROTOCOLS:
        protocols.get(name)
    runner = ShardRunner()
    loop = new_loop()
    try:
        while True:
            task = conn.recv()
            if task is None:
                break
            conn.send(loop.run_until_complete(runner.run_cell(task, emit=conn.send, stop=stop.is_set)))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        loop.run_until_complete(runner.close())
        loop.close()


LOOPS = ("auto", "uvloop", "asyncio")


def loop_choice() -> str:
    """``KRAL_NB_LOOP``: ``auto``, ``uvloop`` or ``asyncio``. ``auto`` is asyncio's own loop
    where its reads carry the kernel's receive time (Linux: arrival stamps that a busy loop
    cannot delay; bench/load.py measures it against uvloop), else uvloop when installed (its
    loop-time stamps are the better ones there)."""
    choice = os.environ.get("KRAL_NB_LOOP", "auto")
    if choice not in LOOPS:
        raise ConfigError(f"KRAL_NB_LOOP must be one of {', '.join(LOOPS)}, got {choice!r}")
    if choice == "asyncio" or (choice == "auto" and kernel_gives_stamps()):
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("KRAL_NB_LOOP=uvloop but uvloop is not installed: pip install 'kral-nb[fast]'") from None
        return "asyncio"
    return "uvloop"


def new_loop() -> Any:
    """The shard's event loop: one per process, as ``loop_choice()`` says."""
    import asyncio

    if loop_choice() == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class ShardPool:
    """``n`` shard processes (spawned: the parent has threads), task i to shard i. A shard
    that dies is reported to the gather (its unreported requests become error runs) and
    replaced for the next cell."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ctx = multiprocessing.get_context("spawn")
        self.stop = self.ctx.Event()
        self.procs: list[Any] = [None] * n
        self.conns: list[Any] = [None] * n
        self.pending: dict[int, int] = {}  # shard -> the cell it is running, until its final report

    def start(self) -> None:
        for i in range(self.n):
            self._spawn(i)

    def _spawn(self, i: int) -> None:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_shard_main, args=(child, self.stop), daemon=True, name=f"kral-nb-shard-{i}")
        p.start()
        child.close()  # the parent keeps only its end: a dead shard then reads as EOF
        self.procs[i], self.conns[i] = p, parent

    def run(self, tasks: list[CellTask], gather: Gather, view: LoadView) -> None:
        start_ns = now_ns() + 200_000_000  # every shard starts together, 0.2 s from now
        for t in tasks:
            t.start_ns = start_ns
            view.cells_by_id[t.cell]["start_ns"] = start_ns
            try:
                self.conns[t.shard].send(t)
            except (OSError, ValueError):  # died between cells
                self._lost(t.shard, t.cell, gather, view)
                continue
            self.pending[t.shard] = t.cell
        self._collect(gather, view)

    def _collect(self, gather: Gather, view: LoadView, timeout_s: float | None = None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.pending:
            if deadline is not None and time.monotonic() > deadline:
                for shard, cell in list(self.pending.items()):
                    self._lost(shard, cell, gather, view, "did not answer the interrupt")
                break
            conns: dict[Any, int] = {self.conns[s]: s for s in self.pending}
            for conn in multiprocessing.connection.wait(list(conns), timeout=0.25):
                shard = conns[conn]
                try:
                    rep: CellReport = self.conns[shard].recv()
                except (EOFError, OSError):
                    self._lost(shard, self.pending[shard], gather, view)
                    continue
                gather.add(rep)
                view.update(rep.progress)
                if rep.final:
                    del self.pending[shard]
            for shard, cell in list(self.pending.items()):
                if not self.procs[shard].is_alive() and not self.conns[shard].poll():
                    self._lost(shard, cell, gather, view)
        view.render()

    def _lost(self, shard: int, cell: int, gather: Gather, view: LoadView, what: str = "") -> None:
        p = self.procs[shard]
        p.join(1)
        cause = f"load shard {shard} {what or 'died'} on host {os.uname().nodename} (exit code {p.exitcode})"
        n = gather.lost(cell, shard, cause)
        view.note(f"{cause}: {n} request(s) in flight lost, everything reported before is kept")
        self.pending.pop(shard, None)
        if p.is_alive():
            p.kill()
        self.conns[shard].close()
        if not self.stop.is_set():
            self._spawn(shard)  # a fresh shard for the next cell

    def stop_and_collect(self, gather: Gather, view: LoadView) -> None:
        """After an interrupt: every shard cancels its streams and sends what it has."""
        self.stop.set()
        try:
            self._collect(gather, view, timeout_s=15)
        except KeyboardInterrupt:  # a second interrupt: what arrived is kept, the rest is lost
            for shard, cell in list(self.pending.items()):
                gather.lost(cell, shard, f"load shard {shard} interrupted twice")
            self.pending.clear()

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except (OSError, ValueError, AttributeError):
                pass
        for p in self.procs:
            if p is None:
                continue
            p.join(5)
            if p.is_alive():
                p.kill()
