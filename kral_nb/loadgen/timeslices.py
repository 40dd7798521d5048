"""A load's levels over time: per model, level and window of the level's own clock (``sent_s``
counts from the level's start), what happened in it — AIPerf's timeslices, from the frames.

A request counts as started in the window it was sent in and as completed (with its TTFT,
e2e and SLO verdict) in the window it ended in; inter-chunk gaps and output tokens in the
window their chunk arrived in (a chunk's
tokens as the stream tells, else its run's output tokens shared evenly by its chunks). Warmup requests are left out, as in the levels frame.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .levels import meets_slo

CONTENT = ["text", "reasoning", "refusal", "tool_call", "server_tool_call"]
COLUMNS = ("provider", "model", "protocol", "level", "window", "t0_s", "t1_s", "started", "completed", "failed",
           "completed_rps", "goodput_rps", "ttft_s_p50", "ttft_s_p99", "itl_s_p50", "itl_s_p99",
           "e2e_s_p50", "e2e_s_p99", "output_tokens_per_s")


def _p(values: Any, q: float) -> float:
    a = np.asarray(values, dtype=float)
    a = a[~np.isnan(a)]
    return float(np.percentile(a, q)) if len(a) else math.nan


def timeslices(runs: pd.DataFrame, chunks: pd.DataFrame, cells: list[dict[str, Any]], slo: dict[str, float],
               window_s: float) -> pd.DataFrame:
    if not (isinstance(window_s, (int, float)) and window_s > 0 and math.isfinite(window_s)):
        raise ConfigError(f"window_s must be a positive number of seconds, got {window_s!r}")
    measured = runs[~runs["warmup"].astype(bool)]
    good = meets_slo(measured, slo)
    end = measured["sent_s"] + measured["e2e_s"].fillna(0.0)
    sent = measured.set_index(measured["run_id"].astype(str))["sent_s"]
    c = chunks[chunks["kind"].astype(str).isin(CONTENT) & chunks["run_id"].astype(str).isin(sent.index)]
    c_at = c["t_s"].to_numpy() + sent.reindex(c["run_id"].astype(str)).to_numpy()
    per_chunk = (measured.set_index(measured["run_id"].astype(str))["output_tokens"].astype(float)
                 / c.groupby(c["run_id"].astype(str), observed=True).size().reindex(sent.index))
    c_tokens = c["n_tokens"].to_numpy(dtype=float, na_value=np.nan)  # where the stream tells; else the run's
    c_tokens = np.where(np.isnan(c_tokens), per_chunk.reindex(c["run_id"].astype(str)).to_numpy(), c_tokens)
    c_cell = measured.set_index(measured["run_id"].astype(str))["cell"].reindex(c["run_id"].astype(str)).to_numpy()
    rows = []
    for cell in cells:
        mine = (measured["cell"] == cell["cell"]).to_numpy()
        if not mine.any():
            continue
        last = float(np.nanmax(end[mine])) if mine.any() else 0.0
        n = max(1, math.ceil(last / window_s))
        in_cell = c_cell == cell["cell"]
        for w in range(n):
            t0, t1 = w * window_s, (w + 1) * window_s
            started = mine & (measured["sent_s"] >= t0).to_numpy() & (measured["sent_s"] < t1).to_numpy()
            done = mine & (end >= t0).to_numpy() & (end < t1).to_numpy()
            ok = done & (measured["status"].astype(str) == "ok").to_numpy()
            here = in_cell & (c_at >= t0) & (c_at < t1)
            gaps, tokens = c["dt_s"].to_numpy()[here], c_tokens[here]
            d = measured[ok]
            rows.append({
                "provider": cell["provider"], "model": cell["model"], "protocol": cell["protocol"],
                "level": cell["level"], "window": w, "t0_s": t0, "t1_s": t1,
                "started": int(started.sum()), "completed": int(ok.sum()), "failed": int((done & ~ok).sum()),
                "completed_rps": ok.sum() / window_s, "goodput_rps": float((done & good.to_numpy()).sum()) / window_s,
                "ttft_s_p50": _p(d["ttft_s"], 50), "ttft_s_p99": _p(d["ttft_s"], 99),
                "itl_s_p50": _p(gaps, 50), "itl_s_p99": _p(gaps, 99),
                "e2e_s_p50": _p(d["e2e_s"], 50), "e2e_s_p99": _p(d["e2e_s"], 99),
                "output_tokens_per_s": float(np.nansum(tokens)) / window_s,
            })
    return pd.DataFrame(rows, columns=list(COLUMNS))
