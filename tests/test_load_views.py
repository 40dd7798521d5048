"""Load from any caller, and load views that tell the truth: shards are kral_nb's own programs
(the user's script runs once), a dead level raises with the shard's last words, a killed
shard leaves a row for every request it sent, rates over a stated window, plots in level
order, tables and the report that say what was asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import kral_nb
from kral_nb.loadgen.plots import LoadPlots, knee
from kral_nb.loadgen.result import levels_table
from kral_nb.loadgen.view import LoadView

SCRIPT = """\
import kral_nb
print("importing main", flush=True)
r = kral_nb.load("hi", ["sim:fast+n=3+seed=plain"], concurrency=[2], requests=6, shards=2, progress=False)
print("rows", len(r.runs), sorted(set(r.runs["status"].astype(str))), r.runs["request_key"].nunique(), flush=True)
"""


@pytest.mark.parametrize("how", ["script", "-c"])
def test_load_from_a_plain_script_runs_the_users_code_once(sim_root: str, tmp_path: Path, how: str) -> None:
    """No main guard: shards are kral_nb's own programs, they never import the user's __main__."""
    path = tmp_path / "plain.py"
    path.write_text(SCRIPT)
    cmd = [sys.executable, str(path)] if how == "script" else [sys.executable, "-c", SCRIPT]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "KRAL_SIM_URL": sim_root})
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("importing main") == 1, out.stdout + out.stderr
    assert "rows 6 ['ok'] 1" in out.stdout, out.stdout + out.stderr  # every request is a row, with its request key
    assert "RuntimeError" not in out.stderr and "died" not in out.stderr, out.stderr


def test_every_shard_dead_at_start_raises_with_its_last_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A level whose every shard dies before reporting measured nothing: a KralError naming
    how the shards ended and what they said, never an empty result."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'boom: this interpreter cannot run kral_nb' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    with pytest.raises(kral_nb.KralError) as info:
        kral_nb.load("hi", ["sim:fast+n=2"], concurrency=[2, 4], requests=4, shards=2, progress=False)
    message = str(info.value)
    assert "died before reporting anything" in message and "sim:fast+n=2 (simulated) at 2" in message
    assert message.count("exited with code 3") == 2 and "boom: this interpreter cannot run kral_nb" in message
    assert "Fix:" in message and "cluster='ray'" in message
    assert isinstance(info.value.result, kral_nb.LoadResult) and len(info.value.result.levels) == 2


def _children(pattern: str) -> list[int]:
    """Live child processes of this process whose command line contains ``pattern``."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and pattern in cmd:
            out.append(int(pid))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the shard processes")
def test_a_killed_shard_leaves_a_row_for_every_request_the_server_saw(sim_root: str) -> None:
    """SIGKILL a shard right after its first requests reach the server, before its first
    report: the journal it wrote before each send accounts for every one."""
    model = "steady+n=150+seed=killjournal"
    seen: list[int] = []

    def server_saw() -> int:
        return sum(e["model"] == model for e in httpx.get(sim_root + "/_sim/log", timeout=5).json())

    def killer() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server_saw() >= 6:
                shards = _children("kral_nb.loadgen.worker")
                os.kill(min(shards), signal.SIGKILL)
                seen.append(len(shards))
                return
            time.sleep(0.005)

    t = threading.Thread(target=killer)
    t.start()
    r = kral_nb.load("hi", ["sim:" + model], concurrency=[8], duration_s=2.5, shards=2, progress=False)
    t.join()
    assert seen == [2]
    runs = r.runs
    lost = runs[runs["error"].fillna("").str.contains("was killed by SIGKILL")]
    assert len(lost) >= 4 and (lost["status"] == "error").all()
    assert len(runs) >= server_saw() and len(runs) <= server_saw() + 1, (len(runs), server_saw())
    assert runs["request_key"].notna().all()


@pytest.mark.slow
def test_a_saturated_server_reads_as_flat_throughput_across_levels(sim_root: str) -> None:
    """4 decode slots × 0.4 s per request = 10 requests/s whatever the concurrency: achieved
    over the measurement window stays flat, warmup queue and drain tail included."""
    r = kral_nb.load("hi", ["sim:steady+n=30+slots=4+seed=flat"], concurrency=[4, 8, 16], duration_s=2.5,
                     warmup_s=0.5, shards=1, progress=False)
    lv = r.levels
    assert lv["level"].tolist() == [4, 8, 16] and str(lv["level"].dtype) == "int64"
    assert str(r.runs["level"].dtype) == "int64"
    achieved = lv["achieved_rps"].to_numpy()
    assert ((achieved > 8.5) & (achieved < 11.5)).all(), achieved  # 4 slots / 0.39 s = 10.3, ± edges
    assert achieved.max() / achieved.min() < 1.15, achieved
    assert lv["slo_attainment"].isna().all() and lv["offered_rps"].isna().all()  # no SLO; a closed loop offers nothing
    assert (lv["window_s"] > 2.0).all()


def _levels(p99: list[float], goodput: list[float], mode: str = "closed", levels: list[float] | None = None) -> pd.DataFrame:
    levels = levels or [1, 4, 12, 8][: len(p99)]
    n = len(p99)
    return pd.DataFrame({
        "provider": ["sim"] * n, "model": ["x"] * n, "protocol": ["openai"] * n, "mode": [mode] * n,
        "level": levels, "ttft_s_p50": [v / 2 for v in p99], "ttft_s_p99": p99, "tpot_s_p50": [0.01] * n,
        "tpot_s_p99": [0.02] * n, "goodput_rps": goodput, "achieved_rps": goodput, "client_saturated": [False] * n,
    })


def test_the_knee_is_the_last_level_before_latency_bends_or_goodput_falls() -> None:
    assert knee(_levels([0.1, 0.15, 0.5], [2, 6, 7])) == 4  # p99 past 2x the first level's at 12
    assert knee(_levels([0.1, 0.12, 0.13], [2, 6, 4])) == 4  # goodput fell at 12
    assert knee(_levels([0.1, 0.12, 0.13], [2, 6, 7])) is None  # never bends
    assert knee(_levels([0.1, float("nan")], [2, 0])) == 1  # nothing completed at 4


def test_plots_join_levels_in_their_order_and_label_each(tmp_path: Path) -> None:
    """A real overload: level 12 achieved less than level 4. The lines follow the levels as
    run (never re-sorted by throughput) and each point says its level."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    lv = _levels([0.1, 0.12, 0.9, 0.5], [2.0, 9.7, 7.5, 8.0], levels=[1, 4, 12, 8])
    ax = LoadPlots(lv).latency("ttft_s")
    p50 = ax.get_lines()[0]
    assert list(p50.get_xdata()) == [1, 4, 12, 8] and ax.get_xlabel().startswith("concurrency")
    texts = [t.get_text() for t in ax.texts]
    assert {"1", "4", "12", "8"} <= set(texts) and "knee: 4" in texts
    ax2 = LoadPlots(lv).goodput()
    assert list(ax2.get_lines()[1].get_xdata()) == [1, 4, 12, 8]
    assert not any("offered = achieved" in (line.get_label() or "") for line in ax2.get_lines())  # closed loop
    opened = LoadPlots(_levels([0.1, 0.2], [1.0, 1.9], mode="open", levels=[1.0, 2.5])).goodput()
    assert any(line.get_label() == "offered = achieved" for line in opened.get_lines())
    assert "2.5/s" in [t.get_text() for t in opened.texts]
    plt.close("all")
    saved = LoadPlots(lv).save_all(str(tmp_path))
    assert [os.path.basename(p) for p in saved] == ["load_ttft.png", "load_tpot.png", "load_goodput.png"]


def test_the_levels_table_reads_for_people() -> None:
    lv = _levels([0.1, 0.2], [2.0, 3.0]).assign(
        completed=[10, 9], failed=[0, 1], window_s=[2.5, 2.6], slo_attainment=np.nan, e2e_s_p99=[0.3, 0.4],
        queue_delay_s_p99=[0.0, 0.001])
    t = levels_table(lv, {})
    assert t["model"].tolist() == ["sim:x (simulated)"] * 2 and t["concurrency"].tolist() == ["1", "4"]
    assert t["SLO met"].tolist() == ["—", "—"] and t["TTFT p50 / p99"].iloc[0] == "50 ms / 100 ms"
    assert t["requests"].tolist() == ["10 ok", "9 ok, 1 failed"]
    text = t.to_string()
    assert "nan" not in text.lower() and "<NA>" not in text


def test_the_live_view_shows_progress_without_transient_rates() -> None:
    cells = [{"cell": 0, "mode": "closed", "level": 8, "provider": "sim", "model": "fast", "protocol": "openai",
              "planned": 40, "duration_s": None}]
    view = LoadView(cells, enabled=False)
    view.start(0, time.perf_counter_ns())
    view.update({"cell": 0, "shard": 0, "sent": 8, "done": 0, "failed": 0, "in_flight": 8, "ttft_s": [],
                 "final": False, "lag_s_p99": 0.0})
    row = view.rows()[0]
    assert row["progress"] == "0 / 40" and row["done/s"] == "—" and row["TTFT p50"] == "—"
    assert row["level"] == "8" and row["model"] == "sim:fast (simulated)"
    assert "nan" not in str(row).lower()


def test_the_load_result_and_its_report_say_what_was_asked(sim_root: str, tmp_path: Path) -> None:
    r = kral_nb.load("Say hi", ["sim:fast+n=4+seed=report"], concurrency=[1, 3], requests=6, slo={"ttft_s": 0.5},
                     shards=2, progress=False)
    assert r.title() == "sim:fast+n=4+seed=report (simulated) · closed loop, concurrency 1, 3 · TTFT ≤ 500 ms"
    shown = r._repr_html_()
    assert "LoadResult" not in shown and "kral_nb load · sim:fast+n=4+seed=report (simulated)" in shown
    assert r.runs["request_key"].nunique() == 1 and r.runs["request"].notna().all()
    page = r.to_html(str(tmp_path / "load.html"))
    text = Path(page).read_text()
    assert "TTFT ≤ 500 ms" in text and "not recorded" not in text and "0 request key" not in text
    assert "1 prompt(s), 1 request key(s)" in text and "Say hi" in text
    order = [text.index(h) for h in ("What was asked", "Levels", "Plots", "Per level", "Requests sent",
                                     "Where it ran")]
    assert order == sorted(order)
    assert "One model: nothing to compare" not in text and "the client kept up" in text


def test_a_frozen_application_becomes_its_own_shard(sim_root: str, tmp_path: Path) -> None:
    """A frozen app (no ``-c``) starts itself as a shard; ``freeze_support()``, first thing in
    the app, makes it one: the app's own code runs once."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""\
        import os, sys
        sys.frozen = True                       # what PyInstaller and the like set
        sys.executable = os.environ["APP"]      # the application binary
        import kral_nb
        kral_nb.freeze_support()
        print("app ran", flush=True)
        r = kral_nb.load("hi", ["sim:fast+n=2+seed=frozen"], concurrency=[2], requests=4, shards=2, progress=False)
        print("rows", len(r.runs), flush=True)
        """))
    app = tmp_path / "app"
    app.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    app.chmod(0o755)
    out = subprocess.run([str(app)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "APP": str(app), "KRAL_SIM_URL": sim_root})
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("app ran") == 1 and "rows 4" in out.stdout, out.stdout + out.stderr
