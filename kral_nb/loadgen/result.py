"""``LoadResult``: a load sweep's runs with the load columns, its per-level frame, and the
people's view of it (the levels table, a title that says what was asked, the report's load
sections)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import fmt
from ..record.recorder import Run
from ..results.result import Result

if TYPE_CHECKING:
    import pandas as pd


def levels_table(levels: pd.DataFrame, slo: dict[str, float] | None) -> pd.DataFrame:
    """The levels frame as people read it (notebook, report, terminal): one row per model and
    level in run order, integer concurrencies, rates per second over the measurement window,
    latencies in ms, "—" for what does not apply (attainment without an SLO, offered load in
    a closed loop)."""
    import pandas as pd

    lv = levels
    closed = bool(len(lv)) and bool((lv["mode"] == "closed").all())
    out = pd.DataFrame({"model": [fmt.model_label(p, m, pr) for p, m, pr in
                                  zip(lv["provider"], lv["model"], lv["protocol"], strict=True)]}, index=lv.index)
    out["concurrency" if closed else "offered"] = [fmt.level(mo, v) for mo, v in zip(lv["mode"], lv["level"],
                                                                                    strict=True)]
    out["requests"] = [f"{int(c):,} ok" + (f", {int(f):,} failed" if f else "")
                       for c, f in zip(lv["completed"], lv["failed"], strict=True)]
    out["window"] = lv["window_s"].map(fmt.secs)
    out["achieved"] = lv["achieved_rps"].map(fmt.rate)
    out["goodput"] = lv["goodput_rps"].map(fmt.rate)
    out["SLO met"] = lv["slo_attainment"].map(fmt.share) if slo else fmt.DASH
    out["TTFT p50 / p99"] = [f"{fmt.ms(a)} / {fmt.ms(b)}" for a, b in zip(lv["ttft_s_p50"], lv["ttft_s_p99"],
                                                                          strict=True)]
    out["TPOT p50"] = lv["tpot_s_p50"].map(fmt.ms)
    out["e2e p99"] = lv["e2e_s_p99"].map(fmt.ms)
    out["queue p99"] = lv["queue_delay_s_p99"].map(fmt.ms)
    if "cache_hit_rate" in lv and lv["cache_hit_rate"].notna().any():  # a workload's prompt caching
        out["cache hit"] = lv["cache_hit_rate"].map(fmt.share)
    if "ttft_s_p50_later_turns" in lv and lv["ttft_s_p50_later_turns"].notna().any():  # sessions
        out["TTFT turn 1 / later"] = [f"{fmt.ms(a)} / {fmt.ms(b)}" for a, b in
                                      zip(lv["ttft_s_p50_turn1"], lv["ttft_s_p50_later_turns"], strict=True)]
    out["client"] = ["saturated" if s else "ok" for s in lv["client_saturated"]]
    return out


class LoadResult(Result):
    """A load sweep's runs (the usual frames, plus ``cell``, ``level``, ``mode``,
    ``scheduled_s``, ``sent_s``, ``queue_delay_s``, ``in_flight_at_send``, ``shard``, ``host``
    in ``runs``) and ``levels``: one row per (model, level) with rates over the measurement
    window, goodput, percentiles and the ``client_saturated`` flag (docs/metrics.md, "Load")."""

    def __init__(self, runs: Sequence[Run], meta: pd.DataFrame, cells: list[dict[str, Any]],
                 slo: dict[str, float], *, workload: dict[str, Any] | None = None) -> None:
        super().__init__(runs, meta=meta)
        self.cells, self.slo = cells, slo
        self.workload = workload  # what was sent (``Workload.describe()``), None for a prompt
        self._levels: pd.DataFrame | None = None
        #: scraped Prometheus samples (``load(server_metrics=...)``, ``scrape.py``), else None
        self.server_metrics: pd.DataFrame | None = None

    @property
    def levels(self) -> pd.DataFrame:
        from .levels import level_frame

        if self._levels is None:
            self._levels = level_frame(self.runs, self.chunks, self.cells, self.slo)
        return self._levels

    @property
    def plot(self) -> Any:
        """``.latency(metric)`` and ``.goodput()`` by level, ``.timeline()`` and ``.server()``
        over time (``LoadPlots``)."""
        from .plots import LoadPlots

        return LoadPlots(self.levels, self.runs, self)

    def timeslices(self, window_s: float = 1.0) -> pd.DataFrame:
        """Per model, level and ``window_s`` window of the level's clock: requests started and
        completed, goodput, TTFT / ITL / e2e p50 and p99 of the requests completed in it,
        output tokens/s as the chunks arrived (``timeslices.py``)."""
        from .timeslices import timeslices

        return timeslices(self.runs, self.chunks, self.cells, self.slo, window_s)

    def to_parquet(self, directory: str, *, traces: bool = False) -> str:
        from ..results.export import write

        return write(self.chunks, self.runs, directory, "parquet", traces=self.run_list if traces else None,
                     server_metrics=self.server_metrics)

    def to_csv(self, directory: str, *, traces: bool = False) -> str:
        from ..results.export import write

        return write(self.chunks, self.runs, directory, "csv", traces=self.run_list if traces else None,
                     server_metrics=self.server_metrics)

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """The per-level frame (see :attr:`levels`)."""
        return self.levels

    def table(self) -> pd.DataFrame:
        """The levels as people read them (:func:`levels_table`)."""
        return levels_table(self.levels, self.slo)

    @property
    def mode(self) -> str:
        return str(self.cells[0]["mode"]) if self.cells else "closed"

    def title(self) -> str:
        """What was asked: ``sim:fast (simulated) · closed loop, concurrency 1, 4, 16 · TTFT ≤ 500 ms``."""
        models = list(dict.fromkeys(fmt.model_label(c["provider"], c["model"], c["protocol"]) for c in self.cells))
        values = list(dict.fromkeys(c["level"] for c in self.cells))
        loop = "closed loop" if self.mode == "closed" else "open loop"
        what = f" · {self.workload['summary']}" if self.workload else ""
        return f"{', '.join(models)} · {loop}, {fmt.levels(self.mode, values)} · {fmt.slo(self.slo)}{what}"

    def __repr__(self) -> str:
        lv = self.levels
        sat = int(lv["client_saturated"].sum()) if len(lv) else 0
        note = f"; {sat} level(s) client_saturated: add shards or machines" if sat else ""
        return f"<kral_nb.LoadResult {len(self)} run(s) over {len(lv)} level(s): {self.title()}{note}>"

    def _repr_html_(self) -> str:
        warn = ""
        if self.levels["client_saturated"].any():
            warn = ("<p><b>client saturated</b>: these levels measured the client, not the server — add shards "
                    "or machines.</p>")
        from ..report.tables import html_table

        table = html_table(self.table())
        return (f'<div class="kral-load-result"><b>kral_nb load · {html.escape(self.title())}</b>'
                f'<div class="kral-load" style="overflow-x:auto;max-width:100%">{table}</div>{warn}'
                f'<p style="font-size:0.85em;opacity:0.8">rates over each level\'s measurement window (after '
                f"warmup, to its last response); latencies of the requests sent after warmup</p></div>")

    def report_sections(self) -> list[tuple[str, str]]:
        """The HTML report's sections for a load sweep (``loadgen/report.py``)."""
        from .report import sections

        return sections(self)
