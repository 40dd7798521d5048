"""Anthropic Messages streaming (``POST {base}/messages``): request builder and pure parser."""

from __future__ import annotations

from typing import Any

from ..jsonlib import loads
from ..records import (
    DONE,
    ERROR,
    FINISH,
    KEEPALIVE,
    OTHER,
    REASONING,
    START,
    TEXT,
    TOOL_CALL,
    USAGE,
    Chunk,
)
from ..request import ChatRequest, RequestSpec
from ..sse import Comment, Event, SSEDecoder
from . import malformed

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the protocol requires max_tokens


def build_request(req: ChatRequest, base_url: str, auth: dict[str, str]) -> RequestSpec:
    system = [str(m.get("content", "")) for m in req.messages if m.get("role") == "system"]
    if req.system is not None:
        system.insert(0, req.system)
    messages = [m for m in req.messages if m.get("role") != "system"]
    body: dict[str, Any] = {"model": req.model, "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS,
                            "messages": messages, "stream": True}
    if system:
        body["system"] = "\n\n".join(system)
    if req.tools:
        body["tools"] = [{"name": t["function"]["name"],
                          "description": t["function"].get("description", ""),
                          "input_schema": t["function"].get("parameters", {"type": "object"})}
                         for t in req.tools]
    if req.temperature is not None:
        body["temperature"] = req.temperature
    body.update(req.params)
    headers = {"accept": "text/event-stream", "anthropic-version": VERSION, **auth}
    return RequestSpec(base_url.rstrip("/") + "/messages", headers, body)


def _usage(u: dict[str, Any]) -> Chunk:
    """``input_tokens`` normalized to include cache reads and writes (as OpenAI's prompt_tokens
    does); ``cached_tokens`` = cache reads. ``output_tokens`` is cumulative in message_delta."""
    read = u.get("cache_read_input_tokens")
    inp = u.get("input_tokens")
    if inp is not None:
        inp += (read or 0) + (u.get("cache_creation_input_tokens") or 0)
    return Chunk(USAGE, input_tokens=inp, output_tokens=u.get("output_tokens"), cached_tokens=read)


class AnthropicParser:
    """Maps Anthropic events onto kral_nb chunk kinds; unknown events become ``other``."""

    __slots__ = ("_blocks", "done")

    def __init__(self) -> None:
        self.done = False
        self._blocks: dict[int, str] = {}

    def feed(self, item: Event | Comment) -> list[Chunk]:
        if type(item) is Comment:
            return [Chunk(KEEPALIVE, item.text)]
        assert isinstance(item, Event)
        try:
            obj = loads(item.data)
        except ValueError:
            return [malformed(item.data)]
        if not isinstance(obj, dict):
            return [Chunk(OTHER, item.data[:200])]
        kind = obj.get("type") or item.event
        if kind == "content_block_delta":
            return self._delta(obj)
        if kind == "message_start":
            usage = (obj.get("message") or {}).get("usage")
            return [Chunk(START), _usage(usage)] if usage else [Chunk(START)]
        if kind == "content_block_start":
            index, block = obj.get("index", 0), obj.get("content_block") or {}
            self._blocks[index] = block.get("type", "")
            if block.get("type") == "tool_use":
                return [Chunk(TOOL_CALL, tool_index=index, tool_id=block.get("id"),
                              tool_name=block.get("name"), tool_args="")]
            return [Chunk(OTHER, f"content_block_start:{block.get('type')}")]
        if kind == "content_block_stop":
            return [Chunk(OTHER, "content_block_stop")]
        if kind == "message_delta":
            out = []
            reason = (obj.get("delta") or {}).get("stop_reason")
            if reason:
                out.append(Chunk(FINISH, finish_reason=reason))
            if obj.get("usage"):
                out.append(_usage(obj["usage"]))
            return out or [Chunk(OTHER, "message_delta")]
        if kind == "message_stop":
            self.done = True
            return [Chunk(DONE)]
        if kind == "ping":
            return [Chunk(KEEPALIVE, "ping")]
        if kind == "error":
            err = obj.get("error") or {}
            return [Chunk(ERROR, f"{err.get('type', 'error')}: {err.get('message', '')}")]
        return [Chunk(OTHER, str(kind))]

    def _delta(self, obj: dict[str, Any]) -> list[Chunk]:
        delta = obj.get("delta") or {}
        dtype = delta.get("type")
        if dtype == "text_delta":
            return [Chunk(TEXT, delta.get("text", ""))] if delta.get("text") else [Chunk(OTHER)]
        if dtype == "input_json_delta":
            return [Chunk(TOOL_CALL, tool_index=obj.get("index", 0), tool_args=delta.get("partial_json", ""))]
        if dtype == "thinking_delta":
            return [Chunk(REASONING, delta.get("thinking", ""))]
        return [Chunk(OTHER, str(dtype))]


def new_decoder(spec: RequestSpec) -> SSEDecoder:
    return SSEDecoder()


def new_parser() -> AnthropicParser:
    return AnthropicParser()
