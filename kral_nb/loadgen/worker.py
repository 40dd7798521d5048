"""A load shard as a program of kral_nb's own: ``python -c "from kral_nb.loadgen.worker import
main; main()" FD JOURNAL`` (``pool.py`` starts it). Nothing of the user's program is imported
or run again: not its ``__main__`` (a script without a main guard, a notebook, ``python -c``),
not its imports — multiprocessing's spawn would re-import ``__main__`` in every shard.

The shard reads tasks from the socket ``FD`` (``multiprocessing.connection`` framing: pickles),
runs each on one event loop with one :class:`~kral_nb.loadgen.shard.ShardRunner` for the whole
sweep and sends reports back. Before each request is sent it appends a record to its
``JOURNAL`` file (:class:`Journal`): a write into the page cache, which outlives the process,
so a shard killed with SIGKILL between two reports still leaves every request it sent
accounted for (``pool.py`` reads the journal when the shard is lost).

A frozen application (PyInstaller and the like) has no ``-c``: it starts itself with
``KRAL_NB_SHARD`` set, and :func:`freeze_support`, called first thing in the application,
becomes the shard (as ``multiprocessing.freeze_support`` does for multiprocessing).
"""

from __future__ import annotations

import os
import signal
import struct
import sys
from typing import Any

from ..clock import now_ns
from ..errors import ConfigError
from ..net.kernelstamp import kernel_gives_stamps

#: the message the parent sends while a cell runs to stop it (the only one it sends then)
STOP = "stop"
#: the shard's first message: started, warmed, waiting for its first task
READY = "ready"
#: one journal record: run id (12 ASCII), cell, when it was due (ns), requests in flight, when written (ns)
RECORD = struct.Struct("<12siqiq")
ENV = "KRAL_NB_SHARD"


class Journal:
    """The requests a shard sends, written before each is sent: ``O_APPEND`` writes of fixed
    records (one ``write`` call, ~1 µs, per request)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def __call__(self, cell: int, run_id: str, scheduled_ns: int, in_flight: int) -> None:
        os.write(self.fd, RECORD.pack(run_id.encode("ascii"), cell, scheduled_ns, in_flight, now_ns()))

    def close(self) -> None:
        os.close(self.fd)


def read_journal(path: str, cell: int) -> list[tuple[str, int, int]]:
    """(run id, due ns, in flight) of every request a shard journalled for ``cell``; a
    record cut short by the kill is left out."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    usable = len(data) - len(data) % RECORD.size
    return [(rid.decode("ascii"), due, flight) for rid, c, due, flight, _ in RECORD.iter_unpack(data[:usable])
            if c == cell]


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


def serve(fd: int, journal_path: str) -> None:
    """The shard's life: tasks in, reports out, until the parent says ``None`` or goes away."""
    import multiprocessing.connection

    from .. import protocols
    from ..net import transport  # noqa: F401 - imported now, not inside the first level's timing
    from .shard import ShardRunner

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns an interrupt into STOP
    for name in protocols.PROTOCOLS:
        protocols.get(name)
    conn = multiprocessing.connection.Connection(fd)
    journal = Journal(journal_path)
    runner = ShardRunner(journal=journal)
    runner.warm()
    loop = new_loop()
    try:
        conn.send(READY)  # the parent times its first level from here, not from the spawn
        while True:
            task = conn.recv()
            if task is None:
                break
            if task == STOP:  # a stop that arrived after its cell ended
                continue
            conn.send(loop.run_until_complete(runner.run_cell(task, emit=conn.send, stop=conn.poll)))
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        pass  # the parent went away: nobody to report to
    finally:
        loop.run_until_complete(runner.close())
        loop.close()
        journal.close()


def main() -> None:
    """``python -c "from kral_nb.loadgen.worker import main; main()" FD JOURNAL``."""
    fd, journal = int(sys.argv[1]), sys.argv[2]
    serve(fd, journal)


def freeze_support() -> None:
    """In a frozen application, call this first thing (before any other work): when the
    application was started as a load shard (``KRAL_NB_SHARD`` set), it runs the shard and
    exits; otherwise it returns at once."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    fd, _, journal = spec.partition(":")
    serve(int(fd), journal)
    sys.exit(0)
