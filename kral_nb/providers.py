"""Provider presets: base URL + protocol + auth header + key variable. Providers only translate."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigError, MissingKeyError
from .protocols import PROTOCOLS
from .redact import Secret


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str | None  # None: started on demand (sim, local)
    protocol: str = "openai"
    key_env: tuple[str, ...] = ()
    keyless: bool = False
    native: dict[str, str] | None = None  # protocol -> base URL of a native endpoint
    label: str = ""
    #: body fields that make the answer exactly ``max_tokens`` long (a workload's requested
    #: output length): ``min_tokens`` (vLLM, llama-cpp-python, the sim), ``ignore_eos`` (vLLM,
    #: llama.cpp, the sim). Elsewhere only the cap is sent: the answer may end sooner.
    exact_output: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never shows a key: none is stored here
        return f"Provider({self.name!r}, base_url={self.base_url!r}, protocol={self.protocol!r})"

    def url_for(self, protocol: str) -> str | None:
        if protocol != self.protocol and self.native and protocol in self.native:
            return self.native[protocol]
        return self.base_url


PRESETS: dict[str, Provider] = {
    p.name: p
    for p in (
        # kral's native endpoints: documented assumptions, override with base_url=...
        Provider("kral", "https://api.kral.ai/v1", "openai", ("KRAL_API_KEY",),
                 native={"anthropic": "https://api.kral.ai/v1",
                         "gemini": "https://api.kral.ai"}),
        Provider("openai", "https://api.openai.com/v1", "openai", ("OPENAI_API_KEY",)),
        Provider("anthropic", "https://api.anthropic.com/v1", "anthropic", ("ANTHROPIC_API_KEY",)),
        Provider("gemini", "https://generativelanguage.googleapis.com", "gemini",
                 ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
        Provider("openrouter", "https://openrouter.ai/api/v1", "openai", ("OPENROUTER_API_KEY",)),
        Provider("ollama", "http://localhost:11434/v1", "openai", keyless=True),
        Provider("vllm", "http://localhost:8000/v1", "openai", ("VLLM_API_KEY",), keyless=True,
                 exact_output=("min_tokens", "ignore_eos")),
        Provider("llamacpp", "http://localhost:8080/v1", "openai", keyless=True, exact_output=("ignore_eos",)),
        Provider("sim", None, "openai", keyless=True, label="simulated",
                 native={"anthropic": "", "gemini": ""}, exact_output=("min_tokens", "ignore_eos")),
        Provider("local", None, "openai", keyless=True, label="local llama.cpp", exact_output=("min_tokens",)),
    )
}

_session_keys: dict[str, Secret] = {}  # set by %kral key: memory only, never saved


def exact_output(provider: str, n_tokens: int) -> dict[str, object]:
    """The body fields that ask ``provider`` for an answer of exactly ``n_tokens`` tokens."""
    fields = PRESETS[provider].exact_output if provider in PRESETS else ()
    return {f: (n_tokens if f == "min_tokens" else True) for f in fields}


def set_key(provider: str, key: str) -> None:
    """Keep a key for ``provider`` in this process's memory only."""
    get_provider(provider)
    if not isinstance(key, str):
        raise ConfigError(f"set_key({provider!r}, ...): the key must be a string")
    _session_keys[provider] = check_key(Secret(key), f"set_key({provider!r}, ...)")


def get_provider(name: str) -> Provider:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown provider {name!r}; known: {', '.join(PRESETS)} "
            "(or give base_url=... for any OpenAI-compatible server)"
        ) from None


def split_model(model: str, provider: str | None) -> tuple[str, str]:
    """``"provider:model"`` -> (provider, model), splitting only when the prefix is a preset
    (so ``ollama:llama3:8b`` works and ``llama3:8b`` alone stays a model name)."""
    if not isinstance(model, str) or not model.strip():
        raise ConfigError("model must be a non-empty string such as 'sim:fast' or 'openai:gpt-4o'")
    prefix, colon, rest = model.partition(":")
    if colon and prefix in PRESETS and provider in (None, prefix):
        if not rest:
            raise ConfigError(f"model {model!r} names the provider but no model after the colon")
        return prefix, rest
    if colon and provider is None and prefix and "/" not in prefix:
        # "nope:x" is far more often a mistyped provider than a model name with a colon
        raise ConfigError(
            f"unknown provider {prefix!r} in model {model!r}; known: {', '.join(PRESETS)}. "
            f"For a model name that contains a colon, name the provider: 'kral:{model}' or provider='kral'")
    return provider or "kral", model


def check_url(url: object) -> str:
    from .redact import redact_url

    if not isinstance(url, str):
        raise ConfigError(f"base_url must be a string such as 'http://localhost:8080/v1', got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL such as http://localhost:8080/v1, got {redact_url(url)!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise ConfigError(f"base_url {redact_url(url)!r} has an invalid port") from None
    return url


def resolve_key(p: Provider, api_key: str | None) -> Secret | None:
    """The key for ``p``: ``api_key=``, then ``set_key``, then the environment; checked, and
    wrapped as a :class:`Secret` from here on."""
    key, source = _find_key(p, api_key)
    if key is not None:
        return check_key(key, source)
    if p.keyless:
        return None
    hint = " or ".join(p.key_env)
    raise MissingKeyError(
        f"provider {p.name!r} needs an API key: set {hint}, run `%kral key {p.name}` in a "
        "notebook, or pass api_key=...; for a keyless try use model='sim:fast'"
    )


def _find_key(p: Provider, api_key: str | None) -> tuple[Secret | None, str]:
    if api_key:
        return Secret(api_key), "api_key="
    if p.name in _session_keys:
        return _session_keys[p.name], f"the key set for {p.name}"
    for var in p.key_env:
        if os.environ.get(var):
            return Secret(os.environ[var]), f"${var}"
    return None, ""


def check_key(key: Secret, source: str) -> Secret:
    """A key must be printable ASCII (it goes into an HTTP header); the message never shows it."""
    if not key.isascii() or not key.isprintable():
        raise ConfigError(
            f"the API key from {source} contains a control character (often a trailing newline "
            "from a file) or a non-ASCII character; it is not shown here. Strip it and set it again")
    return key


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return protocol

