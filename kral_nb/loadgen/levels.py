"""The per-level frame of a load sweep (pure: frames in, frame out). Definitions in
docs/metrics.md ("Load"): goodput and SLO attainment follow vLLM's ``bench serve`` (a request
is good when it completed and meets every SLO), latency percentiles follow AIPerf's names
(p50/p90/p99 of per-request TTFT, TPOT, end-to-end latency; ITL over every inter-chunk gap).

Rates are taken over the level's **measurement window**: from its start plus ``warmup_s`` to
the end of its last request (the drain tail included, as vLLM and AIPerf end their benchmark
duration at the last response). ``achieved_rps`` counts every request that completed ok
inside the window — one sent during warmup too: the server finished it then — so a saturated
server reads as the same rate at every level; the percentiles and the attainment describe the
requests sent after warmup.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..options import SLO_METRICS  # noqa: F401 - the limits a level is held to
from ..report.stats import bootstrap_median_ci

#: a level is client_saturated when a shard's loop-lag p99 exceeds this fraction of the median
#: inter-chunk gap, or SATURATION_FLOOR_S, whichever is larger (arrival stamped by the loop)
SATURATION_FRACTION = 0.25
SATURATION_FLOOR_S = 0.001
#: with kernel receive stamps a late loop no longer delays a stamp, until a read comes so late
#: that the stream's next chunk is already there (both get the later stamp): saturated when the
#: p99 of the reads' delay exceeds this fraction of the median inter-chunk gap
KERNEL_SATURATION_FRACTION = 0.5
PCTS = (50, 90, 99)


def meets_slo(runs: pd.DataFrame, slo: dict[str, float]) -> pd.Series:
    """Per run: completed ``ok`` and within every SLO (a missing TPOT — one output token —
    meets a TPOT SLO; a missing TTFT or e2e never meets one)."""
    good = runs["status"].astype(str) == "ok"
    for metric, limit in slo.items():
        v = runs[metric].astype(float)
        ok = v <= limit
        if metric == "tpot_s":
            ok |= v.isna() & (runs["output_tokens"].fillna(0) <= 1)
        good &= ok
    return good


def _pcts(values: pd.Series | np.ndarray, name: str) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    a = a[~np.isnan(a)]
    return {f"{name}_p{p}": float(np.percentile(a, p)) if len(a) else np.nan for p in PCTS}


def _level_cost(measured: pd.DataFrame, n_good: int) -> dict[str, float]:
    """Every measured request is billed (failed ones for what they generated); goodput
    requests are the ones you wanted: what each of those cost you. NaN without a price."""
    cost = measured["cost_usd"].to_numpy(dtype=float, na_value=np.nan) if "cost_usd" in measured else np.empty(0)
    total = float(np.nansum(cost)) if len(cost) and not np.isnan(cost).all() else np.nan
    return {"cost_usd_total": total,
            "cost_per_goodput_request_usd": total / n_good if n_good and not np.isnan(total) else np.nan}


def _saturated(stamps: str, lag_p99: float, delay_p99: float, gap_p50: float) -> bool:
    """Whether the client's lateness, not the server, shaped this level's numbers (docs/load.md,
    "Client saturation is measured"); ``gap_p50``: the median inter-chunk gap (NaN: none)."""
    known = not np.isnan(gap_p50)
    if stamps == "kernel" and not np.isnan(delay_p99):
        return bool(delay_p99 > (KERNEL_SATURATION_FRACTION * gap_p50 if known else SATURATION_FLOOR_S))
    return bool(lag_p99 > (max(SATURATION_FLOOR_S, SATURATION_FRACTION * gap_p50) if known else SATURATION_FLOOR_S))


def _workload(ok: pd.DataFrame) -> dict[str, float]:
    """What a workload's levels add: the prompt-cache hit rate (cached / input tokens of the ok
    requests that report both) and the TTFT of first turns against later ones (the cost of a
    growing context); NaN where they do not apply."""
    both = ok[ok["cached_tokens"].notna() & ok["input_tokens"].notna()] if "cached_tokens" in ok else ok.iloc[:0]
    total = float(both["input_tokens"].sum()) if len(both) else 0.0
    turn = ok["turn"] if "turn" in ok else pd.Series(pd.NA, index=ok.index, dtype="Int64")
    first, later = ok.loc[turn.eq(1).fillna(False), "ttft_s"], ok.loc[turn.gt(1).fillna(False), "ttft_s"]
    return {"cache_hit_rate": float(both["cached_tokens"].sum()) / total if total > 0 else np.nan,
            "ttft_s_p50_turn1": float(first.median()) if len(first) else np.nan,
            "ttft_s_p50_later_turns": float(later.median()) if len(later) else np.nan}


def window(mode_runs: pd.DataFrame, warmup_s: float) -> tuple[float, float]:
    """The level's measurement window (seconds from its start): after warmup, to the end of
    its last request."""
    ends = (mode_runs["sent_s"] + mode_runs["e2e_s"]).dropna()
    if not len(ends):
        return float(warmup_s), float("nan")
    return float(warmup_s), float(ends.max())


def level_frame(runs: pd.DataFrame, chunks: pd.DataFrame, cells: list[dict[str, Any]],
                slo: dict[str, float]) -> pd.DataFrame:
    """One row per (model, level) cell, in the order the levels were given. ``cells`` carry
    what the runs cannot tell: the cell's mode and level value, its warmup, shards and their
    health (``lag_s`` samples, ``cpu_s``, ``wall_s`` per shard)."""
    gaps_by_run = chunks.loc[chunks["dt_s"].notna() & chunks["kind"].astype(str).isin(
        ["text", "reasoning", "refusal", "tool_call", "server_tool_call"]), ["run_id", "dt_s"]]
    rows = []
    good_all = meets_slo(runs, slo)
    ok_all = runs["status"].astype(str) == "ok"
    for cell in cells:
        mine = runs["cell"] == cell["cell"]
        measured = mine & ~runs["warmup"]
        m = runs[measured]
        good = good_all[measured]
        ok = m[m["status"].astype(str) == "ok"]
        w0, w1 = window(runs[mine], cell["warmup_s"])
        span = w1 - w0 if w1 > w0 else np.nan
        end = runs["sent_s"] + runs["e2e_s"]
        inside = mine & (end >= w0) & (end <= w1)
        gaps = gaps_by_run.loc[gaps_by_run["run_id"].isin(set(ok["run_id"].astype(str))), "dt_s"]
        itl = _pcts(gaps, "itl_s")
        lag = np.concatenate([np.asarray(s, dtype=float) for s in cell["lag_s"]]) if cell["lag_s"] else np.empty(0)
        lag_p99 = float(np.percentile(lag, 99)) if len(lag) else np.nan
        delays = cell.get("read_delay_s") or []
        delay = np.concatenate([np.asarray(s, dtype=float) for s in delays]) if delays else np.empty(0)
        delay_p99 = float(np.percentile(delay, 99)) if len(delay) else np.nan
        all_gaps = gaps_by_run.loc[gaps_by_run["run_id"].isin(set(m["run_id"].astype(str))), "dt_s"]
        gap_p50 = float(all_gaps.median()) if len(all_gaps) else np.nan  # failed runs' chunks too
        saturated = _saturated(cell.get("stamps", ""), lag_p99, delay_p99, gap_p50)
        _, lo, hi = bootstrap_median_ci(ok["ttft_s"]) if len(ok) >= 5 else (np.nan, np.nan, np.nan)
        row: dict[str, Any] = {
            "provider": cell["provider"], "model": cell["model"], "protocol": cell["protocol"],
            "mode": cell["mode"], "level": cell["level"], "shards": cell["shards"], "loop": cell.get("loop", ""),
            "requests": len(m), "completed": len(ok), "failed": len(m) - len(ok),
            "window_s": span,
            "offered_rps": cell["level"] if cell["mode"] == "open" else np.nan,
            "achieved_rps": float((inside & ok_all).sum()) / span if span == span else np.nan,
            "goodput_rps": float((inside & good_all).sum()) / span if span == span else np.nan,
            "slo_attainment": float(good.mean()) if len(m) and slo else np.nan,
            **_pcts(ok["ttft_s"], "ttft_s"), "ttft_s_p50_ci_low": lo, "ttft_s_p50_ci_high": hi,
            **itl, **_pcts(ok["tpot_s"], "tpot_s"), **_pcts(ok["e2e_s"], "e2e_s"),
            "output_tokens_per_s_p50": float(ok["output_tokens_per_s"].median()) if len(ok) else np.nan,
            "output_tokens_per_s_total": (float(runs.loc[inside & ok_all, "output_tokens"].sum()) / span
                                          if span == span else np.nan),
            "queue_delay_s_p99": float(m["queue_delay_s"].quantile(0.99)) if len(m) else np.nan,
            "in_flight_max": int(m["in_flight_at_send"].max()) if len(m) else 0,
            "stamps": cell.get("stamps", ""), "loop_lag_s_p99": lag_p99, "read_delay_s_p99": delay_p99,
            "client_cpu_max": max((c / w for c, w in zip(cell["cpu_s"], cell["wall_s"], strict=True) if w > 0),
                                  default=np.nan),
            "client_saturated": saturated,
            "stopped_early": cell.get("stopped_early", ""),  # why a guard (capacity search) stopped the level
            **_level_cost(m, int(good.sum())), **_workload(ok),
        }
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame) and (frame["mode"] == "closed").all():
        frame["level"] = frame["level"].astype("int64")  # a concurrency is a whole number
    return frame
