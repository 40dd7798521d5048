"""OpenAI chat-completions streaming: request builder and pure parser."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..redact import Secret
from . import malformed, openai_fast, openai_usage, shape
from .jsonlib import loads
from .messages import error_message
from .records import (
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
    Chunk,
)
from .request import ChatRequest, RequestSpec
from .sse import Comment, Event, SSEDecoder

TERMINATOR = "[DONE]"


def auth_headers(key: str | None) -> dict[str, str]:
    """How this protocol carries the key (a :class:`Secret`: masked in every repr)."""
    return {"authorization": Secret(f"Bearer {key}")} if key else {}


#: this protocol's own options (``Options`` fields) and their defaults
KNOBS: dict[str, Any] = {}


def build_request(req: ChatRequest, base_url: str, auth: dict[str, str],
                  options: Mapping[str, Any] = KNOBS) -> RequestSpec:
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
    body.update(req.extra_body)
    headers = {"accept": "text/event-stream", **auth}
    return RequestSpec(base_url.rstrip("/") + "/chat/completions", headers, body)


class OpenAIParser:
    """Feed SSE items, get normalized chunks. Tolerates tool-call fragments without ``index``
    and ``delta.content`` given as a list of typed parts (Mistral's Magistral)."""

    __slots__ = ("_fast", "_last_tool", "_n_tools", "_started", "_tool_ids", "done")

    def __init__(self, *, fast: bool = True) -> None:
        self._fast = fast  # the common chunk through openai_fast (False: the general path alone)
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
        if self._fast and item.event != "error":
            choice = openai_fast.one_choice(data)
            if choice is not None:
                out, self._started = openai_fast.chunks(choice, self._started)
                return self._started_or_other(out)
        try:
            obj = loads(data)
        except ValueError:
            return [malformed(data)]
        if item.event == "error" or not isinstance(obj, dict):
            if isinstance(obj, dict) or item.event == "error":
                return [Chunk(ERROR, error_message(obj))]
            return [Chunk(OTHER, data[:200])]
        return self._object(obj)

    def complete(self, obj: Any) -> list[Chunk]:
        """A whole ``chat.completion`` (a server that ignored ``stream: true``): the message
        is read as one delta."""
        if not isinstance(obj, dict):
            raise shape.ShapeError(f"expected a chat.completion object, got {shape.abbrev(obj)}")
        choices = [dict(shape.obj(c, "choices[]"), delta=shape.obj(c, "choices[]").get("message"))
                   for c in shape.items(obj.get("choices"), "choices")]
        out = self._object({**obj, "choices": choices})
        if out[0].kind != ERROR:
            self.done = True
            out.append(Chunk(DONE))
        return out

    def _object(self, obj: dict[str, Any]) -> list[Chunk]:
        usage = obj.get("usage")
        if usage is not None and type(usage) is not dict:
            raise shape.ShapeError(f"usage: expected an object, got {shape.abbrev(usage)}")
        choices = obj.get("choices")
        if obj.get("error") or obj.get("object") == "error":
            # keep what the error chunk carried: its finish reason and the usage billed so far
            out = [Chunk(ERROR, error_message(obj))]
            out.extend(c for c in self._choices(choices) if c.kind == FINISH)
        else:  # the hot path: one choice, index 0, read without a second call
            one = choices[0] if type(choices) is list and len(choices) == 1 else None
            out = self._choice(one, 0) if type(one) is dict and not one.get("index") else self._choices(choices)
        server: dict[str, Any] = {}
        if usage:
            out.append(openai_usage.usage_chunk(usage))
            server = openai_usage.server_metrics(obj, usage)
        elif "timings" in obj:
            server = openai_usage.server_metrics(obj, {})
        if server:
            out.append(Chunk(SERVER, json.dumps(server, sort_keys=True)))
        if out[:1] and out[0].kind == ERROR:
            return out
        return self._started_or_other(out)

    def _started_or_other(self, out: list[Chunk]) -> list[Chunk]:
        """A stream's first chunk starts with START; a later chunk that said nothing is OTHER."""
        if not self._started:
            self._started = True
            if not out or out[0].kind != START:
                out.insert(0, Chunk(START))
        elif not out:
            out.append(Chunk(OTHER))
        return out

    def _choices(self, choices: Any) -> list[Chunk]:
        """Any ``choices`` value. With ``n > 1`` every choice is read by its ``index``: choice 0
        is the run's answer, the others are chunks with their ``choice`` (never merged into
        one text)."""
        if not choices:
            return []
        if type(choices) is not list:
            raise shape.ShapeError(f"choices: expected an array, got {shape.abbrev(choices)}")
        out: list[Chunk] = []
        for pos, choice in enumerate(choices):
            if type(choice) is not dict:
                raise shape.ShapeError(f"choices[{pos}]: expected an object, got {shape.abbrev(choice)}")
            index = shape.count(choice.get("index"), f"choices[{pos}].index") or 0
            chunks = self._choice(choice, index)
            if index:
                for c in chunks:
                    c.choice = index
            out += chunks
        return out

    def _choice(self, choice: dict[str, Any], index: int) -> list[Chunk]:
        """The per-chunk hot path: type checks inline, on present values only
        (``bench/throughput.py``); the messages are ``shape``'s."""
        delta = choice.get("delta")
        out: list[Chunk] = []
        if delta:
            if type(delta) is not dict:
                raise shape.ShapeError(f"delta: expected an object, got {shape.abbrev(delta)}")
            if not self._started and "role" in delta:
                self._started = True
                out.append(Chunk(START))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                out.append(Chunk(REASONING, reasoning if type(reasoning) is str
                                 else shape.text(reasoning, "delta.reasoning_content")))
            content = delta.get("content")
            if content:
                if type(content) is str:
                    out.append(Chunk(TEXT, content))
                elif type(content) is list:
                    out += _parts(content)
                else:
                    shape.text(content, "delta.content")  # raises
            refusal = delta.get("refusal")
            if refusal:
                out.append(Chunk(REFUSAL, shape.text(refusal, "delta.refusal")))
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                for pos, tc in enumerate(shape.items(tool_calls, "delta.tool_calls")):
                    call = shape.obj(tc, f"delta.tool_calls[{pos}]")
                    out.append(self._tool(pos, call) if not index else _other_tool(pos, call))
        reason = choice.get("finish_reason")
        if reason:
            out.append(Chunk(FINISH, finish_reason=reason if type(reason) is str
                             else shape.text(reason, "finish_reason")))
        return out

    def _tool(self, pos: int, tc: dict[str, Any]) -> Chunk:
        fn = shape.obj(tc.get("function"), "tool_calls.function")
        tid = shape.opt_text(tc.get("id"), "tool_calls.id")
        name = shape.opt_text(fn.get("name"), "tool_calls.function.name")
        args = shape.json_text(fn.get("arguments"), "tool_calls.function.arguments")
        index = shape.count(tc.get("index"), "tool_calls.index")
        if index is None:  # Gemini / Ollama compatibility endpoints omit it
            if tid and tid in self._tool_ids:
                index = self._tool_ids[tid]
            elif tid or name:
                index = self._n_tools
            else:
                index = self._last_tool if self._last_tool is not None else pos
        index = shape.count(index, "tool_calls.index (implied)")  # one past the last may be past the bound
        assert index is not None
        if tid:
            self._tool_ids.setdefault(tid, index)
        self._n_tools = max(self._n_tools, index + 1)
        self._last_tool = index
        return Chunk(TOOL_CALL, tool_index=index, tool_id=tid, tool_name=name, tool_args=args)


def _other_tool(pos: int, tc: dict[str, Any]) -> Chunk:
    """A tool-call fragment of a choice other than 0: kept as a chunk, by its own index."""
    fn = shape.obj(tc.get("function"), "tool_calls.function")
    return Chunk(TOOL_CALL, tool_index=shape.count(tc.get("index"), "tool_calls.index") or pos,
                 tool_id=shape.opt_text(tc.get("id"), "tool_calls.id"),
                 tool_name=shape.opt_text(fn.get("name"), "tool_calls.function.name"),
                 tool_args=shape.json_text(fn.get("arguments"), "tool_calls.function.arguments"))


def _parts(parts: list[Any]) -> list[Chunk]:
    """``delta.content`` as typed parts: ``text`` parts are answer text, ``thinking`` parts
    (whose ``thinking`` is a string or a list of text parts) are reasoning; any other part
    type is kept as ``other``."""
    out: list[Chunk] = []
    for i, raw in enumerate(parts):
        part = shape.obj(raw, f"delta.content[{i}]")
        kind = shape.text(part.get("type"), f"delta.content[{i}].type")
        if kind == "text":
            t = shape.text(part.get("text"), f"delta.content[{i}].text")
            if t:
                out.append(Chunk(TEXT, t))
        elif kind == "thinking":
            thinking = part.get("thinking")
            if isinstance(thinking, list):
                t = "".join(shape.text(shape.obj(p, "thinking[]").get("text"), "thinking[].text")
                            for p in thinking)
            else:
                t = shape.text(thinking, f"delta.content[{i}].thinking")
            if t:
                out.append(Chunk(REASONING, t))
        else:
            out.append(Chunk(OTHER, f"content part {kind!r}"))
    return out


def new_decoder(spec: RequestSpec) -> SSEDecoder:
    return SSEDecoder()


def new_parser() -> OpenAIParser:
    return OpenAIParser()
