"""Baseline vs candidate: did a model get slower (or dearer) between two sets of runs, and
with what confidence? Pure: runs frames in, a frame out (``compare_runs``); ``gate`` turns it
into a pass/fail for CI (``python -m kral_nb gate``).

Per model (provider, model, protocol) and metric: the difference of medians (candidate -
baseline) with its seeded bootstrap 95% CI (``analysis.diff_median_ci``, the statistic
``compare_pairs`` uses), the relative change and a verdict in words. Runs are compared only
when they asked the same thing: a model whose baseline and candidate ``request_key`` sets
differ (another prompt, system prompt, tools or options) is refused, saying how they differ.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import fmt
from ..errors import ConfigError
from ..fmt import model_label
from .stats import GROUP, N_RESAMPLES, diff_median_ci, measured
from .verdicts import HIGHER_IS_BETTER, better_word, ci_text, unclear

METRICS = ("ttft_s", "itl_p50_s", "e2e_s", "output_tokens_per_s", "cost_usd")


def runs_of(source: Any) -> pd.DataFrame:
    """A runs frame from a Result / LoadResult, a runs DataFrame, or a directory written by
    ``to_parquet`` / ``to_csv``."""
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, str):
        from ..results.export import read_any

        return read_any(source)[1]
    runs = getattr(source, "runs", None)
    if isinstance(runs, pd.DataFrame):
        return runs
    raise ConfigError(f"expected a Result, a runs DataFrame or a directory, got {type(source).__name__}")


def _keys(runs: pd.DataFrame) -> set[str]:
    if "request_key" not in runs.columns:
        return set()
    return set(runs["request_key"].dropna().astype(str))


def compare_runs(baseline: Any, candidate: Any, *, metrics: Sequence[str] = METRICS, seed: int = 0,
                 n_resamples: int = N_RESAMPLES, confidence: float = 0.95,
                 allow_different_requests: bool = False) -> pd.DataFrame:
    """One row per model present on both sides and metric: ``median_baseline``,
    ``median_candidate``, ``diff`` (candidate - baseline), ``ci_low``/``ci_high``,
    ``change`` (diff / baseline median) with ``change_ci_low``/``change_ci_high``,
    ``regression`` (the change in the bad direction: positive = worse, per the metric's
    direction) with its CI, and ``verdict``. Timing metrics use ``ok`` runs; ``cost_usd``
    uses every measured run (failed runs are billed too). Raises :class:`ConfigError` when a
    model's runs asked different things, unless ``allow_different_requests``."""
    base, cand = runs_of(baseline), runs_of(candidate)
    from ..results.columns import RUN_COLUMNS

    unknown = [m for m in metrics if m not in RUN_COLUMNS]
    if unknown:
        raise ConfigError(f"unknown metric {unknown[0]!r}: a numeric runs-frame column such as "
                          f"{', '.join(METRICS)}")
    rows = []
    cand_groups = {tuple(k): g for k, g in cand.groupby(GROUP, observed=True, sort=False)}
    for key, b in base.groupby(GROUP, observed=True, sort=False):
        label = model_label(*key)
        c = cand_groups.pop(tuple(key), None)
        if c is None:  # a model the candidate no longer runs: never a silent pass
            rows += [_missing(label, metric, "candidate") for metric in metrics]
            continue
        kb, kc = _keys(b), _keys(c)
        if not allow_different_requests and (not kb or not kc):
            raise ConfigError(
                f"{label}: the {'baseline' if not kb else 'candidate'}'s frames do not record what was asked "
                "(request_key: written by a kral_nb that did not record requests), so they cannot be shown to ask "
                "the same thing; pass allow_different_requests=True (--allow-different-requests) to compare anyway")
        if kb != kc and not allow_different_requests:
            raise ConfigError(
                f"{label}: baseline and candidate asked different things: {_difference(b, c)} "
                f"(request_key {sorted(kb)} vs {sorted(kc)}); compare like with like, or pass "
                "allow_different_requests=True")
        for metric in metrics:
            rows.append(_row(label, metric, b, c, seed, n_resamples, confidence))
    if all(r["runs_candidate"] == MISSING or r["runs_baseline"] == MISSING for r in rows):
        only = sorted({model_label(*k) for k in base[GROUP].drop_duplicates().itertuples(index=False)})
        raise ConfigError(f"no model is in both baseline and candidate (baseline has {', '.join(only) or 'none'})")
    for key in cand_groups:  # a model only the candidate runs: nothing to compare it with
        rows += [_missing(model_label(*key), metric, "baseline") for metric in metrics]
    return pd.DataFrame(rows)


def _requests(runs: pd.DataFrame) -> list[dict[str, Any]]:
    if "request" not in runs.columns:
        return []
    return [json.loads(t) for t in sorted(set(runs["request"].dropna().astype(str)))]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _difference(b: pd.DataFrame, c: pd.DataFrame) -> str:
    """How the requests differ, in words: the fields of one request each, else the counts."""
    rb, rc = _requests(b), _requests(c)
    if len(rb) == 1 and len(rc) == 1:
        fields = [f for f in sorted(set(rb[0]) | set(rc[0])) if rb[0].get(f) != rc[0].get(f)]
        return "; ".join("the messages (prompt) differ" if f == "messages" else
                         f"{f} {_short(rb[0].get(f))} vs {_short(rc[0].get(f))}" for f in fields)
    if rb and rc:
        common = sum(r in rc for r in rb)
        return f"{len(rb)} distinct request(s) in the baseline, {len(rc)} in the candidate, {common} in common"
    return "the prompt, system prompt, tools or options differ"


def _values(runs: pd.DataFrame, metric: str) -> np.ndarray:
    picked = runs[~runs["warmup"].astype(bool)] if metric.endswith("_usd") else measured(runs)
    return picked[metric].to_numpy(dtype=float, na_value=np.nan)


MISSING = "not run"


def _missing(label: str, metric: str, side: str) -> dict[str, Any]:
    other = "baseline" if side == "candidate" else "candidate"
    nan = math.nan
    return {"model": label, "metric": metric, "n_baseline": 0, "n_candidate": 0, f"runs_{side}": MISSING,
            f"runs_{other}": "", "ok_baseline": 0, "ok_candidate": 0, "n_runs_baseline": 0, "n_runs_candidate": 0,
            "median_baseline": nan, "median_candidate": nan, "diff": nan, "ci_low": nan, "ci_high": nan,
            "change": nan, "change_ci_low": nan, "change_ci_high": nan, "regression": nan,
            "regression_ci_low": nan, "regression_ci_high": nan,
            "verdict": f"no verdict: the {side} has no runs of this model"}


def _ok(runs: pd.DataFrame) -> int:
    return len(measured(runs))


def _n(runs: pd.DataFrame) -> int:
    return int((~runs["warmup"].fillna(False).astype(bool)).sum())


def _statuses(runs: pd.DataFrame) -> str:
    """``12 runs: 10 ok, 2 http_error`` (warmups left out)."""
    counts = runs.loc[~runs["warmup"].astype(bool), "status"].astype(str).value_counts()
    return f"{int(counts.sum())} runs: " + ", ".join(f"{n} {k}" for k, n in counts.items()) if len(counts) else "0 runs"


def no_verdict(table: pd.DataFrame, max_failures: float = 0.1) -> tuple[list[str], list[str]]:
    """Rows a gate cannot pass on: (failures, unknowns). A candidate with fewer than 2 ok runs
    where the baseline had them measured nothing, and one whose share of failed runs grew by
    more than ``max_failures`` (points) failed more — failures, never a pass; a model one side
    did not run, a baseline that measured nothing, or a metric with no values (no price)
    leave no verdict."""
    failures, unknowns = [], []
    for r in table.to_dict("records"):
        where = f"{r['model']} {r['metric']}"
        if MISSING in (r["runs_baseline"], r["runs_candidate"]):
            unknowns.append(f"{where}: {r['verdict'].removeprefix('no verdict: ')}")
            continue
        share_b = 1 - r["ok_baseline"] / r["n_runs_baseline"] if r["n_runs_baseline"] else 0.0
        share_c = 1 - r["ok_candidate"] / r["n_runs_candidate"] if r["n_runs_candidate"] else 0.0
        if r["ok_candidate"] < 2 <= r["ok_baseline"]:
            failures.append(f"{where}: the candidate measured nothing ({r['runs_candidate']}; the baseline "
                            f"{r['runs_baseline']})")
        elif r["ok_baseline"] < 2:
            unknowns.append(f"{where}: the baseline measured nothing ({r['runs_baseline']})")
        elif share_c - share_b > max_failures:
            failures.append(f"{where}: more runs failed ({share_c:.0%} of the candidate's, {share_b:.0%} of the "
                            f"baseline's; allowed {max_failures:.0%} more)")
        elif min(r["n_baseline"], r["n_candidate"]) < 2:
            unknowns.append(f"{where}: fewer than 2 values on one side ({r['n_baseline']} vs {r['n_candidate']}: "
                            "no price, or the column is empty)")
    return failures, unknowns


def _row(label: str, metric: str, b: pd.DataFrame, c: pd.DataFrame, seed: int, n_resamples: int,
         confidence: float) -> dict[str, Any]:
    xb, xc = _values(b, metric), _values(c, metric)
    d, lo, hi = diff_median_ci(xc, xb, seed=seed, n_resamples=n_resamples, confidence=confidence)
    mb = float(np.nanmedian(xb)) if (~np.isnan(xb)).any() else math.nan
    mc = float(np.nanmedian(xc)) if (~np.isnan(xc)).any() else math.nan
    rel = (lambda v: v / abs(mb)) if mb == mb and mb != 0 else (lambda v: math.nan)
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
    reg_lo, reg_hi = sorted((sign * rel(lo), sign * rel(hi)))
    return {"model": label, "metric": metric, "n_baseline": int((~np.isnan(xb)).sum()),
            "n_candidate": int((~np.isnan(xc)).sum()), "runs_baseline": _statuses(b),
            "runs_candidate": _statuses(c), "ok_baseline": _ok(b), "ok_candidate": _ok(c),
            "n_runs_baseline": _n(b), "n_runs_candidate": _n(c),
            "median_baseline": mb, "median_candidate": mc,
            "diff": d, "ci_low": lo, "ci_high": hi, "change": rel(d), "change_ci_low": rel(lo),
            "change_ci_high": rel(hi), "regression": sign * rel(d), "regression_ci_low": reg_lo,
            "regression_ci_high": reg_hi, "verdict": verdict(metric, d, lo, hi, mb, confidence)}


def verdict(metric: str, d: float, lo: float, hi: float, base_median: float, confidence: float = 0.95) -> str:
    """"candidate slower by 42 ms (+8.1%), 95% CI [18 ms, 70 ms]" or "no clear difference"."""
    why = unclear(metric, lo, hi, confidence)
    if why is not None:
        return why
    better = (d > 0) if metric in HIGHER_IS_BETTER else (d < 0)
    rel = f" ({d / abs(base_median):+.1%})" if base_median == base_median and base_median else ""
    return (f"candidate {better_word(metric, better)} by {fmt.value(metric, abs(d))}{rel}, "
            f"{ci_text(metric, lo, hi, confidence)}")


def gate(table: pd.DataFrame, metric: str, max_regression: float) -> pd.DataFrame:
    """The rows of ``metric`` whose regression exceeds ``max_regression`` (a fraction of the
    baseline median) with confidence: the lower end of the regression's CI is above it."""
    rows = table[table["metric"] == metric]
    return rows[rows["regression_ci_low"] > max_regression]


def parse_fraction(text: str) -> float:
    """``"10%"`` or ``"0.1"`` -> 0.1."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(f"--max-regression must be a percentage or a fraction (10% or 0.1), got {text!r}") from None
    if not 0 <= value < 10:
        raise ConfigError(f"--max-regression must be between 0% and 1000%, got {text!r}")
    return value
