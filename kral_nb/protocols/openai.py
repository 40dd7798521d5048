"""OpenAI chat-completions streaming: request builder and pure parser."""

from __future__ import annotations

import json
from typing import Any

from ..jsonlib import loads
from ..records import (
    DONE,
    ERROR,
    FINISH,
    KEEPALIVE,
    OTHER,
    REASONING,
    REFUSAL,
    SERVER,
    START,
    TEXT,
    TOOL_CALL,
    USAGE,
    Chunk,
)
from ..request import ChatRequest, RequestSpec
from ..sse import Comment, Event, SSEDecoder
from . import malformed

TERMINATOR = "[DONE]"


def build_request(req: ChatRequest, base_url: str, auth: dict[str, str]) -> RequestSpec:
    messages = req.messages
    if req.system is not None:
        messages = [{"role": "system", "content": req.system}, *messages]
    body: dict[str, Any] = {"model": req.model, "messages": messages, "stream": True}
    if req.include_usage:
        body["stream_options"] = {"include_usage": True}
    if req.tools:
        body["tools"] = req.tools
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens
    body.update(req.params)
    headers = {"accept": "text/event-stream", **auth}
    return RequestSpec(base_url.rstrip("/") + "/chat/completions", headers, body)


def error_message(obj: Any) -> str:
    """The human message of an error payload, whatever its shape."""
    err = obj.get("error", obj) if isinstance(obj, dict) else obj
    if isinstance(err, dict):
        msg = err.get("message") or err.get("msg") or json.dumps(err)[:500]
        kind = err.get("type") or err.get("status") or err.get("code")
        return f"{kind}: {msg}" if kind and kind != msg else str(msg)
    return str(err)[:500]


class OpenAIParser:
    """Feed SSE items, get normalized chunks. Tolerates tool-call fragments without ``index``."""

    __slots__ = ("_last_tool", "_n_tools", "_started", "_tool_ids", "done")

    def __init__(self) -> None:
        self.done = False
        self._started = False
        self._tool_ids: dict[str, int] = {}
        self._n_tools = 0
        self._last_tool: int | None = None

    def feed(self, item: Event | Comment) -> list[Chunk]:
        if isinstance(item, Comment):
            return [Chunk(KEEPALIVE, item.text)]
        data = item.data
        if data == TERMINATOR:
            self.done = True
            return [Chunk(DONE)]
        try:
            obj = loads(data)
        except ValueError:
            return [malformed(data)]
        if item.event == "error" or not isinstance(obj, dict):
            if isinstance(obj, dict) or item.event == "error":
                return [Chunk(ERROR, error_message(obj))]
            return [Chunk(OTHER, data[:200])]
        if obj.get("error") or obj.get("object") == "error":
            out = [Chunk(ERROR, error_message(obj))]
            out.extend(c for c in self._choices(obj) if c.kind == FINISH)
            return out
        out = self._choices(obj)
        usage = obj.get("usage")
        if usage:
            out.append(_usage(usage))
        server = _server_metrics(obj, usage) if usage or "timings" in obj else None
        if server:
            out.append(Chunk(SERVER, json.dumps(server, sort_keys=True)))
        if not self._started:
            self._started = True
            if not out or out[0].kind != START:
                out.insert(0, Chunk(START))
        elif not out:
            out.append(Chunk(OTHER))
        return out

    def _choices(self, obj: dict[str, Any]) -> list[Chunk]:
        choices = obj.get("choices")
        if not choices:
            return []
        choice = choices[0]  # n > 1 is not supported: the first choice is recorded
        delta = choice.get("delta") or {}
        out: list[Chunk] = []
        if "role" in delta and not self._started:
            self._started = True
            out.append(Chunk(START))
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            out.append(Chunk(REASONING, reasoning))
        content = delta.get("content")
        if content:
            out.append(Chunk(TEXT, content))
        refusal = delta.get("refusal")
        if refusal:
            out.append(Chunk(REFUSAL, refusal))
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            for pos, tc in enumerate(tool_calls):
                out.append(self._tool(pos, tc))
        reason = choice.get("finish_reason")
        if reason:
            out.append(Chunk(FINISH, finish_reason=reason))
        return out

    def _tool(self, pos: int, tc: dict[str, Any]) -> Chunk:
        fn = tc.get("function") or {}
        tid, name = tc.get("id"), fn.get("name")
        index = tc.get("index")
        if index is None:  # Gemini / Ollama compatibility endpoints omit it
            if tid and tid in self._tool_ids:
                index = self._tool_ids[tid]
            elif tid or name:
                index = self._n_tools
            else:
                index = self._last_tool if self._last_tool is not None else pos
        if tid:
            self._tool_ids.setdefault(tid, index)
        self._n_tools = max(self._n_tools, index + 1)
        self._last_tool = index
        return Chunk(TOOL_CALL, tool_index=index, tool_id=tid, tool_name=name,
                     tool_args=fn.get("arguments") or "")


_USAGE_KEYS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
                         "completion_tokens_details"})


def _server_metrics(obj: dict[str, Any], usage: Any) -> dict[str, Any]:
    """What the server says about itself, kept beside kral_nb's own measurements:
    llama.cpp's ``timings``, and usage extras such as OpenRouter's ``cost``."""
    out: dict[str, Any] = {}
    if isinstance(obj.get("timings"), dict):
        out["timings"] = obj["timings"]
    if isinstance(usage, dict):
        out.update({k: v for k, v in usage.items() if k not in _USAGE_KEYS})
    return out


def _usage(u: dict[str, Any]) -> Chunk:
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens")
    reasoning = (u.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return Chunk(USAGE, input_tokens=u.get("prompt_tokens"),
                 output_tokens=u.get("completion_tokens"),
                 reasoning_tokens=reasoning, cached_tokens=cached)


def new_decoder(spec: RequestSpec) -> SSEDecoder:
    return SSEDecoder()


def new_parser() -> OpenAIParser:
    return OpenAIParser()
