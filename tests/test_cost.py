"""Cost per run from genai-prices: checked against the package's own calculation, never a
number copied into the test; cache reads, unknown models, estimates, overrides, cut-off runs,
self-hosted runs, and no network."""

from __future__ import annotations

import math
from importlib.metadata import version

import genai_prices
import numpy as np
import pandas as pd
import pytest

import kral_nb
from kral_nb.results.cost import add_cost, price_run


def _expected(model: str, provider: str | None, **usage: int) -> tuple[float, float]:
    calc = genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider)
    return float(calc.input_price), float(calc.output_price)


@pytest.mark.parametrize(("provider", "model", "ref", "ref_provider"), [
    ("openai", "gpt-5", "gpt-5", "openai"),
    ("anthropic", "claude-sonnet-4-6", "claude-sonnet-4-6", "anthropic"),
    ("gemini", "gemini-2.5-flash", "gemini-2.5-flash", "google"),
    ("openrouter", "openai/gpt-4o-mini", "openai/gpt-4o-mini", "openrouter"),
    ("kral", "anthropic/claude-sonnet-4-6", "claude-sonnet-4-6", "anthropic"),  # vendor/model: that vendor
    ("kral", "gpt-5", "gpt-5", None),  # a bare name: genai-prices finds who serves it
])
def test_usage_is_priced_as_the_package_prices_it_cache_reads_included(
        provider: str, model: str, ref: str, ref_provider: str | None) -> None:
    cin, cout, total, status, source = price_run(provider, model, 12_000, 3_000, 800, "usage")
    exp_in, exp_out = _expected(ref, ref_provider, input_tokens=12_000, cache_read_tokens=3_000, output_tokens=800)
    assert (cin, cout) == pytest.approx((exp_in, exp_out)) and total == pytest.approx(exp_in + exp_out)
    assert status == "priced" and source.startswith(f"genai-prices {version('genai-prices')}: ")
    no_cache_in, _ = _expected(ref, ref_provider, input_tokens=12_000, output_tokens=800)
    assert cin < no_cache_in  # cache reads are cheaper than fresh input


def test_unknown_models_are_nan_never_zero_and_overrides_win() -> None:
    cin, cout, total, status, _ = price_run("kral", "no-such-model-anywhere", 100, 0, 10, "usage")
    assert math.isnan(total) and math.isnan(cin) and math.isnan(cout) and status == "unknown_model"
    prices = {"gpt-5": {"input": 2.0, "output": 10.0, "cached_input": 0.5}}
    cin, cout, total, status, source = price_run("openai", "gpt-5", 1_000_000, 200_000, 100_000, "usage", prices)
    assert cin == pytest.approx(0.8 * 2.0 + 0.2 * 0.5) and cout == pytest.approx(1.0)
    assert total == pytest.approx(cin + cout) and source == "prices= override for gpt-5" and status == "priced"


def test_estimated_tokens_are_flagged_and_the_prompt_is_not_guessed() -> None:
    cin, cout, total, status, _ = price_run("gemini", "gemini-2.5-flash", None, None, 500, "estimate")
    _, exp_out = _expected("gemini-2.5-flash", "google", input_tokens=0, output_tokens=500)
    assert status == "estimated_tokens" and math.isnan(cin) and cout == pytest.approx(exp_out) and total == cout


def test_runs_frame_costs_every_run_sim_free_and_a_cut_off_run_from_what_it_carried(sim_root: str) -> None:
    r = kral_nb.compare("hi", ["sim:fast+n=20", "sim:fast+n=20+cut=3"], progress=False)
    runs = r.runs
    assert list(runs["cost_status"].astype(str)) == ["free", "free"] and (runs["cost_usd"] == 0).all()
    # the same runs as if a priced provider had served them: the cut-off one is billed for its 3 chunks
    as_openai = runs.assign(provider="openai", model="gpt-5")
    priced = add_cost(as_openai)
    ok, cut = priced.iloc[0], priced.iloc[1]
    assert str(runs.iloc[1]["status"]) == "cut_off" and cut["cost_status"] == "estimated_tokens"
    assert 0 < cut["cost_usd"] < ok["cost_usd"] and ok["cost_status"] == "priced"
    _, exp_out = _expected("gpt-5", "openai", input_tokens=0, output_tokens=int(runs.iloc[1]["output_tokens"]))
    assert cut["output_cost_usd"] == pytest.approx(exp_out)
    s = kral_nb.Result.from_frames(r.chunks, priced).summary()
    assert {"cost_usd_median", "cost_per_1k_output_tokens_usd", "cost_per_ok_answer_usd"} <= set(s.columns)
    row = s.iloc[0]  # one model: the cut-off run's cost counts, its answer does not
    assert row["cost_per_ok_answer_usd"] == pytest.approx(ok["cost_usd"] + cut["cost_usd"])
    assert row["cost_status"] == "estimated_tokens,priced"
    assert (r.runs["cost_status"].astype(str) == "free").all()
    # an override wins, self-hosted too (your own hardware's price per token)
    over = r.cost(prices={"sim:fast+n=20": {"input": 1, "output": 2}})
    assert over["cost_usd"].iloc[0] == pytest.approx((runs["input_tokens"].iloc[0] + 2 * runs["output_tokens"].iloc[0]) / 1e6)
    assert over["price_source"].iloc[0] == "prices= override for sim:fast+n=20"
    assert over["cost_status"].astype(str).tolist() == ["priced", "free"]  # the other model has no override


def test_pricing_never_reaches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import genai_prices.update_prices as up

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("genai-prices tried to fetch prices")

    monkeypatch.setattr(up.httpx2, "get", refuse)
    from kral_nb.results import cost

    cost._package_price.cache_clear()
    assert price_run("openai", "gpt-4o-mini", 10, 0, 10, "usage")[3] == "priced"


def test_the_live_stats_line_shows_the_cost_marked_when_estimated() -> None:
    from kral_nb import fmt
    from kral_nb.record.recorder import Run
    from kral_nb.views import panes

    run = Run("r1", "openai", "gpt-5", "openai", t0_ns=0, first_content_ns=10**8, end_ns=10**9, status="ok")
    run.usage = {"input_tokens": 100, "output_tokens": 50}
    exp = sum(_expected("gpt-5", "openai", input_tokens=100, output_tokens=50))
    assert f"· {fmt.usd(exp)} ·" in panes.stats(run, 0)  # the summary's own format
    run.usage = {}
    run.text_parts.append("hi")
    assert "· ~1 tok ·" in panes.stats(run, 0) and "· ~$0.00001 ·" in panes.stats(run, 0)
    sim = Run("r2", "sim", "fast", "openai", t0_ns=0, first_content_ns=10**8, end_ns=10**9, status="ok")
    assert "$" not in panes.stats(sim, 0)  # self-hosted: no price shown


def test_pareto_front_and_cost_against_latency() -> None:
    from kral_nb.report.stats import pareto_front

    # (latency, cost): c is beaten by a on both; d ties a on latency but costs more
    assert pareto_front([1.0, 2.0, 3.0, 1.0, np.nan], [5.0, 1.0, 6.0, 7.0, 0.0]).tolist() == \
        [True, True, False, False, False]


def _priced_comparison() -> tuple[kral_nb.Result, pd.DataFrame]:
    r = kral_nb.compare("hi", ["sim:fast+n=10", "sim:slow+n=10", "sim:steady+n=10"], repeat=4, progress=False)
    runs = r.cost(prices={"sim:fast+n=10": {"input": 5, "output": 40}, "sim:slow+n=10": {"input": 0.1, "output": 0.4}})
    return r, runs


def test_compare_pairs_on_cost_and_the_cost_plot(sim_root: str) -> None:
    from kral_nb.report.plots import Plots
    from kral_nb.report.stats import compare_pairs, cost_latency

    r, runs = _priced_comparison()
    pairs = compare_pairs(runs, "cost_usd").set_index(["a", "b"])
    fast, slow = "sim:fast+n=10 (simulated)", "sim:slow+n=10 (simulated)"
    row = pairs.loc[(fast, slow)]
    assert row["diff"] > 0 and row["verdict"].startswith(f"{slow} cheaper by $")
    table = cost_latency(runs).set_index("label")
    # fast is the fastest, steady (free) the cheapest; slow is beaten by steady on both axes
    assert table["pareto"].to_dict() == {fast: True, slow: False, "sim:steady+n=10 (simulated)": True}
    assert table.loc[fast, "cost_usd_median"] == pytest.approx(
        float(runs.loc[runs["model"] == "fast+n=10", "cost_usd"].median()))
    ax = Plots(r.chunks, runs).cost()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Pareto front", fast, slow, "sim:steady+n=10 (simulated)"]
    front = ax.get_lines()[-1]
    assert front.get_linestyle() == "--" and len(front.get_xdata()) == 2
    unpriced = runs.assign(cost_usd=np.where(runs["model"] == "slow+n=10", np.nan, runs["cost_usd"]))
    ax = Plots(r.chunks, unpriced).cost(latency="e2e_s")
    assert f"no price: {slow}" in ax.get_xlabel()


def test_reasoning_tokens_are_billed_as_output() -> None:
    """Gemini reports thoughts apart (thoughtsTokenCount); they are billed at the output price,
    so the run's output tokens, and its cost, include them."""
    from kral_nb.record.replay import replay
    from kral_nb.results.frames import runs_frame

    from .conftest import golden

    run = replay("gemini", [(1_000_000, golden("gemini", "text_thought_call.sse"))],
                 provider="gemini", model="gemini-2.5-flash")
    row = runs_frame([run]).iloc[0]
    assert row["reasoning_tokens"] == 3 and row["output_tokens"] == 7 + 3
    exp_in, exp_out = _expected("gemini-2.5-flash", "google", input_tokens=8, cache_read_tokens=2, output_tokens=10)
    assert row["output_cost_usd"] == pytest.approx(exp_out) and row["input_cost_usd"] == pytest.approx(exp_in)
    _, only_answer = _expected("gemini-2.5-flash", "google", input_tokens=8, output_tokens=7)
    assert row["output_cost_usd"] > only_answer
