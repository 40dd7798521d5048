"""Processes: a forked child can run; helper servers live in their own session, survive a
kernel-style interrupt of the parent's process group and exit when the parent dies."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kral_nb

PARENT = """
import os, sys, time
import kral_nb
from kral_nb.sim import server
kral_nb.run("hi", model="sim:fast+n=2")
mode = sys.argv[1]
try:  # the pid is printed inside: an interrupt right after it is still caught
    print(server._auto.proc.pid, flush=True)
    if mode == "os_exit":
        os._exit(0)
    time.sleep(60)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has exited
        return f.read().split(") ")[1][0] != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def start_parent(mode: str) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if k != "KRAL_SIM_URL"}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True,
                              env=env, start_new_session=True)
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


@pytest.mark.parametrize("death", ["sigterm", "sigkill", "os_exit"])
def test_helper_exits_when_its_parent_dies(death: str) -> None:
    parent, sim_pid = start_parent(death)
    assert os.getpgid(sim_pid) != os.getpgid(parent.pid)  # its own process group
    if death == "sigterm":
        parent.terminate()
    elif death == "sigkill":
        parent.kill()
    parent.wait(10)
    assert gone_within(sim_pid, 8), "the sim outlived its parent"


def test_interrupting_the_parents_process_group_spares_the_helper() -> None:
    parent, sim_pid = start_parent("wait")
    try:
        os.killpg(parent.pid, signal.SIGINT)  # what Jupyter's interrupt does to the kernel's group
        assert parent.stdout is not None and parent.stdout.readline().strip() == "interrupted"
        time.sleep(0.5)
        assert alive(sim_pid)
    finally:
        parent.kill()
        parent.wait(10)
    assert gone_within(sim_pid, 8)


def _child(q: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    r = kral_nb.run("hi", model="sim:fast+n=3", check=False)
    q.put((r.status, r.text))


def test_run_works_in_a_forked_child(sim_root: str) -> None:
    kral_nb.run("hi", model="sim:fast+n=2")  # the parent's engine loop thread exists
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(30)
    assert p.exitcode == 0, "the forked child hung or failed"
    status, text = q.get(timeout=1)
    assert status == "ok" and len(text.split()) == 3
    assert kral_nb.run("hi", model="sim:fast+n=2").status == "ok"  # the parent still works


def test_cancelled_is_not_caught_by_except_exception() -> None:
    assert not issubclass(kral_nb.Cancelled, Exception)
    assert issubclass(kral_nb.Cancelled, KeyboardInterrupt)
    with pytest.raises(kral_nb.Cancelled) as info:
        try:
            raise kral_nb.Cancelled("stop", result="partial")
        except Exception:  # a user's broad handler must not swallow Ctrl-C
            pytest.fail("Cancelled was caught by except Exception")
    assert info.value.result == "partial"


def test_a_local_model_that_cannot_start_is_one_runs_error_and_the_sim_streams(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """llama-cpp-python missing (a Python without it serves the model): that run ends in one
    clear line with the fix; the sim's run beside it streams regardless."""
    python = tmp_path / "python-without-llama"
    python.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'llama_cpp'\" >&2\nexit 1\n")
    python.chmod(0o755)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("KRAL_LLAMA_PYTHON", str(python))
    monkeypatch.delenv("KRAL_LOCAL_URL", raising=False)
    r = kral_nb.compare("hi", ["sim:fast+n=5", f"local:{gguf}"], progress=False)
    assert list(r.runs["status"]) == ["ok", "error"]
    error = r.runs["error"].iloc[1]
    assert "\n" not in error and "No module named 'llama_cpp'" in error and "pip install -e '.[local]'" in error


def test_a_helper_that_answered_is_not_probed_again() -> None:
    """After the first run the sim's readiness is known: later runs take the engine's fast
    path (no worker-thread hop, no probe, no note in the pane)."""
    from kral_nb import sweeps
    from kral_nb.servers import startup

    kral_nb.run("hi", model="sim:fast+n=2")
    job = sweeps.sweep("hi", ["sim:fast+n=2"]).jobs[0]
    assert job.ready is not None and startup.answered(job.ready) and job.run.note == ""
