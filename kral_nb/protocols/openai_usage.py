"""OpenAI ``usage`` objects as a ``usage`` chunk, and what a server says about itself beside
them (llama.cpp's ``timings``, OpenRouter's ``cost``). Pure: no I/O, no clock."""

from __future__ import annotations

from typing import Any

from . import shape
from .records import USAGE, Chunk

_USAGE_KEYS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
                         "completion_tokens_details"})


def server_metrics(obj: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    """What the server says about itself, kept beside kral_nb's own measurements:
    llama.cpp's ``timings``, and usage extras such as OpenRouter's ``cost``."""
    out: dict[str, Any] = {}
    if isinstance(obj.get("timings"), dict):
        out["timings"] = obj["timings"]
    out.update({k: v for k, v in usage.items() if k not in _USAGE_KEYS})
    return out


def usage_chunk(u: dict[str, Any]) -> Chunk:
    """``output_tokens`` always *include* reasoning tokens, as OpenAI's ``completion_tokens``
    do. Some providers (xAI) report them apart: ``total_tokens`` = prompt + completion +
    reasoning, or reasoning > completion. Then the reasoning tokens are added."""
    prompt = shape.count(u.get("prompt_tokens"), "usage.prompt_tokens")
    completion = shape.count(u.get("completion_tokens"), "usage.completion_tokens")
    total = shape.count(u.get("total_tokens"), "usage.total_tokens")
    cached = shape.count(shape.obj(u.get("prompt_tokens_details"), "usage.prompt_tokens_details")
                         .get("cached_tokens"), "usage.prompt_tokens_details.cached_tokens")
    reasoning = shape.count(shape.obj(u.get("completion_tokens_details"), "usage.completion_tokens_details")
                            .get("reasoning_tokens"), "usage.completion_tokens_details.reasoning_tokens")
    if completion is not None and reasoning and reasoning_excluded(prompt, completion, reasoning, total):
        completion = shape.count(completion + reasoning, "usage.completion_tokens + reasoning_tokens")
    return Chunk(USAGE, input_tokens=prompt, output_tokens=completion,
                 reasoning_tokens=reasoning, cached_tokens=cached)


def reasoning_excluded(prompt: int | None, completion: int, reasoning: int, total: int | None) -> bool:
    """True when ``completion_tokens`` leave the reasoning tokens out (docs/metrics.md)."""
    if total is not None and prompt is not None:
        if total == prompt + completion:
            return False
        if total == prompt + completion + reasoning:
            return True
    return reasoning > completion
