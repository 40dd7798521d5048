"""Turn the user's arguments into jobs: provider, protocol, URL, key, request, pipeline.

Every check happens here, before any request: unknown provider, bad model syntax, empty
prompt, bad option values, invalid tools, non-http(s) base URL, missing key.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import protocols
from .client import Timeouts
from .engine import MAX_RETRIES, Job, RetryPolicy
from .errors import ConfigError
from .pipeline import Pipeline
from .providers import (
    auth_headers,
    check_protocol,
    check_url,
    get_provider,
    resolve_key,
    split_model,
)
from .recorder import Run
from .redact import CredentialURL, Secret, scrub, secrets_of, split_credentials
from .request import ChatRequest, Message, RequestSpec
from .startup import NOTES, Ready, starting
from .transport import TOKENIZERS

GEMINI_BODIES = ("sse", "array")


def _opt(default: Any, doc: str, *, arg: Any = str, flags: tuple[str, ...] = (),
         choices: tuple[str, ...] | None = None) -> Any:
    """A field of :class:`Options` with its one-line documentation (shown by ``help()`` of
    every entry point, the magic and the CLI) and how a command line spells it
    (``optionargs.py``): ``arg`` is ``str``/``int``/``float``, ``bool`` (a switch), ``"json"``
    (JSON text, or in the magic a variable's name) or None (never on a command line)."""
    return field(default=default, metadata={"doc": doc, "arg": arg, "flags": flags, "choices": choices})


def option_doc(name: str) -> str:
    return str(Options.__dataclass_fields__[name].metadata["doc"])


F = TypeVar("F", bound=Callable[..., Any])


def with_options(func: F) -> F:
    """Make ``func(..., **options)`` show every option as a keyword-only parameter in
    ``help()``, ``inspect.signature`` and Jupyter's completion (Options is the one spelling)."""
    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    for f in dataclasses.fields(Options):
        default = f.default if f.default is not dataclasses.MISSING else None
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=f.type))
    func.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    lines = "\n".join(f"    {f.name}: {f.metadata['doc']}" for f in dataclasses.fields(Options))
    func.__doc__ = (func.__doc__ or "").rstrip() + "\n\n    Request options (keyword-only):\n" + lines + "\n"
    return func


@dataclass
class Options:
    """Request options shared by run / stream / compare / the magic: the one place they are
    spelled. Unknown names raise (a typo must not be sent silently in the request body);
    provider-specific body fields go in ``extra_body``."""

    provider: str | None = _opt(None, "provider for a model name without a prefix (default kral)", flags=("-p",))
    base_url: str | None = _opt(None, "endpoint base URL, e.g. http://localhost:8080/v1 (overrides the preset)")
    # a key never goes on a command line (shell history, notebook source): set_key or %kral key
    api_key: str | None = field(default=None, repr=False, metadata={
        "doc": "the key (default: set_key(), then the provider's environment variable)", "arg": None})
    protocol: str | None = _opt(None, "wire protocol: openai, anthropic or gemini (or model@protocol)",
                                choices=protocols.PROTOCOLS)
    system: str | None = _opt(None, "system prompt", flags=("-s",))
    tools: list[dict[str, Any]] | None = _opt(None, "OpenAI-style function specs; calls stream as tool_call chunks",
                                              arg="json")
    temperature: float | None = _opt(None, "sampling temperature, 0 to 2", arg=float, flags=("-t",))
    max_tokens: int | None = _opt(None, "cap on generated tokens", arg=int)
    timeout: float | Timeouts | None = _opt(None, "seconds (idle read and total) or a Timeouts", arg=float)
    retries: int | RetryPolicy | None = _opt(None, "retries before any response byte, 0-10, or a RetryPolicy",
                                             arg=int)
    include_usage: bool = _opt(True, "ask for token usage in the stream (stream_options.include_usage)",
                               arg=bool, flags=("--no-usage",))
    trace: bool = _opt(False, "keep raw reads, for export and replay", arg=bool)
    gemini_body: str = _opt("sse", "Gemini only: 'sse' (?alt=sse) or 'array' (one streamed JSON array)",
                            choices=GEMINI_BODIES)
    tokenizer: str | None = _opt(None, "'llama-cpp-python' or 'llama.cpp': count output tokens on that server",
                                 choices=TOKENIZERS)
    extra_body: dict[str, Any] = field(default_factory=dict, metadata={
        "doc": "provider-specific request fields, merged into the body", "arg": "json", "flags": (),
        "choices": None})

    @classmethod
    def from_kwargs(cls, kw: dict[str, Any], what: str = "option") -> Options:
        """Options from keyword arguments. A key in ``kw`` is replaced, in place, by a
        :class:`Secret`, so a verbose traceback showing the caller's ``**options`` masks it."""
        if isinstance(kw.get("api_key"), str):
            kw["api_key"] = Secret(kw["api_key"])
        if isinstance(kw.get("base_url"), str) and "@" in kw["base_url"]:
            kw["base_url"] = CredentialURL(kw["base_url"])
        unknown = [k for k in kw if k not in cls.__dataclass_fields__]
        if unknown:
            raise ConfigError(unknown_message(unknown[0], list(cls.__dataclass_fields__), what))
        return cls(**kw)

    def check(self) -> None:
        """Types and ranges, with the argument's name in the message."""
        if self.extra_body is None:  # the signature shows None as its default
            self.extra_body = {}
        for name in ("provider", "base_url", "api_key", "protocol", "system"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise ConfigError(f"{name} must be a string, got {type(v).__name__} {v!r}"
                                  if name != "api_key" else f"api_key must be a string, got {type(v).__name__}")
        if self.temperature is not None and (not _number(self.temperature) or not 0 <= self.temperature <= 2):
            raise ConfigError(f"temperature must be a number from 0 to 2, got {self.temperature!r}")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int)
                                            or not 1 <= self.max_tokens <= 10_000_000):
            raise ConfigError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        for name in ("include_usage", "trace"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.tokenizer is not None and self.tokenizer not in TOKENIZERS:
            raise ConfigError(f"tokenizer must be one of {', '.join(TOKENIZERS)} or None, got {self.tokenizer!r}")
        if self.gemini_body not in GEMINI_BODIES:
            raise ConfigError(f"gemini_body must be 'sse' or 'array', got {self.gemini_body!r}")
        if not isinstance(self.extra_body, dict) or not all(isinstance(k, str) for k in self.extra_body):
            raise ConfigError("extra_body must be a dict of request-body fields, e.g. {'top_p': 0.9}")


def _number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def unknown_message(name: str, known: list[str], what: str = "option") -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" — did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
    return (f"unknown {what} {name!r}{hint} (provider-specific request fields go in "
            "extra_body={...})")


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
    if not _number(timeout) or timeout <= 0:
        raise ConfigError(f"timeout must be a positive, finite number of seconds or a Timeouts, got {timeout!r}")
    t = float(timeout)
    return Timeouts(connect_s=min(10.0, t), idle_s=t, total_s=t)


def retry_of(retries: int | RetryPolicy | None) -> RetryPolicy:
    if retries is None:
        return RetryPolicy()
    if isinstance(retries, RetryPolicy):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise ConfigError(f"retries must be an integer from 0 to {MAX_RETRIES} or a RetryPolicy, got {retries!r}")
    return RetryPolicy(max_retries=retries)


def plan(prompt: str | None, messages: list[Message] | None, model: str | dict[str, Any],
         opts: Options, *, repeat: int = 0, prompt_id: int = 0, warmup: bool = False) -> Job:
    """One job, fully validated. ``model`` may be a dict with per-model overrides
    (``{"model": "sim:fast", "protocol": "anthropic", "base_url": ...}``)."""
    if isinstance(model, dict):
        over = dict(model)
        model = over.pop("model", "")
        opts = Options.from_kwargs({**vars(opts), **over}, "per-model option")
    opts.check()
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
        from . import local

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
    if opts.gemini_body != "sse" and proto != "gemini":
        raise ConfigError(f"gemini_body={opts.gemini_body!r} applies to the gemini protocol only, not {proto}")
    req = ChatRequest.build(prompt, messages=messages, model=model_name, system=opts.system,
                            tools=opts.tools, temperature=opts.temperature,
                            max_tokens=opts.max_tokens, include_usage=opts.include_usage,
                            extra_body=opts.extra_body)
    module = protocols.get(proto)
    auth = auth_headers(proto, key)
    url, basic = split_credentials(url)  # user:password@ in base_url -> a Basic header
    if basic is not None and "authorization" not in auth:
        auth["authorization"] = basic
    spec = (module.build_request(req, url, auth, sse=opts.gemini_body == "sse") if proto == "gemini"
            else module.build_request(req, url, auth))
    secrets = secrets_of(key, opts.base_url or "")
    run = Run(uuid.uuid4().hex[:12], prov.name, model_name, proto, repeat, prompt_id, warmup)
    run.secrets, run.request_key = secrets, req.key()
    run.request = sys.intern(scrub(req.describe(), secrets)) if secrets else req.describe()
    if opts.trace:
        run.trace = []
    if ready is not None and starting(ready):  # the pane says so from its first render
        run.note = ready.note or NOTES.get(ready.kind, "")

    # the local model is counted in process from its GGUF; a server counts only when asked
    tokenizer = ((url.rstrip("/").removesuffix("/v1"), opts.tokenizer) if opts.tokenizer
                 else (gguf, "gguf") if prov.name == "local" and not opts.base_url else None)
    return Job(run, spec, PipelineFactory(proto, spec), timeouts_of(opts.timeout), retry_of(opts.retries),
               secrets, tokenizer, ready)


@dataclass(frozen=True)
class PipelineFactory:
    """Builds a run's pipeline for one protocol and request; plain data, so a job pickles to a
    worker process (load shards)."""

    protocol: str
    spec: RequestSpec

    def __call__(self, run: Run) -> Pipeline:
        module = protocols.get(self.protocol)
        return Pipeline(module.new_decoder(self.spec), module.new_parser(), run)
