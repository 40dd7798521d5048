"""The README's first command: ``python -m kral_nb demo --out results`` (the install aside)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ENV = {k: v for k, v in os.environ.items() if k != "KRAL_API_KEY"}  # keyless, as on Binder


@pytest.mark.slow
def test_main_job_writes_notebook_html_plots_and_frames(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the local extra is not installed: pip install 'kral-nb[local]'")
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "kral_nb", "demo", "--out", str(out)],
                          capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert str(out) in proc.stderr  # it says where the results are
    names = {p.name for p in out.iterdir()}
    assert {"02-side-by-side.ipynb", "02-side-by-side.html", "chunks.parquet", "runs.parquet",
            "timeline.png", "ttft.png", "gaps.png", "throughput.png", "cost.png", "report.html"} <= names, names
    assert "<h2>What was run</h2>" in (out / "report.html").read_text()
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["provider"]) == {"sim", "local"} and (runs["status"] == "ok").all()
    chunks = pd.read_parquet(out / "chunks.parquet")
    assert set(chunks["run_id"]) == set(runs["run_id"])


@pytest.mark.slow
def test_main_job_goes_on_with_the_sim_when_the_local_model_cannot_start(tmp_path: Path) -> None:
    """llama-cpp-python is importable here but its server cannot start (a Python without it
    serves the model): the live cell says so in one line, the sim comparison runs and the
    results are written."""
    pytest.importorskip("llama_cpp", reason="the notebook only tries the local model when llama_cpp imports")
    python = tmp_path / "python-without-llama"
    python.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'llama_cpp'\" >&2\nexit 1\n")
    python.chmod(0o755)
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "kral_nb", "demo", "--out", str(out)], capture_output=True,
                          text=True, env={**ENV, "KRAL_LLAMA_PYTHON": str(python)}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["provider"]) == {"sim"} and (runs["status"] == "ok").all()
    executed = (out / "02-side-by-side.ipynb").read_text()
    assert "local model skipped: the llama.cpp server for" in executed and "pip install 'kral-nb[local]'" in executed


def test_main_job_names_a_missing_notebook_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "kral_nb", "demo", "--out", str(tmp_path),
                           "--notebook", str(tmp_path / "missing.ipynb")],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert "no notebook at" in proc.stderr and "Traceback" not in proc.stderr


def test_readme_ci_and_binder_install_the_same_way() -> None:
    """The README's two commands are what CI runs and what bench/install.py times; the main
    job installs only its extras; llama.cpp is built with the same options everywhere."""
    root = Path(__file__).parent.parent
    sys.path.insert(0, str(root / "bench"))
    try:
        from install import readme_commands
    finally:
        sys.path.pop(0)
    main_job, tests = readme_commands()
    assert "'.[notebook,local]'" in main_job and "python -m kral_nb demo" in main_job and "dev" not in main_job
    assert tests == "pip install -e '.[dev,local]' && python -m pytest"
    ci, post_build = (root / ".ci" / "run").read_text(), (root / "binder" / "postBuild").read_text()
    assert ci.rstrip().splitlines()[-1] == tests  # CI ends with the README's exact test command
    cmake = main_job.split(" pip ")[0]  # CMAKE_ARGS="..."
    assert cmake.startswith("CMAKE_ARGS=") and f"export {cmake}" in ci and f"export {cmake}" in post_build


def test_readme_is_a_front_page() -> None:
    """At most ~300 lines; every benchmark's current figure in one table, with its day; every
    link into the docs resolves (the site itself is checked by ``mkdocs build --strict``)."""
    root = Path(__file__).parent.parent
    text = (root / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    figures = text.split("## Current figures", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in figures.splitlines() if line.startswith("| ") and "bench/" in line]
    benches = {p.name for p in (root / "bench").glob("*.py")} - {"cpus.py"}  # cpus.py: a helper
    assert {b for b in benches if f"bench/{b}" in figures} == benches
    assert all(re.search(r"\b20\d\d-\d\d-\d\d\b", row) for row in rows), "every figure has its day"
    links = re.findall(r"\]\(((?:docs/|LICENSE|CHANGELOG)[^)#]*)", text)
    assert links and [link for link in links if not (root / link).exists()] == []
