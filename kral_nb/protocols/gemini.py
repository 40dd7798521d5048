"""Gemini ``:streamGenerateContent``: request builder, JSON-array decoder and pure parser.

With ``?alt=sse`` the body is SSE ``data:`` events; without it, one JSON array streamed
element by element, decoded incrementally by :class:`JSONArrayDecoder`. There is no
terminator event: the stream is complete when the body ends after a ``finishReason``.
"""

from __future__ import annotations

import codecs
import json
from typing import Any
from urllib.parse import quote

from ..jsonlib import loads
from ..records import DONE, ERROR, FINISH, KEEPALIVE, OTHER, REASONING, TEXT, TOOL_CALL, USAGE, Chunk
from ..request import ChatRequest, RequestSpec
from ..sse import Comment, Event, SSEDecoder
from . import malformed, shape
from .openai import error_message

_ROLES = {"assistant": "model", "user": "user", "model": "model"}


def build_request(req: ChatRequest, base_url: str, auth: dict[str, str], sse: bool = True) -> RequestSpec:
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
    body.update(req.params)
    url = f"{base_url.rstrip('/')}/v1beta/models/{quote(req.model, safe='+')}:streamGenerateContent"
    return RequestSpec(url + ("?alt=sse" if sse else ""), dict(auth), body)


class JSONArrayDecoder:
    """Incremental decoder of a streamed JSON array: each complete element -> one Event."""

    __slots__ = ("_buf", "_closed", "_pos", "_raw", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._pos = 0
        self._raw = json.JSONDecoder().raw_decode
        self._closed = False

    def decode(self, data: bytes) -> list[Event | Comment]:
        self._buf += self._utf8.decode(data)
        out: list[Event | Comment] = []
        buf = self._buf
        while True:
            pos = self._pos
            while pos < len(buf) and buf[pos] in " \t\r\n[,]":
                if buf[pos] == "]":
                    self._closed = True
                pos += 1
            self._pos = pos
            if pos >= len(buf):
                break
            try:
                _, end = self._raw(buf, pos)
            except ValueError:
                break  # incomplete element: wait for more bytes
            out.append(Event(buf[pos:end]))
            self._pos = end
        if self._pos > 65536:
            self._buf, self._pos = self._buf[self._pos:], 0
        return out

    def flush(self) -> list[Event | Comment]:
        """End of body: an unfinished element is discarded (``pending`` tells: a cut-off)."""
        self._buf += self._utf8.decode(b"", final=True)
        return []

    @property
    def pending(self) -> bool:
        return bool(self._buf[self._pos:].strip())


class GeminiParser:
    __slots__ = ("_finished", "_n_calls", "done")

    def __init__(self) -> None:
        self.done = False
        self._finished = False
        self._n_calls = 0

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
                else:
                    text = shape.text(part.get("text"), f"content.parts[{i}].text")
                    if text:
                        out.append(Chunk(REASONING if part.get("thought") is True else TEXT, text))
            reason = shape.opt_text(cand.get("finishReason"), "finishReason")
            if reason:
                self._finished = True
                out.append(Chunk(FINISH, finish_reason=reason))
        u = shape.obj(obj.get("usageMetadata"), "usageMetadata")
        if u:
            thoughts = shape.count(u.get("thoughtsTokenCount"), "usageMetadata.thoughtsTokenCount")
            cands = shape.count(u.get("candidatesTokenCount"), "usageMetadata.candidatesTokenCount")
            output = None if cands is None and thoughts is None else (cands or 0) + (thoughts or 0)
            out.append(Chunk(USAGE, input_tokens=shape.count(u.get("promptTokenCount"), "usageMetadata.promptTokenCount"),
                             output_tokens=output, reasoning_tokens=thoughts,
                             cached_tokens=shape.count(u.get("cachedContentTokenCount"),
                                                       "usageMetadata.cachedContentTokenCount")))
        return out or [Chunk(OTHER)]

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
