"""Run the simulated gateway: in a thread (``serve()``) or a subprocess (``serve(process=True)``,
``python -m kral_nb.sim``). Both bind a free loopback port and yield the base URL."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import uvicorn

from ..servers.helpers import free_port, spawn, stop
from ..servers.startup import Ready, Started, register, wait
from .app import create_app

_auto: Started | None = None
_auto_lock = threading.Lock()


def _after_fork() -> None:
    """A forked child starts its own sim if it needs one (the parent's is the parent's)."""
    global _auto, _auto_lock
    _auto, _auto_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def _socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    sock.bind(("127.0.0.1", port))
    return sock


def _config() -> uvicorn.Config:
    return uvicorn.Config(create_app(), log_level="warning", access_log=False, lifespan="off",
                          timeout_graceful_shutdown=1)


@contextlib.contextmanager
def serve(*, process: bool = False, port: int = 0) -> Iterator[str]:
    """Start the sim on 127.0.0.1 and yield its root URL (``http://127.0.0.1:PORT``).

    ``process=True`` runs it in a separate Python process, so its timing does not share
    the GIL with the client (what the benchmarks use).
    """
    if process:
        proc, url = start_process(port)
        try:
            yield url
        finally:
            stop(proc)
        return
    sock = _socket(port)
    server = uvicorn.Server(_config())
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="kral_nb-sim")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the kral_nb sim server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def start_process(port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """The sim in a helper process: its own session (a kernel interrupt does not reach it),
    stopped when this process exits or dies (``kral_nb.helpers``)."""
    proc = spawn("kral_nb.sim", ["--port", str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise RuntimeError(f"the kral_nb sim process did not start: {line!r}")
    return proc, line.split()[-1]


def start() -> str:
    """Root URL of the session's sim, spawning it (without waiting) on first use:
    ``$KRAL_SIM_URL`` if set. :func:`kral_nb.startup.wait` waits for it to answer."""
    global _auto
    if os.environ.get("KRAL_SIM_URL"):
        return os.environ["KRAL_SIM_URL"].rstrip("/")
    with _auto_lock:
        if _auto is None or not _auto.alive():
            port = free_port()
            log = tempfile.TemporaryFile()  # noqa: SIM115  read only if it fails to start
            proc = spawn("kral_nb.sim", ["--port", str(port)], stdout=subprocess.DEVNULL, stderr=log)
            _auto = Started(proc, f"http://127.0.0.1:{port}", log, "kral_nb simulator")
            register(_auto)
        return _auto.root


def ensure_running() -> str:
    """Root URL of the session's sim once it answers (started on first use in a subprocess,
    stopped at exit)."""
    root = start()
    wait(Ready("sim", root, probe=""), timeout_s=30)
    return root


def load_traces(path: str, url: str | None = None) -> list[str]:
    """Load recorded traces (``traces.jsonl``) into a sim (default: the session's); returns
    model names to replay them, e.g. ``sim:replay+run=<run_id>@openai``."""
    import json

    import httpx

    with open(path, "rb") as f:
        body = f.read()
    resp = httpx.post((url or ensure_running()) + "/_sim/traces", content=body, timeout=30)
    resp.raise_for_status()
    protocols = {}
    for line in body.decode().splitlines():
        if line.strip():
            t = json.loads(line)
            protocols[t["run_id"]] = t["protocol"]
    return [f"sim:replay+run={rid}@{protocols[rid]}" for rid in resp.json()["loaded"]]


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m kral_nb.sim",
                                 description="kral_nb's simulated LLM gateway (OpenAI, Anthropic, Gemini streams)")
    ap.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    args = ap.parse_args(argv)
    sock = _socket(args.port)
    sock.listen(4096)  # accept connections (queued) from the moment the URL is printed; 512 streams
    # connecting at once overflow a backlog of 128 and wait a second for the SYN to be resent
    print(f"kral_nb sim (simulated gateway) listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(_config()).run(sockets=[sock])
