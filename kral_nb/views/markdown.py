"""Model text as HTML that cannot act in a browser — in JupyterLab, Notebook 7, the executed
notebook's HTML copy, GitHub, and the ChatWidget: one renderer for all of them.

Markdown is parsed by markdown-it-py (CommonMark, as JupyterLab's renderer reads it: code spans
and fences are found exactly as a browser would find them) with raw HTML **off** (``<script>``,
``<img onerror=…>`` show as text), then the token stream is defused: images become their text
(``[image: alt]``, never fetched), links open only ``http(s)`` URLs, in a new tab, with
``rel="noopener noreferrer"``; any other link (``javascript:``, ``data:``, a reference) is its
text. ``$`` is an entity (no math).

Rendering a long answer at every live refresh would cost milliseconds each time, so
:class:`Markdown` renders the answer's settled blocks (everything up to its last blank line
outside a code fence) once and only the tail again.
"""

from __future__ import annotations

import html
import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

RELS = {"rel": "noopener noreferrer", "target": "_blank"}
_SAFE_URL = re.compile(r"https?://", re.I)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _defuse(state: Any) -> None:
    """A core rule: images to text, links kept only for http(s) URLs."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out: list[Token] = []
        dropped = 0  # open links dropped: their closes go too
        for tok in block.children:
            if tok.type == "image":
                text = Token("text", "", 0)
                text.content = f"[image: {tok.content}]"
                out.append(text)
            elif tok.type == "link_open":
                href = str(tok.attrGet("href") or "")
                if _SAFE_URL.match(href):
                    for k, v in RELS.items():
                        tok.attrSet(k, v)
                    out.append(tok)
                else:
                    dropped += 1
                    tok.meta["dropped"] = True
            elif tok.type == "link_close" and dropped:
                dropped -= 1
            else:
                out.append(tok)
        block.children = out


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.core.ruler.push("kral_defuse", _defuse)
    return md


_MD = _parser()


def render(text: str) -> str:
    """Model Markdown as safe HTML (above)."""
    return dollars(_MD.render(text))


def dollars(escaped_html: str) -> str:
    """``$`` as an entity: literal in every renderer (JupyterLab's math pass, GitHub's math,
    MathJax) where ``\\$`` is not always."""
    return escaped_html.replace("$", "&#36;")


def settled(text: str) -> int:
    """Where the answer's settled blocks end: after its last blank line outside a code fence
    (0: none yet). Those blocks render the same however the answer goes on."""
    cut, pos, fence = 0, 0, ""
    for line in text.splitlines(keepends=True):
        end = pos + len(line)
        m = _FENCE.match(line)
        if m and (not fence or (m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence))):
            fence = "" if fence else m.group(1)
        elif not fence and not line.strip() and end < len(text):
            cut = end
        pos = end
    return cut


class Markdown:
    """Renders each run's answer, reusing the settled blocks' HTML from the last render:
    ``md(text, key=run_id)``. Without a key it renders the whole text."""

    def __init__(self) -> None:
        self._done: dict[str, tuple[str, str]] = {}  # key -> (settled source, its HTML)

    def __call__(self, text: str, key: str | None = None) -> str:
        if key is None:
            return render(text)
        src, out = self._done.get(key, ("", ""))
        if not text.startswith(src):
            src, out = "", ""
        cut = settled(text)
        if cut > len(src):
            out += render(text[len(src):cut])
            src = text[:cut]
            self._done[key] = (src, out)
        return out + render(text[len(src):])


def escape(text: str) -> str:
    """Plain text for HTML, ``$`` as an entity."""
    return dollars(html.escape(text))
