"""Load shards as local processes: N programs of kral_nb's own (``worker.py``), each with one
event loop and one ``ShardRunner`` for the whole sweep; cell i's task for shard j goes to
process j over a socket. They never import the user's ``__main__``: a script without a main
guard, a notebook, ``python -c`` and the CLI start them alike, and the user's code runs once.
Ray actors are the other host for the same ``ShardRunner`` (``raypool.py``).

A shard that dies is reported to the gather: the requests it journalled as sent and never
reported become error runs naming the cause; it is replaced for the next cell. If every
shard of a level dies before any reports, the sweep stops with a :class:`KralError` quoting
the shards' last lines of stderr (the partial result on it).
"""

from __future__ import annotations

import multiprocessing.connection
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from ..clock import now_ns
from ..errors import ConfigError
from ..servers.helpers import package_env
from .tasks import CellReport, CellTask
from .worker import ENV, READY, STOP, read_journal

if TYPE_CHECKING:
    from .gather import Gather
    from .view import LoadView

#: how a shard process starts: a kral_nb module, never the user's program
BOOT = "from kral_nb.loadgen.worker import main; main()"
STDERR_TAIL = 1200  # characters of a dead shard's stderr quoted in the error


class _Shard:
    """One shard process: its socket, stderr file, journal and exit."""

    def __init__(self, index: int, folder: str, generation: int) -> None:
        if not hasattr(socket, "AF_UNIX") or os.name != "posix":
            raise ConfigError("local load shards need a POSIX system (Linux, macOS); elsewhere run them on "
                              "Ray (cluster='ray') or in WSL")
        self.index = index
        self.journal = os.path.join(folder, f"shard{index}-{generation}.sent")
        parent, child = socket.socketpair()
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - read when the shard dies
        env = package_env()
        fd = child.fileno()
        if getattr(sys, "frozen", False):  # the application itself, made a shard by freeze_support()
            cmd = [sys.executable]
            env[ENV] = f"{fd}:{self.journal}"
        else:
            cmd = [sys.executable, "-c", BOOT, str(fd), self.journal]
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=[fd], stdin=subprocess.DEVNULL, stdout=self.stderr,
                                         stderr=self.stderr, env=env, close_fds=True)
        finally:
            child.close()  # the parent keeps only its end: a dead shard then reads as EOF
        self.conn = multiprocessing.connection.Connection(parent.detach())
        self.ready = False

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the shard has started and says so: a level starts when its shards can send,
        so a cold interpreter's start-up is never the first requests' queue delay. A shard
        that dies first is found by the send that follows."""
        if self.ready:
            return
        try:
            if self.conn.poll(timeout_s):
                self.ready = self.conn.recv() == READY
        except (EOFError, OSError):
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def why(self) -> str:
        """How it ended, and the last lines it wrote."""
        code = self.proc.poll()
        how = ("was killed by " + signal.Signals(-code).name if code is not None and code < 0
               else f"exited with code {code}" if code is not None else "stopped answering")
        self.stderr.seek(0)
        tail = self.stderr.read().decode("utf-8", "replace")[-STDERR_TAIL:].strip()
        return how + (f"; its last words:\n{tail}" if tail else "")

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.conn.close()
        self.stderr.close()


class ShardPool:
    """``n`` shard processes, task i to shard i."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.folder = tempfile.mkdtemp(prefix="kral-nb-shards-")
        self.shards: list[_Shard | None] = [None] * n
        self.generation = 0
        self.pending: dict[int, int] = {}  # shard -> the cell it is running, until its final report
        self.stopping = False

    def start(self) -> None:
        for i in range(self.n):
            self._spawn(i)

    def _spawn(self, i: int) -> None:
        self.generation += 1
        self.shards[i] = _Shard(i, self.folder, self.generation)

    def _shard(self, i: int) -> _Shard:
        shard = self.shards[i]
        assert shard is not None
        return shard

    def run(self, tasks: list[CellTask], gather: Gather, view: LoadView,
            stop: Callable[[], bool] | None = None) -> None:
        """Run one cell's tasks to their end (or until ``stop()`` says so: the shards cancel
        what is in flight and report)."""
        for t in tasks:
            self._shard(t.shard).wait_ready()
        start_ns = now_ns() + 200_000_000  # every shard starts together, 0.2 s from now
        for t in tasks:
            t.start_ns = start_ns
            view.start(t.cell, start_ns)
            gather.expect(t.cell, t.shard, start_ns, os.uname().nodename)
            try:
                self._shard(t.shard).conn.send(t)
            except OSError:  # died between cells
                self._lost(t.shard, t.cell, gather, view)
                continue
            self.pending[t.shard] = t.cell
        self._collect(gather, view, stop=stop)

    def _collect(self, gather: Gather, view: LoadView, timeout_s: float | None = None,
                 stop: Callable[[], bool] | None = None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.pending:
            if deadline is not None and time.monotonic() > deadline:
                for shard, cell in list(self.pending.items()):
                    self._lost(shard, cell, gather, view, "did not answer the interrupt")
                break
            conns: dict[Any, int] = {self._shard(s).conn: s for s in self.pending}
            for ready in multiprocessing.connection.wait(list(conns), timeout=0.25):
                i = conns[ready]
                try:
                    rep: CellReport = self._shard(i).conn.recv()
                except (EOFError, OSError):
                    self._lost(i, self.pending[i], gather, view)
                    continue
                gather.add(rep)
                view.update(rep.progress)
                if rep.final:
                    del self.pending[i]
            for i, cell in list(self.pending.items()):
                if not self._shard(i).alive() and not self._shard(i).conn.poll():
                    self._lost(i, cell, gather, view)
            view.tick()
            if stop is not None and self.pending and stop():
                stop = None
                self._halt()
        view.render()

    def _lost(self, i: int, cell: int, gather: Gather, view: LoadView, what: str = "") -> None:
        shard = self._shard(i)
        try:
            shard.proc.wait(1)
        except subprocess.TimeoutExpired:
            pass
        why = what or shard.why()
        cause = f"load shard {i} on host {os.uname().nodename} {why.splitlines()[0]}"
        n = gather.lost(cell, i, cause, journal=read_journal(shard.journal, cell), detail=why)
        view.note(f"{cause}: {n} request(s) it sent were lost, everything it reported is kept")
        self.pending.pop(i, None)
        shard.kill()
        if not self.stopping:
            self._spawn(i)  # a fresh shard for the next cell

    def _halt(self) -> None:
        """Every shard still running the cell cancels its streams and sends what it has."""
        for i in self.pending:
            try:
                self._shard(i).conn.send(STOP)
            except Exception:  # a shard gone already is reported lost by the collect loop
                pass

    def stop_and_collect(self, gather: Gather, view: LoadView) -> None:
        """After an interrupt: every shard cancels its streams and sends what it has."""
        self.stopping = True
        for i in self.pending:
            try:
                self._shard(i).conn.send(STOP)
            except OSError:
                pass
        try:
            self._collect(gather, view, timeout_s=15)
        except KeyboardInterrupt:  # a second interrupt: what arrived is kept, the rest is lost
            for i, cell in list(self.pending.items()):
                gather.lost(cell, i, f"load shard {i} interrupted twice",
                            journal=read_journal(self._shard(i).journal, cell))
            self.pending.clear()

    def close(self) -> None:
        for shard in self.shards:
            if shard is not None:
                try:
                    shard.conn.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for shard in self.shards:
            if shard is not None:
                try:
                    shard.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                shard.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
