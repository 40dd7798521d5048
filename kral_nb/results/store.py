"""A local run store across days: every Result or LoadResult appended to one folder of
Parquet files, read back filtered by label, date and model as the usual frames.

Layout (hive-partitioned, readable by ``pyarrow.dataset``, DuckDB, Spark)::

    runs/label=<label>/<stored_at>-<session>-<n>.parquet      the runs frame, plus store columns
    chunks/label=<label>/<stored_at>-<session>-<n>.parquet    the chunks frame

Why files, not a database: each append writes new files under a unique name, into place with
an atomic rename, so two kernels appending at once cannot corrupt anything or block each
other (a DuckDB file takes one writer at a time), readers never see half a file, and pyarrow is
already here (pandas' Parquet). Store columns on the runs: ``label``, ``session_id`` (one per
Python process), ``stored_at`` (UTC), ``host``.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timezone
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .export import retyped
from .files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

    from .result import Result

SESSION_ID = uuid.uuid4().hex[:12]
_SEQ = count()


def _after_fork() -> None:
    """A forked child is a session of its own: the parent's id and numbers would name its
    files like the parent's."""
    global SESSION_ID, _SEQ
    SESSION_ID, _SEQ = uuid.uuid4().hex[:12], count()


os.register_at_fork(after_in_child=_after_fork)
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _check_label(label: str) -> str:
    if not isinstance(label, str) or not label or not set(label) <= _SAFE or label.startswith("."):
        raise ConfigError(f"label must be a non-empty name of letters, digits, '-', '_' or '.', got {label!r}")
    return label


class Store:
    """``kral_nb.store("runs/")``: :meth:`append` results, :meth:`read` them back."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)

    def __repr__(self) -> str:
        return f"<kral_nb.Store {self.path}>"

    def append(self, result: Any, *, label: str = "default") -> str:
        """Append every run of ``result`` (a Result or LoadResult) under ``label``; returns the
        runs file written. Safe from several processes at once."""
        import pandas as pd

        _check_label(label)
        runs, chunks = result.runs, result.chunks
        if not isinstance(runs, pd.DataFrame) or not len(runs):
            raise ConfigError("nothing to store: the result has no runs")
        stamp = datetime.now(timezone.utc)
        name = f"{stamp:%Y%m%dT%H%M%S%f}-{SESSION_ID}-{next(_SEQ)}.parquet"
        runs = runs.assign(label=label, session_id=SESSION_ID, stored_at=pd.Timestamp(stamp),
                           host=socket.gethostname())
        written = ""
        for kind, frame in (("chunks", chunks), ("runs", runs)):  # runs last: a reader sees runs
            folder = os.path.join(self.path, kind, f"label={label}")  # only once their chunks exist
            written = atomic_write(os.path.join(folder, name), partial(_parquet, frame))
        return written

    def _files(self, kind: str, labels: set[str] | None) -> list[str]:
        root = os.path.join(self.path, kind)
        if not os.path.isdir(root):
            return []
        out = []
        for part in sorted(os.listdir(root)):
            if not part.startswith("label=") or (labels is not None and part[6:] not in labels):
                continue
            folder = os.path.join(root, part)
            out += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".parquet")]
        return out

    def runs(self, *, label: str | list[str] | None = None, since: Any = None, until: Any = None,
             model: str | list[str] | None = None) -> pd.DataFrame:
        """The stored runs frames concatenated, filtered: ``label`` (one or several),
        ``since`` / ``until`` (anything ``pd.Timestamp`` takes; compared with ``started_at``,
        UTC), ``model`` (``provider:model`` or the bare model name)."""
        import pandas as pd

        from .columns import COST_DTYPES, RUN_DTYPES

        labels = None if label is None else {label} if isinstance(label, str) else set(label)
        frames = [pd.read_parquet(f) for f in self._files("runs", labels)]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=d) for c, d in {**RUN_DTYPES, **COST_DTYPES}.items()})
        runs = retyped(pd.concat(frames, ignore_index=True), {**RUN_DTYPES, **COST_DTYPES})
        keep = pd.Series(True, index=runs.index)
        if since is not None:
            keep &= runs["started_at"] >= _utc(since)
        if until is not None:
            keep &= runs["started_at"] < _utc(until)
        if model is not None:
            wanted = {model} if isinstance(model, str) else set(model)
            full = runs["provider"].astype(str) + ":" + runs["model"].astype(str)
            keep &= full.isin(wanted) | runs["model"].astype(str).isin(wanted)
        return runs[keep].reset_index(drop=True)

    def read(self, **filters: Any) -> Result:
        """The stored runs (filters as :meth:`runs`) and their chunks, as a Result."""
        import pandas as pd

        from .result import Result

        runs = self.runs(**filters)
        labels = set(runs["label"].astype(str)) if "label" in runs.columns else set()
        ids = set(runs["run_id"].astype(str))
        parts = [c[c["run_id"].isin(ids)] for c in (pd.read_parquet(f) for f in self._files("chunks", labels))]
        from .columns import CHUNK_DTYPES
        from .frames import chunks_frame

        chunks = retyped(pd.concat(parts, ignore_index=True), CHUNK_DTYPES) if parts else chunks_frame([])
        if isinstance(chunks["run_id"].dtype, pd.CategoricalDtype):  # only the runs read (pandas 2
            chunks["run_id"] = chunks["run_id"].cat.remove_unused_categories()  # groups every category)
        return Result.from_frames(chunks.reset_index(drop=True), runs)


def _parquet(frame: pd.DataFrame, path: str) -> None:
    frame.to_parquet(path, index=False)


def _utc(value: Any) -> Any:
    import pandas as pd

    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def store(path: str) -> Store:
    """The run store in folder ``path`` (created on first append)."""
    return Store(path)
