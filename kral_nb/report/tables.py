"""The statistics as people read them, one definition for the notebook, the HTML report and
the terminal: ``summary()`` in at most 12 columns with one-line headers and ms (``full=True``:
every statistic), ``compare_pairs()`` with whole verdicts in the summary's units, and the
verdict matrix (model × model, who is faster by how much). The frames themselves stay numbers
in seconds and dollars for code. Pure: frames in, frames of text out."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, ClassVar

import pandas as pd

from .. import fmt
from .verdicts import HIGHER_IS_BETTER, better_word, ci_text, unclear

GROUP = ("provider", "model", "protocol")


_TH = "white-space:nowrap"  # one-line headers, whatever the front-end's table layout
_FIRST = "text-align:left"  # the row's name (a model, a run) reads from the left


def html_table(frame: pd.DataFrame, *, cell: Callable[[str, Any], str] | None = None) -> str:
    """A frame of display strings as an HTML table (class ``kral-table``) for a notebook, a
    widget or the report: one-line headers, the first column left-aligned, every value escaped
    (``cell(column, value)``: a column's own HTML, escaped by it)."""
    def show(column: str, value: Any) -> str:
        if cell is not None:
            return cell(column, value)
        return "" if fmt.missing(value) else html.escape(str(value))

    columns = [str(c) for c in frame.columns]
    first = [f' style="{_FIRST}"'] + [""] * (len(columns) - 1)
    head = "".join(f'<th style="{_TH};{_FIRST if i == 0 else ""}">{html.escape(c)}</th>' for i, c in enumerate(columns))
    rows = "".join("<tr>" + "".join(f"<td{style}>{show(c, v)}</td>" for style, c, v in zip(first, columns, row, strict=True))
                   + "</tr>" for row in frame.itertuples(index=False))
    return f'<table class="kral-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _label(frame: pd.DataFrame) -> list[str]:
    return [fmt.model_label(p, m, pr) for p, m, pr in zip(frame["provider"], frame["model"], frame["protocol"],
                                                          strict=True)]


def _ci(m: Any, lo: Any, hi: Any) -> str:
    if fmt.missing(m):
        return fmt.DASH
    if fmt.missing(lo):
        return fmt.ms(m, unit=False)
    return f"{fmt.ms(m, unit=False)} [{fmt.ms(lo, unit=False)}, {fmt.ms(hi, unit=False)}]"


def summary_table(s: pd.DataFrame, *, full: bool = False) -> pd.DataFrame:
    """``summary()`` for people: model, runs, ok, TTFT p50 with its 95% CI and p99, e2e p50,
    ITL p50, tok/s p50, output tokens, cost per run and per ok answer (at most 12 columns; a
    column with nothing to show is left out). ``full``: every statistic."""
    if full:
        return _every_column(s)
    out = pd.DataFrame({"model": _label(s)}, index=s.index)
    out["runs"] = s["runs"].map(fmt.count)
    out["ok"] = s["ok"].map(fmt.count)
    if "warmup" in s and (s["warmup"] > 0).any():
        out["warmup"] = s["warmup"].map(fmt.count)
    out["TTFT p50 [95% CI] (ms)"] = [_ci(m, lo, hi) for m, lo, hi in zip(
        s["ttft_s_median"], s["ttft_s_ci_low"], s["ttft_s_ci_high"], strict=True)]
    out["TTFT p99 (ms)"] = s["ttft_s_p99"].map(lambda v: fmt.ms(v, unit=False))
    out["e2e p50 (ms)"] = s["e2e_s_p50"].map(lambda v: fmt.ms(v, unit=False))
    out["ITL p50 (ms)"] = s["itl_p50_s_p50"].map(lambda v: fmt.ms(v, unit=False))
    est = (s["tokens_source"].astype(str).str.contains("estimate").tolist() if "tokens_source" in s
           else [False] * len(s))
    out["tok/s p50"] = [("~" if e else "") + fmt.number(v) if not fmt.missing(v) else fmt.DASH
                        for v, e in zip(s["output_tokens_per_s_median"], est, strict=True)]
    out["output tokens p50"] = [("~" if e else "") + fmt.number(v) if not fmt.missing(v) else fmt.DASH
                                for v, e in zip(s["output_tokens_median"], est, strict=True)]
    free = "cost_status" in s and (s["cost_status"].astype(str) == "free").all()  # self-hosted: nothing to say
    if "cost_usd_median" in s and s["cost_usd_median"].notna().any() and not free:
        out["cost / run"] = s["cost_usd_median"].map(fmt.usd)
        out["cost / ok answer"] = s["cost_per_ok_answer_usd"].map(fmt.usd)
    return out[[c for c in out.columns if c in ("model", "runs", "ok") or (out[c] != fmt.DASH).any()]]


def _header(name: str) -> str:
    if "_usd" in name:  # cost_usd_median -> "cost median ($)"
        return name.replace("_usd", "").replace("_", " ") + " ($)"
    if "tokens_per_s" in name:
        return name.replace("output_tokens_per_s", "tok/s").replace("_", " ")
    base, _, stat = name.partition("_s_")
    if stat:  # ttft_s_p50 -> "ttft p50 (ms)"
        return f"{base.replace('_', ' ')} {stat.replace('_', ' ')} (ms)"
    return name.replace("_", " ")


def _every_column(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column, formatted by its name's unit, one model label first."""
    out = pd.DataFrame(index=frame.index)
    if all(c in frame.columns for c in GROUP):
        out["model"] = _label(frame)
    for name in frame.columns:
        if name in GROUP:
            continue
        col = frame[name]
        if col.isna().all():
            continue
        if "_usd" in name:
            show: Any = fmt.usd
        elif "_s_" in name:
            show = lambda v: fmt.ms(v, unit=False)  # noqa: E731 - the unit is in the header
        elif pd.api.types.is_float_dtype(col):
            show = fmt.number
        else:
            show = lambda v: fmt.DASH if fmt.missing(v) else str(v)  # noqa: E731
        out[_header(name)] = col.map(show)
    return out


def pairs_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """``compare_pairs()`` for people: both medians and the difference with its CI in the
    metric's unit, and the verdict whole (never cut)."""
    if pairs.empty:
        return pd.DataFrame({"verdict": []})
    metric = str(pairs["metric"].iloc[0])
    unit = " (ms)" if metric.endswith("_s") and "per_s" not in metric else ""

    def show(v: Any) -> str:
        return fmt.ms(v, unit=False) if unit else fmt.value(metric, v)

    return pd.DataFrame({
        "A": pairs["a"], "B": pairs["b"], "runs A / B": [f"{a} / {b}" for a, b in zip(pairs["n_a"], pairs["n_b"],
                                                                                     strict=True)],
        f"median A{unit}": pairs["median_a"].map(show), f"median B{unit}": pairs["median_b"].map(show),
        f"A − B [95% CI]{unit}": [fmt.DASH if fmt.missing(d) else f"{show(d)} [{show(lo)}, {show(hi)}]"
                                  for d, lo, hi in zip(pairs["diff"], pairs["ci_low"], pairs["ci_high"], strict=True)],
        "verdict": pairs["verdict"],
    })


def verdict_matrix(pairs: pd.DataFrame) -> pd.DataFrame:
    """Model × model from ``compare_pairs()``: each cell says how the row's model compares with
    the column's (``faster by 12 ms, 95% CI [8 ms, 15 ms]``), ``≈`` where the CI includes 0,
    ``?`` with too few runs."""
    if pairs.empty:
        return pd.DataFrame()
    metric = str(pairs["metric"].iloc[0])
    models = list(dict.fromkeys([*pairs["a"], *pairs["b"]]))
    cells = pd.DataFrame(fmt.DASH, index=models, columns=models)
    for r in pairs.to_dict("records"):
        for row, col, sign in ((r["a"], r["b"], 1.0), (r["b"], r["a"], -1.0)):
            d, lo, hi = sign * r["diff"], sign * r["ci_low"], sign * r["ci_high"]
            why = unclear(metric, min(lo, hi), max(lo, hi))
            if why is not None:
                cells.loc[row, col] = "?" if why.startswith("not enough") else "≈"
                continue
            better = (d > 0) if metric in HIGHER_IS_BETTER else (d < 0)
            cells.loc[row, col] = (f"{better_word(metric, better)} by {fmt.value(metric, abs(d))}, "
                                   f"{ci_text(metric, lo, hi)}")
    cells.index.name = "row vs column"
    return cells


class Summary(pd.DataFrame):
    """``summary()``'s frame: numbers in seconds and dollars for code (``ttft_s_p50``), shown
    for people through :func:`summary_table` (``full``: every column). Operations on it return
    plain DataFrames."""

    _metadata: ClassVar[list[str]] = ["full"]
    full: bool = False

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    def _repr_html_(self) -> str:  # type: ignore[override]
        return html_table(summary_table(pd.DataFrame(self), full=self.full))

    def __repr__(self) -> str:
        return summary_table(pd.DataFrame(self), full=self.full).to_string(index=False)


class Pairs(pd.DataFrame):
    """``compare_pairs()``'s frame (numbers), shown through :func:`pairs_table`."""

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    def _repr_html_(self) -> str:  # type: ignore[override]
        return html_table(pairs_table(pd.DataFrame(self)))

    def __repr__(self) -> str:
        return pairs_table(pd.DataFrame(self)).to_string(index=False)


class Matrix(pd.DataFrame):
    """``Result.verdict_matrix()``: model × model, each cell how the row's model compares with
    the column's; shown with the row models as a first column."""

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    def _repr_html_(self) -> str:  # type: ignore[override]
        return html_table(pd.DataFrame(self).reset_index())

    def __repr__(self) -> str:
        return pd.DataFrame(self).reset_index().to_string(index=False)
