"""Prompts from a local dataset file (``workloads.dataset``): ShareGPT, OpenAI chat or
``{"prompt": ...}`` rows, JSON or JSONL, sampled with a seed. Nothing is downloaded. The file
is read once, where ``dataset()`` is called; the prompts travel with the workload."""

from __future__ import annotations

import json
import os
import random
from typing import Any

from ..errors import ConfigError
from .base import Item, Workload

FORMATS = ("auto", "sharegpt", "openai", "prompt")
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
          "system": "system"}


def _rows(path: str) -> list[Any]:
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(1)
            f.seek(0)
            if head == "[" or (head == "{" and path.endswith(".json")):
                data = json.load(f)
                rows = data.get("data", data.get("rows")) if isinstance(data, dict) else data
                return list(rows) if isinstance(rows, list) else []
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        raise ConfigError(f"no dataset file at {path!r}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not read the dataset {path!r} as JSON or JSON lines: {exc}") from None


def _detect(row: Any) -> str:
    if isinstance(row, dict):
        for fmt, key in (("sharegpt", "conversations"), ("openai", "messages"), ("prompt", "prompt")):
            if key in row:
                return fmt
    raise ConfigError("unknown dataset rows: expected ShareGPT ('conversations' of from/value), OpenAI chat "
                      f"('messages') or {{'prompt': ...}} rows; the first row is {str(row)[:120]}")


def _messages(row: Any, fmt: str) -> tuple[tuple[str, str], ...]:
    """The request a row asks for: up to its first user turn (ShareGPT, as vLLM's benchmark
    takes it), every message but a trailing answer (OpenAI chat), or the prompt."""
    if not isinstance(row, dict):
        return ()
    if fmt == "prompt":
        prompt = row.get("prompt")
        return (("user", prompt),) if isinstance(prompt, str) and prompt.strip() else ()
    if fmt == "sharegpt":
        turns = row.get("conversations") or []
        out: list[tuple[str, str]] = []
        for t in turns if isinstance(turns, list) else []:
            role = _ROLES.get(str(t.get("from", "")).lower()) if isinstance(t, dict) else None
            if role and isinstance(t.get("value"), str):
                out.append((role, t["value"]))
                if role == "user":
                    break
        return tuple(out) if out and out[-1][0] == "user" and out[-1][1].strip() else ()
    msgs: list[tuple[str, str]] = [(m["role"], m["content"]) for m in row.get("messages") or []
                                   if isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                                   and isinstance(m.get("content"), str)]
    while msgs and msgs[-1][0] == "assistant":
        msgs.pop()
    return tuple(msgs) if msgs and msgs[-1][0] == "user" else ()


class Dataset(Workload):
    kind = "dataset"

    def __init__(self, path: str, *, format: str = "auto", seed: int = 0) -> None:
        if format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        rows = _rows(os.fspath(path))
        if not rows:
            raise ConfigError(f"the dataset {path!r} has no rows")
        self.format = _detect(rows[0]) if format == "auto" else format
        requests = [m for m in (_messages(r, self.format) for r in rows) if m]
        if not requests:
            raise ConfigError(f"no row of {path!r} holds a prompt in the {self.format} format")
        random.Random(seed).shuffle(requests)  # sampled with the seed; item i cycles through them
        self.path, self.seed, self.rows, self.skipped = os.fspath(path), seed, len(rows), len(rows) - len(requests)
        self.requests = requests
        self.distinct = len(requests)

    def item(self, i: int) -> Item:
        return Item(self.requests[i % len(self.requests)])

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": os.path.basename(self.path), "format": self.format,
                "prompts": len(self.requests), "rows skipped": self.skipped, "seed": self.seed}

    def summary(self) -> str:
        return f"dataset {os.path.basename(self.path)} ({self.format}, {len(self.requests):,} prompts)"


def dataset(path: str, *, format: str = "auto", seed: int = 0) -> Dataset:
    """Prompts from a local JSON or JSONL file: ShareGPT (``conversations`` of ``from`` /
    ``value``: up to the first human turn), OpenAI chat (``messages``: all but a trailing
    assistant answer) or ``{"prompt": ...}`` rows (``format="auto"`` tells them apart by the
    first row). Shuffled with ``seed``; request ``i`` cycles through them. Rows without a prompt
    are skipped and counted."""
    return Dataset(path, format=format, seed=seed)
