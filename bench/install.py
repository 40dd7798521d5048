"""A newcomer's first run, timed: the README's first command, exactly as written, in a fresh
virtual environment with pip's cache disabled — time to install (the llama.cpp build is the
long part), time from the demo's start to its first token, and the demo's total; with
``--tests`` also the README's second command (the whole suite, browser included).

Each run builds llama-cpp-python from source (PyPI has no binary wheel for it), so one run
takes minutes of both cores: run it on a quiet machine. Wheels come from whatever index pip
is configured with (this machine: a local mirror, so downloads cost ~nothing; on PyPI add the
download time). Usage: python bench/install.py [--runs 2] [--tests]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """The two commands at the top of the README (comments dropped)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "the README has no bash block"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    return lines[:2]


def first_token_s(out: Path, started: float) -> float:
    """Seconds from the demo's start to the first content any run received (wall clock:
    the runs frame's ``started_at`` plus ``ttft_s``)."""
    import pandas as pd

    runs = pd.read_parquet(out / "runs.parquet")
    local = runs[runs["provider"].astype(str) == "local"]
    assert (local["status"].astype(str) == "ok").any(), f"the local model did not answer: {local['error'].tolist()}"
    first = (runs["started_at"] + pd.to_timedelta(runs["ttft_s"], unit="s")).min()
    return float(first.timestamp() - started)


def one_run(tests: bool) -> dict[str, float]:
    install, demo = readme_commands()[0].split(" && ", 1)
    work = Path(tempfile.mkdtemp(prefix="kral-install-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
        env = {**os.environ, "PATH": f"{work / 'venv' / 'bin'}:{os.environ['PATH']}",
               "VIRTUAL_ENV": str(work / "venv"), "PIP_NO_CACHE_DIR": "1"}
        for name in ("KRAL_SIM_URL", "KRAL_LOCAL_URL", "KRAL_LLAMA_PYTHON", "PYTHONPATH"):
            env.pop(name, None)
        row: dict[str, float] = {}
        t0 = time.time()
        subprocess.run(["bash", "-c", install], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        row["install_s"] = time.time() - t0
        out = work / "results"
        t1 = time.time()
        subprocess.run(["bash", "-c", demo.replace("--out results", f"--out {out}")], cwd=ROOT, env=env,
                       check=True, stderr=subprocess.DEVNULL)
        row["demo_s"] = time.time() - t1
        row["first_token_s"] = first_token_s(out, t1)
        row["command_1_s"] = row["install_s"] + row["demo_s"]
        if tests:
            t2 = time.time()
            subprocess.run(["bash", "-c", readme_commands()[1]], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)
            row["command_2_s"] = time.time() - t2
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--tests", action="store_true", help="also time the README's test command")
    args = ap.parse_args()
    print(f"README command 1: {readme_commands()[0]}\n{os.cpu_count()} cores, pip cache disabled, fresh venv")
    rows = []
    for i in range(args.runs):
        rows.append(one_run(args.tests))
        print(f"run {i + 1}: " + ", ".join(f"{k} {v / 60:.1f} min" if v > 120 else f"{k} {v:.1f} s"
                                          for k, v in rows[-1].items()), flush=True)
    for key in rows[0]:
        values = [r[key] for r in rows]
        print(f"{key:>15}: {min(values) / 60:.1f}–{max(values) / 60:.1f} min "
              f"(median {statistics.median(values) / 60:.1f}) over {len(values)} run(s)")


if __name__ == "__main__":
    main()
