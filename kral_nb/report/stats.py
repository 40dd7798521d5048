"""Statistics over repeated runs: percentiles, bootstrap CIs of the median, pairwise verdicts.

Bootstrap: ``n_resamples`` (default 2000) resamples with replacement, percentile interval,
seeded (``seed``, default 0) so the same frame gives the same numbers. numpy only.
Warmup runs and runs that are not ``ok`` are excluded from timing statistics.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..fmt import model_label
from .verdicts import verdict

GROUP = ["provider", "model", "protocol"]
N_RESAMPLES = 2000


def _clean(values: Any) -> Any:
    x = np.asarray(values, dtype=float)
    return x[~np.isnan(x)]


def _resampled_medians(x: Any, n_resamples: int, rng: np.random.Generator) -> Any:
    return np.median(rng.choice(x, size=(n_resamples, x.size), replace=True), axis=1)


def _interval(stat: Any, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    return float(np.quantile(stat, alpha)), float(np.quantile(stat, 1 - alpha))


def wilson_interval(successes: int, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default): honest near 0 and 1 and for
    small ``n``, where the normal approximation is not. (nan, nan) for ``n == 0``."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # exact at 0 and 1, not 1 - 1e-16


def bootstrap_median_ci(values: Any, *, n_resamples: int = N_RESAMPLES, confidence: float = 0.95,
                        seed: int = 0) -> tuple[float, float, float]:
    """(median, low, high) of the median's percentile-bootstrap interval; NaNs ignored."""
    x = _clean(values)
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    med = float(np.median(x))
    if x.size == 1:
        return (med, math.nan, math.nan)
    meds = _resampled_medians(x, n_resamples, np.random.default_rng(seed))
    return (med, *_interval(meds, confidence))


def diff_median_ci(a: Any, b: Any, *, n_resamples: int = N_RESAMPLES, confidence: float = 0.95,
                   seed: int = 0) -> tuple[float, float, float]:
    """median(a) - median(b) with a bootstrap CI resampling each group independently."""
    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        return (math.nan, math.nan, math.nan)
    d = float(np.median(x) - np.median(y))
    if x.size < 2 or y.size < 2:
        return (d, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    diffs = _resampled_medians(x, n_resamples, rng) - _resampled_medians(y, n_resamples, rng)
    return (d, *_interval(diffs, confidence))


def measured(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs timing statistics describe: ``ok`` and not warmup."""
    return runs[(runs["status"].astype(str) == "ok") & ~runs["warmup"].fillna(False).astype(bool)]


def summary(runs: pd.DataFrame, *, seed: int = 0, n_resamples: int = N_RESAMPLES,
            full: bool = False) -> pd.DataFrame:
    """One row per (provider, model, protocol): counts by status, p50/p90/p99 of TTFT, ITL
    and e2e, output tokens/s, tokens in/out, and the median's 95% CI for each metric; cost:
    median per run, per 1k output tokens and per ``ok`` answer (every run's cost counts: a
    failed run is billed for what it generated). Every statistic is a column; the notebook
    and ``print`` show the 12 a reader needs, in ms (``full=True``: all of them)."""
    rows = []
    for key, g in runs.groupby(GROUP, observed=True, sort=False):
        measured_all = g[~g["warmup"].astype(bool)]
        ok = measured(g)
        row: dict[str, Any] = dict(zip(GROUP, key, strict=True))
        row.update(runs=len(measured_all), ok=int((measured_all["status"] == "ok").sum()),
                   errors=int(measured_all["status"].isin(["error", "http_error"]).sum()),
                   cut_offs=int((measured_all["status"] == "cut_off").sum()),
                   warmup=int(g["warmup"].astype(bool).sum()))
        for metric in ("ttft_s", "itl_p50_s", "e2e_s"):
            vals = ok[metric].to_numpy(dtype=float)
            for q in (50, 90, 99):
                row[f"{metric}_p{q}"] = _pct(vals, q)
        for metric in ("ttft_s", "e2e_s", "output_tokens_per_s", "input_tokens", "output_tokens"):
            med, lo, hi = bootstrap_median_ci(ok[metric].to_numpy(dtype=float, na_value=np.nan),
                                              seed=seed, n_resamples=n_resamples)
            row[f"{metric}_median"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = med, lo, hi
        row["tokens_source"] = ",".join(sorted(set(ok["tokens_source"].astype(str)))) or None
        if "cost_usd" in g.columns:  # every measured run is billed, failed ones included
            cost = measured_all["cost_usd"].to_numpy(dtype=float, na_value=np.nan)
            out_tokens = measured_all["output_tokens"].to_numpy(dtype=float, na_value=np.nan)
            known = ~np.isnan(cost)
            row["cost_usd_median"] = float(np.median(cost[known])) if known.any() else math.nan
            row["cost_per_1k_output_tokens_usd"] = (float(cost[known].sum() / np.nansum(out_tokens[known]) * 1000)
                                                    if known.any() and np.nansum(out_tokens[known]) > 0 else math.nan)
            row["cost_per_ok_answer_usd"] = (float(cost[known].sum() / row["ok"])
                                             if known.any() and row["ok"] else math.nan)
            row["cost_status"] = ",".join(sorted(set(measured_all["cost_status"].astype(str)))) or None
        rows.append(row)
    from .tables import Summary

    out = Summary(pd.DataFrame(rows))
    out.full = full
    return out


def pareto_front(x: Any, y: Any) -> np.ndarray:
    """True for each point no other point beats on both axes (lower is better on each; at
    least as low on both and lower on one). NaN points are never on the front."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    valid = ~(np.isnan(x) | np.isnan(y))
    out = np.zeros(len(x), dtype=bool)
    for i in np.flatnonzero(valid):
        beaten = valid & (x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))
        out[i] = not beaten.any()
    return out


def cost_latency(runs: pd.DataFrame, latency: str = "ttft_s", *, seed: int = 0,
                 n_resamples: int = N_RESAMPLES) -> pd.DataFrame:
    """One row per model: the median ``latency`` of its ``ok`` runs and the median cost per
    run of all its measured runs (a failed run is billed too), each with its bootstrap 95%
    CI, the cost status and ``pareto``: no other model is both faster and cheaper."""
    rows = []
    for key, g in runs.groupby(GROUP, observed=True, sort=False):
        billed = g[~g["warmup"].astype(bool)]
        ok = measured(g)
        lat = bootstrap_median_ci(ok[latency].to_numpy(dtype=float, na_value=np.nan), seed=seed,
                                  n_resamples=n_resamples)
        cost = bootstrap_median_ci(billed["cost_usd"].to_numpy(dtype=float, na_value=np.nan), seed=seed,
                                   n_resamples=n_resamples)
        rows.append({**dict(zip(GROUP, key, strict=True)), "label": model_label(*key), "runs": len(billed),
                     f"{latency}_median": lat[0], f"{latency}_ci_low": lat[1], f"{latency}_ci_high": lat[2],
                     "cost_usd_median": cost[0], "cost_usd_ci_low": cost[1], "cost_usd_ci_high": cost[2],
                     "cost_status": ",".join(sorted(set(billed["cost_status"].astype(str)))) or None})
    out = pd.DataFrame(rows)
    if len(out):
        out["pareto"] = pareto_front(out[f"{latency}_median"], out["cost_usd_median"])
    return out


def _pct(vals: Any, q: float) -> float:
    vals = vals[~np.isnan(vals)]
    return float(np.percentile(vals, q)) if vals.size else math.nan



def compare_pairs(runs: pd.DataFrame, metric: str = "ttft_s", *, seed: int = 0,
                  n_resamples: int = N_RESAMPLES, confidence: float = 0.95) -> pd.DataFrame:
    """For each pair of (provider, model, protocol): difference of medians of ``metric``
    (A - B) with its bootstrap CI, and a plain verdict. The difference is called clear
    only when the CI excludes 0."""
    if metric not in runs.columns:
        raise KeyError(f"unknown metric {metric!r}; e.g. ttft_s, e2e_s, output_tokens_per_s, cost_usd")
    ok = measured(runs)
    groups = {model_label(*k): g[metric].to_numpy(dtype=float, na_value=np.nan)
              for k, g in ok.groupby(GROUP, observed=True, sort=False)}
    rows = []
    for (a, xa), (b, xb) in combinations(groups.items(), 2):
        d, lo, hi = diff_median_ci(xa, xb, seed=seed, n_resamples=n_resamples, confidence=confidence)
        rows.append({"a": a, "b": b, "metric": metric, "n_a": int((~np.isnan(xa)).sum()),
                     "n_b": int((~np.isnan(xb)).sum()), "median_a": float(np.nanmedian(xa)) if xa.size else math.nan,
                     "median_b": float(np.nanmedian(xb)) if xb.size else math.nan,
                     "diff": d, "ci_low": lo, "ci_high": hi,
                     "verdict": verdict(a, b, metric, d, lo, hi, confidence)})
    from .tables import Pairs

    return Pairs(pd.DataFrame(rows))
