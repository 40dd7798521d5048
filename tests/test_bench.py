"""The benchmarks still run: each script, shrunk to seconds, exits 0 and prints its ratio line.

Figures come from full runs (README, docs/benchmarks.md); this only keeps a script from
rotting when an API it uses changes (``bench/fidelity.py`` and ``bench/load.py`` once broke
unnoticed that way). mypy checks their types; this checks what types cannot (a frame's
columns, a printed line)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
ENV = {k: v for k, v in os.environ.items() if k not in ("KRAL_SIM_URL", "KRAL_API_KEY")}

SMALL = {  # script -> (arguments that make it quick, a line its output must have)
    "throughput.py": (["--chunks", "300", "--rounds", "1"], "ratio httpx-sse+json / kral_nb"),
    "fidelity.py": (["--chunks", "30", "--streams", "2"], "p50 / floor p50"),
    "decode_lines.py": (["--sizes", "1", "--repeat", "1"], "ms/MB"),
    "decode_chunks.py": (["--chunks", "300", "--rounds", "1"], "ratio pipeline / split+orjson floor"),
    "load.py": (["--levels", "1,2", "--chunks", "5"], "feeder, 1 shard(s)"),
    "feeder.py": (["--floor", "--sockets", "8", "--seconds", "0.3"], "reader_cpu_share"),
    "scale.py": (["--streams", "2", "--chunks", "5", "--soak-chunks", "2000", "--baseline", ""], "chunks sent"),
    "ray_overhead.py": (["--one", "local", "--rows", "2000", "--streams", "2"], '"mode": "local"'),
    "local.py": (["--runs", "1", "--max-tokens", "8"], "tok/s"),
    "vs_aiperf.py": (["--help"], "--aiperf"),  # a full run needs AIPerf in its own venv
    "install.py": (["--help"], "--tests"),     # a full run installs the package from scratch
}


def test_every_benchmark_has_a_quick_form() -> None:
    assert set(SMALL) == {p.name for p in (ROOT / "bench").glob("*.py")} - {"cpus.py"}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMALL))
def test_the_benchmark_runs(script: str) -> None:
    if script == "local.py" and importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("the local extra is not installed: pip install 'kral-nb[local]'")
    if script == "throughput.py" and importlib.util.find_spec("openai") is None:
        pytest.skip("the dev extra is not installed (the openai SDK is the peer)")
    args, expect = SMALL[script]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert expect in done.stdout, done.stdout[-2000:]
