"""Static plots of a load sweep's per-level frame (``LoadResult.plot``), in the style of
``plots.py``: latency against achieved throughput with the knee marked, and goodput against
offered load. Each returns its Axes; ``save_all`` writes PNGs."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ..fmt import model_label
from ..report.plots import _plt, axes

KEY = ["provider", "model", "protocol"]
#: the knee: the first level whose p50 exceeds this multiple of the lightest level's p50
KNEE_FACTOR = 2.0


def knee(levels: pd.DataFrame, metric: str = "ttft_s") -> float | None:
    """The achieved rate at the first level (by achieved rate) whose p50 ``metric`` is more
    than ``KNEE_FACTOR`` times the lightest level's, or None when latency never bends."""
    lv = levels.sort_values("achieved_rps")
    p50 = lv[f"{metric}_p50"].to_numpy(float)
    if len(p50) < 2 or np.isnan(p50[0]):
        return None
    over = np.nonzero(p50 > KNEE_FACTOR * p50[0])[0]
    return float(lv["achieved_rps"].iloc[over[0]]) if len(over) else None


class LoadPlots:
    def __init__(self, levels: pd.DataFrame) -> None:
        self.levels = levels

    def _axes(self, ax: Any, title: str) -> Any:
        return axes(ax, title)

    def latency(self, metric: str = "ttft_s", ax: Any = None) -> Any:
        """p50 (solid) and p99 (dashed) of ``metric`` (``ttft_s``, ``tpot_s``, ``itl_s``,
        ``e2e_s``) against achieved requests/s, one colour per model; the knee dotted."""
        ax = self._axes(ax, f"{metric.removesuffix('_s').upper()} vs achieved throughput")
        cmap = _plt().get_cmap("tab10")
        for i, (key, g) in enumerate(self.levels.groupby(KEY, observed=True, sort=False)):
            g = g.sort_values("achieved_rps")
            color = cmap(i % 10)
            label = model_label(*key)
            ax.plot(g["achieved_rps"], g[f"{metric}_p50"] * 1000, "o-", color=color, label=f"{label} p50")
            ax.plot(g["achieved_rps"], g[f"{metric}_p99"] * 1000, "s--", color=color, alpha=0.7,
                    label=f"{label} p99")
            sat = g[g["client_saturated"].astype(bool)]
            if len(sat):
                ax.scatter(sat["achieved_rps"], sat[f"{metric}_p50"] * 1000, marker="x", s=80, color="black",
                           zorder=3, label="client saturated" if i == 0 else None)
            at = knee(g, metric)
            if at is not None:
                ax.axvline(at, color=color, ls=":", lw=1.2)
                ax.annotate("knee", (at, ax.get_ylim()[1]), xytext=(3, -12), textcoords="offset points",
                            color=color, fontsize=8)
        ax.set_xlabel("achieved throughput (requests / s)")
        ax.set_ylabel(f"{metric.removesuffix('_s')} (ms)")
        if ax.get_lines():
            ax.legend(fontsize=8)
        return ax

    def goodput(self, ax: Any = None) -> Any:
        """Goodput (requests/s meeting every SLO) and achieved throughput against offered load;
        the diagonal is a server that keeps up."""
        ax = self._axes(ax, "Goodput vs offered load")
        cmap = _plt().get_cmap("tab10")
        top = 0.0
        for i, (key, g) in enumerate(self.levels.groupby(KEY, observed=True, sort=False)):
            g = g.sort_values("offered_rps")
            color = cmap(i % 10)
            ax.plot(g["offered_rps"], g["goodput_rps"], "o-", color=color, label=f"{model_label(*key)} goodput")
            ax.plot(g["offered_rps"], g["achieved_rps"], "^:", color=color, alpha=0.6, label="achieved")
            top = max(top, float(np.nanmax(g[["offered_rps", "achieved_rps"]].to_numpy(float))))
        if top > 0:
            ax.plot([0, top], [0, top], color="grey", lw=0.8, alpha=0.6)
        ax.set_xlabel("offered load (requests / s)")
        ax.set_ylabel("requests / s")
        if ax.get_lines():
            ax.legend(fontsize=8)
        return ax

    def save_all(self, directory: str) -> list[str]:
        plt = _plt()
        os.makedirs(directory, exist_ok=True)
        paths = []
        for name, ax in (("load_ttft", self.latency("ttft_s")), ("load_tpot", self.latency("tpot_s")),
                         ("load_goodput", self.goodput())):
            path = os.path.join(directory, f"{name}.png")
            ax.figure.savefig(path, dpi=110)
            plt.close(ax.figure)
            paths.append(path)
        return paths
