"""A load sweep over time, on one clock (seconds since its first level started): the client's
TTFT per request under the server's own metrics (requests running and waiting, KV-cache use:
``scrape.py``), and the timeslices (``timeslices.py``) as small multiples. Each level's start
is a labelled line, so a queue that builds is seen at the level that built it."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import fmt
from ..report.figure import FIGSIZE, Plot, colors, nothing_to_draw, theme
from .scrape import series

KEY = ["provider", "model", "protocol"]


def host_of(url: str) -> str:
    """host:port of a metrics URL, for a legend."""
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def _t0(cells: list[dict[str, Any]]) -> int | None:
    starts = [c["start_ns"] for c in cells if c.get("start_ns") is not None]
    return min(starts) if starts else None


def _offsets(cells: list[dict[str, Any]]) -> dict[int, float]:
    """Each level's start on the sweep's clock (s)."""
    t0 = _t0(cells)
    return {c["cell"]: (c["start_ns"] - t0) / 1e9 for c in cells if t0 is not None and c.get("start_ns") is not None}


def _figure(rows: int) -> list[Any]:
    from matplotlib.figure import Figure

    w, h = FIGSIZE
    fig = Figure(figsize=(w, h * 0.55 * rows + 0.6), layout="constrained")
    axs = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    for ax in axs:
        ax.grid(True)
    return list(axs)


def _levels(ax: Any, cells: list[dict[str, Any]], offsets: dict[int, float], label: bool) -> None:
    seen: set[float] = set()
    for c in cells:
        x = offsets.get(c["cell"])
        if x is None or x in seen:
            continue
        seen.add(x)
        ax.axvline(x, color="grey", lw=0.8, alpha=0.6)
        if label:
            ax.annotate(fmt.level(c["mode"], c["level"]), (x, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=8, color="grey")


def server_plot(result: Any) -> Plot:
    """Client TTFT per request (top) over the server's requests running and waiting, and its
    KV-cache use where the server reports it."""
    with theme():
        sm = result.server_metrics
        if sm is None or not len(sm):
            from ..report.figure import axes

            return nothing_to_draw(axes(None, "Server metrics"),
                                   "No server metrics: run load(..., server_metrics=True) against a server that "
                                   "serves /metrics (the sim, vLLM, SGLang, llama.cpp --metrics, TGI).")
        running, waiting, kv = series(sm, "running"), series(sm, "waiting"), series(sm, "kv_cache_usage")
        axs = _figure(3 if len(kv) else 2)
        offsets = _offsets(result.cells)
        runs = result.runs[~result.runs["warmup"].astype(bool)]
        groups = list(runs.groupby(KEY, observed=True, sort=False))
        for (key, g), color in zip(groups, colors(len(groups)), strict=True):
            x = g["sent_s"].to_numpy(float) + g["cell"].map(offsets).to_numpy(float)
            axs[0].scatter(x, g["ttft_s"].to_numpy(float) * 1000, s=8, alpha=0.6, color=color,
                           label=fmt.model_label(*key))
        axs[0].set_ylabel("client TTFT (ms)")
        axs[0].set_title("Client TTFT over the server's own metrics")
        if groups:
            axs[0].legend(fontsize=8)
        sources = list(dict.fromkeys(str(x) for x in sm["source"]))
        for k, source in enumerate(sources):  # one line per server: two servers never make a sawtooth
            where = f" · {host_of(source)}" if len(sources) > 1 else ""
            color = colors(len(sources) + 1)[k]
            for s, name, style in ((running, "running", "-"), (waiting, "waiting", "--")):
                mine = s[s["source"].astype(str) == source]
                if len(mine):
                    axs[1].step(mine["t_s"], mine["value"], style, where="post", color=color,
                                label=f"{name} ({mine['metric'].iloc[0]}){where}")
            mine = kv[kv["source"].astype(str) == source] if len(kv) else kv
            if len(mine):
                axs[2].step(mine["t_s"], mine["value"], where="post", color=color, label=f"{mine['metric'].iloc[0]}{where}")
        axs[1].set_ylabel("server requests")
        axs[1].set_ylim(bottom=0)
        if axs[1].get_lines():
            axs[1].legend(fontsize=8)
        if len(kv):
            axs[2].set_ylim(0, 1.05)
            axs[2].set_ylabel("KV-cache use (0–1)")
            axs[2].legend(fontsize=8)
        for i, ax in enumerate(axs):
            _levels(ax, result.cells, offsets, label=i == 0)
        axs[-1].set_xlabel("seconds since the sweep started")
        return Plot(axs[0])


def timeslices_plot(result: Any, window_s: float = 1.0) -> Plot:
    """The timeslices as small multiples over the sweep: TTFT p50 / p99, requests completed and
    goodput per second, output tokens per second — one colour per model."""
    with theme():
        ts = result.timeslices(window_s)
        if not len(ts):
            from ..report.figure import axes

            return nothing_to_draw(axes(None, "Over time"), "No requests were measured: nothing over time.")
        offsets = _offsets(result.cells)
        level_start = {(c["provider"], c["model"], c["protocol"], c["level"]): offsets.get(c["cell"], np.nan)
                       for c in result.cells}
        ts = ts.assign(t_s=[level_start.get((r.provider, r.model, r.protocol, r.level), np.nan) + r.t0_s
                            for r in ts.itertuples()])
        axs = _figure(3)
        groups = list(ts.groupby(KEY, observed=True, sort=False))
        for (key, g), color in zip(groups, colors(len(groups)), strict=True):
            label = fmt.model_label(*key)
            axs[0].plot(g["t_s"], g["ttft_s_p50"] * 1000, "-", color=color, label=f"{label} p50")
            axs[0].plot(g["t_s"], g["ttft_s_p99"] * 1000, "--", color=color, alpha=0.7, label=f"{label} p99")
            axs[1].plot(g["t_s"], g["completed_rps"], ":", color=color, label=f"{label} completed")
            axs[1].plot(g["t_s"], g["goodput_rps"], "-", color=color, label=f"{label} goodput")
            axs[2].plot(g["t_s"], g["output_tokens_per_s"], "-", color=color, label=label)
        axs[0].set_title(f"Over time ({fmt.secs(window_s)} windows)")
        axs[0].set_ylabel("TTFT (ms)")
        axs[1].set_ylabel("requests / s")
        axs[2].set_ylabel("output tokens / s")
        for i, ax in enumerate(axs):
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=8)
            _levels(ax, result.cells, offsets, label=i == 0)
        axs[-1].set_xlabel("seconds since the sweep started")
        return Plot(axs[0])

