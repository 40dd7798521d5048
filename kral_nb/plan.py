"""Turn the user's arguments into jobs: provider, protocol, URL, key, request, pipeline.

Every check happens here, before any request: unknown provider, bad model syntax, empty
prompt, bad option values, invalid tools, non-http(s) base URL, missing key.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from typing import Any

from . import protocols
from .errors import ConfigError
from .net.engine import Job
from .options import Options, RetryPolicy, Timeouts
from .protocols.request import ChatRequest, Message, RequestSpec
from .providers import check_protocol, check_url, exact_output, get_provider, resolve_key, split_model
from .record.pipeline import Pipeline
from .record.recorder import Run
from .redact import scrub, secrets_of, split_credentials, split_query, with_query
from .servers.startup import NOTES, Ready, starting


def split_protocol(model: str) -> tuple[str, str | None]:
    """``"sim:fast@anthropic"`` -> (``"sim:fast"``, ``"anthropic"``)."""
    head, at, tail = model.rpartition("@")
    if at and tail in protocols.PROTOCOLS:
        return head, tail
    return model, None


def plan(prompt: str | None, messages: list[Message] | None, model: str | dict[str, Any],
         opts: Options, *, repeat: int = 0, prompt_id: int = 0, warmup: bool = False) -> Job:
    """One job, fully validated. ``model`` may be a dict with per-model overrides
    (``{"model": "sim:fast", "protocol": "anthropic", "base_url": ...}``)."""
    return target(model, opts).job(prompt, messages, repeat=repeat, prompt_id=prompt_id, warmup=warmup)


def target(model: str | dict[str, Any], opts: Options) -> Target:
    """Where one model's requests go and how, every check made: provider, protocol, URL, key,
    the protocol's knobs. A helper server it needs (the sim, the local model) is started."""
    if isinstance(model, dict):
        over = dict(model)
        model = over.pop("model", "")
        opts = Options.from_kwargs({**vars(opts), **over}, "per-model option")
    if not isinstance(model, str):
        raise ConfigError(f"model must be a string such as 'sim:fast', got {model!r}")
    model, proto_suffix = split_protocol(model)
    prov_name, model_name = split_model(model, opts.provider)
    prov = get_provider(prov_name)
    proto = check_protocol(opts.protocol or proto_suffix or prov.protocol)
    gguf = ""  # the local model's file: its tokenizer counts the output
    ready: Ready | None = None  # a helper server to wait for before the first request
    if opts.base_url:
        url = check_url(opts.base_url)
    elif prov.name == "sim":
        from . import sim

        try:
            sim.parse_model(model_name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        root = sim.start()  # spawned, not waited for: the engine waits, the pane says so
        ready = Ready("sim", root, probe="")  # it listens before it serves: a connection queues
        url = root if proto == "gemini" else root + "/v1"
    elif prov.name == "local":
        from .servers import local

        try:
            root = local.start(model_name)
            gguf = local.model_path(model_name)[0]
            ready = Ready("local", root, note=local.note(model_name))
        except ConfigError as exc:
            if str(exc) != local.MISSING:
                raise
            root, ready = "http://127.0.0.1:9", Ready("local", "", error=local.MISSING)  # a run error: other panes stream
        url = root + ("" if proto == "gemini" else "/v1")
    else:
        if proto != prov.protocol and not (prov.native and proto in prov.native):
            raise ConfigError(f"provider {prov.name!r} does not serve the {proto} protocol; "
                              "give base_url=... for the endpoint that does")
        url = prov.url_for(proto) or ""
    key = resolve_key(prov, opts.api_key)
    protocols.check_knobs(proto, vars(opts))
    auth = protocols.get(proto).auth_headers(key)
    url, basic = split_credentials(url)  # user:password@ in base_url -> a Basic header
    if basic is not None and "authorization" not in auth:
        auth["authorization"] = basic
    url, query = split_query(url)  # ?key=... stays on the end, after the protocol's path
    # the local model is counted in process from its GGUF; a server counts only when asked
    tokenizer = ((url.rstrip("/").removesuffix("/v1"), opts.tokenizer) if opts.tokenizer
                 else (gguf, "gguf") if prov.name == "local" and not opts.base_url else None)
    return Target(prov.name, model_name, proto, url, query, auth, opts, secrets_of(key, opts.base_url or ""),
                  tokenizer, ready)


@dataclass(frozen=True)
class Target:
    """One model's destination, validated (:func:`target`): plain data, so it pickles to a
    load shard or a Ray actor, which build each request of a workload from it (:meth:`job`)."""

    provider: str
    model: str  # the provider's name for it
    protocol: str
    url: str  # the base URL, its query apart
    query: list[tuple[str, str]]  # the base URL's query (``?key=...``), kept on the end of every request's URL
    auth: dict[str, str]
    opts: Options
    secrets: tuple[str, ...]
    tokenizer: tuple[str, str] | None
    ready: Ready | None

    def job(self, prompt: str | None, messages: list[Message] | None, *, max_tokens: int | None = None,
            exact: bool = False, repeat: int = 0, prompt_id: int = 0, warmup: bool = False) -> Job:
        """One request to this model: ``prompt`` or ``messages``; ``max_tokens`` overrides the
        option (a workload's requested output length), ``exact`` asks the provider for exactly
        that many tokens where it can (``providers.exact_output``)."""
        opts = self.opts
        cap = max_tokens if max_tokens is not None else opts.max_tokens
        extra = {**(opts.extra_body or {}), **(exact_output(self.provider, cap) if exact and cap else {})}
        req = ChatRequest.build(prompt, messages=messages, model=self.model, system=opts.system,
                                tools=opts.tools, temperature=opts.temperature, max_tokens=cap,
                                include_usage=opts.include_usage, extra_body=extra)
        spec = protocols.get(self.protocol).build_request(req, self.url, dict(self.auth), vars(opts))
        spec.url = with_query(spec.url, self.query)
        run = Run(uuid.uuid4().hex[:12], self.provider, self.model, self.protocol, repeat, prompt_id, warmup)
        run.secrets, run.request_key = self.secrets, req.key()
        run.request = sys.intern(scrub(req.describe(), self.secrets)) if self.secrets else req.describe()
        if opts.trace:
            run.trace = []
        if self.ready is not None and starting(self.ready):  # the pane says so from its first render
            run.note = self.ready.note or NOTES.get(self.ready.kind, "")
        return Job(run, spec, PipelineFactory(self.protocol, spec), Timeouts.of(opts.timeout),
                   RetryPolicy.of(opts.retries), self.secrets, self.tokenizer, self.ready)


@dataclass(frozen=True)
class PipelineFactory:
    """Builds a run's pipeline for one protocol and request; plain data, so a job pickles to a
    worker process (load shards)."""

    protocol: str
    spec: RequestSpec

    def __call__(self, run: Run) -> Pipeline:
        module = protocols.get(self.protocol)
        return Pipeline(module.new_decoder(self.spec), module.new_parser(), run)
