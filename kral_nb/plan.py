"""Turn the user's arguments into jobs: provider, protocol, URL, key, request, pipeline.

Every check happens here, before any request: unknown provider, bad model syntax, empty
prompt, bad option values, invalid tools, non-http(s) base URL, missing key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from . import protocols
from .engine import Job, RetryPolicy
from .errors import ConfigError
from .providers import (
    auth_headers,
    check_protocol,
    check_url,
    get_provider,
    resolve_key,
    split_model,
)
from .recorder import Pipeline, Run
from .request import ChatRequest, Message
from .transport import Timeouts


@dataclass
class Options:
    """Request options shared by run / stream / compare / the magic."""

    provider: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    protocol: str | None = None
    system: str | None = None
    tools: list[dict[str, Any]] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | Timeouts | None = None
    retries: int | RetryPolicy | None = None
    include_usage: bool = True
    trace: bool = False  # keep raw reads for export and replay
    params: dict[str, Any] = field(default_factory=dict)


def split_protocol(model: str) -> tuple[str, str | None]:
    """``"sim:fast@anthropic"`` -> (``"sim:fast"``, ``"anthropic"``)."""
    head, at, tail = model.rpartition("@")
    if at and tail in protocols.PROTOCOLS:
        return head, tail
    return model, None


def timeouts_of(timeout: float | Timeouts | None) -> Timeouts:
    if timeout is None:
        return Timeouts()
    if isinstance(timeout, Timeouts):
        return timeout
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"timeout must be a positive number of seconds or a Timeouts, got {timeout!r}")
    t = float(timeout)
    return Timeouts(connect_s=min(10.0, t), idle_s=t, total_s=t)


def retry_of(retries: int | RetryPolicy | None) -> RetryPolicy:
    if retries is None:
        return RetryPolicy()
    if isinstance(retries, RetryPolicy):
        return retries
    if not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retries must be a non-negative integer, got {retries!r}")
    return RetryPolicy(max_retries=retries)


def plan(prompt: str | None, messages: list[Message] | None, model: str | dict[str, Any],
         opts: Options, *, repeat: int = 0, prompt_id: int = 0, warmup: bool = False) -> Job:
    """One job, fully validated. ``model`` may be a dict with per-model overrides
    (``{"model": "sim:fast", "protocol": "anthropic", "base_url": ...}``)."""
    if isinstance(model, dict):
        over = dict(model)
        model = over.pop("model", "")
        unknown = set(over) - set(Options.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown per-model option(s) {sorted(unknown)}")
        opts = Options(**{**vars(opts), **over})
    if not isinstance(model, str):
        raise ConfigError(f"model must be a string such as 'sim:fast', got {model!r}")
    model, proto_suffix = split_protocol(model)
    prov_name, model_name = split_model(model, opts.provider)
    prov = get_provider(prov_name)
    proto = check_protocol(opts.protocol or proto_suffix or prov.protocol)
    if opts.base_url:
        url = check_url(opts.base_url)
    elif prov.name == "sim":
        from . import sim

        try:
            sim.parse_model(model_name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        root = sim.ensure_running()
        url = root if proto == "gemini" else root + "/v1"
    elif prov.name == "local":
        from .local import ensure_running as start_local

        url = start_local(model_name) + ("" if proto == "gemini" else "/v1")
    else:
        if proto != prov.protocol and not (prov.native and proto in prov.native):
            raise ConfigError(f"provider {prov.name!r} does not serve the {proto} protocol; "
                              "give base_url=... for the endpoint that does")
        url = prov.url_for(proto) or ""
    key = resolve_key(prov, opts.api_key)
    req = ChatRequest.build(prompt, messages=messages, model=model_name, system=opts.system,
                            tools=opts.tools, temperature=opts.temperature,
                            max_tokens=opts.max_tokens, include_usage=opts.include_usage,
                            params=opts.params)
    module = protocols.get(proto)
    spec = module.build_request(req, url, auth_headers(proto, key))
    run = Run(uuid.uuid4().hex[:12], prov.name, model_name, proto, repeat, prompt_id, warmup)
    if opts.trace:
        run.trace = []

    def make_pipeline(run: Run) -> Pipeline:
        return Pipeline(module.new_decoder(spec), module.new_parser(), run)

    return Job(run, spec, make_pipeline, timeouts_of(opts.timeout), retry_of(opts.retries),
               (key,) if key else ())
