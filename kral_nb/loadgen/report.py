"""A load sweep's report sections (``LoadResult.report_sections``), in the order a reader
wants them: what was asked and the SLO in words, the levels table, the plots, a summary per
level (never pooled across levels), the requests sent with their keys, where the shards ran
and whether the client kept up, then the runs."""

from __future__ import annotations

import html
from typing import Any, Protocol

import pandas as pd

from .. import fmt
from ..report import html as report


class LoadResult(Protocol):
    """What the sections read of a ``LoadResult`` (``result.py`` imports this module, not
    the other way round)."""

    cells: list[dict[str, Any]]
    slo: dict[str, float]
    workload: dict[str, Any] | None

    @property
    def levels(self) -> pd.DataFrame: ...
    @property
    def runs(self) -> pd.DataFrame: ...
    @property
    def mode(self) -> str: ...
    @property
    def plot(self) -> Any: ...
    def table(self) -> pd.DataFrame: ...

WINDOW = ("Rates are taken over each level's measurement window: from its start plus the warmup to the end of "
          "its last request (the drain included, as vLLM's bench serve and AIPerf do). Achieved counts every "
          "request that completed ok in the window; goodput those within every SLO; the latencies and the SLO "
          "attainment cover the requests sent after warmup.")


def _asked(lr: LoadResult) -> str:
    lv = lr.levels
    cell = lr.cells[0] if lr.cells else {}
    per = (f"{cell['duration_s']:g} s" if cell.get("duration_s") else "") + (
        " or " if cell.get("duration_s") and cell.get("requests") else "") + (
        f"{cell['requests']:,} requests" if cell.get("requests") else "")
    items = {
        "models": ", ".join(dict.fromkeys(fmt.model_label(p, m, pr) for p, m, pr in
                                          zip(lv["provider"], lv["model"], lv["protocol"], strict=True))),
        "load": ("closed loop" if lr.mode == "closed" else f"open loop, {cell.get('arrival', 'poisson')} arrivals")
        + f", {fmt.levels(lr.mode, list(dict.fromkeys(c['level'] for c in lr.cells)))}",
        "each level": (per or "—") + (f", the first {cell['warmup_s']:g} s warmup" if cell.get("warmup_s") else ""),
        "SLO": fmt.slo(lr.slo) if lr.slo else "no SLO: goodput counts every ok request, attainment is not defined",
        "workload": lr.workload["summary"] if lr.workload else "the prompt(s) given",
    }
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in items.items())
    return f'<table class="kv">{rows}</table><p class="meta">{html.escape(WINDOW)}</p>' + report.what(lr.runs)


def _levels(lr: LoadResult) -> str:
    lv = lr.levels
    note = ""
    if lv["client_saturated"].any():
        note = ("<p class='bad'>Client saturated at some levels: those numbers measured the client, not the "
                "server — add shards or machines.</p>")
    return report.table(lr.table()) + note


def _plots(lr: LoadResult) -> str:
    try:
        figs = lr.plot.figures()
    except Exception as exc:  # a sweep too small to plot still reports its table
        return f"<p class='meta'>plots unavailable: {html.escape(str(exc))}</p>"
    return report.figures(figs)


def _per_level(lr: LoadResult) -> str:
    runs = lr.runs
    parts = []
    for cell in lr.cells:
        mine = runs[runs["cell"] == cell["cell"]]
        if not len(mine):
            continue
        t = report.summary_table(mine)
        t.insert(1, "level", fmt.level(cell["mode"], cell["level"]))
        parts.append(t)
    return report.table(pd.concat(parts, ignore_index=True)) if parts else "<p>No runs.</p>"


def _layout(lr: LoadResult) -> str:
    lv, runs = lr.levels, lr.runs
    hosts = runs.groupby("cell", observed=True)["host"].agg(lambda h: ", ".join(sorted(set(map(str, h.dropna())))))
    out = pd.DataFrame({
        "model": [fmt.model_label(p, m, pr) for p, m, pr in zip(lv["provider"], lv["model"], lv["protocol"],
                                                                 strict=True)],
        "level": [fmt.level(mo, v) for mo, v in zip(lv["mode"], lv["level"], strict=True)],
        "shards": lv["shards"].map(fmt.count),
        "hosts": [hosts.get(c["cell"], "") or fmt.DASH for c in lr.cells],
        "loop / stamps": [f"{a or '?'} / {b or '?'}" for a, b in zip(lv["loop"], lv["stamps"], strict=True)],
        "client CPU max": lv["client_cpu_max"].map(fmt.share),
        "read delay p99": lv["read_delay_s_p99"].map(fmt.ms),
        "loop lag p99": lv["loop_lag_s_p99"].map(fmt.ms),
        "verdict": ["client saturated: add shards or machines" if s else "the client kept up"
                    for s in lv["client_saturated"]],
    })
    return report.table(out)


def _lengths(lr: LoadResult) -> str:
    """Input and output lengths requested against received, per model (p10 / p50 / p90, and
    the share of answers as long as asked); the workload's own description under it."""
    runs = lr.runs
    rows = []
    for (p, m, pr), g in runs.groupby(["provider", "model", "protocol"], observed=True, sort=False):
        ok = g[g["status"].astype(str) == "ok"]
        row: dict[str, str] = {"model": fmt.model_label(p, m, pr), "ok runs": fmt.count(len(ok))}
        for name, asked, got in (("input", "input_tokens_requested", "input_tokens"),
                                 ("output", "output_tokens_requested", "output_tokens")):
            row[f"{name} asked p10 / p50 / p90"] = _quantiles(ok[asked])
            row[f"{name} received p10 / p50 / p90"] = _quantiles(ok[got])
        both = ok[ok["output_tokens_requested"].notna() & ok["output_tokens"].notna()]
        row["answers as long as asked"] = fmt.share((both["output_tokens"] == both["output_tokens_requested"]).mean()
                                                    if len(both) else float("nan"))
        rows.append(row)
    described = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                        for k, v in (lr.workload or {}).items() if k != "summary")
    return report.table(pd.DataFrame(rows)) + (f'<table class="kv">{described}</table>' if described else "")


def _quantiles(values: pd.Series) -> str:
    v = values.dropna().astype(float)
    if not len(v):
        return fmt.DASH
    return " / ".join(f"{x:,.0f}" for x in v.quantile([0.1, 0.5, 0.9]))


def sections(lr: LoadResult) -> list[tuple[str, str]]:
    runs = lr.runs
    workload = [("Workload: lengths asked and received", _lengths(lr))] if lr.workload else []
    out: list[tuple[str, Any]] = [
        ("What was asked", _asked(lr)), ("Levels", _levels(lr)), *workload, ("Plots", _plots(lr)),
        ("Per level (ok runs; warmups excluded)", _per_level(lr)), ("Requests sent", report.requests(runs)),
        ("Where it ran, and whether the client kept up", _layout(lr)),
        (f"Runs ({len(runs):,})", report.runs_details(runs)),
    ]
    return out
