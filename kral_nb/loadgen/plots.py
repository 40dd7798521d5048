"""Static plots of a load sweep's per-level frame (``LoadResult.plot``): latency and
throughput against the level — concurrency for a closed loop, offered rate for an open one —
with the points joined in the order the levels were given, each labelled with its level, and
the knee (docs/metrics.md) marked on its point. Each returns a ``Plot`` (its Axes, shown as SVG in
the reader's theme: ``report/figure.py``); ``save_all`` writes PNGs."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from .. import fmt
from ..report.figure import FG, axes, colors, plot

KEY = ["provider", "model", "protocol"]
#: the knee: the last level before latency p99 grows past this multiple of the first level's ...
KNEE_P99_FACTOR = 2.0
#: ... or goodput falls below this share of the best goodput so far
KNEE_GOODPUT_SHARE = 0.9


def knee(levels: pd.DataFrame, metric: str = "ttft_s") -> Any:
    """The knee of one model's levels (rows in the order run): the last level before the
    first one whose p99 ``metric`` exceeds ``KNEE_P99_FACTOR`` × the first level's p99, or whose
    goodput falls below ``KNEE_GOODPUT_SHARE`` × the best goodput of the levels before it.
    None when no level does so (the latency never bent within the sweep), or when the first
    level already could not be measured."""
    p99 = levels[f"{metric}_p99"].to_numpy(float)
    good = levels["goodput_rps"].to_numpy(float)
    if len(p99) < 2 or np.isnan(p99[0]):
        return None
    best = good[0]
    for i in range(1, len(p99)):
        worse = not p99[i] <= KNEE_P99_FACTOR * p99[0]  # NaN (nothing completed) counts as worse
        falls = best > 0 and not good[i] >= KNEE_GOODPUT_SHARE * best
        if worse or falls:
            return levels["level"].iloc[i - 1]
        best = max(best, good[i]) if good[i] == good[i] else best
    return None


def _x(levels: pd.DataFrame) -> tuple[str, str]:
    closed = bool((levels["mode"] == "closed").all())
    return ("level", "concurrency (requests in flight)") if closed else ("level", "offered load (requests / s)")


def _label_points(ax: Any, x: Any, y: Any, mode: str, color: Any) -> None:
    for xi, yi in zip(x, y, strict=True):
        if yi == yi:
            ax.annotate(fmt.level(mode, xi), (xi, yi), xytext=(4, 4), textcoords="offset points", fontsize=8,
                        color=color)


def _window(levels: pd.DataFrame) -> float:
    """A timeslice width that gives each level ~10 windows (0.5 s at least)."""
    span = float(levels["window_s"].max()) if len(levels) and levels["window_s"].notna().any() else 10.0
    return max(0.5, round(span / 10, 1))


class LoadPlots:
    def __init__(self, levels: pd.DataFrame, runs: pd.DataFrame | None = None, result: Any = None) -> None:
        self.levels, self.runs, self.result = levels, runs, result

    def server(self) -> Any:
        """Client TTFT per request over the server's requests running / waiting and KV-cache
        use, on the sweep's clock (``load(server_metrics=True)``; ``timeline.py``)."""
        from .timeline import server_plot

        return server_plot(self.result)

    def timeline(self, window_s: float = 1.0) -> Any:
        """The timeslices as small multiples over the sweep (``LoadResult.timeslices``)."""
        from .timeline import timeslices_plot

        return timeslices_plot(self.result, window_s)

    def _groups(self) -> list[tuple[str, pd.DataFrame]]:
        return [(fmt.model_label(*key), g) for key, g in self.levels.groupby(KEY, observed=True, sort=False)]

    @plot
    def latency(self, metric: str = "ttft_s", ax: Any = None) -> Any:
        """p50 (solid) and p99 (dashed) of ``metric`` (``ttft_s``, ``tpot_s``, ``itl_s``,
        ``e2e_s``) in ms at each level, one colour per model; the knee ringed and named."""
        name = fmt.NAMES.get(metric, metric)
        col, xlabel = _x(self.levels)
        ax = axes(ax, f"{name} by load level")
        mode = str(self.levels["mode"].iloc[0]) if len(self.levels) else "closed"
        groups = self._groups()
        for i, ((label, g), color) in enumerate(zip(groups, colors(len(groups)), strict=True)):
            x = g[col].to_numpy(float)
            ax.plot(x, g[f"{metric}_p50"] * 1000, "o-", color=color, label=f"{label} p50")
            ax.plot(x, g[f"{metric}_p99"] * 1000, "s--", color=color, alpha=0.7, label=f"{label} p99")
            _label_points(ax, x, (g[f"{metric}_p99"] * 1000).to_numpy(float), mode, color)
            sat = g[g["client_saturated"].astype(bool)]
            if len(sat):
                ax.scatter(sat[col], sat[f"{metric}_p50"] * 1000, marker="x", s=80, color=FG, zorder=3,
                           label="client saturated" if i == 0 else None)
            at = knee(g, metric)
            if at is not None:
                y = float(g.loc[g["level"] == at, f"{metric}_p99"].iloc[0]) * 1000
                ax.scatter([at], [y], s=220, facecolors="none", edgecolors=color, linewidths=2, zorder=4)
                ax.annotate(f"knee: {fmt.level(mode, at)}", (at, y), xytext=(8, -14), textcoords="offset points",
                            color=color, fontsize=9, fontweight="bold")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{name} (ms)")
        if ax.get_lines():
            ax.legend()
        return ax

    @plot
    def goodput(self, ax: Any = None) -> Any:
        """Goodput (requests/s completing ok within every SLO) and achieved throughput (every
        ok completion) at each level, over the measurement window. Open loop: against the
        offered rate, with the diagonal a server that keeps up; closed loop: against the
        concurrency (no diagonal: a closed loop offers what it completes)."""
        col, xlabel = _x(self.levels)
        mode = str(self.levels["mode"].iloc[0]) if len(self.levels) else "closed"
        ax = axes(ax, "Goodput and throughput by load level")
        top = 0.0
        groups = self._groups()
        for (label, g), color in zip(groups, colors(len(groups)), strict=True):
            x = g[col].to_numpy(float)
            ax.plot(x, g["achieved_rps"], "^:", color=color, alpha=0.7, label=f"{label} achieved")
            ax.plot(x, g["goodput_rps"], "o-", color=color, label=f"{label} goodput")
            _label_points(ax, x, g["goodput_rps"].to_numpy(float), mode, color)
            vals = g[["achieved_rps", "goodput_rps"]].to_numpy(float)
            top = max(top, float(np.nanmax(x)), float(np.nanmax(vals)) if np.isfinite(vals).any() else 0.0)
        if mode == "open" and top > 0:
            ax.plot([0, top], [0, top], color="grey", lw=0.8, alpha=0.6, label="offered = achieved")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("requests / s (over the measurement window)")
        ax.set_ylim(bottom=0)
        if ax.get_lines():
            ax.legend()
        return ax

    @plot
    def ttft_by_input(self, ax: Any = None) -> Any:
        """TTFT against each request's input tokens (ok requests sent after warmup), one colour
        per model: what prefill costs as prompts grow; requests that reused a cached prefix are
        drawn as triangles."""
        ax = axes(ax, "TTFT by input length")
        runs = self.runs if self.runs is not None else pd.DataFrame(columns=[*KEY, "status", "warmup"])
        ok = runs[(runs["status"].astype(str) == "ok") & ~runs["warmup"].astype(bool)]
        groups = list(ok.groupby(KEY, observed=True, sort=False))
        for (key, g), color in zip(groups, colors(len(groups)), strict=True):
            hit = g["cached_tokens"].fillna(0).to_numpy(float) > 0
            x, y = g["input_tokens"].to_numpy(float), g["ttft_s"].to_numpy(float) * 1000
            label = fmt.model_label(*key)
            ax.scatter(x[~hit], y[~hit], s=16, alpha=0.7, color=color, label=label)
            if hit.any():
                ax.scatter(x[hit], y[hit], s=22, alpha=0.8, marker="^", color=color, label=f"{label}, cached prefix")
        ax.set_xlabel("input tokens (as the server counted them)")
        ax.set_ylabel("TTFT (ms)")
        if groups:
            ax.legend()
        return ax

    def figures(self) -> list[tuple[str, Any]]:
        """Every load plot, named, in the order the report and ``save_all`` show them (TTFT by
        input length where the requests' lengths vary: a workload)."""
        out = [("load_ttft", self.latency("ttft_s")), ("load_tpot", self.latency("tpot_s")),
               ("load_goodput", self.goodput())]
        if self.runs is not None and self.runs["input_tokens"].nunique() > 1:
            out.append(("load_ttft_by_input", self.ttft_by_input()))
        if self.result is not None:
            out.append(("load_timeline", self.timeline(_window(self.levels))))
            if self.result.server_metrics is not None and len(self.result.server_metrics):
                out.append(("load_server", self.server()))
        return out

    def save_all(self, directory: str) -> list[str]:
        """Write the load plots as PNG files (the light scheme); returns their paths."""
        os.makedirs(directory, exist_ok=True)
        return [p.save_png(os.path.join(directory, f"{name}.png")) for name, p in self.figures()]
