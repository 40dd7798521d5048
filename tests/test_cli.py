"""The README's first command: ``python -m kral_nb demo --out results`` (the install aside)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ENV = {k: v for k, v in os.environ.items() if k != "KRAL_API_KEY"}  # keyless, as on Binder


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


def test_main_job_names_a_missing_notebook_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "kral_nb", "demo", "--out", str(tmp_path),
                           "--notebook", str(tmp_path / "missing.ipynb")],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert "no notebook at" in proc.stderr and "Traceback" not in proc.stderr
