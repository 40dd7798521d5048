"""Render a sim script in each protocol's wire format (bytes per event; b"" = nothing sent)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from .script import Ev

CREATED = 1732000000  # fixed: the sim's output is deterministic
#: compact UTF-8 JSON (what ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` writes),
#: about 5x cheaper per chunk: at 256 streams the encoder was 7 % of the sim's CPU (py-spy)
_J = orjson.dumps


def sse(obj: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + _J(obj) + b"\n\n"


class OpenAIWire:
    content_type = "text/event-stream"

    def __init__(self, model: str, rid: str, include_usage: bool, input_tokens: int = 0, *,
                 continuous: bool = False) -> None:
        self.model, self.rid, self.include_usage = model, rid, include_usage
        self.input_tokens = input_tokens
        self.continuous = continuous and include_usage  # vLLM's stream_options.continuous_usage_stats
        self.out_tokens = 0

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        usage = None
        if self.continuous:  # vLLM: every chunk carries the usage so far
            usage = {"prompt_tokens": self.input_tokens, "completion_tokens": self.out_tokens,
                     "total_tokens": self.input_tokens + self.out_tokens}
        return sse({"id": self.rid, "object": "chat.completion.chunk", "created": CREATED,
                    "model": self.model, "system_fingerprint": "fp_sim",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                    "usage": usage})

    def render(self, ev: Ev) -> bytes:
        k, d = ev.kind, ev.data
        if k == "start":
            return self._chunk({"role": "assistant", "content": ""})
        if k == "text":
            self.out_tokens += ev.n_tokens or len(d.split()) or 1
            return self._chunk({"content": d})
        if k == "reasoning":
            self.out_tokens += ev.n_tokens or len(d.split()) or 1
            return self._chunk({"reasoning_content": d})
        if k == "tool_start":
            i, cid, name = d
            return self._chunk({"tool_calls": [{"index": i, "id": cid, "type": "function",
                                                "function": {"name": name, "arguments": ""}}]})
        if k == "tool_args":
            return self._chunk({"tool_calls": [{"index": d[0], "function": {"arguments": d[1]}}]})
        if k == "finish":
            return self._chunk({}, d)
        if k == "usage":
            if not self.include_usage:
                return b""
            return sse({"id": self.rid, "object": "chat.completion.chunk", "created": CREATED,
                        "model": self.model, "choices": [], "usage": {
                            "prompt_tokens": d["input"], "completion_tokens": d["output"],
                            "total_tokens": d["input"] + d["output"],
                            "prompt_tokens_details": {"cached_tokens": d["cached"]},
                            "completion_tokens_details": {"reasoning_tokens": d["reasoning"]}}})
        if k == "error":
            return sse({"error": {"message": d[1], "type": d[0], "code": None}})
        if k == "keepalive":
            return b": keepalive\n\n"
        if k == "done":
            return b"data: [DONE]\n\n"
        return bytes(d) if k == "raw" else b""


_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


class AnthropicWire:
    content_type = "text/event-stream"

    def __init__(self, model: str, rid: str, input_tokens: int, cached_tokens: int = 0) -> None:
        self.model, self.rid, self.input_tokens, self.cached = model, rid, input_tokens, cached_tokens
        self.block = -1
        self.block_kind = ""
        self.reason = "end_turn"

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.block += 1
        self.block_kind = kind
        return out + sse({"type": "content_block_start", "index": self.block, "content_block": block},
                         "content_block_start")

    def _close(self) -> bytes:
        if not self.block_kind:
            return b""
        out = b""
        if self.block_kind == "thinking":
            out = self._delta({"type": "signature_delta", "signature": "c2ltdWxhdGVk"})
        self.block_kind = ""
        return out + sse({"type": "content_block_stop", "index": self.block}, "content_block_stop")

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse({"type": "content_block_delta", "index": self.block, "delta": delta},
                   "content_block_delta")

    def render(self, ev: Ev) -> bytes:
        k, d = ev.kind, ev.data
        if k == "start":
            return sse({"type": "message_start", "message": {
                "id": self.rid, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                # Anthropic's input_tokens leaves the cache reads out
                "usage": {"input_tokens": self.input_tokens - self.cached, "output_tokens": 1,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": self.cached}}},
                "message_start")
        if k == "text":
            head = b"" if self.block_kind == "text" else self._open("text", {"type": "text", "text": ""})
            return head + self._delta({"type": "text_delta", "text": d})
        if k == "reasoning":
            head = b"" if self.block_kind == "thinking" else self._open(
                "thinking", {"type": "thinking", "thinking": ""})
            return head + self._delta({"type": "thinking_delta", "thinking": d})
        if k == "tool_start":
            _, cid, name = d
            return self._open("tool_use", {"type": "tool_use", "id": cid, "name": name, "input": {}})
        if k == "tool_args":
            return self._delta({"type": "input_json_delta", "partial_json": d[1]})
        if k == "finish":
            self.reason = _STOP.get(d, d)
            return self._close()
        if k == "usage":
            return sse({"type": "message_delta",
                        "delta": {"stop_reason": self.reason, "stop_sequence": None},
                        "usage": {"output_tokens": d["output"]}}, "message_delta")
        if k == "error":
            return sse({"type": "error", "error": {"type": d[0], "message": d[1]}}, "error")
        if k == "keepalive":
            return sse({"type": "ping"}, "ping")
        if k == "done":
            return sse({"type": "message_stop"}, "message_stop")
        return bytes(d) if k == "raw" else b""


_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"}


class GeminiWire:
    """``alt=sse``: one ``data:`` event per chunk; otherwise one JSON array, element by element."""

    def __init__(self, model: str, rid: str, input_tokens: int, sse_mode: bool, cached_tokens: int = 0) -> None:
        self.model, self.rid, self.input_tokens, self.sse_mode = model, rid, input_tokens, sse_mode
        self.cached = cached_tokens
        self.content_type = "text/event-stream" if sse_mode else "application/json"
        self.out_tokens = 0
        self.thoughts = 0
        self.calls: dict[int, list[str]] = {}
        self.n_sent = 0

    def _emit(self, obj: dict[str, Any]) -> bytes:
        obj.update(modelVersion=self.model, responseId=self.rid)
        if self.sse_mode:
            return sse(obj)
        head = b"[" if self.n_sent == 0 else b",\r\n"
        self.n_sent += 1
        return head + _J(obj)

    def _usage(self) -> dict[str, int]:
        total = self.input_tokens + self.out_tokens + self.thoughts
        return {"promptTokenCount": self.input_tokens, "candidatesTokenCount": self.out_tokens,
                "thoughtsTokenCount": self.thoughts, "cachedContentTokenCount": self.cached,
                "totalTokenCount": total}

    def _parts(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        return self._emit({"candidates": [cand], "usageMetadata": self._usage()})

    def render(self, ev: Ev) -> bytes:
        k, d = ev.kind, ev.data
        if k == "text":
            self.out_tokens += ev.n_tokens or len(d.split()) or 1
            return self._parts([{"text": d}])
        if k == "reasoning":
            self.thoughts += len(d.split()) or 1
            return self._parts([{"text": d, "thought": True}])
        if k == "tool_start":
            self.calls[d[0]] = [d[2]]
            return b""
        if k == "tool_args":
            self.calls[d[0]].append(d[1])
            return b""
        if k == "finish":
            parts: list[dict[str, Any]] = [
                {"functionCall": {"name": c[0], "args": json.loads("".join(c[1:]) or "{}")}}
                for c in self.calls.values()] or [{"text": ""}]
            self.out_tokens += len(self.calls)
            return self._parts(parts, _FINISH.get(d, "STOP"))
        if k == "error":
            return self._emit({"error": {"code": 503, "message": d[1], "status": "UNAVAILABLE"}})
        if k == "done":
            return b"" if self.sse_mode else b"]"
        return bytes(d) if k == "raw" else b""
