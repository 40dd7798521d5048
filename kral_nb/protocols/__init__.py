"""Wire formats: one module per protocol, each a pure request builder, decoder factory and
stream parser (``build_request``, ``new_decoder``, ``new_parser``)."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Protocol

from ..errors import ConfigError
from .records import ERROR, Chunk
from .sse import Comment, Event

PROTOCOLS = ("openai", "anthropic", "gemini")
MALFORMED = "malformed JSON in stream event"  # run(check=True) raises ProtocolError for it


def malformed(data: str) -> Chunk:
    """The error record for an event whose data is not JSON."""
    return Chunk(ERROR, f"{MALFORMED}: {data[:200]!r}", error_kind="protocol")


class Decoder(Protocol):
    """Bytes in, events out (``SSEDecoder``, Gemini's ``JSONArrayDecoder``); ``MEDIA_TYPE`` is
    the content type the decoder reads."""

    MEDIA_TYPE: str

    def decode(self, data: bytes) -> list[Event | Comment]: ...

    def flush(self) -> list[Event | Comment]: ...

    @property
    def pending(self) -> bool: ...


class StreamParser(Protocol):
    """``feed(item) -> chunks``; ``done`` becomes True at the protocol's terminator."""

    done: bool

    def feed(self, item: Event | Comment) -> list[Chunk]: ...

    def complete(self, obj: Any) -> list[Chunk]:
        """A whole non-streamed answer (decoded JSON) -> chunks; raises ``ValueError`` subclasses
        on a wrong shape."""
        ...


def get(name: str) -> ModuleType:
    """The module implementing protocol ``name``."""
    return REGISTRY[name]


# the protocol modules use the helpers above, so they are imported after them
from . import anthropic, gemini, openai  # noqa: E402

#: protocol name -> its module (``auth_headers``, ``build_request``, ``new_decoder``,
#: ``new_parser``, ``KNOBS``: its own options and their defaults)
REGISTRY: dict[str, ModuleType] = {"openai": openai, "anthropic": anthropic, "gemini": gemini}


def check_knobs(protocol: str, options: dict[str, Any]) -> None:
    """A protocol's own option given for another protocol is a mistake: say so, before any
    request."""
    for name, module in REGISTRY.items():
        for knob, default in module.KNOBS.items():
            if name != protocol and options.get(knob, default) != default:
                raise ConfigError(f"{knob}={options[knob]!r} applies to the {name} protocol only, not {protocol}")
