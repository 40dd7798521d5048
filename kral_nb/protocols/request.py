"""What the user asks for (``ChatRequest``) and what goes on the wire (``RequestSpec``)."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..redact import redact_headers, redact_url

Message = dict[str, Any]


@dataclass
class ChatRequest:
    """A protocol-neutral chat request (messages in OpenAI form)."""

    model: str
    messages: list[Message]
    system: str | None = None
    tools: list[dict[str, Any]] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    include_usage: bool = True
    extra_body: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """What was asked, apart from the model, as canonical JSON: messages, system prompt,
        tools and options (runs frame ``request``; interned: runs of one request share it).
        Holds no key: keys travel in headers."""
        data = {"messages": self.messages, "system": self.system, "tools": self.tools,
                "temperature": self.temperature, "max_tokens": self.max_tokens,
                "include_usage": self.include_usage, "extra_body": self.extra_body}
        return sys.intern(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str))

    def key(self) -> str:
        """:meth:`describe` hashed (12 hex digits; runs frame ``request_key``): baseline and
        candidate runs are comparable when their keys agree."""
        return hashlib.sha256(self.describe().encode()).hexdigest()[:12]

    @classmethod
    def build(
        cls,
        prompt: str | None,
        *,
        messages: list[Message] | None,
        model: str,
        system: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        include_usage: bool = True,
        extra_body: dict[str, Any] | None = None,
    ) -> ChatRequest:
        """Validate the user's arguments (clear errors before any request)."""
        if (prompt is None) == (messages is None):
            raise ConfigError("give either a prompt or messages=[...], not both or neither")
        if prompt is not None:
            if not isinstance(prompt, str) or not prompt.strip():
                raise ConfigError("the prompt is empty: write something for the model to answer")
            messages = [{"role": "user", "content": prompt}]
        assert messages is not None
        if not messages or not all(isinstance(m, dict) and "role" in m for m in messages):
            raise ConfigError("messages must be a non-empty list of {'role': ..., 'content': ...}")
        if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                        or not 0 <= temperature <= 2):
            raise ConfigError(f"temperature must be a number from 0 to 2, got {temperature!r}")
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens < 1):
            raise ConfigError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        if tools is not None:
            validate_tools(tools)
        return cls(model, list(messages), system, tools, temperature, max_tokens,
                   include_usage, dict(extra_body or {}))


def validate_tools(tools: Any) -> None:
    """Tools are OpenAI-style function specs: ``{"type": "function", "function": {...}}``."""
    if not isinstance(tools, list) or not tools:
        raise ConfigError("tools must be a non-empty list of function specs")
    for t in tools:
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ConfigError(
                "each tool must look like {'type': 'function', 'function': {'name': ..., "
                f"'parameters': {{JSON schema}}}}; got {json.dumps(t, default=str)[:200]}"
            )
        params = fn.get("parameters", {"type": "object"})
        if not isinstance(params, dict) or params.get("type", "object") != "object":
            raise ConfigError(
                f"tool {fn['name']!r}: 'parameters' must be a JSON schema object "
                "({'type': 'object', 'properties': {...}})"
            )
        try:
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"tool {fn['name']!r}: parameters are not JSON: {exc}") from None
        _check_schema(fn["name"], params)


def _check_schema(name: str, schema: dict[str, Any]) -> None:
    """The parameters must be a valid JSON Schema (its ``$schema`` draft, else the latest),
    checked against the draft's metaschema by ``jsonschema``."""
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        where = "/".join(map(str, exc.path)) or "the top level"
        raise ConfigError(f"tool {name!r}: 'parameters' is not a valid JSON schema at {where}: "
                          f"{exc.message}") from None


@dataclass
class RequestSpec:
    """An HTTP request ready to send. Its repr never shows secret headers or credentials
    in the URL."""

    url: str
    headers: dict[str, str]
    json: Any
    method: str = "POST"

    def __repr__(self) -> str:
        return (f"RequestSpec(method={self.method!r}, url={redact_url(self.url)!r}, "
                f"headers={redact_headers(self.headers)!r})")
