"""Statistics on fixed data, seeded bootstrap, plots' artists, export round-trips, replay."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kral_nb
from kral_nb.record.runrow import row as run_row
from kral_nb.report.stats import bootstrap_median_ci, compare_pairs, diff_median_ci, summary, verdict
from kral_nb.results.columns import COST_DTYPES, RUN_DTYPES


def fake_runs(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for model, vals in values.items():
        for i, v in enumerate(vals):
            rows.append({"provider": "sim", "model": model, "protocol": "openai", "status": "ok",
                         "warmup": False, "ttft_s": v, "itl_p50_s": v / 10, "e2e_s": v * 2,
                         "output_tokens_per_s": 100 / v, "input_tokens": 5, "output_tokens": 10 + i,
                         "tokens_source": "usage"})
    return pd.DataFrame(rows)


def test_run_metrics_match_hand_computed_values() -> None:
    """docs/metrics.md on exact stamps: role chunk at 50 ms, reasoning at 100 ms, text at 200,
    250, 350, 400 ms, usage (5 output tokens) and [DONE] at 500 ms."""
    from kral_nb.record.replay import replay

    def ev(delta: str) -> bytes:
        return b'data: {"choices":[{"index":0,"delta":' + delta.encode() + b',"finish_reason":null}]}\n\n'

    ms = 1_000_000
    reads = [(50 * ms, ev('{"role":"assistant"}')), (100 * ms, ev('{"reasoning_content":"hm"}')),
             (200 * ms, ev('{"content":"a"}')), (250 * ms, ev('{"content":"b"}')),
             (350 * ms, ev('{"content":"c"}')), (400 * ms, ev('{"content":"d"}')),
             (500 * ms, b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n'
                        b"data: [DONE]\n\n")]
    row = run_row(replay("openai", reads))
    assert row["t_first_event_s"] == pytest.approx(0.05) and row["ttft_s"] == pytest.approx(0.1)
    assert row["ttfa_s"] == pytest.approx(0.2) and row["e2e_s"] == pytest.approx(0.5)
    # gaps between content chunks: 100, 50, 100, 50 ms
    assert row["itl_mean_s"] == pytest.approx(0.075) and row["itl_max_s"] == pytest.approx(0.1)
    assert row["itl_p50_s"] == pytest.approx(0.075) and row["itl_p95_s"] == pytest.approx(0.1)
    assert row["tpot_s"] == pytest.approx(0.4 / 4) and row["output_tokens_per_s"] == pytest.approx(10.0)
    assert row["tokens_source"] == "usage" and row["n_content_chunks"] == 5


def test_bootstrap_is_seeded_and_brackets_the_median() -> None:
    x = [0.1, 0.12, 0.11, 0.3, 0.13, 0.12, 0.1, 0.14]
    a, b = bootstrap_median_ci(x, seed=3), bootstrap_median_ci(x, seed=3)
    assert a == b and a[0] == pytest.approx(0.12)  # median of the sorted middle pair 0.12, 0.12
    assert a[1] <= a[0] <= a[2]
    assert bootstrap_median_ci([0.5]) [0] == 0.5 and math.isnan(bootstrap_median_ci([0.5])[1])
    # all values equal: the interval collapses onto them
    assert bootstrap_median_ci([2.0] * 5) == (2.0, 2.0, 2.0)


def test_difference_of_medians_and_verdicts() -> None:
    d, lo, hi = diff_median_ci([0.1] * 6, [0.3] * 6)
    assert (d, lo, hi) == pytest.approx((-0.2, -0.2, -0.2))
    assert verdict("A", "B", "ttft_s", -0.12, -0.16, -0.08) == "A faster by 120 ms than B, 95% CI [80 ms, 160 ms]"
    assert verdict("A", "B", "ttft_s", 0.01, -0.02, 0.04).startswith("A vs B: no clear difference")
    assert verdict("A", "B", "output_tokens_per_s", -50, -60, -40) == \
        "B faster by 50 tok/s than A, 95% CI [40 tok/s, 60 tok/s]"
    assert verdict("A", "B", "output_tokens_per_s", 50, 40, 60) == \
        "A faster by 50 tok/s than B, 95% CI [40 tok/s, 60 tok/s]"
    assert verdict("A", "B", "output_tokens", 12, 8, 15) == "B lower by 12 than A, 95% CI [8, 15]"


def test_summary_and_pairs_on_fixed_data() -> None:
    runs = fake_runs({"a": [0.1, 0.2, 0.3, 0.4, 0.5], "b": [1.0, 1.1, 1.2, 1.3, 1.4]})
    warm = runs.iloc[[0]].assign(warmup=True, ttft_s=9.0)
    s = summary(pd.concat([runs, warm], ignore_index=True))
    a = s.set_index("model").loc["a"]
    assert a["runs"] == 5 and a["warmup"] == 1 and a["ttft_s_p50"] == pytest.approx(0.3)
    assert a["ttft_s_p90"] == pytest.approx(0.46) and a["ttft_s_median"] == pytest.approx(0.3)
    p = compare_pairs(runs, "ttft_s")
    assert p.loc[0, "diff"] == pytest.approx(-0.9) and p.loc[0, "verdict"].startswith("sim:a (simulated) faster by 900 ms")
    noisy = fake_runs({"a": [0.1, 0.5, 0.2, 0.6], "b": [0.15, 0.55, 0.25, 0.45]})
    assert "no clear difference" in compare_pairs(noisy, "ttft_s").loc[0, "verdict"]


@pytest.fixture(scope="module")
def sweep(sim_root: str) -> kral_nb.Result:
    return kral_nb.compare("hi", models=["sim:fast+n=20", "sim:steady+n=10@anthropic"], repeat=3,
                           warmup=1, trace=True)


def test_plots_return_axes_with_labels_and_legends(sweep: kral_nb.Result) -> None:
    import matplotlib

    matplotlib.use("Agg")
    ax = sweep.plot.timeline()
    assert "time since request (s)" in ax.get_xlabel() and len(ax.get_lines()) == 8
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"sim:fast+n=20 (simulated)", "sim:steady+n=10@anthropic (simulated)"}
    ax = sweep.plot.ttft()
    assert ax.get_ylabel() == "TTFT (ms)" and len(ax.collections) >= 2
    ax = sweep.plot.gaps()
    assert ax.get_xscale() == "log" and len(ax.get_lines()) == 2
    ax = sweep.plot.throughput()
    assert "tokens / s" in ax.get_ylabel()


def test_parquet_and_csv_round_trip_with_dtypes(sweep: kral_nb.Result, tmp_path: Path) -> None:
    sweep.to_parquet(str(tmp_path / "p"))
    back = kral_nb.read_parquet(str(tmp_path / "p"))
    pd.testing.assert_frame_equal(back.runs, sweep.runs)
    pd.testing.assert_frame_equal(back.chunks, sweep.chunks)
    sweep.to_csv(str(tmp_path / "c"))
    back = kral_nb.read_csv(str(tmp_path / "c"))
    pd.testing.assert_frame_equal(back.runs, sweep.runs, check_categorical=False)
    pd.testing.assert_frame_equal(back.chunks, sweep.chunks, check_categorical=False)
    assert {c: str(t) for c, t in back.runs.dtypes.items()} == {
        c: ("category" if d == "category" else str(sweep.runs.dtypes[c]))
        for c, d in {**RUN_DTYPES, **COST_DTYPES}.items()}
    assert back.summary().equals(sweep.summary()) and (back + back).runs.shape[0] == 2 * len(sweep.runs)


def test_replayed_trace_reproduces_text_and_gaps(sweep: kral_nb.Result, tmp_path: Path) -> None:
    sweep.to_csv(str(tmp_path / "csv"), traces=True)  # CSV exports keep traces too
    assert (tmp_path / "csv" / "traces.jsonl").read_bytes()
    sweep.to_parquet(str(tmp_path), traces=True)
    names = kral_nb.sim.load_traces(str(tmp_path / "traces.jsonl"))
    assert len(names) == len(sweep.run_list)
    original = next(r for r in sweep.run_list if r.model == "fast+n=20" and not r.warmup)
    replayed = kral_nb.run("x", model=f"sim:replay+run={original.run_id}@openai")
    assert replayed.text == original.text
    a, b = run_row(original), replayed.runs.iloc[0]
    assert abs(b["e2e_s"] - a["e2e_s"]) < 0.02 and abs(b["ttft_s"] - a["ttft_s"]) < 0.02
    assert abs(b["itl_mean_s"] - a["itl_mean_s"]) < 0.003


def test_cli_writes_frames_and_plots(tmp_path: Path, sim_root: str) -> None:
    out = tmp_path / "res"
    env = {**os.environ, "KRAL_SIM_URL": sim_root, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "kral_nb", "compare", "hello", "-m", "sim:fast+n=5",
                           "-m", "sim:instant+n=5@gemini", "-n", "2", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "faster by" in proc.stdout or "no clear difference" in proc.stdout
    for f in ("chunks.parquet", "runs.parquet", "summary.csv", "pairs.csv", "timeline.png", "ttft.png",
              "gaps.png", "throughput.png"):
        assert (out / f).stat().st_size > 0, f
    assert len(pd.read_parquet(out / "runs.parquet")) == 6  # 2 models x (1 warmup + 2)
    assert np.isfinite(pd.read_parquet(out / "runs.parquet")["ttft_s"]).all()


def test_buffered_flag() -> None:
    from kral_nb.record.metrics import is_buffered

    assert is_buffered(0.72, 0.722, 60, [0.001] * 59)  # everything at the end, in a burst
    assert is_buffered(0.9, 0.9, 10, [])  # one single read
    assert not is_buffered(0.1, 0.7, 60, [0.01] * 59)  # a normal stream
    assert not is_buffered(5.0, 5.2, 10, [0.02] * 9)  # slow to start, then real token gaps
    assert not is_buffered(0.3, 0.3, 10, [])  # too short to tell


def test_one_label_everywhere(sim_root: str) -> None:
    """The same model is named the same way in the pane, the repr, the verdicts and the plots."""
    from kral_nb.fmt import model_label
    from kral_nb.views import panes

    r = kral_nb.compare("hi", ["sim:fast+n=3", "sim:fast+n=3@anthropic"], repeat=2)
    names = [model_label("sim", "fast+n=3", "openai"), model_label("sim", "fast+n=3", "anthropic")]
    assert names == ["sim:fast+n=3 (simulated)", "sim:fast+n=3@anthropic (simulated)"]
    assert all(n in repr(r) and n in panes.plain(r.run_list, 0) for n in names)
    verdict = r.compare_pairs("ttft_s")["verdict"].iloc[0]
    assert names[0] in verdict and names[1] in verdict


def test_timeline_unit_changes_the_data_and_warmups_stay_out_of_the_legend(sim_root: str) -> None:
    r = kral_nb.compare("hi", ["sim:fast+n=6"], repeat=1, warmup=1)
    chars = r.plot.timeline(unit="chars")
    chunks = r.plot.timeline(unit="chunks")
    top = lambda ax: max(line.get_ydata()[-1] for line in ax.get_lines())  # noqa: E731
    assert top(chunks) == 6 and top(chars) == len(r.run_list[-1].text) > 6
    assert "chunks" in chunks.get_title() and "chunks" in chunks.get_ylabel()
    assert [t.get_text() for t in chunks.get_legend().get_texts()] == ["sim:fast+n=6 (simulated)"]
    legend_line = chunks.get_legend().get_lines()[0]
    assert legend_line.get_alpha() == 0.85  # the measured run's colour, not the pale warmup's
    with pytest.raises(kral_nb.ConfigError, match="unit must be"):
        r.plot.timeline(unit="tokens")


def test_timeline_goes_log_when_models_differ_in_speed(sim_root: str) -> None:
    """A 20x slower model would squeeze the fast one into the first sliver of a linear axis."""
    r = kral_nb.compare("hi", ["sim:fast+n=10", "sim:slow+n=20"], repeat=1)
    ax = r.plot.timeline()
    assert ax.get_xscale() == "log" and "ms, log scale" in ax.get_xlabel()
    first = min(line.get_xdata()[0] for line in ax.get_lines())
    assert first == pytest.approx(r.runs["ttft_s"].min() * 1000, rel=0.01)  # starts at the first chunk, in ms
    assert r.plot.timeline(log=False).get_xscale() == "linear"
    same = kral_nb.compare("hi", ["sim:fast+n=10", "sim:fast+n=12"], repeat=1)
    assert same.plot.timeline().get_xscale() == "linear"


def test_plots_leave_the_users_backend_alone(sim_root: str) -> None:
    code = ("import matplotlib; matplotlib.use('svg'); import kral_nb; "
            "r = kral_nb.run('hi', model='sim:fast+n=3'); r.plot.ttft(); print(matplotlib.get_backend())")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "svg", out.stderr


def test_csv_keeps_text_that_looks_missing(tmp_path: Path) -> None:
    from kral_nb.record.replay import replay

    runs = []
    for word in ("NA", "null", "None", "NaN"):
        run = replay("openai", [(1, b'data: {"choices":[{"delta":{"content":"' + word.encode() + b'"}}]}\n\n'
                                   b"data: [DONE]\n\n")])
        run.run_id = word
        runs.append(run)
    kral_nb.Result(runs).to_csv(str(tmp_path))
    back = kral_nb.read_csv(str(tmp_path))
    assert list(back.runs["text"]) == ["NA", "null", "None", "NaN"]
    assert list(back.chunks.loc[back.chunks["kind"] == "text", "text"]) == ["NA", "null", "None", "NaN"]


def test_a_reloaded_result_reads_like_the_live_one(tmp_path: Path) -> None:
    """One Result, built on its frames: after a round trip through disk, len, iteration,
    texts, status, error and tool calls agree with the live result (failures included)."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    live = kral_nb.compare("hi", ["sim:fast+n=6+tools=1", "sim:fast+n=9+error=4", "sim:fast+n=3@anthropic"],
                           tools=tools)
    live.to_csv(str(tmp_path / "c"))
    live.to_parquet(str(tmp_path / "p"))
    for back in (kral_nb.read_csv(str(tmp_path / "c")), kral_nb.read_parquet(str(tmp_path / "p"))):
        assert len(back) == len(list(back)) == len(live) == 3 and not back.run_list
        assert back.texts == live.texts and back.text == live.text
        assert back.status == live.status == "error" and back.error == live.error is not None
        assert [c.to_dict() for c in back.tool_calls] == [c.to_dict() for c in live.tool_calls] != []
        for was, now in zip(live, back, strict=True):
            assert (now.run_id, now.status, now.error, now.text, now.usage) == (
                was.run_id, was.status, was.error, was.text, was.usage)
            assert {i: c.to_dict() for i, c in now.tool_calls.items()} == {
                i: c.to_dict() for i, c in was.tool_calls.items()}
            assert now.row()["ttft_s"] == was.row()["ttft_s"] and now.final
        assert repr(back) == repr(live)
        both = live + back
        assert len(both) == len(list(both)) == 6 and both.texts == live.texts
