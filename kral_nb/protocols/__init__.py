"""Wire formats: one module per protocol, each a pure request builder, decoder factory and
stream parser (``build_request``, ``new_decoder``, ``new_parser``)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Protocol

from ..records import Chunk
from ..sse import Comment, Event

PROTOCOLS = ("openai", "anthropic", "gemini")


class StreamParser(Protocol):
    """``feed(item) -> chunks``; ``done`` becomes True at the protocol's terminator."""

    done: bool

    def feed(self, item: Event | Comment) -> list[Chunk]: ...


def get(name: str) -> ModuleType:
    """The module implementing protocol ``name``."""
    return importlib.import_module(f"{__name__}.{name}")
