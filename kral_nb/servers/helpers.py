"""Helper processes kral_nb starts for the user (the sim, the local llama.cpp server).

Each runs in its own session (process group), so a kernel interrupt — which Jupyter sends to
the kernel's whole process group — neither kills it nor makes it print a traceback into the
cell. Each exits when its parent dies by any means (SIGTERM, SIGKILL, ``os._exit``), not only
at ``atexit``: ``python -m kral_nb.helpers MODULE ARGS...`` watches a pipe from the parent
and stops when it closes, then runs ``MODULE`` as ``__main__``.
"""

from __future__ import annotations

import atexit
import os
import runpy
import signal
import subprocess
import sys
import threading
from typing import Any


def package_env() -> dict[str, str]:
    """This process's environment with the folder this kral_nb was imported from first on
    ``PYTHONPATH``: a child process (a helper, a load shard) imports the very same code, not
    another copy installed elsewhere."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def spawn(module: str, args: list[str], **popen: Any) -> subprocess.Popen[Any]:
    """Start ``python -m MODULE ARGS`` as a helper of this process."""
    python = popen.pop("python", sys.executable)
    proc: subprocess.Popen[Any] = subprocess.Popen(
        [python, os.path.abspath(__file__), module, *args], stdin=subprocess.PIPE,  # stdlib only: any Python
        start_new_session=True, env=package_env() if python == sys.executable else None, **popen)
    atexit.register(stop, proc, os.getpid())
    return proc


def free_port() -> int:
    """A free loopback port (chosen before the helper starts, so its URL is known at once)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[Any], owner_pid: int | None = None, wait_s: float = 3.0) -> None:
    """Terminate a helper (only from the process that started it: a forked child exiting
    must not stop its parent's helpers)."""
    if owner_pid is not None and os.getpid() != owner_pid:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def _watch_parent() -> None:
    """Block until the parent's end of stdin closes (the parent died), then stop."""
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, ValueError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)  # a graceful stop first (uvicorn handles it)
    threading.Timer(3.0, os._exit, args=(0,)).start()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit("usage: python -m kral_nb.helpers MODULE [ARGS...]")
    threading.Thread(target=_watch_parent, name="kral_nb-parent-watch", daemon=True).start()
    sys.argv = argv
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
