"""``Result``: the runs of one call (or many, concatenated), their frames, text and repr."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .labels import run_label
from .recorder import Run
from .records import ToolCall

if TYPE_CHECKING:
    import pandas as pd

FINAL = frozenset({"ok", "error", "cut_off", "cancelled", "http_error"})
KEY_COLUMNS = ["provider", "model", "protocol", "status", "ttft_s", "e2e_s", "output_tokens",
               "tokens_source", "output_tokens_per_s", "itl_p50_s", "error"]


class Result:
    """The runs of a call. ``.runs`` and ``.chunks`` are the design's two frames."""

    def __init__(self, runs: Iterable[Run]) -> None:
        self.run_list: list[Run] = list(runs)
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None

    # -- what people read first ---------------------------------------------------------
    @property
    def text(self) -> str:
        """The answer text of the first run (see :attr:`texts` for every run)."""
        return self.run_list[0].text if self.run_list else ""

    @property
    def texts(self) -> dict[str, str]:
        return {run_label(r): r.text for r in self.run_list}

    @property
    def status(self) -> str:
        """``ok`` when every run is ok, else the first other status."""
        for r in self.run_list:
            if r.status != "ok":
                return r.status
        return "ok"

    @property
    def error(self) -> str | None:
        return next((r.error for r in self.run_list if r.error), None)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls accumulated in the first run, by index."""
        if not self.run_list:
            return []
        return [self.run_list[0].tool_calls[i] for i in sorted(self.run_list[0].tool_calls)]

    # -- frames ---------------------------------------------------------------------------
    def _build(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        from .frames import chunks_frame, runs_frame

        if self._frames is not None:
            return self._frames
        frames = (chunks_frame(self.run_list), runs_frame(self.run_list))
        if all(r.status in FINAL for r in self.run_list):
            self._frames = frames  # cache only once nothing can change
        return frames

    @property
    def chunks(self) -> pd.DataFrame:
        return self._build()[0]

    @property
    def runs(self) -> pd.DataFrame:
        return self._build()[1]

    # -- analysis, plots, export (kral_nb.analysis) ------------------------------------
    def summary(self, **kwargs: Any) -> pd.DataFrame:
        from .analysis import summary

        return summary(self.runs, **kwargs)

    def compare_pairs(self, metric: str = "ttft_s", **kwargs: Any) -> pd.DataFrame:
        from .analysis import compare_pairs

        return compare_pairs(self.runs, metric, **kwargs)

    @property
    def plot(self) -> Any:
        from .plots import Plots

        return Plots(self)

    def to_parquet(self, directory: str, *, traces: bool = False) -> str:
        from .export import write

        return write(self, directory, "parquet", traces=traces)

    def to_csv(self, directory: str, *, traces: bool = False) -> str:
        from .export import write

        return write(self, directory, "csv", traces=traces)

    # -- containers -----------------------------------------------------------------------
    def __add__(self, other: Result) -> Result:
        if not isinstance(other, Result):
            return NotImplemented
        if type(self) is Result and type(other) is Result:
            return Result(self.run_list + other.run_list)
        import pandas as pd

        return FrameResult(pd.concat([self.chunks, other.chunks], ignore_index=True),
                           pd.concat([self.runs, other.runs], ignore_index=True))

    def __len__(self) -> int:
        return len(self.run_list)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.run_list)

    def __repr__(self) -> str:
        parts = [f"{run_label(r)} {r.status}" for r in self.run_list[:6]]
        more = f", +{len(self.run_list) - 6}" if len(self.run_list) > 6 else ""
        return f"<kral_nb.Result {len(self.run_list)} run(s): {', '.join(parts)}{more}>"

    def _repr_html_(self) -> str:
        df = self.runs[KEY_COLUMNS].copy()
        for c in ("ttft_s", "e2e_s", "itl_p50_s"):
            df[c] = df[c].map(lambda v: "" if v != v else f"{v * 1000:.0f} ms")
        df["output_tokens_per_s"] = df["output_tokens_per_s"].map(lambda v: "" if v != v else f"{v:.1f}")
        df = df.rename(columns={"ttft_s": "TTFT", "e2e_s": "total", "itl_p50_s": "gap p50",
                                "output_tokens_per_s": "tok/s", "output_tokens": "tokens",
                                "tokens_source": "source"})
        sim = bool((self.runs["provider"].astype(str) == "sim").any())
        note = "<p><small>sim = kral_nb's simulated gateway</small></p>" if sim else ""
        head = html.escape(repr(self))
        return f"<div><b>{head}</b>{df.to_html(index=False, na_rep='', escape=True)}{note}</div>"



class FrameResult(Result):
    """A Result reloaded from frames (``kral_nb.read_parquet``): frames, summary, plots and
    export work; the live run objects are gone."""

    def __init__(self, chunks: pd.DataFrame, runs: pd.DataFrame) -> None:
        super().__init__([])
        self._frames = (chunks, runs)

    def _build(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        assert self._frames is not None
        return self._frames

    @property
    def text(self) -> str:
        runs = self.runs
        return "" if runs.empty or runs["text"].isna().iloc[0] else str(runs["text"].iloc[0])

    @property
    def status(self) -> str:
        bad = self.runs.loc[self.runs["status"] != "ok", "status"]
        return "ok" if bad.empty else str(bad.iloc[0])

    @property
    def tool_calls(self) -> list[ToolCall]:
        if self.runs.empty:
            return []
        return [ToolCall(**d) for d in json.loads(self.runs["tool_calls"].iloc[0] or "[]")]

    def __len__(self) -> int:
        return len(self.runs)

    def __repr__(self) -> str:
        return f"<kral_nb.Result {len(self.runs)} run(s), reloaded from frames>"
