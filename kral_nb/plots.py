"""Static matplotlib plots of a Result (they persist in notebooks and render without a kernel).

``Result.plot.timeline()``, ``.ttft()``, ``.gaps()``, ``.throughput()``; each returns Axes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .analysis import GROUP, bootstrap_median_ci
from .labels import model_label
from .records import CONTENT_KINDS

if TYPE_CHECKING:
    import pandas as pd


def _plt() -> Any:
    """pyplot, with the user's backend untouched (matplotlib itself falls back to a headless
    backend where there is no display)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        from .errors import ConfigError

        raise ConfigError("plots need matplotlib: pip install 'kral-nb[notebook]'") from None
    return plt


def axes(ax: Any, title: str) -> Any:
    """The given Axes, or a new figure's, titled and gridded: every kral_nb plot's frame."""
    if ax is None:
        _, ax = _plt().subplots(figsize=(8, 4.5), layout="constrained")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return ax


def _label(key: tuple[Any, ...]) -> str:
    return model_label(*key)


TIMELINE_UNITS = ("chars", "chunks")


class Plots:
    """The plots of one set of frames (``Result.plot``, or ``Plots(chunks, runs)`` directly
    on frames you filtered yourself)."""

    def __init__(self, chunks: pd.DataFrame, runs: pd.DataFrame) -> None:
        self.chunks, self.runs = chunks, runs

    def _axes(self, ax: Any, title: str) -> Any:
        return axes(ax, title)

    def _colors(self) -> dict[tuple[Any, ...], Any]:
        plt = _plt()
        keys = list(dict.fromkeys(tuple(k) for k in self.runs[GROUP].itertuples(index=False)))
        cmap = plt.get_cmap("tab10")
        return {k: cmap(i % 10) for i, k in enumerate(keys)}

    def timeline(self, ax: Any = None, *, unit: str = "chars") -> Any:
        """Cumulative output versus time since the request, one line per run, one colour per
        model: who starts first, who streams faster. ``unit``: ``"chars"`` (characters of
        text, reasoning and tool arguments) or ``"chunks"`` (content chunks). Warmup runs are
        drawn pale and left out of the legend."""
        if unit not in TIMELINE_UNITS:
            from .errors import ConfigError

            raise ConfigError(f"unit must be one of {', '.join(TIMELINE_UNITS)}, got {unit!r}")
        ax = self._axes(ax, f"Output timeline (cumulative {unit} vs time since request)")
        runs, chunks = self.runs, self.chunks
        colors = self._colors()
        content = chunks[chunks["kind"].isin(list(CONTENT_KINDS))]
        seen: set[tuple[Any, ...]] = set()
        for run_id, g in content.groupby("run_id", sort=False):
            meta = runs[runs["run_id"] == run_id].iloc[0]
            key = (meta["provider"], meta["model"], meta["protocol"])
            t = np.concatenate([[0.0], g["t_s"].to_numpy(float)])
            step = g["n_chars"].to_numpy(int) if unit == "chars" else np.ones(len(g), dtype=int)
            y = np.concatenate([[0], np.cumsum(step)])
            warm = bool(meta["warmup"])
            ax.step(t, y, where="post", color=colors[key], alpha=0.35 if warm else 0.85,
                    label=None if key in seen or warm else _label(key), lw=1.4)
            if not warm:
                seen.add(key)
        ax.set_xlabel("time since request (s)")
        ax.set_ylabel(f"cumulative output ({unit})")
        if seen:
            ax.legend(title="model", fontsize=8)
        return ax

    def ttft(self, ax: Any = None) -> Any:
        """TTFT per model: every run as a dot, the median with its bootstrap 95% CI."""
        return self._strip("ttft_s", "Time to first token per model", "TTFT (ms)", 1000.0, ax)

    def throughput(self, ax: Any = None) -> Any:
        """Output tokens/s (decode rate, excluding TTFT) per model, median with 95% CI."""
        return self._strip("output_tokens_per_s", "Output tokens per second per model",
                           "output tokens / s", 1.0, ax)

    def _strip(self, metric: str, title: str, ylabel: str, scale: float, ax: Any) -> Any:
        ax = self._axes(ax, title)
        runs = self.runs
        ok = runs[(runs["status"] == "ok") & ~runs["warmup"].astype(bool)]
        colors = self._colors()
        rng = np.random.default_rng(0)
        labels = []
        for i, (key, g) in enumerate(ok.groupby(GROUP, observed=True, sort=False)):
            vals = g[metric].to_numpy(float) * scale
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(vals)), vals, s=18, alpha=0.6,
                       color=colors[tuple(key)], label=_label(tuple(key)))
            med, lo, hi = bootstrap_median_ci(vals)
            if not np.isnan(lo):
                ax.errorbar(i + 0.25, med, yerr=[[med - lo], [hi - med]], fmt="D", color="black",
                            capsize=4, ms=5)
            else:
                ax.plot(i + 0.25, med, "D", color="black", ms=5)
            labels.append(_label(tuple(key)))
        ax.set_xticks(range(len(labels)), labels, rotation=15, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("model (diamond: median with 95% bootstrap CI)")
        if labels:
            ax.legend(title="model", fontsize=8)
        return ax

    def gaps(self, ax: Any = None) -> Any:
        """ECDF of inter-chunk gaps (content chunks), log-scaled time axis, one line per model."""
        ax = self._axes(ax, "Inter-chunk gaps (ECDF)")
        runs, chunks = self.runs, self.chunks
        ok_ids = set(runs.loc[(runs["status"] == "ok") & ~runs["warmup"].astype(bool), "run_id"])
        content = chunks[chunks["kind"].isin(list(CONTENT_KINDS)) & chunks["run_id"].isin(ok_ids)]
        colors = self._colors()
        for key, g in content.groupby(GROUP, observed=True, sort=False):
            gaps = np.sort(g["dt_s"].dropna().to_numpy(float)) * 1000.0
            gaps = gaps[gaps > 0]
            if gaps.size:
                ax.step(gaps, np.arange(1, gaps.size + 1) / gaps.size, where="post",
                        color=colors[tuple(key)], label=_label(tuple(key)))
        ax.set_xscale("log")
        ax.set_xlabel("gap between content chunks (ms, log scale)")
        ax.set_ylabel("fraction of gaps ≤ x")
        if ax.get_lines():
            ax.legend(title="model", fontsize=8)
        return ax

    def save_all(self, directory: str) -> list[str]:
        """Write the four plots as PNG files; returns their paths."""
        import os

        plt = _plt()
        os.makedirs(directory, exist_ok=True)
        paths = []
        for name in ("timeline", "ttft", "gaps", "throughput"):
            ax = getattr(self, name)()
            path = os.path.join(directory, f"{name}.png")
            ax.figure.savefig(path, dpi=110)
            plt.close(ax.figure)
            paths.append(path)
        return paths
