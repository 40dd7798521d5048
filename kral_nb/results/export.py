"""Write and reload a Result's frames (Parquet or CSV) with dtypes intact, and raw traces."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import ConfigError
from .columns import CHUNK_DTYPES, COST_DTYPES, RUN_DTYPES

if TYPE_CHECKING:
    from ..record.recorder import Run


def write(chunks: pd.DataFrame, runs: pd.DataFrame, directory: str, fmt: str, *,
          traces: Sequence[Run] | None = None) -> str:
    """``chunks.<fmt>`` and ``runs.<fmt>`` in ``directory``; with ``traces`` (runs that kept
    their raw reads) also ``traces.jsonl``."""
    os.makedirs(directory, exist_ok=True)
    if fmt == "parquet":
        try:
            chunks.to_parquet(os.path.join(directory, "chunks.parquet"), index=False)
            runs.to_parquet(os.path.join(directory, "runs.parquet"), index=False)
        except ImportError:
            raise ConfigError("Parquet needs pyarrow: pip install pyarrow (or use to_csv)") from None
    elif fmt == "csv":
        chunks.to_csv(os.path.join(directory, "chunks.csv"), index=False)
        runs.to_csv(os.path.join(directory, "runs.csv"), index=False)
    else:
        raise ConfigError(f"unknown format {fmt!r}: parquet or csv")
    if traces is not None:
        write_traces(traces, os.path.join(directory, "traces.jsonl"))
    return directory


def read_any(directory: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (chunks, runs) frames of a folder written as Parquet or CSV, whichever it holds."""
    from ..errors import ConfigError

    if not os.path.isdir(directory):
        raise ConfigError(f"{directory!r} is not a folder of kral_nb frames (to_parquet / to_csv / compare --out)")
    for fmt in ("parquet", "csv"):
        if os.path.exists(os.path.join(directory, f"runs.{fmt}")):
            return read(directory, fmt)
    raise ConfigError(f"{directory!r} holds no runs.parquet or runs.csv")


def read(directory: str, fmt: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (chunks, runs) frames written by :func:`write`, dtypes intact."""
    if fmt == "parquet":
        chunks = pd.read_parquet(os.path.join(directory, "chunks.parquet"))
        runs = pd.read_parquet(os.path.join(directory, "runs.parquet"))
    else:
        chunks = _read_csv(os.path.join(directory, "chunks.csv"), CHUNK_DTYPES)
        runs = _read_csv(os.path.join(directory, "runs.csv"), {**RUN_DTYPES, **COST_DTYPES})
    return chunks, runs


def _read_csv(path: str, dtypes: dict[str, str]) -> pd.DataFrame:
    dates = [c for c, d in dtypes.items() if d.startswith("datetime")]
    plain = {c: d for c, d in dtypes.items() if c not in dates and d != "bool"}
    # only an empty field is missing: a model may well answer "NA" or "null"
    df = pd.read_csv(path, dtype=plain, keep_default_na=False, na_values=[""])
    for c in dates:
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    for c, d in dtypes.items():
        if d == "bool":
            df[c] = df[c].astype(bool)
    return df[[c for c in dtypes if c in df.columns]]  # files written before a column existed lack it


def write_traces(runs: Sequence[Run], path: str) -> None:
    """One JSON line per run: protocol, model and every raw read as (t_ns since request, bytes)."""
    with open(path, "w", encoding="utf-8") as f:
        for run in runs:
            if run.trace is None:
                continue
            t0 = run.t0_ns or 0
            f.write(json.dumps({
                "run_id": run.run_id, "provider": run.provider, "model": run.model,
                "protocol": run.protocol,
                "reads": [[t - t0, data.decode("latin-1")] for t, data in run.trace],
            }) + "\n")
