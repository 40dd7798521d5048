"""The package people ``pip install``: sdist and wheel built and checked (``twine check``), the
wheel installed (not editable) into a fresh venv, and the main job run there from a folder
that is not a checkout — the README's first command as a user who never cloned."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_the_wheel_installed_anywhere_runs_the_main_job(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="the dev extra is not installed: pip install -e '.[dev]'")
    pytest.importorskip("llama_cpp", reason="the local extra is not installed (the main job serves a local model)")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], check=True,
                   capture_output=True, timeout=600)
    wheel, sdist = next(dist.glob("*.whl")), next(dist.glob("*.tar.gz"))
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], check=True,
                   capture_output=True, timeout=120)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert not [n for n in names if n.startswith(("tests/", "bench/")) or "__pycache__" in n or n.endswith(".pyc")]
    assert "kral_nb/notebooks/02-side-by-side.ipynb" in names and "kral_nb/py.typed" in names
    with tarfile.open(sdist) as tar:
        top = {n.split("/", 2)[1] for n in tar.getnames() if n.count("/") >= 1}
    assert {"pyproject.toml", "README.md", "LICENSE", "kral_nb", "notebooks", "tests", "cmake"} <= top

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KRAL_SIM_URL", "KRAL_API_KEY")}
    env.update(PATH=f"{venv / 'bin'}:{env['PATH']}", VIRTUAL_ENV=str(venv),
               CMAKE_ARGS=f"-DLLAVA_BUILD=OFF -DCMAKE_PROJECT_INCLUDE={ROOT / 'cmake' / 'llama-lean.cmake'}")
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", f"{wheel}[notebook,local]"], env=env, check=True, timeout=1800,
                   capture_output=True)
    away = tmp_path / "somewhere"  # not a checkout: nothing of the repository is reachable
    away.mkdir()

    def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=away, env=env, capture_output=True, text=True, timeout=timeout)

    version = run(str(venv / "bin" / "kral-nb"), "--version")
    imported = run(py, "-c", "import kral_nb; print(kral_nb.__version__, kral_nb.__file__)")
    assert version.stdout.split()[-1] == imported.stdout.split()[0] and str(venv) in imported.stdout
    assert run(str(venv / "bin" / "kral-nb"), "notebooks", "nbs").returncode == 0
    assert (away / "nbs" / "02-side-by-side.ipynb").exists()
    demo = run(py, "-m", "kral_nb", "demo", "--out", "results", timeout=900)
    assert demo.returncode == 0, demo.stderr[-3000:]
    made = {p.name for p in (away / "results").iterdir()}
    assert {"02-side-by-side.ipynb", "02-side-by-side.html", "runs.parquet", "chunks.parquet", "report.html",
            "ttft.png"} <= made, made
    smoke = run(str(venv / "bin" / "kral-nb"), "compare", "hi", "-m", "sim:fast", "-n", "2", "--out", "r2")
    assert smoke.returncode == 0 and "sim:fast (simulated)" in smoke.stdout, smoke.stderr[-2000:]
