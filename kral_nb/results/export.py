"""Write and reload a Result's frames (Parquet or CSV) with dtypes intact, and raw traces.

A folder holds one result: writing replaces every file of an earlier one (``files.py``:
atomic, the stale ones removed). Reading brings frames written by any kral_nb version to
today's schema (a column added since is filled with NA, cost recomputed from the tokens), and
a file that cannot be read is one clear :class:`ConfigError`, never a traceback.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..redact import mask
from .columns import CHUNK_DTYPES, COST_DTYPES, RUN_DTYPES
from .files import write_folder

if TYPE_CHECKING:
    from ..record.recorder import Run

FORMATS = ("parquet", "csv")
#: a column missing from an older file is NA (the dtypes that hold one), except where its
#: absence has a meaning: no warmup, not buffered, streamed, one choice
NULLABLE = {"bool": "boolean", "int64": "Int64"}
ABSENT = {"warmup": False, "buffered": False, "streamed": True, "n_choices": 1, "choice": 0}
#: every file a written result may hold: a new write removes the ones it does not rewrite
FILES = (*(f"{kind}.{fmt}" for fmt in FORMATS for kind in ("chunks", "runs", "server_metrics")), "traces.jsonl")


def write(chunks: pd.DataFrame, runs: pd.DataFrame, directory: str, fmt: str, *,
          traces: Sequence[Run] | None = None, server_metrics: pd.DataFrame | None = None) -> str:
    """``chunks.<fmt>`` and ``runs.<fmt>`` in ``directory``; with ``traces`` (runs that kept
    their raw reads) also ``traces.jsonl``; a load's scraped ``server_metrics`` also
    ``server_metrics.<fmt>``. Atomic: on failure the folder is as it was."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: parquet or csv")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("Parquet needs pyarrow: pip install pyarrow (or use to_csv)") from None
        files: dict[str, Any] = {"chunks.parquet": lambda p: chunks.to_parquet(p, index=False),
                                 "runs.parquet": lambda p: runs.to_parquet(p, index=False)}
    else:
        files = {"chunks.csv": lambda p: chunks.to_csv(p, index=False),
                 "runs.csv": lambda p: runs.to_csv(p, index=False)}
    if server_metrics is not None:
        sm = server_metrics
        files[f"server_metrics.{fmt}"] = ((lambda p: sm.to_parquet(p, index=False)) if fmt == "parquet"
                                          else (lambda p: sm.to_csv(p, index=False)))
    if traces is not None:
        files["traces.jsonl"] = lambda p: write_traces(traces, p)
    write_folder(directory, files, replaces=FILES)
    return directory


def read_any(directory: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (chunks, runs) frames of a folder written as Parquet or CSV, whichever it holds."""
    if not os.path.isdir(directory):
        raise ConfigError(f"{directory!r} is not a folder of kral_nb frames (to_parquet / to_csv / compare --out)")
    for fmt in FORMATS:
        if os.path.exists(os.path.join(directory, f"runs.{fmt}")):
            return read(directory, fmt)
    raise ConfigError(f"{directory!r} holds no runs.parquet or runs.csv")


def read(directory: str, fmt: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (chunks, runs) frames written by :func:`write`, dtypes intact, brought to today's
    schema."""
    paths = {kind: os.path.join(directory, f"{kind}.{fmt}") for kind in ("chunks", "runs")}
    try:
        if fmt == "parquet":
            chunks, runs = pd.read_parquet(paths["chunks"]), pd.read_parquet(paths["runs"])
        else:
            chunks = _read_csv(paths["chunks"], CHUNK_DTYPES)
            runs = _read_csv(paths["runs"], {**RUN_DTYPES, **COST_DTYPES})
    except ConfigError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as exc:  # pyarrow's errors are ValueErrors / OSErrors
        raise ConfigError(f"{directory!r}: its {fmt} frames cannot be read ({type(exc).__name__}: "
                          f"{str(exc)[:200]}); write them again with to_{fmt}()") from None
    return current(chunks, CHUNK_DTYPES), current(runs, RUN_DTYPES, cost=True)


def current(frame: pd.DataFrame, dtypes: dict[str, str], *, cost: bool = False) -> pd.DataFrame:
    """``frame`` with every column of today's schema, in order: a column added since the file
    was written is NA (of its dtype), the cost columns recomputed from the tokens; columns
    this version does not know are kept at the end."""
    missing = [c for c in dtypes if c not in frame.columns]
    if missing:
        frame = frame.copy()
        for c in missing:  # unknown then: NA, in a dtype that can hold it (or what its absence meant)
            if c in ABSENT:
                frame[c] = pd.Series(ABSENT[c], index=frame.index, dtype=dtypes[c])
            else:
                frame[c] = pd.Series(None, index=frame.index, dtype=NULLABLE.get(dtypes[c], dtypes[c]))
    if cost and any(c not in frame.columns for c in COST_DTYPES):
        from .cost import add_cost

        frame = add_cost(frame)
    frame = retyped(frame, dtypes)
    known = [c for c in (*dtypes, *(COST_DTYPES if cost else ())) if c in frame.columns]
    return frame[known + [c for c in frame.columns if c not in known]]


def retyped(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Columns in today's dtypes: files written before a column narrowed (``Int64`` token
    counts, a ``string`` run_id), a category column Parquet gives back as ``object`` when it
    held no value, and frames concatenated with different category sets (``object``). A value the new dtype cannot hold keeps the column as it was."""
    changed = {c: d for c, d in dtypes.items() if c in frame.columns and str(frame[c].dtype) != d
               and not d.startswith("datetime")}
    if not changed:
        return frame
    frame = frame.copy(deep=False)
    for c, d in changed.items():
        target = pd.api.types.pandas_dtype(d)
        column = frame[c]
        if d == "bool" and column.isna().any():
            continue  # NA is not False: left for the reader's fillna, as before
        if pd.api.types.is_integer_dtype(target) and pd.api.types.is_numeric_dtype(column):
            info = np.iinfo(target.numpy_dtype if hasattr(target, "numpy_dtype") else target)
            if len(column.dropna()) and not (info.min <= column.min() and column.max() <= info.max):
                continue  # astype would wrap a value written before the bound (an old file)
        try:
            frame[c] = column.astype(target)
        except (TypeError, ValueError, OverflowError):
            pass
    return frame


def _read_csv(path: str, dtypes: dict[str, str]) -> pd.DataFrame:
    header = pd.read_csv(path, nrows=0).columns
    dates = [c for c, d in dtypes.items() if d.startswith("datetime") and c in header]
    plain = {c: d for c, d in dtypes.items() if c not in dates and d != "bool" and c in header}
    # only an empty field is missing: a model may well answer "NA" or "null"
    df = pd.read_csv(path, dtype=plain, keep_default_na=False, na_values=[""])
    for c in dates:
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    for c, d in dtypes.items():
        if d == "bool" and c in df.columns:
            df[c] = df[c].astype(bool)
    return df


def write_traces(runs: Sequence[Run], path: str) -> None:
    """One JSON line per run: protocol, model and every raw read as (t_ns since request, bytes),
    masked of the run's secrets across read boundaries (``redact.mask``)."""
    with open(path, "w", encoding="utf-8") as f:
        for run in runs:
            if run.trace is None:
                continue
            t0 = run.t0_ns or 0
            reads = [data.decode("latin-1") for _, data in run.trace]
            if run.secrets:  # masked whole, split back where the reads were joined
                joined = mask("".join(reads), run.secrets)
                ends = list(itertools.accumulate(map(len, reads), initial=0))
                reads = [joined[a:b] for a, b in itertools.pairwise(ends)]
            f.write(json.dumps({
                "run_id": run.run_id, "provider": run.provider, "model": run.model,
                "protocol": run.protocol,
                "reads": [[t - t0, data] for (t, _), data in zip(run.trace, reads, strict=True)],
            }) + "\n")
