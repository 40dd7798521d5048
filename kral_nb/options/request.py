"""A request's options (:class:`Options`, shared by run / stream / compare / load / the
magic / the CLI) and the two option values with behaviour of their own, :class:`Timeouts`
and :class:`RetryPolicy`. Pure: no I/O, no clock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..protocols import PROTOCOLS, gemini
from ..redact import CredentialURL, Secret, has_credentials
from .base import OptionSet, int_in, is_int, number_in, opt, unknown_message

GEMINI_BODIES = gemini.BODIES
#: how a llama.cpp server counts tokens with the model's own tokenizer
TOKENIZERS = ("llama-cpp-python", "llama.cpp")
MAX_RETRIES = 10


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``idle_s``: longest wait for the next bytes; ``total_s``: whole request."""

    connect_s: float = 10.0
    idle_s: float = 60.0
    total_s: float | None = 600.0

    def __post_init__(self) -> None:
        for name in ("connect_s", "idle_s", "total_s"):
            v = getattr(self, name)
            if not (v is None and name == "total_s") and not number_in(0, above=True)(v):
                raise ConfigError(f"Timeouts({name}=...) must be a positive, finite number of seconds, got {v!r}")

    @classmethod
    def of(cls, timeout: float | Timeouts | None) -> Timeouts:
        """``timeout=`` as given: seconds (idle read and total) or a Timeouts."""
        if timeout is None:
            return cls()
        if isinstance(timeout, Timeouts):
            return timeout
        if not number_in(0, above=True)(timeout):
            raise ConfigError(f"timeout must be a positive, finite number of seconds or a Timeouts, got {timeout!r}")
        t = float(timeout)
        return cls(connect_s=min(10.0, t), idle_s=t, total_s=t)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry connect errors and 429/502/503/529 *before any response byte*; never after
    content arrived (the user would be billed twice and the timing would lie).
    Wait = ``Retry-After`` when given (seconds or an HTTP date), else ``base_s * 2**attempt``;
    at least ``min_s`` (a ``Retry-After: 0`` storm cannot become a tight loop), at most
    ``cap_s``, plus up to 25% jitter. Waits count against the total timeout: a wait that
    would pass it is not made. At most ``MAX_RETRIES`` retries."""

    max_retries: int = 2
    base_s: float = 0.5
    cap_s: float = 20.0
    min_s: float = 0.1

    def __post_init__(self) -> None:
        if not int_in(0, MAX_RETRIES)(self.max_retries):
            raise ConfigError(f"retries must be an integer from 0 to {MAX_RETRIES}, got {self.max_retries!r}")
        for name in ("base_s", "cap_s", "min_s"):
            if not number_in(0)(getattr(self, name)):
                raise ConfigError(f"RetryPolicy({name}=...) must be a finite number >= 0, got {getattr(self, name)!r}")

    def wait_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        wait = retry_after_s if retry_after_s is not None else self.base_s * 2**attempt
        return max(self.min_s, min(self.cap_s, wait)) * (1 + 0.25 * rng.random())

    @classmethod
    def of(cls, retries: int | RetryPolicy | None) -> RetryPolicy:
        if retries is None:
            return cls()
        if isinstance(retries, RetryPolicy):
            return retries
        if not is_int(retries):
            raise ConfigError(f"retries must be an integer from 0 to {MAX_RETRIES} or a RetryPolicy, got {retries!r}")
        return cls(max_retries=retries)


def _string(v: Any) -> bool:
    return isinstance(v, str)


def _body(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) for k in v)


@dataclass
class Options(OptionSet):
    """Request options shared by run / stream / compare / load / the magic / the CLI.
    Unknown names raise (a typo must not be sent silently in the request body);
    provider-specific body fields go in ``extra_body``."""

    provider: str | None = opt(None, "provider for a model name without a prefix (default kral)", flags=("-p",),
                                check=_string, must="a string")
    base_url: str | None = opt(None, "endpoint base URL, e.g. http://localhost:8080/v1 (overrides the preset)",
                                check=_string, must="a string")
    # a key never goes on a command line (shell history, notebook source): set_key or %kral key
    api_key: str | None = field(default=None, repr=False, metadata={
        "doc": "the key (default: set_key(), then the provider's environment variable)", "arg": None,
        "check": _string, "must": "a string"})
    protocol: str | None = opt(None, "wire protocol: openai, anthropic or gemini (or model@protocol)",
                                choices=PROTOCOLS)
    system: str | None = opt(None, "system prompt", flags=("-s",), check=_string, must="a string")
    tools: list[dict[str, Any]] | None = opt(None, "OpenAI-style function specs; calls stream as tool_call chunks",
                                              arg="json")
    temperature: float | None = opt(None, "sampling temperature, 0 to 2", arg=float, flags=("-t",),
                                     check=number_in(0, 2), must="a number from 0 to 2")
    max_tokens: int | None = opt(None, "cap on generated tokens", arg=int, check=int_in(1, 10_000_000),
                                  must="a positive integer")
    timeout: float | Timeouts | None = opt(None, "seconds (idle read and total) or a Timeouts", arg=float)
    retries: int | RetryPolicy | None = opt(None, f"retries before any response byte, 0-{MAX_RETRIES}, or a "
                                             "RetryPolicy", arg=int)
    include_usage: bool = opt(True, "ask for token usage in the stream (stream_options.include_usage)",
                               arg=bool, flags=("--no-usage",), check=lambda v: isinstance(v, bool),
                               must="True or False")
    trace: bool = opt(False, "keep raw reads, for export and replay", arg=bool,
                       check=lambda v: isinstance(v, bool), must="True or False")
    gemini_body: str = opt("sse", "Gemini only: 'sse' (?alt=sse) or 'array' (one streamed JSON array)",
                            choices=GEMINI_BODIES)
    tokenizer: str | None = opt(None, "'llama-cpp-python' or 'llama.cpp': count output tokens on that server",
                                 choices=TOKENIZERS)
    extra_body: dict[str, Any] = opt(None, "provider-specific request fields, merged into the body", arg="json",
                                      factory=dict, check=_body,
                                      must="a dict of request-body fields, e.g. {'top_p': 0.9}")

    @classmethod
    def from_kwargs(cls, kw: dict[str, Any], what: str = "option") -> Options:
        """Options from keyword arguments; an unknown name raises with a suggestion. A key
        in ``kw`` is replaced, in place, by a :class:`Secret`, so a verbose traceback showing
        the caller's ``**options`` masks it."""
        if isinstance(kw.get("api_key"), str):
            kw["api_key"] = Secret(kw["api_key"])
        if isinstance(kw.get("base_url"), str) and has_credentials(kw["base_url"]):
            kw["base_url"] = CredentialURL(kw["base_url"])
        unknown = [k for k in kw if k not in cls.__dataclass_fields__]
        if unknown:
            raise ConfigError(unknown_message(unknown[0], list(cls.__dataclass_fields__), what))
        out = cls(**kw)
        out.check()
        return out

    def check(self) -> None:
        if self.extra_body is None:  # the signature shows None as its default
            self.extra_body = {}
        super().check()
        Timeouts.of(self.timeout)
        RetryPolicy.of(self.retries)


