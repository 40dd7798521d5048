"""The closest check to Binder possible offline: a fresh virtual environment built from
exactly the binder/ files, then every notebook executed in it with nbval."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_binder_environment_runs_every_notebook(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    env.pop("KRAL_SIM_URL", None)
    py = str(venv / "bin" / "python")
    # Binder installs binder/requirements.txt from the repository root, then runs postBuild.
    subprocess.run([py, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], cwd=ROOT, env=env,
                   check=True)
    subprocess.run(["bash", "binder/postBuild"], cwd=ROOT, env=env, check=True)
    work = tmp_path / "nb"
    shutil.copytree(ROOT / "notebooks", work, ignore=shutil.ignore_patterns("results", ".ipynb_checkpoints"))
    proc = subprocess.run([py, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-o", "addopts=",
                           "-q", str(work)], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    check = subprocess.run([py, "-c", "import kral_nb, llama_cpp, ipywidgets; print(kral_nb.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert str(venv) in check.stdout  # the notebooks used the Binder environment's kral_nb
