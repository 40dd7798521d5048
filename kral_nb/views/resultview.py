"""A Result as HTML in a notebook (``Result._repr_html_``): a title that says what ran, each
run's answer above its metrics (collapsed when long), one table with one model label per run,
no empty columns, long errors cut with the full text on hover. Pure: a runs frame in, HTML
out; every value from a run is escaped. Colours from JupyterLab's theme variables (with
fallbacks elsewhere), so it reads in light and dark themes and in saved HTML."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from .. import fmt
from ..fmt import run_label
from ..report.tables import html_table

MAX_ANSWERS = 12  # answers shown above the table; more runs: the table alone
OPEN_CHARS = 600  # an answer longer than this starts collapsed
ERROR_CHARS = 120
_MUTED = "var(--jp-ui-font-color2, #616161)"


def title(runs: pd.DataFrame) -> str:
    """``4 runs of 2 models: 3 ok, 1 cut_off``."""
    n_models = runs[["provider", "model", "protocol"]].drop_duplicates().shape[0] if len(runs) else 0
    counts = runs["status"].astype(str).value_counts()
    by_status = ", ".join(f"{n} {s}" for s, n in counts.items())
    return (f"{len(runs)} run{'s' if len(runs) != 1 else ''} of {n_models} model{'s' if n_models != 1 else ''}"
            + (f": {by_status}" if by_status else ""))


def _cell(v: Any) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else html.escape(str(v))


def _error(v: Any) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    text = str(v)
    if len(text) <= ERROR_CHARS:
        return html.escape(text)
    return f'<span title="{html.escape(text)}">{html.escape(text[:ERROR_CHARS - 1])}…</span>'


def _answers(runs: pd.DataFrame) -> str:
    if len(runs) > MAX_ANSWERS:
        return ""
    out = []
    for r in runs.to_dict("records"):
        text = "" if r.get("text") is None or pd.isna(r["text"]) else str(r["text"])
        opened = " open" if len(text) <= OPEN_CHARS else ""
        size = f" · {len(text):,} characters" if not opened else ""
        out.append(f'<details{opened} style="margin:2px 0"><summary><b>{html.escape(run_label(_Row(r)))}</b>'
                   f'<span style="color:{_MUTED}"> · {html.escape(str(r["status"]))}{size}</span></summary>'
                   f'<div style="white-space:pre-wrap;overflow-wrap:anywhere;margin:2px 0 6px 1em">'
                   f"{html.escape(text) or '<i>(no text)</i>'}</div></details>")
    return "".join(out)


class _Row:
    """A runs-frame row with the attributes ``run_label`` reads."""

    def __init__(self, row: dict[Any, Any]) -> None:
        self.provider, self.model, self.protocol = row["provider"], row["model"], row["protocol"]
        self.prompt_id, self.repeat = int(row.get("prompt_id") or 0), int(row.get("repeat") or 0)
        self.warmup = bool(row.get("warmup"))


_NATURAL_STOPS = frozenset({"stop", "end_turn", "STOP", "stop_sequence", "tool_calls", "tool_use"})


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run as people read it: status, TTFT, tokens, tok/s, cost, e2e in their units
    (``—`` where nothing applies); ``finish`` only when a run stopped for another reason than
    a natural end, ``error`` only when a run has one, ``cost`` only when a run has a price."""
    est = runs["tokens_source"].astype(str) == "estimate"
    cost = runs["cost_usd"] if "cost_usd" in runs else pd.Series([float("nan")] * len(runs), index=runs.index)
    frame = pd.DataFrame({
        "run": [run_label(_Row(r)) for r in runs.to_dict("records")],
        "status": runs["status"].astype(str),
        "TTFT": runs["ttft_s"].map(fmt.ms),
        "tokens": [fmt.DASH if fmt.missing(v) else ("~" if e else "") + f"{int(v):,}"
                   for v, e in zip(runs["output_tokens"], est, strict=True)],
        "tok/s": runs["output_tokens_per_s"].map(lambda v: fmt.DASH if fmt.missing(v) else f"{v:.1f}"),
        "cost": [fmt.DASH if fmt.missing(v) else ("~" if e else "") + fmt.usd(v) for v, e in zip(cost, est, strict=True)],
        "e2e": runs["e2e_s"].map(fmt.ms),
        "finish": runs["finish_reason"].map(lambda v: "" if fmt.missing(v) else str(v)),
        "error": runs["error"].map(lambda v: "" if fmt.missing(v) else str(v)),
    })
    drop = [c for c, keep in (("cost", (cost.fillna(0) > 0).any()),
                              ("finish", (~frame["finish"].isin(_NATURAL_STOPS | {""})).any()),
                              ("error", (frame["error"] != "").any())) if not keep]
    return frame.drop(columns=drop)


def footnotes(runs: pd.DataFrame) -> list[str]:
    """What the table's marks mean, only for the marks it shows."""
    notes = []
    if (runs["tokens_source"].astype(str) == "estimate").any():
        notes.append("~ estimated tokens (the provider sent no usage)")
    return notes


def render(runs: pd.DataFrame, head: str, *, answers: bool = True) -> str:
    """The whole view; ``head`` is the title line. ``answers=False``: the table alone (after
    ``%%kral``'s panes, which show the answers already)."""
    rows = html_table(table(runs), cell=lambda c, v: _error(v) if c == "error" else _cell(v))
    notes = "".join(f'<p style="color:{_MUTED};margin:2px 0"><small>{html.escape(n)}</small></p>'
                    for n in footnotes(runs))
    return (f'<div class="kral-result"><b>{html.escape(head)}</b>{_answers(runs) if answers else ""}'
            f'<div style="overflow-x:auto;max-width:100%">{rows}</div>{notes}</div>')


def text(runs: pd.DataFrame, head: str) -> str:
    """The table for a terminal: the same columns, plain text."""
    return "\n".join([head, table(runs).to_string(index=False), *footnotes(runs)])


class RunsTable:
    """The compact table a ``%%kral`` cell ends with (its panes showed the answers)."""

    def __init__(self, runs: pd.DataFrame) -> None:
        self.runs = runs

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        head = f"kral_nb result · {title(self.runs)}"
        return {"text/html": render(self.runs, head, answers=False), "text/plain": text(self.runs, head)}
