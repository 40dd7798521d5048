"""The simulated gateway: a Starlette app serving the OpenAI, Anthropic and Gemini streams.

It logs the ``time.perf_counter_ns()`` of every body write (the ground truth for the
fidelity benchmark), readable at ``GET /_sim/log``. Everything it says is simulated.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .metrics import SimMetrics
from .script import FAULTS_HELP, PROFILES, Ev, PrefixCache, SimSpec, make_script, parse_model, prompt_tokens
from .wire import AnthropicWire, GeminiWire, OpenAIWire

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
                500: "api_error", 502: "api_error", 503: "overloaded_error", 529: "overloaded_error"}
_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                  404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


LOG_KEY = "kral_nb.sim.log_entry"


class SendLog:
    """ASGI middleware: stamps every body write just before the server writes it to the
    socket (the ground truth for bench/fidelity.py), with its size."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def logged_send(message: dict[str, Any]) -> None:
            entry = scope.get(LOG_KEY)
            if entry is not None and message["type"] == "http.response.body" and message.get("body"):
                entry["t_ns"].append(time.perf_counter_ns())
                entry["n_bytes"].append(len(message["body"]))
            await send(message)

        await self.app(scope, receive, logged_send)


class SimState:
    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.log: deque[dict[str, Any]] = deque(maxlen=20000)
        self.failures: Counter[str] = Counter()
        self.traces: dict[str, dict[str, Any]] = {}  # run_id -> recorded trace (replay)
        self.slots: dict[str, asyncio.Semaphore] = {}  # model -> its decode slots (+slots=N)
        self.caches: dict[str, PrefixCache] = {}  # model -> its prefix cache (+cache)
        self.metrics = SimMetrics()  # GET /metrics


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _error(protocol: str, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    kind = _ERROR_TYPES.get(status, "api_error")
    if protocol == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    elif protocol == "gemini":
        body = {"error": {"code": status, "message": message, "status": _GEMINI_STATUS.get(status, "UNKNOWN")}}
    else:
        body = {"error": {"message": message, "type": kind, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _replay(entry: dict[str, Any], reads: list[tuple[int, bytes]]) -> AsyncIterator[bytes]:
    """Write the recorded reads at their original offsets (from the request's arrival)."""
    t0 = entry["t_request_ns"]
    for offset_ns, data in reads:
        delay_ns = t0 + offset_ns - time.perf_counter_ns()
        if delay_ns > 0:
            await asyncio.sleep(delay_ns / 1e9)
        yield data


async def _stream(entry: dict[str, Any], script: list[Ev], wire: Any, spec: SimSpec, metrics: SimMetrics,
                  slots: asyncio.Semaphore | None = None, n_slots: int | None = None) -> AsyncIterator[bytes]:
    """Write the script on schedule; ``entry["closed_early"]`` records a client that hung up.
    With ``slots`` (``+slots=N``), the script starts only once one of N slots is free: a
    server with N decode slots and a FIFO queue, whose TTFT grows past N in flight."""
    model, started = entry["model"], False
    try:
        if slots is None:
            metrics.started(model)
            started = True
            async for data in _writes(script, wire, spec, metrics, model):
                yield data
        else:
            metrics.queued(model, n_slots or 1)
            async with slots:
                metrics.started(model)
                started = True
                async for data in _writes(script, wire, spec, metrics, model):
                    yield data
        entry["closed_early"] = False
    finally:
        entry.setdefault("closed_early", True)
        metrics.ended(model, started=started, complete=not entry["closed_early"])


async def _writes(script: list[Ev], wire: Any, spec: SimSpec, metrics: SimMetrics,
                  model: str) -> AsyncIterator[bytes]:
    crlf, split, stamp = spec.has("crlf"), spec.has("unicode"), spec.has("stamp")
    if spec.has("bom"):
        yield b"\xef\xbb\xbf"
    t0 = time.perf_counter_ns()
    for ev in script:
        delay_ns = t0 + int(ev.at_s * 1e9) - time.perf_counter_ns()
        if delay_ns > 0:
            await asyncio.sleep(delay_ns / 1e9)
        if ev.n_tokens:
            metrics.generated(model, ev.n_tokens)
        if stamp and ev.kind == "text":  # the send time and how late the sim sent it (bench/load.py)
            sent_ns = time.perf_counter_ns()
            ev = replace(ev, data=f"{sent_ns} {sent_ns - t0 - int(ev.at_s * 1e9)} ")
        data = wire.render(ev)
        if not data:
            continue
        if crlf:
            data = data.replace(b"\n", b"\r\n")
        if split and len(data) > 8:
            cut = next((i for i in range(len(data) // 2, len(data)) if data[i] & 0xC0 == 0x80), len(data) // 2)
            yield data[:cut]
            await asyncio.sleep(0.001)
            data = data[cut:]
        yield data


async def _serve(request: Request, protocol: str, model: str, body: dict[str, Any],
                 prompt: str, tools: list[dict[str, Any]] | None, sse_mode: bool = True) -> Response:
    state: SimState = request.app.state.sim
    t_request_ns = time.perf_counter_ns()
    try:
        spec = parse_model(model)
    except ValueError as exc:
        return _error(protocol, 404, f"{exc} (this is the kral_nb simulated gateway)")
    status = int(spec.num("status", 0))
    if spec.has("reject_usage") and "stream_options" in body:
        return _error(protocol, 400, "Unrecognized request argument supplied: stream_options")
    if status and spec.has("fail_first"):
        state.failures[model] += 1
        if state.failures[model] > int(spec.num("fail_first", 1)):
            status = 0
    if spec.has("headers_delay"):
        await asyncio.sleep(spec.num("headers_delay", 0))
    if status:
        headers = {}
        if status in (429, 503, 529):
            headers["retry-after"] = f"{spec.num('retry_after', 1):g}"
        msg = f"simulated HTTP {status}"
        if status == 401:  # like some real gateways, echo what was received
            auth = request.headers.get("authorization") or request.headers.get("x-api-key") or \
                request.headers.get("x-goog-api-key") or "(none)"
            msg = f"invalid API key: received credentials {auth!r}"
        return _error(protocol, status, msg, headers)
    rid = f"sim-{next(state.ids)}"
    if spec.name == "replay":
        trace = state.traces.get(spec.options.get("run", ""))
        if trace is None:
            return _error(protocol, 404, f"no loaded trace for run {spec.options.get('run')!r}; "
                          "load one with kral_nb.sim.load_traces(path)")
        entry = {"request_id": rid, "model": model, "protocol": protocol, "t_ns": [],
                 "n_bytes": [], "t_request_ns": t_request_ns}
        state.log.append(entry)
        request.scope[LOG_KEY] = entry
        reads = [(int(t), d.encode("latin-1")) for t, d in trace["reads"]]
        ctype = "application/json" if protocol == "gemini" and "alt=sse" not in str(request.url) \
            else "text/event-stream"
        return StreamingResponse(_replay(entry, reads), media_type=ctype,
                                 headers={"x-sim-request-id": rid, "x-sim-replay": trace["run_id"]})
    n_in = prompt_tokens(prompt)
    cached = state.caches.setdefault(model, PrefixCache()).lookup_and_add(prompt) if spec.has("cache") else 0
    wire: Any
    if protocol == "anthropic":
        wire = AnthropicWire(model, rid, n_in, cached)
    elif protocol == "gemini":
        wire = GeminiWire(model, rid, n_in, sse_mode, cached)
    else:
        opts = body.get("stream_options") or {}
        wire = OpenAIWire(model, rid, bool(opts.get("include_usage")), n_in,
                          continuous=bool(opts.get("continuous_usage_stats")))
    cap = body.get("max_tokens") or body.get("max_completion_tokens") or \
        (body.get("generationConfig") or {}).get("maxOutputTokens")
    cap = cap if type(cap) is int and cap > 0 else None
    least = body.get("min_tokens")  # vLLM's and llama-cpp-python's field; ignore_eos: up to the cap
    least = least if type(least) is int and least > 0 else cap if body.get("ignore_eos") is True and cap else 0
    script = make_script(spec, prompt, tools, interleave=protocol == "openai", max_tokens=cap,
                         min_tokens=least, cached_tokens=cached)
    entry = {"request_id": rid, "model": model, "protocol": protocol, "t_ns": [], "n_bytes": []}
    state.log.append(entry)
    request.scope[LOG_KEY] = entry
    slots, n_slots = None, max(1, int(spec.num("slots", 1))) if spec.has("slots") else None
    if n_slots:
        slots = state.slots.setdefault(model, asyncio.Semaphore(n_slots))
    state.metrics.arrived(model, n_in, cached if spec.has("cache") else None)
    return StreamingResponse(_stream(entry, script, wire, spec, state.metrics, slots, n_slots),
                             media_type=wire.content_type,
                             headers={"x-sim-request-id": rid, "cache-control": "no-cache"})


async def chat(request: Request) -> Response:
    body = await request.json()
    if not body.get("stream"):
        return _error("openai", 400, "the simulated gateway only streams: send \"stream\": true")
    prompt = " ".join(_text_of(m.get("content")) for m in body.get("messages", []))
    return await _serve(request, "openai", str(body.get("model", "")), body, prompt, body.get("tools"))


async def messages(request: Request) -> Response:
    body = await request.json()
    if not body.get("stream"):
        return _error("anthropic", 400, "the simulated gateway only streams: send \"stream\": true")
    if "max_tokens" not in body:
        return _error("anthropic", 400, "max_tokens: Field required")
    prompt = " ".join(_text_of(m.get("content")) for m in body.get("messages", []))
    tools = [{"type": "function", "function": {"name": t["name"], "parameters": t.get("input_schema", {})}}
             for t in body.get("tools") or []]
    return await _serve(request, "anthropic", str(body.get("model", "")), body, prompt, tools or None)


async def gemini(request: Request) -> Response:
    model, _, action = request.path_params["model_action"].partition(":")
    if action != "streamGenerateContent":
        return _error("gemini", 404, f"unknown method {action!r}: only streamGenerateContent")
    body = await request.json()
    prompt = " ".join(_text_of(c.get("parts")) for c in body.get("contents", []))
    tools = [{"type": "function", "function": f}
             for t in body.get("tools") or [] for f in t.get("functionDeclarations", [])]
    sse_mode = request.query_params.get("alt") == "sse"
    return await _serve(request, "gemini", model, body, prompt, tools or None, sse_mode)


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [
        {"id": name, "object": "model", "owned_by": "kral_nb-sim", "profile": vars(p)}
        for name, p in PROFILES.items()], "options": FAULTS_HELP})


async def send_log(request: Request) -> Response:
    state: SimState = request.app.state.sim
    return Response(json.dumps(list(state.log)), media_type="application/json")


async def load_traces(request: Request) -> Response:
    """POST JSON lines written by ``Result.to_parquet(dir, traces=True)``: run_id -> trace."""
    state: SimState = request.app.state.sim
    ids = []
    for line in (await request.body()).decode().splitlines():
        if line.strip():
            trace = json.loads(line)
            state.traces[trace["run_id"]] = trace
            ids.append(trace["run_id"])
    return JSONResponse({"loaded": ids})


async def metrics(request: Request) -> Response:
    """Prometheus text, vLLM's names (``metrics.py``)."""
    state: SimState = request.app.state.sim
    body, ctype = state.metrics.exposition()
    return Response(body, media_type=ctype)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True, "simulated": True})


def create_app() -> Starlette:
    app = Starlette(middleware=[Middleware(SendLog)], routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1beta/models/{model_action:path}", gemini, methods=["POST"]),
        Route("/v1/models", models),
        Route("/_sim/log", send_log),
        Route("/_sim/health", health),
        Route("/metrics", metrics),
        Route("/_sim/traces", load_traces, methods=["POST"]),
    ])
    app.state.sim = SimState()
    return app
