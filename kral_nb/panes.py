"""Pure rendering of live panes: run snapshots -> Markdown / HTML / plain text.

No clock (``now_ns`` is passed in), no I/O, no IPython: the display and widget shells call
these from the caller's thread at a bounded rate. Renders stay cheap (string joins and
escaping); Markdown is rendered by the browser, not converted here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from .cost import FREE, live_cost
from .labels import run_label
from .recorder import Run

COLUMNS = 3  # panes per row before wrapping
_CAPPED = frozenset({"length", "max_tokens", "MAX_TOKENS"})  # OpenAI, Anthropic, Gemini
_FENCE = re.compile(r"^\s*(```|~~~)", re.M)
_ICON = {"ok": "✅", "error": "⚠️", "cut_off": "✂️", "cancelled": "⏹", "http_error": "⛔",
         "pending": "⏳", "streaming": "▶"}


label = run_label


def stats(run: Run, now_ns: int) -> str:
    """``ok · TTFT 212 ms · 41 tok · 96.3 tok/s · $0.0012 · 0.64 s`` from a live snapshot
    (``~`` marks estimated tokens and the cost computed from them); ``max tokens`` when the
    answer stopped at the token cap, ``cold`` when the run opened a new connection (its TTFT
    includes the connect)."""
    t0, first = run.t0_ns, run.first_content_ns
    end = run.end_ns if run.end_ns is not None else now_ns
    tokens, source = run.output_tokens()  # the runs table's count, by the same rule
    approx = "~" if source == "estimate" else ""
    parts = [f"{_ICON.get(run.status, '')} {run.status}"]
    if run.finish_reason in _CAPPED:  # ok, but the answer stopped at the token cap
        parts.append("max tokens")
    if run.connect_ns > 0:  # TTFT includes opening the connection (TCP, TLS)
        parts.append("cold")
    if t0 is not None and first is not None:
        ttft_s = (first - t0) / 1e9
        parts.append(f"TTFT {ttft_s * 1000:.0f} ms")
        decode_s = (end - first) / 1e9
        parts.append(f"{approx}{tokens} tok")
        if tokens > 1 and decode_s > 0:
            parts.append(f"{(tokens - 1) / decode_s:.1f} tok/s")
        if run.provider not in FREE:
            u = run.usage
            cost = live_cost(run.provider, run.model, u.get("input_tokens"), u.get("cached_tokens"), tokens)
            if cost == cost:  # not NaN: an unknown model shows no price rather than a wrong one
                parts.append(f"{approx}${f'{cost:.6f}'.rstrip('0').rstrip('.')}")
    if t0 is not None:
        parts.append(f"{max(0, end - t0) / 1e9:.2f} s")
    if run.attempts > 1:
        parts.append(f"{run.attempts} attempts")
    return " · ".join(parts)


_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)


def safe_markdown(text: str) -> str:
    """Partial LLM text as Markdown that cannot swallow or script the page: raw HTML
    (``<script>``, ``<img onerror=...>``) is escaped outside code — in fenced blocks and code
    spans Markdown shows it literally already; ``$`` is escaped (no math); an unclosed code
    fence is closed."""
    out: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            out.append(line)
        elif fenced:
            out.append(line)
        else:
            out.append(_escape_prose(line))
    text = "\n".join(out)
    if fenced:
        text += "\n```"
    return text


def _escape_prose(line: str) -> str:
    """Escape ``&``, ``<`` (what can start markup) and ``$`` outside inline code spans."""
    parts, pos = [], 0
    for m in _CODE_SPAN.finditer(line):
        parts.append(_escape_html(line[pos:m.start()]))
        parts.append(m.group())
        pos = m.end()
    parts.append(_escape_html(line[pos:]))
    return "".join(parts)


def _escape_html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace("$", r"\$")


def _tools(run: Run) -> list[str]:
    return [f"{tc.name or '?'}({tc.arguments})" for tc in list(run.tool_calls.values())]


def markdown(runs: Sequence[Run], now_ns: int) -> str:
    """Panes side by side (an HTML table whose cells hold Markdown), wrapping every COLUMNS."""
    cells = []
    for run in runs:
        body = [f"**{label(run)}**", "", f"<sub>{stats(run, now_ns)}</sub>", ""]
        if run.reasoning_parts:
            body += [f"<details><summary>reasoning</summary>\n\n{safe_markdown(run.reasoning)}\n\n</details>", ""]
        body.append(safe_markdown(run.text) or "…")
        for t in _tools(run):
            body += ["", f"🔧 <code>{html.escape(t)}</code>"]
        if run.error:
            body += ["", f"**{run.status}:** {html.escape(run.error)}"]
        cells.append("\n".join(body))
    width = f"{100 // max(1, min(COLUMNS, len(cells)))}%"
    rows = []
    for i in range(0, len(cells), COLUMNS):
        tds = "".join(f'<td width="{width}" valign="top">\n\n{c}\n\n</td>\n' for c in cells[i:i + COLUMNS])
        rows.append(f"<tr>\n{tds}</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>\n"


def html_panes(runs: Sequence[Run], now_ns: int) -> str:
    """Plain-text panes as HTML (the ``text`` format)."""
    cells = []
    for run in runs:
        extra = "".join(f"<div>🔧 <code>{html.escape(t)}</code></div>" for t in _tools(run))
        if run.error:
            extra += f'<div style="color:#b00"><b>{run.status}:</b> {html.escape(run.error)}</div>'
        cells.append(
            f'<div style="flex:1 1 30%;min-width:260px;border:1px solid #ccc;border-radius:6px;padding:6px">'
            f"<b>{html.escape(label(run))}</b><br><small>{html.escape(stats(run, now_ns))}</small>"
            f'<pre style="white-space:pre-wrap;margin:4px 0">{html.escape(run.text)}</pre>{extra}</div>')
    return f'<div style="display:flex;flex-wrap:wrap;gap:8px">{"".join(cells)}</div>'


def plain(runs: Sequence[Run], now_ns: int) -> str:
    """Terminal / text fallback: one block per run."""
    out = []
    for run in runs:
        out.append(f"── {label(run)} ── {stats(run, now_ns)}")
        out.append(run.text)
        out += [f"  tool: {t}" for t in _tools(run)]
        if run.error:
            out.append(f"  {run.status}: {run.error}")
    return "\n".join(out)

