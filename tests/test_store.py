"""The run store: appends from several processes at once, read back filtered, frames intact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import kral_nb
from kral_nb.errors import ConfigError


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[kral_nb.Result, kral_nb.Result]:
    a = kral_nb.compare("Define latency.", ["sim:fast+n=4", "sim:steady+n=4"], repeat=2, progress=False)
    b = kral_nb.compare("Define latency.", ["sim:fast+n=4"], repeat=3, progress=False)
    return a, b


def test_append_and_read_back_filtered(results: tuple[kral_nb.Result, kral_nb.Result], tmp_path: Path) -> None:
    a, b = results
    s = kral_nb.store(str(tmp_path / "runs"))
    s.append(a, label="before")
    s.append(b, label="after-upgrade")
    everything = s.read()
    assert len(everything.runs) == len(a.runs) + len(b.runs)
    assert set(everything.runs["label"]) == {"before", "after-upgrade"}
    assert everything.runs["session_id"].nunique() == 1 and everything.runs["host"].notna().all()
    before = s.read(label="before")
    cols = list(a.runs.columns)
    pd.testing.assert_frame_equal(before.runs[cols].sort_values("run_id").reset_index(drop=True),
                                  a.runs.sort_values("run_id").reset_index(drop=True), check_categorical=False)
    assert len(before.chunks) == len(a.chunks) and set(before.chunks["run_id"]) == set(a.runs["run_id"])
    assert str(before.runs["status"].dtype) == "category" and str(before.chunks["kind"].dtype) == "category"
    fast = s.runs(model="sim:fast+n=4")
    assert len(fast) == 2 + 3 and set(fast["model"].astype(str)) == {"fast+n=4"}
    assert len(s.runs(since="2000-01-01", until="2000-01-02")) == 0
    assert len(s.runs(since=pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1))) == len(everything.runs)
    summary = s.read(model="fast+n=4").summary()  # the usual analysis on what was stored
    assert summary.iloc[0]["runs"] == 5
    fast_chunks = s.read(model="fast+n=4").chunks  # run_id lists only the runs read (pandas 2 groups by
    assert set(fast_chunks["run_id"].cat.categories) == set(fast["run_id"])  # every category)


def test_two_processes_append_at_once(results: tuple[kral_nb.Result, kral_nb.Result], tmp_path: Path) -> None:
    a, _ = results
    a.to_parquet(str(tmp_path / "src"))
    code = (f"import kral_nb; r = kral_nb.read_parquet({str(tmp_path / 'src')!r}); "
            f"s = kral_nb.store({str(tmp_path / 'runs')!r}); "
            "import sys; [s.append(r, label=sys.argv[1]) for _ in range(15)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, f"p{i}"]) for i in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    s = kral_nb.store(str(tmp_path / "runs"))
    runs = s.runs()
    assert len(runs) == 30 * len(a.runs) and runs.groupby("label").size().to_dict() == {
        "p0": 15 * len(a.runs), "p1": 15 * len(a.runs)}
    assert runs["session_id"].nunique() == 2
    assert len(s.read().chunks) == 30 * len(a.chunks)
    assert not list((tmp_path / "runs").rglob(".*.tmp"))


def test_bad_labels_and_empty_results_say_what_to_do(tmp_path: Path) -> None:
    s = kral_nb.store(str(tmp_path))
    with pytest.raises(ConfigError, match="label must be"):
        s.append(kral_nb.Result([]), label="../escape")
    with pytest.raises(ConfigError, match="nothing to store"):
        s.append(kral_nb.Result([]), label="x")
    assert len(s.runs()) == 0 and len(s.read().runs) == 0
