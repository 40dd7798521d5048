"""Build the two pandas frames (docs/metrics.md) from runs. Pure: records in, frames out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .columns import CHUNK_COLUMNS, CHUNK_DTYPES, RUN_COLUMNS, RUN_DTYPES
from .recorder import Run
from .records import CONTENT_KINDS


def chunks_frame(runs: Sequence[Run]) -> pd.DataFrame:
    cols: dict[str, list[Any]] = {c: [] for c in CHUNK_COLUMNS}
    for run in runs:
        t0 = run.t0_ns or 0
        last_content: int | None = None
        n = len(run.records)
        for name, value in (("run_id", run.run_id), ("provider", run.provider),
                            ("model", run.model), ("protocol", run.protocol)):
            cols[name] += [value] * n
        for seq, (t, nb, c) in enumerate(run.records):
            cols["seq"].append(seq)
            cols["kind"].append(c.kind)
            cols["t_s"].append((t - t0) / 1e9)
            cols["dt_s"].append(math.nan if last_content is None else (t - last_content) / 1e9)
            if c.kind in CONTENT_KINDS:
                last_content = t
            text = c.text or (c.tool_args or "")
            cols["text"].append(c.text if c.text else None)
            cols["n_chars"].append(len(text))
            cols["tool_index"].append(c.tool_index)
            cols["tool_id"].append(c.tool_id)
            cols["tool_name"].append(c.tool_name)
            cols["tool_args"].append(c.tool_args)
            cols["finish_reason"].append(c.finish_reason)
            cols["input_tokens"].append(c.input_tokens)
            cols["output_tokens"].append(c.output_tokens)
            cols["reasoning_tokens"].append(c.reasoning_tokens)
            cols["cached_tokens"].append(c.cached_tokens)
            cols["n_bytes"].append(nb)
    return _typed(cols, CHUNK_DTYPES)


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    rows = [r.row() for r in runs]
    cols = {c: [row[c] for row in rows] for c in RUN_COLUMNS}
    return _typed(cols, RUN_DTYPES)


def _typed(cols: dict[str, list[Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    data = {}
    for name, dtype in dtypes.items():
        values = cols[name]
        if dtype == "datetime64[ns, UTC]":
            data[name] = pd.Series(pd.to_datetime(values, utc=True), dtype=dtype)
        else:
            data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)
