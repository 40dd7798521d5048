"""Anthropic Messages streaming (``POST {base}/messages``): request builder and pure parser."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..redact import Secret
from . import malformed, shape
from .jsonlib import loads
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
    START,
    TEXT,
    TOOL_CALL,
    USAGE,
    Chunk,
)
from .request import ChatRequest, RequestSpec
from .sse import Comment, Event, SSEDecoder

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the protocol requires max_tokens


def auth_headers(key: str | None) -> dict[str, str]:
    """How this protocol carries the key (a :class:`Secret`: masked in every repr)."""
    return {"x-api-key": Secret(key)} if key else {}


#: this protocol's own options (``Options`` fields) and their defaults
KNOBS: dict[str, Any] = {}


def build_request(req: ChatRequest, base_url: str, auth: dict[str, str],
                  options: Mapping[str, Any] = KNOBS) -> RequestSpec:
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
    body.update(req.extra_body)
    headers = {"accept": "text/event-stream", "anthropic-version": VERSION, **auth}
    return RequestSpec(base_url.rstrip("/") + "/messages", headers, body)


def _usage(u: dict[str, Any]) -> Chunk:
    """``input_tokens`` normalized to include cache reads and writes (as OpenAI's prompt_tokens
    does); ``cached_tokens`` = cache reads. ``output_tokens`` is cumulative in message_delta
    and includes thinking; ``output_tokens_details.thinking_tokens`` -> ``reasoning_tokens``."""
    read = shape.count(u.get("cache_read_input_tokens"), "usage.cache_read_input_tokens")
    written = shape.count(u.get("cache_creation_input_tokens"), "usage.cache_creation_input_tokens")
    inp = shape.count(u.get("input_tokens"), "usage.input_tokens")
    if inp is not None:  # the sum is a count too: within the frame's Int32 columns
        inp = shape.count(inp + (read or 0) + (written or 0), "usage.input_tokens + cache tokens")
    details = shape.obj(u.get("output_tokens_details"), "usage.output_tokens_details")
    thinking = details.get("thinking_tokens", details.get("reasoning_tokens"))
    return Chunk(USAGE, input_tokens=inp, output_tokens=shape.count(u.get("output_tokens"), "usage.output_tokens"),
                 reasoning_tokens=shape.count(thinking, "usage.output_tokens_details.thinking_tokens"),
                 cached_tokens=read)


#: content blocks the provider executes itself: their input fragments are server tool calls
SERVER_TOOL_BLOCKS = frozenset({"server_tool_use", "mcp_tool_use"})


class AnthropicParser:
    """Maps Anthropic events onto kral_nb chunk kinds; unknown events become ``other``.
    Remembers each content block's type, so the input fragments of a server tool
    (``web_search``, ``code_execution``) are told apart from calls of the user's tools."""

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
        kind = shape.text(obj.get("type"), "type") or item.event
        if kind == "content_block_delta":
            return self._delta(obj)
        if kind == "message_start":
            usage = shape.obj(shape.obj(obj.get("message"), "message").get("usage"), "message.usage")
            return [Chunk(START), _usage(usage)] if usage else [Chunk(START)]
        if kind == "content_block_start":
            return self._block_start(obj)
        if kind == "content_block_stop":
            return [Chunk(OTHER, "content_block_stop")]
        if kind == "message_delta":
            out = []
            reason = shape.opt_text(shape.obj(obj.get("delta"), "delta").get("stop_reason"), "delta.stop_reason")
            if reason:
                out.append(Chunk(FINISH, finish_reason=reason))
            usage = shape.obj(obj.get("usage"), "usage")
            if usage:
                out.append(_usage(usage))
            if isinstance(usage.get("server_tool_use"), dict):  # e.g. web_search_requests: billed apart
                out.append(Chunk(SERVER, json.dumps({"server_tool_use": usage["server_tool_use"]})))
            return out or [Chunk(OTHER, "message_delta")]
        if kind == "message_stop":
            self.done = True
            return [Chunk(DONE)]
        if kind == "ping":
            return [Chunk(KEEPALIVE, "ping")]
        if kind == "error":
            err = shape.obj(obj.get("error"), "error")
            return [Chunk(ERROR, f"{shape.text(err.get('type'), 'error.type') or 'error'}: "
                                 f"{shape.text(err.get('message'), 'error.message')}")]
        return [Chunk(OTHER, kind)]

    def complete(self, obj: Any) -> list[Chunk]:
        """A whole ``message`` (a server that ignored ``stream: true``)."""
        if not isinstance(obj, dict):
            raise shape.ShapeError(f"expected a message object, got {shape.abbrev(obj)}")
        if obj.get("type") == "error":
            return self.feed(Event(json.dumps(obj)))
        out = [Chunk(START)]
        for i, block in enumerate(shape.items(obj.get("content"), "content")):
            block = shape.obj(block, f"content[{i}]")
            btype = shape.text(block.get("type"), f"content[{i}].type")
            if btype == "text":
                out.append(Chunk(TEXT, shape.text(block.get("text"), f"content[{i}].text")))
            elif btype == "thinking":
                out.append(Chunk(REASONING, shape.text(block.get("thinking"), f"content[{i}].thinking")))
            else:
                out += self._block_start({"index": i, "content_block": block})
                if out[-1].kind in (TOOL_CALL, SERVER_TOOL_CALL):
                    out[-1].tool_args = json.dumps(shape.obj(block.get("input"), f"content[{i}].input"))
        reason = shape.opt_text(obj.get("stop_reason"), "stop_reason")
        if reason:
            out.append(Chunk(FINISH, finish_reason=reason))
        usage = shape.obj(obj.get("usage"), "usage")
        if usage:
            out.append(_usage(usage))
        self.done = True
        return [*out, Chunk(DONE)]

    def _block_start(self, obj: dict[str, Any]) -> list[Chunk]:
        index = shape.count(obj.get("index", 0), "index") or 0
        block = shape.obj(obj.get("content_block"), "content_block")
        btype = shape.text(block.get("type"), "content_block.type")
        self._blocks[index] = btype
        if btype == "tool_use" or btype in SERVER_TOOL_BLOCKS:
            kind = TOOL_CALL if btype == "tool_use" else SERVER_TOOL_CALL
            return [Chunk(kind, tool_index=index, tool_id=shape.opt_text(block.get("id"), "content_block.id"),
                          tool_name=shape.opt_text(block.get("name"), "content_block.name"), tool_args="")]
        if btype.endswith("_tool_result"):  # web_search_tool_result, mcp_tool_result, ...
            return [Chunk(SERVER_TOOL_RESULT, tool_index=index, tool_name=btype,
                          tool_id=shape.opt_text(block.get("tool_use_id"), "content_block.tool_use_id"),
                          tool_args=json.dumps(block.get("content")))]
        if btype == "text" and shape.text(block.get("text"), "content_block.text"):
            return [Chunk(TEXT, block["text"])]
        return [Chunk(OTHER, f"content_block_start:{btype}")]

    def _delta(self, obj: dict[str, Any]) -> list[Chunk]:
        delta = shape.obj(obj.get("delta"), "delta")
        dtype = shape.text(delta.get("type"), "delta.type")
        if dtype == "text_delta":
            text = shape.text(delta.get("text"), "delta.text")
            return [Chunk(TEXT, text)] if text else [Chunk(OTHER, dtype)]
        if dtype == "input_json_delta":
            index = shape.count(obj.get("index", 0), "index") or 0
            kind = SERVER_TOOL_CALL if self._blocks.get(index) in SERVER_TOOL_BLOCKS else TOOL_CALL
            return [Chunk(kind, tool_index=index, tool_args=shape.text(delta.get("partial_json"), "delta.partial_json"))]
        if dtype == "thinking_delta":
            thinking = shape.text(delta.get("thinking"), "delta.thinking")
            return [Chunk(REASONING, thinking)] if thinking else [Chunk(OTHER, dtype)]
        return [Chunk(OTHER, dtype)]  # signature_delta, citations_delta, ...


def new_decoder(spec: RequestSpec) -> SSEDecoder:
    return SSEDecoder()


def new_parser() -> AnthropicParser:
    return AnthropicParser()
