"""One self-contained HTML report of a Result or LoadResult: opens in any browser with no
network and no scripts — styles inline, plots as inline SVG (vector: sharp when printed or
zoomed on a phone), per-run details in ``<details>``. Every value from a run (answers,
errors, model names) is escaped.

Sections are a list of (title, HTML) built from the frames present, so new frames add a
section without rewriting the rest: what was run, summary, verdicts, cost, plots, load levels
(LoadResult), runs.
"""

from __future__ import annotations

import html
import json
import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pandas as pd

from .. import fmt
from ..fmt import model_label
from ..results.files import write_text
from . import tables
from .stats import compare_pairs, summary

CSS = """
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fff; --muted: #5a5a5a; --line: #d0d0d0;
        --ok: #1a7f37; --bad: #b3261e; --head: #f3f3f3; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8e8e8; --bg: #161616; --muted: #b0b0b0;
        --line: #444; --ok: #6ad18a; --bad: #ff8a80; --head: #242424; } }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 1rem; max-width: 1100px; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); }
.meta { color: var(--muted); } .scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 6px; text-align: right; vertical-align: top; }
th { background: var(--head); } td:first-child, th:first-child { text-align: left; }
table.kv td { text-align: left; } .ok { color: var(--ok); } .bad { color: var(--bad); }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 480px), 1fr)); gap: 8px; }
figure { margin: 0 0 1rem; min-width: 0; }
figure .kral-plot svg { width: 100%; min-width: 460px; height: auto; }  /* text >= 9 px on a phone */
details { border: 1px solid var(--line); border-radius: 4px; padding: 4px 8px; margin: 4px 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; }
@media print { details { break-inside: avoid; } details > * { display: block; } }
"""

def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def table(df: pd.DataFrame) -> str:
    return f'<div class="scroll">{tables.html_table(df)}</div>'


def what(runs: pd.DataFrame) -> str:
    models = sorted({model_label(*k) for k in runs[["provider", "model", "protocol"]].itertuples(index=False)})
    counts = runs["status"].astype(str).value_counts().to_dict()
    started = runs["started_at"].dropna()
    span = f"{started.min():%Y-%m-%d %H:%M} – {started.max():%H:%M} UTC" if len(started) else "—"
    keys = runs["request_key"].dropna().nunique() if "request_key" in runs.columns else 0
    items = {
        "models": ", ".join(models), "protocols": ", ".join(sorted(set(runs["protocol"].astype(str)))),
        "runs": f"{len(runs)} ({', '.join(f'{n} {s}' for s, n in counts.items())}; "
                f"{int(runs['warmup'].astype(bool).sum())} warmup)",
        "distinct requests": f"{runs['prompt_id'].nunique()} prompt(s), {keys} request key(s)",
        "when": span,
        "kral_nb / genai-prices": f"{_pkg('kral-nb')} / {_pkg('genai-prices')}",
        "host": f"{html.escape(platform.node())} · Python {sys.version.split()[0]} · {platform.platform()}",
    }
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in items.items())
    return f'<table class="kv">{rows}</table>'


def requests(runs: pd.DataFrame, limit: int = 20) -> str:
    """Each distinct request (prompt, system prompt, tools, options) with its key and runs."""
    if "request" not in runs.columns or not runs["request"].notna().any():
        return "<p class='meta'>not recorded (frames written before kral_nb recorded requests)</p>"
    groups = runs.dropna(subset=["request"]).groupby("request", observed=True, sort=False)
    items = []
    for text, g in list(groups)[:limit]:
        req = json.loads(str(text))
        last = next((m.get("content") for m in reversed(req.get("messages") or []) if isinstance(m, dict)), "")
        head = str(last if isinstance(last, str) else json.dumps(last))
        head = head if len(head) <= 100 else head[:97] + "..."
        key = str(g["request_key"].iloc[0]) if "request_key" in g.columns else ""
        items.append(f"<details><summary><code>{html.escape(key)}</code> · {len(g)} run(s) · "
                     f"{html.escape(head)}</summary><pre>{html.escape(json.dumps(req, indent=1, ensure_ascii=False))}"
                     f"</pre></details>")
    more = groups.ngroups - limit
    return "".join(items) + (f"<p class='meta'>… and {more} more</p>" if more > 0 else "")


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The summary as people read it (``tables.summary_table``: the notebook's and the
    terminal's too) from a runs frame."""
    return tables.summary_table(summary(runs))


def _summary(runs: pd.DataFrame) -> str:
    return table(summary_table(runs)) if len(runs) else "<p>No runs.</p>"


def _verdicts(runs: pd.DataFrame) -> str:
    """Per metric (TTFT, e2e, and cost when anything costs): the verdict matrix — each row's
    model against each column's — then the pairs with both medians and the difference's CI."""
    items = []
    for metric in ("ttft_s", "e2e_s", "cost_usd"):
        if metric == "cost_usd" and not (runs.get("cost_usd", pd.Series(dtype=float)).fillna(0) > 0).any():
            continue
        pairs = compare_pairs(runs, metric)
        if pairs.empty:
            continue
        matrix = tables.verdict_matrix(pairs)
        items.append(f"<h3>{html.escape(fmt.NAMES.get(metric, metric))}</h3>"
                     f"{table(matrix.reset_index())}"
                     f"<details><summary>pairs: medians and differences</summary>"
                     f"{table(tables.pairs_table(pairs))}</details>")
    return "".join(items) if items else "<p>One model: nothing to compare.</p>"


def figures(plots: list[tuple[str, Any]]) -> str:
    """Named plots as inline SVG in the report's colours (light or dark, as the reader's
    system), or each one's sentence when it has nothing to draw."""
    return '<div class="plots">' + "".join(
        f'<figure aria-label="{name}">{p.html(fg="var(--fg)", bg="var(--bg)")}</figure>' for name, p in plots) + "</div>"


def _plots(result: Any) -> str:
    from .plots import Plots

    p = Plots(result.chunks, result.runs)
    return figures([(name, getattr(p, name)()) for name in Plots.NAMES])


def runs_details(runs: pd.DataFrame, limit: int = 300) -> str:
    """Each run's answer, error and tool calls in a ``<details>`` (the first ``limit``)."""
    items = []
    for r in runs.head(limit).to_dict("records"):
        status = str(r["status"])
        cls = "ok" if status == "ok" else "bad"
        head = (f"{html.escape(model_label(r['provider'], r['model'], r['protocol']))} · "
                f"<span class='{cls}'>{html.escape(status)}</span> · TTFT {fmt.ms(r['ttft_s'])} · "
                f"total {fmt.ms(r['e2e_s'])}" + (" · warmup" if r.get("warmup") else ""))
        body = f"<pre>{html.escape(str(r['text'] or ''))}</pre>"
        if r.get("error") and not pd.isna(r["error"]):
            body += f"<p class='bad'>{html.escape(str(r['error']))}</p>"
        if r.get("tool_calls") and r["tool_calls"] not in ("[]", None):
            body += f"<p>tool calls: <code>{html.escape(str(r['tool_calls']))}</code></p>"
        items.append(f"<details><summary>{head}</summary>{body}</details>")
    more = len(runs) - limit
    return "".join(items) + (f"<p class='meta'>… and {more:,} more in the runs frame</p>" if more > 0 else "")


def sections(result: Any) -> list[tuple[str, str]]:
    """A Result's sections: what was run, the requests, the summary, verdicts, plots, every
    run's details."""
    runs = result.runs
    return [("What was run", what(runs)), ("Requests", requests(runs)),
            ("Summary (ok runs; warmups excluded)", _summary(runs)), ("Verdicts", _verdicts(runs)),
            ("Plots", _plots(result)), (f"Runs ({len(runs)})", runs_details(runs))]


def render(result: Any, *, title: str = "kral_nb report") -> str:
    """The report as one HTML string; a result with ``report_sections()`` (a LoadResult)
    gives its own."""
    own = getattr(result, "report_sections", None)
    parts = own() if own is not None else sections(result)
    now = datetime.now(timezone.utc)
    body = "".join(f'<section><h2>{html.escape(t)}</h2>{h}</section>' for t, h in parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class='meta'>written {now:%Y-%m-%d %H:%M} UTC by kral_nb "
            f"{_pkg('kral-nb')}; self-contained: no network, no scripts</p>{body}</body></html>")


def write(result: Any, path: str, *, title: str = "kral_nb report") -> str:
    """Write the report to ``path``; returns it."""
    return write_text(path, render(result, title=title))
