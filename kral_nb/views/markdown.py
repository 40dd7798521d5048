"""Model text as Markdown that cannot act in a browser — in JupyterLab, Notebook 7, nbconvert's
HTML copy, GitHub, and the ChatWidget. Pure: text in, text out.

- Raw HTML is escaped outside code (``<script>``, ``<img onerror=…>`` show as text); ``$`` is
  an entity (no math); an unclosed code fence is closed.
- Images are never fetched: ``![alt](url)`` shows as that text.
- Links open only ``http(s)`` URLs, as ``<a … rel="noopener noreferrer">``; any other link
  (``javascript:``, ``data:``, a reference definition) shows as its text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

_FENCE = re.compile(r"^\s*(```|~~~)", re.M)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
#: ``[text](http(s)://url "title")`` with no brackets in the text
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(\s*(https?://[^\s()<>\"']+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)", re.I)
RELS = 'rel="noopener noreferrer" target="_blank"'


def safe_markdown(text: str) -> str:
    """Partial LLM text as Markdown that cannot swallow, script or fetch anything (above)."""
    out: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            out.append(line)
        elif fenced:
            out.append(line)
        else:
            out.append(_prose(line))
    text = "\n".join(out)
    if fenced:
        text += "\n```"
    return text


def _prose(line: str) -> str:
    """Escape and defuse one line outside inline code spans."""
    parts, pos = [], 0
    for m in _CODE_SPAN.finditer(line):
        parts.append(_defuse(line[pos:m.start()]))
        parts.append(m.group())
        pos = m.end()
    parts.append(_defuse(line[pos:]))
    return "".join(parts)


def _defuse(s: str) -> str:
    """``&`` and ``<`` escaped (what can start markup), images shown as text, http(s) links
    as anchors that open apart, every other link syntax broken (its ``]`` an entity)."""
    s = dollars(s.replace("&", "&amp;").replace("<", "&lt;"))
    s = s.replace("![", "!&#91;")  # no image can form: never fetched
    s = _LINK.sub(lambda m: f'<a href="{m.group(2)}" {RELS}>{m.group(1)}</a>', s)
    return s.replace("](", "&#93;(").replace("]:", "&#93;:")  # javascript:, data:, reference links


def dollars(escaped_html: str) -> str:
    """``$`` as an entity: literal in every renderer (JupyterLab's math pass, GitHub's math,
    MathJax) where ``\\$`` is not always."""
    return escaped_html.replace("$", "&#36;")


def html_renderer() -> Callable[[str], str]:
    """Markdown to HTML for the ChatWidget (mistune, as nbconvert uses it): model HTML
    escaped, images as text, only http(s) links, each opening apart."""
    import mistune
    from mistune.renderers.html import HTMLRenderer

    class SafeRenderer(HTMLRenderer):  # type: ignore[misc]
        def image(self, text: str, url: str, title: Any = None) -> str:
            return html.escape(f"[image: {text}]")

        def link(self, text: str, url: str, title: Any = None) -> str:
            if re.match(r"https?://", url, re.I):
                return f'<a href="{self.safe_url(url)}" {RELS}>{text}</a>'
            return text

    md: Callable[[str], str] = mistune.create_markdown(  # type: ignore[assignment]
        escape=True, renderer=SafeRenderer(escape=True), plugins=["strikethrough", "table"])
    return md
