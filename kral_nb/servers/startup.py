"""Helper servers (the sim, the local llama.cpp model) start in the background: planning a
run only spawns the process on a port chosen up front, so its URL is known at once and the
live panes appear immediately; the engine waits for the server before the run's first
request (:func:`wait`, in a worker thread), showing :data:`NOTES` in the pane meanwhile. A
run whose helper failed to start ends as an ``error`` with what to do — the other panes
stream regardless.

A :class:`Ready` is plain data (it pickles to load shards and Ray actors); a process that did
not start the helper waits by polling its URL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

from ..errors import KralError

NOTES = {"sim": "starting simulator…", "local": "loading model…"}


@dataclass(frozen=True)
class Ready:
    """What a job waits for before its first request: ``kind`` (``sim`` / ``local``), the
    server's root URL and the probe path (``""``: a TCP connect); ``error``: it could not be
    started (why, and the fix)."""

    kind: str
    root: str
    probe: str = "/v1/models"
    error: str = ""
    note: str = ""  # shown in the pane while waiting (default: NOTES[kind])


class Started:
    """A helper process this process spawned: known URL, readiness checked once."""

    def __init__(self, proc: subprocess.Popen[Any], root: str, log: IO[bytes], what: str,
                 hint: str = "") -> None:
        self.proc, self.root, self.log, self.what, self.hint = proc, root, log, what, hint
        self.ready = False
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n_chars: int = 800) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-n_chars:].strip()


_started: dict[str, Started] = {}  # root URL -> the helper this process spawned
_answered: set[str] = set()  # roots that answered once: later runs do not probe again
_lock = threading.Lock()


def _after_fork() -> None:
    global _started, _answered, _lock
    _started, _answered, _lock = {}, set(), threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def register(helper: Started) -> None:
    with _lock:
        _started[helper.root] = helper


def starting(ready: Ready) -> bool:
    """True while a helper this process spawned has not answered yet (or could not start)."""
    if ready.error:
        return True
    with _lock:
        helper = _started.get(ready.root)
    return helper is not None and not helper.ready


def answered(ready: Ready) -> bool:
    """True when ``ready.root`` has answered before (and its helper still runs): the engine's
    fast path, no thread hop per run."""
    with _lock:
        if ready.root not in _answered or ready.error:
            return False
        helper = _started.get(ready.root)
    return helper is None or helper.alive()


def wait(ready: Ready, *, timeout_s: float = 180.0, poll_s: float = 0.02) -> None:
    """Block until ``ready.root`` answers ``ready.probe`` with 200 (no probe: accepts a
    connection); at once for a root that answered before. Raises :class:`KralError`
    if the helper could not be started, exits, or does not answer within ``timeout_s``."""
    if ready.error:
        raise KralError(ready.error)
    if answered(ready):
        return
    with _lock:
        helper = _started.get(ready.root)
    if helper is None:
        _poll(ready, None, timeout_s, poll_s)
    else:
        with helper.lock:  # one waiter polls; the others find it ready
            if not helper.ready:
                _poll(ready, helper, timeout_s, poll_s)
                helper.ready = True
    with _lock:
        _answered.add(ready.root)


def _answers(ready: Ready) -> bool:
    """``probe`` answers 200, or with no probe path the port accepts connections (a server
    that listens before it serves queues them: the sim)."""
    if not ready.probe:
        parts = urlsplit(ready.root)
        try:
            socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1.0).close()
            return True
        except OSError:
            return False
    try:
        return httpx.get(ready.root + ready.probe, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def _poll(ready: Ready, helper: Started | None, timeout_s: float, poll_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if helper is not None and not helper.alive():
            tail = helper.log_tail()
            missing = [line for line in tail.splitlines() if "No module named" in line]
            if helper.hint and missing:  # one clear line: what is missing and the fix
                cause = missing[-1][missing[-1].index("No module named"):].rstrip(")")
                raise KralError(f"the {helper.what} could not start ({cause}): {helper.hint}")
            raise KralError(f"the {helper.what} exited (code {helper.proc.returncode}) before answering"
                            + (f"\n{tail}" if tail else ""))
        if _answers(ready):
            return
        time.sleep(poll_s)
    what = helper.what if helper is not None else f"{ready.kind} server at {ready.root}"
    raise KralError(f"the {what} did not answer within {timeout_s:.0f} s")
