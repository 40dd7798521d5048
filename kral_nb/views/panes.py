"""Pure rendering of live panes: run snapshots -> HTML / plain text.

No clock (``now_ns`` is passed in), no I/O, no IPython: the display and widget shells call
these from the caller's thread at a bounded rate. Renders stay cheap: string joins and
escaping, and the answers' Markdown rendered by ``markdown.Markdown``, which re-renders only
an answer's unsettled tail (0.2 ms for a 5 KB answer).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import fmt
from ..fmt import run_label
from ..record import runrow
from ..record.recorder import Run
from ..redact import mask
from ..results.cost import FREE, live_cost
from .markdown import Markdown, escape

_CAPPED = frozenset({"length", "max_tokens", "MAX_TOKENS"})  # OpenAI, Anthropic, Gemini
_ICON = {"ok": "✅", "error": "⚠️", "cut_off": "✂️", "cancelled": "⏹", "http_error": "⛔",
         "pending": "⏳", "streaming": "▶"}
NEW_CONNECTION_NS = 5_000_000  # a connect this long is worth saying (TLS to a provider: 20-200 ms; loopback ~1)
MODEL_LOAD_S = 0.5  # a helper wait this long was a start (a model load), not a check



def stat_parts(run: Run, now_ns: int) -> list[str]:
    """``["✅ ok", "TTFT 212 ms", "41 tok", "96.3 tok/s", "$0.0012", "0.64 s"]`` from a live
    snapshot, by the runs frame's own definitions (``runrow.live``; ``~`` marks estimated
    tokens and the cost computed from them); ``max tokens`` when the answer stopped at the
    token cap; ``new connection 38 ms`` when the TTFT includes opening a connection that took
    5 ms or more (TCP and TLS to a remote provider; not loopback or a LAN), ``model load 4.2 s`` when
    the run first waited for its helper server to start."""
    if run.status == "pending" and run.note:  # waiting for its helper server
        return [f"{_ICON['pending']} {run.note}"]
    now = runrow.live(run, now_ns)
    approx = "~" if now.source == "estimate" else ""
    parts = [f"{_ICON.get(run.status, '')} {run.status}"]
    if run.finish_reason in _CAPPED:  # ok, but the answer stopped at the token cap
        parts.append("max tokens")
    if run.helper_wait_s >= MODEL_LOAD_S:
        parts.append(f"model load {fmt.secs(run.helper_wait_s)}")
    if run.connect_ns >= NEW_CONNECTION_NS:
        parts.append(f"new connection {fmt.ms(run.connect_ns / 1e9)}")
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
    return parts


def stats(run: Run, now_ns: int) -> str:
    """The stats line as text: :func:`stat_parts` joined by `` · ``."""
    return " · ".join(stat_parts(run, now_ns))


def _tools(run: Run) -> list[str]:
    """Each tool call as ``name(arguments)``, masked of the run's secrets (arguments are joined
    from fragments: a key split across two is whole here)."""
    calls = [f"{tc.name or '?'}({tc.arguments})" for tc in list(run.tool_calls.values())]
    return [mask(c, run.secrets) for c in calls] if run.secrets else calls


# colours from JupyterLab's theme variables (light and dark), with fallbacks for saved HTML;
# class names for the browser test and user CSS. ``mathjax_ignore``: MathJax leaves ``$`` alone.
_GRID = ("display:grid;grid-template-columns:repeat(auto-fit,minmax(min(280px,100%),1fr));"
         "gap:8px;align-items:start;line-height:1.45")  # auto-fit: 2 or 3 panes share the row evenly
_PANE = ("border:1px solid var(--jp-border-color1,#bdbdbd);border-radius:6px;padding:2px 10px 6px;"
         "min-width:0;word-break:normal")  # words wrap at spaces; a long one scrolls its box
_STATS = ("color:var(--jp-content-font-color1,#212121);font-size:0.9em;margin:0 0 4px;"
          "text-wrap:balance")  # wrapped lines of even length: no fragment alone on the last
_ERROR = ("color:var(--jp-content-font-color1,#212121);border-left:3px solid var(--jp-error-color1,#d32f2f);"
          "padding-left:6px;white-space:pre-wrap;overflow-wrap:anywhere")
_PRE = "white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;margin:0"
LINE_PX = 21  # the streaming box's line grid: every line and every gap between blocks
STREAM_LINES = 14  # a streaming answer's box height in lines; it follows the end, then shows everything
# The streaming box lays its text on a grid of whole lines (blocks spaced by one line, no
# padding, one font size) and is a whole number of lines high, so, pinned to its end, its
# first visible line is whole; a shadow at its top (the "local" cover scrolls away) says there
# is earlier text. Only the live render has this box: the saved, final one shows everything.
_LIVE_CSS = (
    f".kral-live{{line-height:{LINE_PX}px;max-height:{LINE_PX * STREAM_LINES}px;overflow-y:auto;display:flex;"
    "flex-direction:column-reverse;background:linear-gradient(var(--jp-layout-color0,#fff) 30%,transparent) "
    "top/100% 3em no-repeat local,linear-gradient(rgba(128,128,128,.35),transparent) top/100% 0.9em no-repeat scroll}"
    f".kral-live *{{line-height:{LINE_PX}px!important;font-size:inherit!important;margin-top:0!important;"
    "margin-bottom:0!important;padding-top:0!important;padding-bottom:0!important;border-top-width:0!important;"
    "border-bottom-width:0!important;vertical-align:baseline}"
    f".kral-live>div>*+*,.kral-live li>*+*{{margin-top:{LINE_PX}px!important}}"
    ".kral-live table{border-collapse:collapse;border-spacing:0}.kral-live hr{border:0;height:0}")


def _body(content: str, streaming: bool) -> str:
    """The answer's box. While streaming: at most STREAM_LINES lines high and scrolled to the
    end (``column-reverse`` keeps the bottom in view without script); final: everything."""
    if not streaming:
        return f'<div class="kral-answer" style="overflow-x:auto">{content}</div>'
    return f'<div class="kral-answer kral-live"><div>{content}</div></div>'


def _pane(run: Run, now_ns: int, md: Markdown | None) -> str:
    """One run's pane: label, stats line, reasoning (folded), the answer — Markdown rendered
    safely by ``md`` (``markdown.py``), or plain text — tool calls and the error."""
    line = " ".join(f'<span style="white-space:nowrap">{"· " if i else ""}{escape(part)}</span>'
                    for i, part in enumerate(stat_parts(run, now_ns)))
    head = (f'<div class="kral-pane" style="{_PANE}"><div style="margin:4px 0 0"><b>{escape(run_label(run))}</b>'
            f'</div><div class="kral-stats" style="{_STATS}">{line}</div>')
    parts = []
    if run.reasoning_parts:
        reasoning = (md(run.reasoning, key=run.run_id + ":reasoning") if md is not None
                     else f'<pre style="{_PRE}">{escape(run.reasoning)}</pre>')
        parts.append(f"<details><summary>reasoning</summary>{reasoning}</details>")
    if md is not None:
        parts.append(_body(md(run.text, key=run.run_id) if run.text else "…", not run.final))
    else:
        parts.append(_body(f'<pre style="{_PRE}">{escape(run.text) or "…"}</pre>', not run.final))
    parts += [f"<div>🔧 <code>{escape(t)}</code></div>" for t in _tools(run)]
    if run.error:
        parts.append(f'<div class="kral-error" style="{_ERROR}"><b>{run.status}:</b> {escape(run.error)}</div>')
    return head + "".join(parts) + "</div>"


def html_panes(runs: Sequence[Run], now_ns: int, *, md: Markdown | None = None) -> str:
    """Panes side by side: a responsive grid (as many ~280 px columns as fit, one on a phone)
    of top-aligned panes, the answer box following the end while streaming. HTML all the way
    (no Markdown pass a blank line in model text could break out of): with ``md`` the answers'
    Markdown is rendered safely, else shown as text."""
    cells = "".join(_pane(run, now_ns, md) for run in runs)
    style = f"<style>{_LIVE_CSS}</style>" if any(not run.final for run in runs) else ""
    return f'<div class="kral-panes mathjax_ignore" style="{_GRID}">{style}{cells}</div>'


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
