"""Gemini ``:streamGenerateContent``: request builder, JSON-array decoder and pure parser.

With ``?alt=sse`` the body is SSE ``data:`` events; without it, one JSON array streamed
element by element, decoded incrementally by :class:`JSONArrayDecoder`. There is no
terminator event: the stream is complete when the body ends after a ``finishReason``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..redact import Secret
from . import malformed, shape
from .jsonlib import loads
from .messages import error_message
from .records import (
    DONE,
    ERROR,
    FINISH,
    KEEPALIVE,
    OTHER,
    REASONING,
    SERVER,
    SERVER_TOOL_CALL,
    SERVER_TOOL_RESULT,
    TEXT,
    TOOL_CALL,
    USAGE,
    Chunk,
)
from .request import ChatRequest, RequestSpec
from .sse import Comment, Event, SSEDecoder

_ROLES = {"assistant": "model", "user": "user", "model": "model"}


def auth_headers(key: str | None) -> dict[str, str]:
    """How this protocol carries the key (a :class:`Secret`: masked in every repr)."""
    return {"x-goog-api-key": Secret(key)} if key else {}


#: how the body streams: SSE events (``?alt=sse``) or one JSON array
BODIES = ("sse", "array")
#: this protocol's own options (``Options`` fields) and their defaults
KNOBS = {"gemini_body": "sse"}


def build_request(req: ChatRequest, base_url: str, auth: dict[str, str],
                  options: Mapping[str, Any] = KNOBS) -> RequestSpec:
    system = [str(m.get("content", "")) for m in req.messages if m.get("role") == "system"]
    if req.system is not None:
        system.insert(0, req.system)
    contents = [{"role": _ROLES.get(m["role"], "user"), "parts": [{"text": str(m.get("content", ""))}]}
                for m in req.messages if m.get("role") != "system"]
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config: dict[str, Any] = {}
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.max_tokens is not None:
        config["maxOutputTokens"] = req.max_tokens
    if config:
        body["generationConfig"] = config
    if req.tools:
        body["tools"] = [{"functionDeclarations": [t["function"] for t in req.tools]}]
    body.update(req.extra_body)
    url = f"{base_url.rstrip('/')}/v1beta/models/{quote(req.model, safe='+')}:streamGenerateContent"
    sse = options.get("gemini_body", "sse") == "sse"  # 'array': one streamed JSON array
    return RequestSpec(url + ("?alt=sse" if sse else ""), dict(auth), body)


_STRUCT = re.compile(r'["{}\[\]]')  # outside strings: what changes nesting
_IN_STR = re.compile(r'["\\]')  # inside a string: its end or an escape
_SCALAR_END = re.compile(r"[ \t\r\n,\]]")  # exactly the separators (not Unicode \s)
_SEPARATORS = " \t\r\n[,]"


class JSONArrayDecoder:
    """Incremental decoder of a streamed JSON array: each complete element -> one Event.

    Finds element boundaries with a scanner that carries its state (nesting depth, inside a
    string, after a backslash) across reads and looks at each character once, so the work is
    linear in the body whatever the element size or read pattern; the element's text is
    parsed once, by the parser. A top-level object (an error without the array) is an element
    too."""

    MEDIA_TYPE = "application/json"

    __slots__ = ("_depth", "_esc", "_in_el", "_in_str", "_kind", "_parts", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []  # pieces of the element being read
        self._in_el = False
        self._kind = ""  # "{" nested value, '"' string, "s" scalar
        self._depth = 0
        self._in_str = False
        self._esc = False

    def decode(self, data: bytes) -> list[Event | Comment]:
        text = self._utf8.decode(data)
        out: list[Event | Comment] = []
        pos, n = 0, len(text)
        while pos < n:
            if not self._in_el:
                while pos < n and text[pos] in _SEPARATORS:
                    pos += 1
                if pos >= n:
                    break
                c = text[pos]
                self._in_el, self._depth, self._esc = True, 0, False
                self._kind = "{" if c in "{[" else c if c == '"' else "s"
                self._in_str = False
                if self._kind == '"':
                    self._in_str, pos_scan = True, pos + 1
                else:
                    pos_scan = pos
                start = pos
            else:
                start = pos_scan = pos
            end = self._scan(text, pos_scan)
            if end == start and not self._parts:  # never an empty element: always make progress
                end = start + 1
            if end < 0:
                self._parts.append(text[start:])
                break
            self._parts.append(text[start:end])
            out.append(Event("".join(self._parts)))
            self._parts, self._in_el, pos = [], False, end
        return out

    def _scan(self, text: str, i: int) -> int:
        """Index just past the end of the current element, or -1 if it goes on."""
        n = len(text)
        if self._kind == "s":
            m = _SCALAR_END.search(text, i)
            return m.start() if m else -1
        while i < n:
            if self._in_str:
                if self._esc:
                    self._esc, i = False, i + 1
                    continue
                m = _IN_STR.search(text, i)
                if m is None:
                    return -1
                i = m.end()
                if m.group() == "\\":
                    self._esc = True
                    continue
                self._in_str = False
                if self._kind == '"':
                    return i
            else:
                m = _STRUCT.search(text, i)
                if m is None:
                    return -1
                i, c = m.end(), m.group()
                if c == '"':
                    self._in_str = True
                elif c in "{[":
                    self._depth += 1
                else:
                    self._depth -= 1
                    if self._depth <= 0:
                        return i
        return -1

    def flush(self) -> list[Event | Comment]:
        """End of body: an unfinished element is discarded (``pending`` tells: a cut-off)."""
        rest = self._utf8.decode(b"", final=True)
        if rest:
            return self.decode(rest.encode())
        return []

    @property
    def pending(self) -> bool:
        return self._in_el


class GeminiParser:
    __slots__ = ("_finished", "_n_calls", "_n_server", "done")

    def __init__(self) -> None:
        self.done = False
        self._finished = False
        self._n_calls = 0
        self._n_server = 0  # provider-run tool calls (code execution)

    def feed(self, item: Event | Comment) -> list[Chunk]:
        if type(item) is Comment:
            return [Chunk(KEEPALIVE, item.text)]
        assert isinstance(item, Event)
        try:
            obj = loads(item.data)
        except ValueError:
            self.done = False
            return [malformed(item.data)]
        if not isinstance(obj, dict):
            return [Chunk(OTHER, item.data[:200])]
        if "error" in obj:
            return [Chunk(ERROR, error_message(obj))]
        out: list[Chunk] = []
        for cand in shape.items(obj.get("candidates"), "candidates")[:1]:
            cand = shape.obj(cand, "candidates[0]")
            content = shape.obj(cand.get("content"), "candidates[0].content")
            for i, part in enumerate(shape.items(content.get("parts"), "content.parts")):
                part = shape.obj(part, f"content.parts[{i}]")
                if "functionCall" in part:
                    fc = shape.obj(part["functionCall"], "functionCall")
                    out.append(Chunk(TOOL_CALL, tool_index=self._n_calls,
                                     tool_id=shape.opt_text(fc.get("id"), "functionCall.id"),
                                     tool_name=shape.opt_text(fc.get("name"), "functionCall.name"),
                                     tool_args=json.dumps(shape.obj(fc.get("args"), "functionCall.args"))))
                    self._n_calls += 1
                elif "executableCode" in part:  # code the provider runs itself (code execution)
                    code = shape.obj(part["executableCode"], "executableCode")
                    out.append(Chunk(SERVER_TOOL_CALL, tool_index=self._n_server, tool_name="code_execution",
                                     tool_args=json.dumps(code)))
                elif "codeExecutionResult" in part:
                    result = shape.obj(part["codeExecutionResult"], "codeExecutionResult")
                    out.append(Chunk(SERVER_TOOL_RESULT, tool_index=self._n_server, tool_name="code_execution_result",
                                     tool_args=json.dumps(result)))
                    self._n_server += 1
                elif "text" in part:
                    text = shape.text(part.get("text"), f"content.parts[{i}].text")
                    if text:
                        out.append(Chunk(REASONING if part.get("thought") is True else TEXT, text))
                else:  # inline data, file data, ...: kept, never fatal
                    out.append(Chunk(OTHER, f"part {', '.join(sorted(part))}"))
            grounding = cand.get("groundingMetadata")
            if isinstance(grounding, dict):  # Vertex / Google Search grounding: what the server reports
                out.append(Chunk(SERVER, json.dumps({"groundingMetadata": grounding}, sort_keys=True)))
            reason = shape.opt_text(cand.get("finishReason"), "finishReason")
            if reason:
                self._finished = True
                out.append(Chunk(FINISH, finish_reason=reason))
        u = shape.obj(obj.get("usageMetadata"), "usageMetadata")
        if u:
            thoughts = shape.count(u.get("thoughtsTokenCount"), "usageMetadata.thoughtsTokenCount")
            cands = shape.count(u.get("candidatesTokenCount"), "usageMetadata.candidatesTokenCount")
            output = None if cands is None and thoughts is None else shape.count(
                (cands or 0) + (thoughts or 0), "usageMetadata.candidatesTokenCount + thoughtsTokenCount")
            prompt = shape.count(u.get("promptTokenCount"), "usageMetadata.promptTokenCount")
            tool_use = shape.count(u.get("toolUsePromptTokenCount"), "usageMetadata.toolUsePromptTokenCount")
            # the input of built-in tools (code execution, search) is input the user pays for
            billed_in = None if prompt is None and tool_use is None else shape.count(
                (prompt or 0) + (tool_use or 0), "usageMetadata.promptTokenCount + toolUsePromptTokenCount")
            out.append(Chunk(USAGE, input_tokens=billed_in, output_tokens=output, reasoning_tokens=thoughts,
                             cached_tokens=shape.count(u.get("cachedContentTokenCount"),
                                                       "usageMetadata.cachedContentTokenCount")))
        return out or [Chunk(OTHER)]

    def complete(self, obj: Any) -> list[Chunk]:
        """A whole response (a JSON object, or the array of a non-SSE body) read at once."""
        out: list[Chunk] = []
        for element in obj if isinstance(obj, list) else [obj]:
            out += self.feed(Event(json.dumps(element)))
        return out + self.close()

    def close(self) -> list[Chunk]:
        """End of body: complete only after a chunk with a ``finishReason``."""
        if self._finished:
            self.done = True
            return [Chunk(DONE)]
        return []


def new_decoder(spec: RequestSpec) -> SSEDecoder | JSONArrayDecoder:
    return SSEDecoder() if "alt=sse" in spec.url else JSONArrayDecoder()


def new_parser() -> GeminiParser:
    return GeminiParser()
