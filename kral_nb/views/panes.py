"""Pure rendering of live panes: run snapshots -> Markdown / HTML / plain text.

No clock (``now_ns`` is passed in), no I/O, no IPython: the display and widget shells call
these from the caller's thread at a bounded rate. Renders stay cheap (string joins and
escaping); Markdown is rendered by the browser, not converted here.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from .. import fmt
from ..fmt import run_label
from ..record import runrow
from ..record.recorder import Run
from ..results.cost import FREE, live_cost
from .markdown import dollars, safe_markdown

_CAPPED = frozenset({"length", "max_tokens", "MAX_TOKENS"})  # OpenAI, Anthropic, Gemini
_ICON = {"ok": "✅", "error": "⚠️", "cut_off": "✂️", "cancelled": "⏹", "http_error": "⛔",
         "pending": "⏳", "streaming": "▶"}



def stats(run: Run, now_ns: int) -> str:
    """``ok · TTFT 212 ms · 41 tok · 96.3 tok/s · $0.0012 · 0.64 s`` from a live snapshot, by
    the runs frame's own definitions (``runrow.live``; ``~`` marks estimated tokens and the
    cost computed from them); ``max tokens`` when the answer stopped at the token cap, ``cold``
    when the run opened a new connection (its TTFT includes the connect)."""
    if run.status == "pending" and run.note:  # waiting for its helper server
        return f"{_ICON['pending']} {run.note}"
    now = runrow.live(run, now_ns)
    approx = "~" if now.source == "estimate" else ""
    parts = [f"{_ICON.get(run.status, '')} {run.status}"]
    if run.finish_reason in _CAPPED:  # ok, but the answer stopped at the token cap
        parts.append("max tokens")
    if run.connect_ns > 0:  # TTFT includes opening the connection (TCP, TLS)
        parts.append("cold")
    if now.ttft_s == now.ttft_s:
        parts.append(f"TTFT {fmt.ms(now.ttft_s)}")
        parts.append(f"{approx}{now.tokens} tok")
        if now.tokens_per_s == now.tokens_per_s:
            parts.append(f"{now.tokens_per_s:.1f} tok/s")
        if run.provider not in FREE:
            u = run.usage
            cost = live_cost(run.provider, run.model, u.get("input_tokens"), u.get("cached_tokens"), now.tokens)
            if cost == cost:  # not NaN: an unknown model shows no price rather than a wrong one
                parts.append(f"{approx}{fmt.usd(cost)}")
    if now.elapsed_s == now.elapsed_s:
        parts.append(f"{max(0.0, now.elapsed_s):.2f} s")
    if run.attempts > 1:
        parts.append(f"{run.attempts} attempts")
    return " · ".join(parts)


def _tools(run: Run) -> list[str]:
    return [f"{tc.name or '?'}({tc.arguments})" for tc in list(run.tool_calls.values())]


# colours from JupyterLab's theme variables (light and dark), with fallbacks for saved HTML;
# class names for the browser test and user CSS. ``mathjax_ignore``: MathJax leaves ``$`` alone.
_GRID = ("display:grid;grid-template-columns:repeat(auto-fill,minmax(min(280px,100%),1fr));"
         "gap:8px;align-items:start")
_PANE = ("border:1px solid var(--jp-border-color1,#bdbdbd);border-radius:6px;padding:2px 10px 6px;"
         "min-width:0;word-break:normal")  # words wrap at spaces; a long one scrolls its box
_STATS = "color:var(--jp-content-font-color1,#212121);font-size:0.9em;margin:0 0 4px"
_ERROR = "color:var(--jp-content-font-color1,#212121);border-left:3px solid var(--jp-error-color1,#d32f2f);padding-left:6px"
STREAM_MAX_EM = 20  # a streaming answer's box height; it follows the end, then shows everything


def _body(content: str, streaming: bool, markdown: bool) -> str:
    """The answer's box. While streaming: at most STREAM_MAX_EM high and scrolled to the end
    (``column-reverse`` keeps the bottom in view without script); final: everything."""
    pad = "\n\n" if markdown else ""
    if not streaming:
        return f'<div class="kral-answer" style="overflow-x:auto">{pad}{content}{pad}</div>'
    return (f'<div class="kral-answer kral-live" style="max-height:{STREAM_MAX_EM}em;overflow-y:auto;'
            f'display:flex;flex-direction:column-reverse">\n<div>{pad}{content}{pad}</div>\n</div>')


def _pane(run: Run, now_ns: int, markdown: bool, render: Callable[[str], str] | None = None) -> str:
    head = (f'<div class="kral-pane" style="{_PANE}">\n<div style="margin:4px 0 0"><b>{html.escape(run_label(run))}</b></div>'
            f'\n<div class="kral-stats" style="{_STATS}">{dollars(html.escape(stats(run, now_ns)))}</div>\n')
    parts = []
    if run.reasoning_parts:
        reasoning = safe_markdown(run.reasoning) if markdown else f"<pre>{html.escape(run.reasoning)}</pre>"
        parts.append(f"<details><summary>reasoning</summary>\n\n{reasoning}\n\n</details>")
    if markdown:
        parts.append(_body(safe_markdown(run.text) or "…", not run.final, True))
    elif render is not None:  # Markdown rendered to HTML here (the ChatWidget: no Markdown renderer there)
        parts.append(_body(render(run.text) if run.text else "…", not run.final, False))
    else:
        text = html.escape(run.text) or "…"
        parts.append(_body(f'<pre style="white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;'
                           f'margin:0">{dollars(text)}</pre>', not run.final, False))
    parts += [f"<div>🔧 <code>{dollars(html.escape(t))}</code></div>" for t in _tools(run)]
    if run.error:
        parts.append(f'<div class="kral-error" style="{_ERROR}"><b>{run.status}:</b> '
                     f"{dollars(html.escape(run.error))}</div>")
    return head + "\n\n".join(parts) + "\n</div>"


def markdown(runs: Sequence[Run], now_ns: int) -> str:
    """Panes side by side: a responsive grid (as many ~280 px columns as fit, one on a
    phone) of HTML blocks whose answers are Markdown, top-aligned, the answer box following
    the end while streaming. In a saved notebook, nbconvert HTML or on GitHub the same
    Markdown reads as static panes (or stacked ones where styles are stripped)."""
    cells = "\n\n".join(_pane(run, now_ns, True) for run in runs)
    return f'<div class="kral-panes mathjax_ignore" style="{_GRID}">\n\n{cells}\n\n</div>\n'


def html_panes(runs: Sequence[Run], now_ns: int, *, render: Callable[[str], str] | None = None) -> str:
    """Panes as HTML, the same grid: plain text (the ``text`` format), or with ``render``
    (Markdown to safe HTML) the answers rendered (the ChatWidget)."""
    cells = "".join(_pane(run, now_ns, False, render) for run in runs)
    return f'<div class="kral-panes mathjax_ignore" style="{_GRID}">{cells}</div>'


def plain(runs: Sequence[Run], now_ns: int) -> str:
    """Terminal / text fallback: one block per run."""
    out = []
    for run in runs:
        out.append(f"── {run_label(run)} ── {stats(run, now_ns)}")
        out.append(run.text)
        out += [f"  tool: {t}" for t in _tools(run)]
        if run.error:
            out.append(f"  {run.status}: {run.error}")
    return "\n".join(out)

