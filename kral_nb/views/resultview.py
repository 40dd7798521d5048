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


def render(runs: pd.DataFrame, head: str) -> str:
    """The whole view; ``head`` is the title line."""
    table = pd.DataFrame({"run": [run_label(_Row(r)) for r in runs.to_dict("records")],
                          "status": runs["status"].astype(str),
                          "TTFT": runs["ttft_s"].map(fmt.ms), "total": runs["e2e_s"].map(fmt.ms),
                          "tokens": [("~" if s == "estimate" else "") + ("" if pd.isna(v) else str(v))
                                     for s, v in zip(runs["tokens_source"].astype(str), runs["output_tokens"],
                                                     strict=True)],
                          "tok/s": runs["output_tokens_per_s"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
                          "gap p50": runs["itl_p50_s"].map(fmt.ms),
                          "finish": runs["finish_reason"], "error": runs["error"]})
    shown = [c for c in table.columns if c in ("run", "status") or (table[c].fillna("").astype(str) != "").any()]
    header = "".join(f"<th>{html.escape(c)}</th>" for c in shown)
    rows = "".join("<tr>" + "".join(f"<td>{_error(r[c]) if c == 'error' else _cell(r[c])}</td>" for c in shown)
                   + "</tr>" for r in table.to_dict("records"))
    sim = bool((runs["provider"].astype(str) == "sim").any())
    note = (f'<p style="color:{_MUTED}"><small>~ estimated tokens · sim = kral_nb\'s simulated gateway</small></p>'
            if sim else f'<p style="color:{_MUTED}"><small>~ estimated tokens</small></p>')
    return (f'<div class="kral-result"><b>{html.escape(head)}</b>{_answers(runs)}'
            f'<div style="overflow-x:auto;max-width:100%"><table><thead><tr>{header}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>{note}</div>")
