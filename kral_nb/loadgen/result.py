"""``LoadResult``: a load sweep's runs with the load columns, and its per-level frame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..record.recorder import Run
from ..results.result import Result

if TYPE_CHECKING:
    import pandas as pd


class LoadResult(Result):
    """A load sweep's runs (the usual frames, plus ``level``, ``mode``, ``scheduled_s``,
    ``sent_s``, ``queue_delay_s``, ``in_flight_at_send``, ``shard`` in ``runs``) and
    ``levels``: one row per (model, level) with rates, goodput, percentiles and the
    ``client_saturated`` flag."""

    def __init__(self, runs: Sequence[Run], meta: pd.DataFrame, cells: list[dict[str, Any]],
                 slo: dict[str, float]) -> None:
        super().__init__(runs, meta=meta)
        self.cells, self.slo = cells, slo
        self._levels: pd.DataFrame | None = None

    @property
    def levels(self) -> pd.DataFrame:
        from .levels import level_frame

        if self._levels is None:
            self._levels = level_frame(self.runs, self.chunks, self.cells, self.slo)
        return self._levels

    @property
    def plot(self) -> Any:
        """``.latency(metric)`` and ``.goodput()`` over the levels (``LoadPlots``)."""
        from .plots import LoadPlots

        return LoadPlots(self.levels)

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """The per-level frame (see :attr:`levels`)."""
        return self.levels

    def __repr__(self) -> str:
        lv = self.levels
        sat = int(lv["client_saturated"].sum()) if len(lv) else 0
        note = f"; {sat} level(s) client_saturated: add shards or machines" if sat else ""
        return f"<kral_nb.LoadResult {len(self)} run(s) over {len(lv)} level(s){note}>"

    def _repr_html_(self) -> str:
        import html

        cols = ["model", "mode", "level", "requests", "achieved_rps", "goodput_rps", "slo_attainment",
                "ttft_s_p50", "ttft_s_p99", "tpot_s_p50", "client_saturated", "queue_delay_s_p99",
                "loop_lag_s_p99", "shards"]
        lv = self.levels[cols].rename(columns=lambda c: c.replace("_", " "))
        warn = ""
        if self.levels["client_saturated"].any():
            warn = ("<p><b>client_saturated</b>: these levels measure the client, not the server: "
                    "add shards or machines.</p>")
        table = lv.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.3g}")
        return (f"<div><b>{html.escape(repr(self))}</b>"  # a wide table scrolls inside its own box (narrow screens)
                f'<div class="kral-load" style="overflow-x:auto;max-width:100%">{table}</div>{warn}</div>')
