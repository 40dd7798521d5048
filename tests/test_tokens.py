"""Token truth: tokens per chunk, per-token inter-token latency, one output token count
shown everywhere (pane, runs table, summary)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import kral_nb
from kral_nb.record import metrics
from kral_nb.record.replay import replay
from kral_nb.results.frames import chunks_frame, runs_frame
from kral_nb.views import panes

from .conftest import golden

MS = 1_000_000


def _events(data: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in re.split(rb"\r?\n\r?\n", data) if e.strip()]


def _replayed(protocol: str, name: str, reads_ms: list[tuple[int, list[int]]]) -> kral_nb.Result:
    """Replay a golden file with the given events (by index) arriving together at each time."""
    evs = _events(golden(protocol, name))
    run = replay(protocol, [(t * MS, b"".join(evs[i] for i in idx)) for t, idx in reads_ms])
    return kral_nb.Result([run])


def test_gemini_cumulative_usage_gives_tokens_per_chunk_and_per_token_gaps() -> None:
    # thought "hmm" (3 tokens) at 100 ms, "The weather" (2) at 150 ms, a function call (5) at 400 ms
    r = _replayed("gemini", "text_thought_call.sse", [(100, [0]), (150, [1]), (400, [2])])
    content = r.chunks[r.chunks["n_tokens"].notna()]
    assert content["kind"].astype(str).tolist() == ["reasoning", "text", "tool_call"]
    assert content["n_tokens"].tolist() == [3, 2, 5]
    assert set(content["n_tokens_source"].astype(str)) == {"usage"}
    row = r.runs.iloc[0]
    # per token: 50 ms over 2 tokens, then 250 ms over 5; the first read's tokens are TTFT's
    assert row["itl_token_p50_s"] == pytest.approx(0.050)
    assert row["itl_token_p95_s"] == pytest.approx(0.050)
    assert row["itl_p50_s"] == pytest.approx(0.150)  # the chunk gaps: 50 and 250 ms
    assert int(content["n_tokens"].sum()) == row["output_tokens"] == 10


def test_vllm_continuous_usage_and_chunks_sharing_a_read() -> None:
    # Hello (1) at 110, " there, friend" (3) at 140, "!" (1) at 150, " Bye" (1) at 170 ms
    r = _replayed("openai", "vllm_continuous_usage.sse",
                  [(100, [0]), (110, [1]), (140, [2]), (150, [3]), (170, [4]), (180, [5, 6])])
    assert r.chunks["n_tokens"].dropna().tolist() == [1, 3, 1, 1]
    gaps = [0.010] * 3 + [0.010, 0.020]
    assert r.runs.iloc[0]["itl_token_p50_s"] == pytest.approx(np.percentile(gaps, 50))
    assert r.runs.iloc[0]["itl_token_p95_s"] == pytest.approx(np.percentile(gaps, 95))
    # "!" and " Bye" in one read at 170 ms: that read's 2 tokens share its 30 ms gap
    r = _replayed("openai", "vllm_continuous_usage.sse",
                  [(100, [0]), (110, [1]), (140, [2]), (170, [3, 4]), (180, [5, 6])])
    assert r.chunks["n_tokens"].dropna().tolist() == [1, 3, 1, 1]
    assert r.runs.iloc[0]["itl_token_p95_s"] == pytest.approx(np.percentile([0.010] * 3 + [0.015] * 2, 95))


def test_usage_only_at_the_end_leaves_tokens_per_chunk_unknown() -> None:
    r = _replayed("openai", "text_usage.sse", [(100 + 10 * i, [i]) for i in range(len(_events(golden(
        "openai", "text_usage.sse"))))])
    assert r.chunks["n_tokens"].isna().all() and r.chunks["n_tokens_source"].isna().all()
    assert math.isnan(r.runs.iloc[0]["itl_token_p50_s"])
    assert not math.isnan(r.runs.iloc[0]["itl_p50_s"])


def test_chunk_tokens_rules() -> None:
    content = np.array([False, True, True, False, True, True, False])
    reads = np.array([0, 1, 1, 1, 2, 3, 3])
    # usage after row 2 covers rows 1-2 (one read: split 5 -> 3 + 2); after row 6 covers rows
    # 4 and 5, which arrived in two reads: unknown
    out, source = metrics.chunk_tokens(content, reads, [(3, 5), (6, 9)], None)
    assert out.tolist() == [-1, 3, 2, -1, -1, -1, -1] and source == "usage"
    # no increase: unknown, never 0
    out, source = metrics.chunk_tokens(content, reads, [(3, 0)], None)
    assert (out == -1).all() and source is None
    out, source = metrics.chunk_tokens(content, reads, [], [1, 2, 0, 4])
    assert out.tolist() == [-1, 1, 2, -1, 0, 4, -1] and source == "tokenizer"


def test_a_zero_token_read_passes_its_gap_on() -> None:
    t = np.array([0, 10, 20, 40]) * MS
    gaps = metrics.token_gaps(t, np.array([2, 1, 0, 2]))
    assert gaps.tolist() == pytest.approx([0.010, 0.015, 0.015])


def test_sim_continuous_usage_stats_over_loopback() -> None:
    r = kral_nb.run("hi", model="sim:steady+n=12+chunk=3",
                    extra_body={"stream_options": {"include_usage": True, "continuous_usage_stats": True}})
    row = r.runs.iloc[0]
    assert r.chunks["n_tokens"].dropna().tolist() == [3, 3, 3, 3]
    assert row["itl_token_p50_s"] == pytest.approx(row["itl_p50_s"] / 3, rel=0.05)


def _pane_tokens(line: str) -> tuple[str, int, float]:
    m = re.search(r"· (~?)(\d+) tok · ([\d.]+) tok/s", line)
    assert m, line
    return m.group(1), int(m.group(2)), float(m.group(3))


@pytest.mark.parametrize("usage", [True, False])
def test_pane_and_table_show_the_same_token_count(usage: bool) -> None:
    r = kral_nb.run("hi", model="sim:steady+n=37+chunk=2", include_usage=usage)
    run = r.run_list[0]
    approx, tokens, rate = _pane_tokens(panes.stats(run, 0))
    row = runs_frame([run]).iloc[0]
    assert tokens == row["output_tokens"]
    assert rate == pytest.approx(row["output_tokens_per_s"], abs=0.05)
    assert (approx == "~") == (row["tokens_source"] == "estimate") == (not usage)
    summary = kral_nb.Result([run]).summary()
    assert summary.iloc[0]["output_tokens_median"] == tokens
    assert summary.iloc[0]["tokens_source"] == row["tokens_source"]
    assert len(chunks_frame([run])) == row["n_chunks"]
    result = kral_nb.Result([run])
    assert f"<td>{approx}{tokens}</td>" in result._repr_html_()
    legend = [t.get_text() for t in result.plot.throughput().get_legend().get_texts()]
    assert legend[0].endswith(" (est.)") == (not usage)

