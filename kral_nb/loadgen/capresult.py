"""What a capacity search (``capacity.py``) found, and its live view: every probe kept (the
usual levels and runs frames, with ``probe``), the operating point and the bracket it lies
in, a plot of attainment by level, an HTML page."""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import fmt
from ..report.figure import FG, axes, colors, nothing_to_draw, plot
from ..report.stats import wilson_interval
from ..report.tables import html_table
from .result import LoadResult
from .view import live_handle

#: a probe cut by the search's time budget: no verdict, left out of the bracket
OUT_OF_TIME = "the search's max_duration_s ran out (no verdict)"


@dataclass
class Probe:
    """One probe: its level, its load result, the attainment measured and its 95 % interval."""

    index: int
    level: float
    result: LoadResult
    attainment: float
    ci: tuple[float, float]
    passed: bool
    stopped_early: str
    calibration: bool

    @property
    def inconclusive(self) -> bool:
        """Cut by the search's time budget: neither a pass nor a fail."""
        return self.stopped_early == OUT_OF_TIME

    @property
    def levels(self) -> pd.DataFrame:
        return self.result.levels

    @classmethod
    def of(cls, index: int, level: float, result: LoadResult, target: float, *, calibration: bool = False) -> Probe:
        lv = result.levels
        row = lv.iloc[0] if len(lv) else None
        n = int(row["requests"]) if row is not None else 0
        att = float(row["slo_attainment"]) if row is not None and n else float("nan")
        good = round(att * n) if n else 0
        stopped = str(row["stopped_early"]) if row is not None else ""
        passed = (not calibration and not stopped and att == att and att >= target)
        return cls(index, level, result, att, wilson_interval(good, n), passed, stopped, calibration)


class CapacityResult:
    """``rate_rps`` (``mode="rate"``) or ``concurrency``: the highest level that held the SLO
    for ``attainment`` of its requests (None when none did); ``bracket``: (that level, the lowest
    that failed — None when none failed within the search); ``levels`` and ``runs``: every
    probe's frames with ``probe`` (the calibration is probe 0, ``calibration`` True);
    ``probes``; ``why``: why the search ended."""

    def __init__(self, mode: str, slo: dict[str, float], attainment: float, probes: list[Probe], why: str,
                 elapsed_s: float) -> None:
        self.mode, self.slo, self.attainment, self.probes = mode, slo, attainment, probes
        self.why, self.elapsed_s = why, elapsed_s
        searched = [p for p in probes if not p.calibration]
        passed = [p.level for p in searched if p.passed]
        self.best: float | None = max(passed) if passed else None
        failed = [p.level for p in searched if not p.passed and not p.inconclusive
                  and (self.best is None or p.level > self.best)]
        self.bracket: tuple[float | None, float | None] = (self.best, min(failed) if failed else None)

    @classmethod
    def of(cls, co: Any, probes: list[Probe], why: str, elapsed_s: float) -> CapacityResult:
        return cls(co.mode, dict(co.slo or {}), co.attainment, probes, why, elapsed_s)

    @property
    def rate_rps(self) -> float | None:
        return self.best if self.mode == "rate" else None

    @property
    def concurrency(self) -> int | None:
        return int(self.best) if self.mode == "concurrency" and self.best is not None else None

    @property
    def levels(self) -> pd.DataFrame:
        frames = [p.levels.assign(probe=p.index, calibration=p.calibration, passed=p.passed,
                                  attainment_ci_low=p.ci[0], attainment_ci_high=p.ci[1])
                  for p in self.probes if len(p.levels)]
        if not frames:
            return pd.DataFrame()
        out = pd.concat(frames, ignore_index=True)
        return out[["probe", *[c for c in out.columns if c != "probe"]]]

    @property
    def runs(self) -> pd.DataFrame:
        frames = [p.result.runs.assign(probe=p.index) for p in self.probes]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def server_metrics(self) -> pd.DataFrame | None:
        frames = [p.result.server_metrics.assign(probe=p.index) for p in self.probes
                  if p.result.server_metrics is not None]
        return pd.concat(frames, ignore_index=True) if frames else None

    def unit(self) -> str:
        return "requests/s" if self.mode == "rate" else "requests in flight"

    def sentence(self) -> str:
        """The answer in one sentence."""
        lo, hi = self.bracket
        what = f"{fmt.slo(self.slo)} for {self.attainment:.0%} of requests"
        if lo is None:
            if hi is None:
                return f"No level was decided: {self.why}."
            return f"No level held {what} ({self.why})."
        above = f", {hi:g} did not" if hi is not None else ", the highest tried (none failed)"
        return f"Capacity: {lo:g} {self.unit()} held {what}{above} ({self.why}; {self.elapsed_s:.0f} s)."

    def table(self) -> pd.DataFrame:
        rows = []
        for p in self.probes:
            row = p.levels.iloc[0] if len(p.levels) else None
            rows.append({
                "probe": "calibration" if p.calibration else str(p.index),
                "level": fmt.level("closed" if p.calibration or self.mode == "concurrency" else "open", p.level),
                "requests": fmt.count(row["requests"]) if row is not None else "",
                "attainment": (f"{fmt.share(p.attainment)} ({fmt.share(p.ci[0]).rstrip('%')}–{fmt.share(p.ci[1])})"
                               if p.attainment == p.attainment else fmt.DASH),
                "TTFT p50 / p99": (f"{fmt.ms(row['ttft_s_p50'])} / {fmt.ms(row['ttft_s_p99'])}"
                                   if row is not None else ""),
                "goodput": fmt.rate(row["goodput_rps"]) if row is not None else "",
                "verdict": "—" if p.calibration or p.inconclusive else ("pass" if p.passed else "fail"),
                "stopped early": p.stopped_early,
            })
        return pd.DataFrame(rows)

    @plot
    def plot(self, ax: Any = None) -> Any:
        """Attainment (with its 95 % interval) at each probed level, the target as a line,
        passes and fails marked, the operating point ringed."""
        ax = axes(ax, "Capacity search: SLO attainment by level")
        searched = [p for p in self.probes if not p.calibration and p.attainment == p.attainment]
        if not searched:
            return nothing_to_draw(ax, "No probe measured anything.")
        ok, bad = colors(4)[2], colors(4)[3]
        for p in searched:
            color = ok if p.passed else bad
            ax.errorbar([p.level], [p.attainment], yerr=[[max(0.0, p.attainment - p.ci[0])], [max(0.0, p.ci[1] - p.attainment)]],
                        fmt="o" if p.passed else "x", color=color, capsize=3)
            ax.annotate(str(p.index), (p.level, p.attainment), xytext=(4, 4), textcoords="offset points",
                        fontsize=8, color=color)
        ax.axhline(self.attainment, color=FG, lw=0.8, ls="--", label=f"target {self.attainment:.0%}")
        lo, hi = self.bracket
        if lo is not None:
            ax.axvspan(lo, hi if hi is not None else lo, color=ok, alpha=0.15, label="bracket")
            ax.scatter([lo], [next(p.attainment for p in searched if p.level == lo)], s=200, facecolors="none",
                       edgecolors=ok, linewidths=2, zorder=4, label=f"capacity {lo:g}")
        ax.set_xlabel("offered load (requests / s)" if self.mode == "rate" else "concurrency (requests in flight)")
        ax.set_ylabel("share of requests meeting the SLO")
        ax.set_ylim(-0.03, 1.05)
        ax.legend(fontsize=8)
        return ax

    def report_sections(self) -> list[tuple[str, str]]:
        """The HTML report's sections (``report/html.py``): the answer and every probe, the
        attainment plot, and for the last probe with them the server metrics and its timeline."""
        from ..report.html import figures

        out = [("Capacity", f"<p><b>{html.escape(self.sentence())}</b></p>"
                            f'<div class="scroll">{html_table(self.table())}</div>'),
               ("Attainment by level", figures([("capacity", self.plot())]))]
        last = next((p for p in reversed(self.probes) if not p.calibration), None)
        if last is not None:
            plots = [("timeline", last.result.plot.timeline(0.5))]
            if last.result.server_metrics is not None and len(last.result.server_metrics):
                plots.insert(0, ("server", last.result.plot.server()))
            out.append((f"The last probe over time (level {last.level:g})", figures(plots)))
        return out

    def _repr_html_(self) -> str:
        return (f'<div class="kral-capacity"><b>kral_nb capacity</b><p>{html.escape(self.sentence())}</p>'
                f'<div style="overflow-x:auto;max-width:100%">{html_table(self.table())}</div></div>')

    def to_html(self, path: str, *, title: str = "kral_nb capacity") -> str:
        """One self-contained HTML report (no network, no scripts): the answer, every probe,
        the plots. Returns ``path``."""
        from ..report.html import write

        return write(self, path, title=title)

    def __repr__(self) -> str:
        return f"<kral_nb.CapacityResult {self.sentence()}>"


class CapacityView:
    """The search as it goes: a line per probe finished, and the running probe's progress."""

    def __init__(self, co: Any, model: Any, *, progress: Any) -> None:
        self.co, self.model = co, model
        self.callback: Callable[[list[dict[str, Any]], list[str]], None] | None = (
            progress if callable(progress) else None)
        self.enabled = progress is not False
        self.rows: list[dict[str, str]] = []
        self.current = ""
        self.index = 0  # the probe running
        self.notes_before: list[str] = []  # notes of the probes done (each probe's sweep starts its own)
        self.notes_now: list[str] = []
        self._handle: Any = None
        if self.enabled and self.callback is None:
            self._handle = live_handle("<i>kral_nb capacity: starting…</i>")

    def probing(self, level: float, calibration: bool) -> None:
        self.index = len(self.rows)
        self.notes_before += self.notes_now
        self.notes_now = []
        self.current = "calibration (concurrency 1)" if calibration else f"probe at {level:g}"
        self._render()

    def sink(self, rows: list[dict[str, Any]], notes: list[str]) -> None:
        """The running probe's live rows (``LoadView``'s sink), passed on to a ``progress``
        callable as rows of the whole search (each keyed by its probe) and every note so far."""
        if rows:
            r = rows[-1]
            self.current = f"{r['level']}: {r['progress']}, {r['in flight']} in flight, TTFT p50 {r['TTFT p50']}"
        self.notes_now = list(notes)
        if self.callback is not None:
            tag = "calibration" if self.index == 0 else f"probe {self.index}"
            self.callback([{**r, "cell": f"{self.index}:{r['cell']}", "model": f"{tag} · {r['model']}"} for r in rows],
                          self.notes_before + self.notes_now)
        self._render()

    def done(self, p: Probe) -> None:
        verdict = "calibration" if p.calibration else ("pass" if p.passed else "fail")
        att = fmt.share(p.attainment) if p.attainment == p.attainment else fmt.DASH
        line = f"{'calibration' if p.calibration else f'probe {p.index} at {p.level:g}'}: {att} → {verdict}"
        self.rows.append({"probe": line, "stopped early": p.stopped_early})
        self.current = ""
        if self.enabled and self._handle is None and self.callback is None:
            sys.stderr.write(f"kral_nb capacity: {line}" + (f" (stopped: {p.stopped_early})" if p.stopped_early
                                                             else "") + "\n")
        self._render()

    def _render(self) -> None:
        if self._handle is None:
            return
        from IPython.display import HTML  # type: ignore[attr-defined]

        table = html_table(pd.DataFrame(self.rows)) if self.rows else ""
        now = f"<p>{html.escape(self.current)}</p>" if self.current else ""
        self._handle.update(HTML(  # type: ignore[no-untyped-call]
            "<b>kral_nb capacity</b> (live; the answer follows when the search ends)"
            f'<div class="kral-capacity-live" style="overflow-x:auto;max-width:100%">{table}</div>{now}'))

    def close(self) -> None:
        self.current = ""
        self._render()
