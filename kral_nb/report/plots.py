"""Static matplotlib plots of a Result (they persist in notebooks and render without a kernel).

``Result.plot.timeline()``, ``.ttft()``, ``.gaps()``, ``.throughput()``, ``.cost()``; each
returns a :class:`~kral_nb.report.figure.Plot` — the Axes, shown as SVG in the reader's theme
(``figure.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..fmt import model_label
from ..protocols.records import CONTENT_KINDS
from .figure import FG, axes, colors, dollar_ticks, nothing_to_draw, plain_ticks, plot
from .stats import GROUP, bootstrap_median_ci, cost_latency

if TYPE_CHECKING:
    import pandas as pd


def _label(key: tuple[Any, ...]) -> str:
    return model_label(*key)


TIMELINE_UNITS = ("chars", "chunks")


class Plots:
    """The plots of one set of frames (``Result.plot``, or ``Plots(chunks, runs)`` directly
    on frames you filtered yourself)."""

    #: every plot, in the order the report and ``save_all`` show them
    NAMES = ("timeline", "ttft", "gaps", "throughput", "cost")

    def __init__(self, chunks: pd.DataFrame, runs: pd.DataFrame) -> None:
        self.chunks, self.runs = chunks, runs

    def _axes(self, ax: Any, title: str) -> Any:
        return axes(ax, title)

    def _colors(self) -> dict[tuple[Any, ...], Any]:
        keys = list(dict.fromkeys(tuple(k) for k in self.runs[GROUP].itertuples(index=False)))
        return dict(zip(keys, colors(len(keys)), strict=True))

    @plot
    def timeline(self, ax: Any = None, *, unit: str = "chars", log: bool | None = None) -> Any:
        """Cumulative output versus time since the request, one line per run, one colour per
        model: who starts first, who streams faster. ``unit``: ``"chars"`` (characters of
        text, reasoning and tool arguments) or ``"chunks"`` (content chunks). Warmup runs are
        drawn pale and left out of the legend. ``log``: a log time axis from the first chunk
        (default: when the models' median total times differ more than 5-fold, where a linear
        axis squeezes the fast ones into its first sliver)."""
        if unit not in TIMELINE_UNITS:
            from ..errors import ConfigError

            raise ConfigError(f"unit must be one of {', '.join(TIMELINE_UNITS)}, got {unit!r}")
        ax = self._axes(ax, f"Output timeline (cumulative {unit} vs time since request)")
        runs, chunks = self.runs, self.chunks
        if log is None:
            ends = runs[~runs["warmup"].astype(bool)].groupby(GROUP, observed=True)["e2e_s"].median().dropna()
            log = bool(len(ends) > 1 and ends.min() > 0 and ends.max() / ends.min() > 5)
        colors = self._colors()
        content = chunks[chunks["kind"].isin(list(CONTENT_KINDS))]
        seen: set[tuple[Any, ...]] = set()
        for run_id, g in content.groupby("run_id", sort=False, observed=True):
            meta = runs[runs["run_id"] == run_id].iloc[0]
            key = (meta["provider"], meta["model"], meta["protocol"])
            t = np.concatenate([[0.0], g["t_s"].to_numpy(float)])
            step = g["n_chars"].to_numpy(int) if unit == "chars" else np.ones(len(g), dtype=int)
            y = np.concatenate([[0], np.cumsum(step)])
            if log:  # no zero on a log axis: the line starts at the first chunk
                t, y = t[1:] * 1000, y[1:]
            warm = bool(meta["warmup"])
            ax.step(t, y, where="post", color=colors[key], alpha=0.35 if warm else 0.85,
                    label=None if key in seen or warm else _label(key), lw=1.4)
            if not warm:
                seen.add(key)
        if log:
            ax.set_xscale("log")
            plain_ticks(ax.xaxis)
            ax.set_xlabel("time since request (ms, log scale)")
        else:
            ax.set_xlabel("time since request (s)")
        ax.set_ylabel(f"cumulative output ({unit})")
        if seen:
            ax.legend(title="model")
        return ax

    @plot
    def ttft(self, ax: Any = None) -> Any:
        """TTFT per model: every run as a dot, the median with its bootstrap 95% CI."""
        return self._strip("ttft_s", "Time to first token per model", "TTFT (ms)", 1000.0, ax)

    @plot
    def throughput(self, ax: Any = None, *, log: bool | None = None) -> Any:
        """Output tokens/s (decode rate, excluding TTFT) per model, median with 95% CI. ``log``:
        a log axis (default: when the models' medians differ more than 5-fold, where a linear
        axis makes 25 and 17 tok/s look equal next to 500)."""
        ax = self._strip("output_tokens_per_s", "Output tokens per second per model",
                         "output tokens / s", 1.0, ax, estimated=self._estimated())
        ok = self.runs[(self.runs["status"] == "ok") & ~self.runs["warmup"].astype(bool)]
        medians = ok.groupby(GROUP, observed=True)["output_tokens_per_s"].median().dropna()
        if log if log is not None else (len(medians) > 1 and medians.min() > 0 and medians.max() / medians.min() > 5):
            ax.set_yscale("log")
            plain_ticks(ax.yaxis)
            ax.set_ylabel("output tokens / s (log scale)")
        return ax

    def _estimated(self) -> set[tuple[Any, ...]]:
        """Models with a run whose token count is an estimate: their labels say "est."."""
        est = self.runs[self.runs["tokens_source"].astype(str) == "estimate"]
        return {tuple(k) for k in est[GROUP].itertuples(index=False)}

    @plot
    def cost(self, ax: Any = None, *, latency: str = "ttft_s") -> Any:
        """Cost against latency per model: median cost per run (every measured run, failed
        ones included: they are billed) against the median ``latency`` of its ``ok`` runs
        (``ttft_s`` or ``e2e_s``), 95% bootstrap CI whiskers on both, the Pareto front (no
        other model is both faster and cheaper) joined by a dashed line. Models without a
        price (``unknown_model``) are named under the plot, not drawn at $0; points at the same
        place carry one label naming each model. With nothing to compare — every model free
        (self-hosted, simulated) or without a price — the plot says so instead of drawing an
        empty frame."""
        if latency not in ("ttft_s", "e2e_s"):
            from ..errors import ConfigError

            raise ConfigError(f"latency must be 'ttft_s' or 'e2e_s', got {latency!r}")
        what = "TTFT" if latency == "ttft_s" else "end-to-end latency"
        ax = self._axes(ax, f"Cost vs {what} per model")
        table = cost_latency(self.runs, latency)
        colors = self._colors()
        est = self._estimated()
        drawn = table.dropna(subset=[f"{latency}_median", "cost_usd_median"]) if len(table) else table
        if not len(drawn) or not (drawn["cost_usd_median"] > 0).any():
            return nothing_to_draw(ax, _no_cost(table, drawn))
        for r in drawn.to_dict("records"):
            key = (r["provider"], r["model"], r["protocol"])
            x, y = r[f"{latency}_median"] * 1000, r["cost_usd_median"]
            xerr = [[x - r[f"{latency}_ci_low"] * 1000], [r[f"{latency}_ci_high"] * 1000 - x]]
            yerr = [[y - r["cost_usd_ci_low"]], [r["cost_usd_ci_high"] - y]]
            label = str(r["label"]) + (" (est.)" if key in est or "estimated_tokens" in str(r["cost_status"]) else "")
            ax.errorbar(x, y, xerr=None if np.isnan(xerr[0][0]) else xerr, yerr=None if np.isnan(yerr[0][0]) else yerr,
                        fmt="o", color=colors.get(key), capsize=3, ms=8 if r["pareto"] else 6,
                        mec=FG if r["pareto"] else None, label=label)
        _name_points(ax, drawn, latency)
        front = drawn[drawn["pareto"]].sort_values(f"{latency}_median") if len(drawn) else drawn
        if len(front) > 1:
            ax.plot(front[f"{latency}_median"] * 1000, front["cost_usd_median"], "--", color="gray",
                    lw=1, label="Pareto front")
        missing = sorted(set(table["label"]) - set(drawn["label"])) if len(table) else []
        ax.set_xlabel(f"median {what} (ms)" + (f"\nno price: {', '.join(missing)}" if missing else ""))
        ax.set_ylabel("median cost per run")
        dollar_ticks(ax.yaxis)
        ax.legend(title="model (ringed: on the Pareto front)")
        return ax

    def _strip(self, metric: str, title: str, ylabel: str, scale: float, ax: Any,
               estimated: set[tuple[Any, ...]] = frozenset()) -> Any:  # type: ignore[assignment]
        ax = self._axes(ax, title)
        runs = self.runs
        ok = runs[(runs["status"] == "ok") & ~runs["warmup"].astype(bool)]
        colors = self._colors()
        rng = np.random.default_rng(0)
        labels = []
        for i, (key, g) in enumerate(ok.groupby(GROUP, observed=True, sort=False)):
            vals = g[metric].to_numpy(float) * scale
            label = _label(tuple(key)) + (" (est.)" if tuple(key) in estimated else "")
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(vals)), vals, s=18, alpha=0.6,
                       color=colors[tuple(key)], label=label)
            med, lo, hi = bootstrap_median_ci(vals)
            if not np.isnan(lo):
                ax.errorbar(i + 0.25, med, yerr=[[med - lo], [hi - med]], fmt="D", color=FG,
                            capsize=4, ms=5)
            else:
                ax.plot(i + 0.25, med, "D", color=FG, ms=5)
            labels.append(label)
        ax.set_xticks(range(len(labels)), [lb.replace(" (", "\n(") for lb in labels])  # two lines, not slanted
        ax.set_ylabel(ylabel)
        ax.set_xlabel("model (diamond: median with 95% bootstrap CI)")
        if labels:
            ax.legend(title="model")
        return ax

    @plot
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
        plain_ticks(ax.xaxis)
        ax.set_xlabel("gap between content chunks (ms, log scale)")
        ax.set_ylabel("fraction of gaps ≤ x")
        if ax.get_lines():
            ax.legend(title="model")
        return ax

    def save_all(self, directory: str) -> list[str]:
        """Write the five plots as PNG files (the light scheme); returns their paths."""
        import os

        os.makedirs(directory, exist_ok=True)
        return [getattr(self, name)().save_png(os.path.join(directory, f"{name}.png")) for name in self.NAMES]


def _no_cost(table: pd.DataFrame, drawn: pd.DataFrame) -> str:
    """Why there is no cost to compare, in words."""
    free = sorted(set(drawn["label"])) if len(drawn) else []
    unpriced = sorted(set(table["label"]) - set(free)) if len(table) else []
    parts = []
    if free:
        parts.append(f"{', '.join(free)} cost nothing (self-hosted or simulated)")
    if unpriced:
        parts.append(f"no price is known for {', '.join(unpriced)}")
    why = "; ".join(parts) or "no run was measured"
    return (f"No cost to compare: {why}. Price them with Result.cost(prices=...) to compare as if they "
            "sold tokens.")


def _name_points(ax: Any, drawn: pd.DataFrame, latency: str) -> None:
    """One label per place: models whose points fall within 3 % of the axes' ranges of each
    other share a label naming each (their markers overlap)."""
    xs = (drawn[f"{latency}_median"] * 1000).to_numpy(float)
    ys = drawn["cost_usd_median"].to_numpy(float)
    xr = max(float(np.ptp(xs)), abs(float(xs.max())) * 0.05, 1e-12)
    yr = max(float(np.ptp(ys)), abs(float(ys.max())) * 0.05, 1e-12)
    places: list[tuple[float, float, list[str]]] = []
    for x, y, label in zip(xs, ys, drawn["label"], strict=True):
        for px, py, names in places:
            if abs(x - px) <= 0.03 * xr and abs(y - py) <= 0.03 * yr:
                names.append(str(label))
                break
        else:
            places.append((x, y, [str(label)]))
    middle = (float(xs.min()) + float(xs.max())) / 2
    for x, y, names in places:
        right = x > middle and len(places) > 1  # labels of the right half go left of their point
        ax.annotate("\n".join(names), (x, y), xytext=(-7 if right else 7, 5), textcoords="offset points",
                    fontsize=8, ha="right" if right else "left")
