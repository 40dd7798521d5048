"""``Result``: the runs of one call (or many, concatenated), their frames, text and repr."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..fmt import run_label
from ..protocols.records import ToolCall
from ..record.recorder import Run

if TYPE_CHECKING:
    import pandas as pd


class Result:
    """The runs of a call, read through its two frames (docs/metrics.md): ``.runs`` (one row
    per run) and ``.chunks`` (one row per chunk). Everything else — ``text``, ``status``,
    ``len()``, iteration, summaries, plots, export — reads those frames, so a Result from live
    runs and one reloaded with ``kral_nb.read_parquet`` behave alike. ``run_list`` holds the
    live :class:`~kral_nb.recorder.Run` objects (raw traces, live state); it is empty for a
    Result rebuilt from frames."""

    def __init__(self, runs: Iterable[Run] = (), *, meta: pd.DataFrame | None = None) -> None:
        self.run_list: list[Run] = list(runs)
        self.meta = meta  # extra runs columns by run_id (where a run ran: load level, shard, host, region)
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._runs_frame: pd.DataFrame | None = None

    @classmethod
    def from_frames(cls, chunks: pd.DataFrame, runs: pd.DataFrame) -> Result:
        """A Result of frames alone (reloaded from disk, or concatenated)."""
        result = cls()
        result._frames = (chunks, runs)
        return result

    # -- what people read first ---------------------------------------------------------
    @property
    def text(self) -> str:
        """The answer text of the first run (see :attr:`texts` for every run)."""
        runs = self.runs
        return "" if runs.empty or pd_isna(runs["text"].iloc[0]) else str(runs["text"].iloc[0])

    @property
    def texts(self) -> dict[str, str]:
        """Every run's answer text by its label."""
        return {run_label(r): "" if pd_isna(r.text) else str(r.text) for r in self}

    @property
    def status(self) -> str:
        """``ok`` when every run is ok, else the first other status."""
        bad = self.runs.loc[self.runs["status"] != "ok", "status"]
        return "ok" if bad.empty else str(bad.iloc[0])

    @property
    def error(self) -> str | None:
        errors = self.runs["error"].dropna()
        return None if errors.empty else str(errors.iloc[0])

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls accumulated in the first run, by index."""
        runs = self.runs
        if runs.empty or pd_isna(runs["tool_calls"].iloc[0]):
            return []
        calls = _tool_calls(runs["tool_calls"].iloc[0])
        return [calls[i] for i in sorted(calls)]

    # -- frames ---------------------------------------------------------------------------
    def _final(self) -> bool:
        return all(r.final for r in self.run_list)

    @property
    def chunks(self) -> pd.DataFrame:
        if self._frames is not None:
            return self._frames[0]
        from .frames import chunks_frame

        final = self._final()  # before building: a run may end meanwhile
        chunks = chunks_frame(self.run_list)
        if final:  # cache only once nothing can change; the runs with their extra columns (meta)
            self._frames = (chunks, self.runs)
        return chunks

    @property
    def runs(self) -> pd.DataFrame:
        if self._frames is not None:
            return self._frames[1]
        if self._runs_frame is not None:
            return self._runs_frame
        from .frames import runs_frame

        final = self._final()
        runs = runs_frame(self.run_list)
        if self.meta is not None:
            runs = runs.merge(self.meta, on="run_id", how="left", validate="one_to_one")
        if final:
            self._runs_frame = runs
        return runs

    def cost(self, prices: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
        """The runs frame re-costed with ``prices`` (per model: ``input``, ``output``,
        ``cached_input`` in $ per million tokens), which win over the price database and are
        named in ``price_source`` (``kral_nb.cost``)."""
        from .cost import add_cost

        return add_cost(self.runs, prices)

    # -- analysis, plots, export (kral_nb.analysis) ------------------------------------
    def summary(self, **kwargs: Any) -> pd.DataFrame:
        from ..report.stats import summary

        return summary(self.runs, **kwargs)

    def compare_pairs(self, metric: str = "ttft_s", **kwargs: Any) -> pd.DataFrame:
        from ..report.stats import compare_pairs

        return compare_pairs(self.runs, metric, **kwargs)

    def verdict_matrix(self, metric: str = "ttft_s", **kwargs: Any) -> pd.DataFrame:
        """Model × model for ``metric``: each cell says how the row's model compares with the
        column's (``faster by 12 ms, 95% CI [8 ms, 15 ms]``), ``≈`` where the CI includes 0,
        ``?`` with too few runs — ``compare_pairs()`` as a table to read at a glance."""
        from ..report.tables import Matrix, verdict_matrix

        return Matrix(verdict_matrix(self.compare_pairs(metric, **kwargs)))

    @property
    def plot(self) -> Any:
        from ..report.plots import Plots

        return Plots(self.chunks, self.runs)

    def to_html(self, path: str, *, title: str = "kral_nb report") -> str:
        """One self-contained HTML report (no network, no scripts): what was run, summary,
        verdicts, plots, load levels when present, every run's details. Returns ``path``."""
        from ..report.html import write

        return write(self, path, title=title)

    def to_otel(self, *, tracer_provider: Any = None, meter_provider: Any = None, chunk_events: bool = True,
                spans: bool = True) -> int:
        """Each run as an OpenTelemetry span (GenAI semantic conventions), with one event per
        content chunk, through ``tracer_provider`` (default: the global one); with
        ``meter_provider``, the conventions' client metrics too (operation duration, token
        usage, time to first chunk, time per output chunk). Extra ``kral-nb[otel]``. Returns
        the number of spans (``kral_nb.otel``)."""
        from .otel import export_metrics, export_spans

        if meter_provider is not None:
            export_metrics(self, meter_provider=meter_provider)
        return export_spans(self, tracer_provider=tracer_provider, chunk_events=chunk_events) if spans else 0

    def to_parquet(self, directory: str, *, traces: bool = False) -> str:
        from .export import write

        return write(self.chunks, self.runs, directory, "parquet", traces=self.run_list if traces else None)

    def to_csv(self, directory: str, *, traces: bool = False) -> str:
        from .export import write

        return write(self.chunks, self.runs, directory, "csv", traces=self.run_list if traces else None)

    # -- containers -----------------------------------------------------------------------
    def __add__(self, other: Result) -> Result:
        if not isinstance(other, Result):
            return NotImplemented
        if self._frames is None and other._frames is None and self.meta is None and other.meta is None:
            return Result(self.run_list + other.run_list)
        import pandas as pd

        from .columns import CHUNK_DTYPES, COST_DTYPES, RUN_DTYPES
        from .export import retyped

        # categories differ between the two: concat gives object columns, retyped restores them
        return Result.from_frames(
            retyped(pd.concat([self.chunks, other.chunks], ignore_index=True), CHUNK_DTYPES),
            retyped(pd.concat([self.runs, other.runs], ignore_index=True), {**RUN_DTYPES, **COST_DTYPES}))

    def __len__(self) -> int:
        return len(self.run_list) if self._frames is None else len(self.runs)

    def __iter__(self) -> Iterator[Any]:
        """Each run: the live :class:`~kral_nb.recorder.Run`, or for a Result of frames alone a
        :class:`FrameRun` read from its row (the same attributes where they survive on disk)."""
        if self._frames is None:
            return iter(self.run_list)
        return (FrameRun({str(k): v for k, v in row.items()}) for row in self.runs.to_dict("records"))

    def __repr__(self) -> str:
        runs = self.runs
        rows = list(runs.head(6).itertuples(index=False))
        parts = [f"{run_label(r)} {r.status}" for r in rows]
        more = f", +{len(runs) - 6}" if len(runs) > 6 else ""
        return f"<kral_nb.Result {len(runs)} run(s): {', '.join(parts)}{more}>"

    def _repr_html_(self) -> str:
        """Each run's answer above one table of its metrics (``resultview.py``)."""
        from ..views.resultview import render, title

        return render(self.runs, f"kral_nb result · {title(self.runs)}")


class FrameRun:
    """A run read back from its runs-frame row: ``run_id``, ``provider``, ``model``,
    ``status``, ``error``, ``text``, ``tool_calls``, ``usage``, every column as an attribute,
    and ``row()`` — what a live ``Run`` offers that survives on disk."""

    __slots__ = ("_row",)

    def __init__(self, row: dict[str, Any]) -> None:
        self._row = {k: None if pd_isna(v) else v for k, v in row.items()}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._row[name]
        except KeyError:
            raise AttributeError(f"a run read from frames has no {name!r} (only its runs-frame columns)") from None

    @property
    def text(self) -> str:
        return str(self._row["text"] or "")

    @property
    def final(self) -> bool:
        return True

    @property
    def tool_calls(self) -> dict[int, ToolCall]:
        return _tool_calls(self._row["tool_calls"])

    @property
    def server_tool_calls(self) -> dict[int, ToolCall]:
        return _tool_calls(self._row["server_tool_calls"])

    @property
    def usage(self) -> dict[str, int]:
        names = ("input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens")
        return {n: int(v) for n in names if (v := self._row[n]) is not None}

    def row(self) -> dict[str, Any]:
        return dict(self._row)

    def __repr__(self) -> str:
        return f"<FrameRun {run_label(self)} {self._row['status']}>"


def _tool_calls(text: str | None) -> dict[int, ToolCall]:
    calls = [ToolCall(**d) for d in json.loads(text or "[]")]
    return {c.index: c for c in calls}


def pd_isna(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def read_parquet(directory: str) -> Result:
    """Reload frames written by ``Result.to_parquet(directory)``."""
    from .export import read

    return Result.from_frames(*read(directory, "parquet"))


def read_csv(directory: str) -> Result:
    """Reload frames written by ``Result.to_csv(directory)``."""
    from .export import read

    return Result.from_frames(*read(directory, "csv"))
