"""Runs as OpenTelemetry spans, following the GenAI semantic conventions (extra
``kral-nb[otel]``). One CLIENT span per run, named ``chat <model>``, with its real start and
end times (``started_at`` and ``started_at + e2e_s``), the ``gen_ai.*`` attributes, usage,
kral_nb's timing (``kral_nb.ttft_s`` ...) and cost, and one span event per content chunk at
its arrival time. Spans go to whatever tracer provider you configure (an OTLP exporter, a
file, the SDK's in-memory exporter); nothing is sent anywhere by kral_nb itself.

With a meter provider, the conventions' client metrics as well, one measurement per run (per
chunk gap for the last): ``gen_ai.client.operation.duration`` (e2e, s),
``gen_ai.client.token.usage`` (input and output, ``gen_ai.token.type``),
``gen_ai.client.operation.time_to_first_chunk`` (s, the first content chunk) and
``gen_ai.client.operation.time_per_output_chunk`` (s, each content chunk after the first,
from the previous one), with the conventions' bucket boundaries and attributes.

Built from the frames (``runs`` and ``chunks``), so a result reloaded from Parquet exports
the same spans and metrics as a live one.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from ..errors import ConfigError
from ..protocols.records import CONTENT_KINDS

#: kral_nb provider -> gen_ai.provider.name (the conventions' well-known values)
PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini", "openrouter": "openrouter",
                  "xai": "x_ai", "mistral": "mistral_ai", "groq": "groq", "deepseek": "deepseek"}
_TIMING = ("ttft_s", "ttfa_s", "e2e_s", "itl_p50_s", "itl_token_p50_s", "tpot_s", "output_tokens_per_s")


def _attrs(r: dict[str, Any]) -> dict[str, Any]:
    """The span attributes of one runs-frame row (NaN and NA left out)."""
    provider = str(r["provider"])
    out: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER_NAMES.get(provider, provider),
        "gen_ai.request.model": str(r["model"]), "gen_ai.response.model": str(r["model"]),
        "kral_nb.run_id": str(r["run_id"]), "kral_nb.provider": provider, "kral_nb.protocol": str(r["protocol"]),
        "kral_nb.status": str(r["status"]), "kral_nb.tokens_source": str(r["tokens_source"]),
    }
    for name, key in (("input_tokens", "gen_ai.usage.input_tokens"), ("output_tokens", "gen_ai.usage.output_tokens"),
                      ("cached_tokens", "gen_ai.usage.cache_read.input_tokens"),
                      ("reasoning_tokens", "kral_nb.reasoning_tokens")):
        if not pd.isna(r.get(name)):
            out[key] = int(r[name])
    if r.get("finish_reason") and not pd.isna(r["finish_reason"]):
        out["gen_ai.response.finish_reasons"] = [str(r["finish_reason"])]
    for name in _TIMING:
        v = r.get(name)
        if v is not None and not pd.isna(v) and not math.isinf(v):
            out[f"kral_nb.{name}"] = float(v)
    if not pd.isna(r.get("cost_usd", math.nan)):
        out["kral_nb.cost_usd"] = float(r["cost_usd"])
        out["kral_nb.cost_status"] = str(r["cost_status"])
    if not pd.isna(r.get("http_status")):
        out["http.response.status_code"] = int(r["http_status"])
    if str(r["status"]) != "ok":
        out["error.type"] = str(r["status"])
    return out


def export_spans(result: Any, *, tracer_provider: Any = None, chunk_events: bool = True) -> int:
    """Emit one span per run of ``result`` (a Result, LoadResult, or anything with ``runs``
    and ``chunks`` frames) through ``tracer_provider`` (default: the global one). Returns the
    number of spans."""
    try:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode
    except ImportError:
        raise ConfigError("OpenTelemetry export needs its extra: pip install 'kral-nb[otel]'") from None
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("kral_nb")
    runs, chunks = result.runs, result.chunks
    content = chunks[chunks["kind"].astype(str).isin(list(CONTENT_KINDS))] if chunk_events else chunks.iloc[:0]
    by_run = {str(k): g for k, g in content.groupby("run_id", sort=False, observed=True)}
    n = 0
    for r in runs.to_dict("records"):
        if pd.isna(r["started_at"]):
            continue
        start_ns = int(pd.Timestamp(r["started_at"]).value)
        e2e = r["e2e_s"]
        end_ns = start_ns + (0 if pd.isna(e2e) else int(e2e * 1e9))
        span = tracer.start_span(f"chat {r['model']}", kind=SpanKind.CLIENT, start_time=start_ns,
                                 attributes=_attrs(r))
        for c in by_run.get(str(r["run_id"]), content.iloc[:0]).to_dict("records"):
            event: dict[str, Any] = {"kral_nb.kind": str(c["kind"]), "kral_nb.n_chars": int(c["n_chars"]),
                     "kral_nb.t_s": float(c["t_s"])}
            if not pd.isna(c.get("n_tokens")):
                event["kral_nb.n_tokens"] = int(c["n_tokens"])
            span.add_event("kral_nb.chunk", event, timestamp=start_ns + int(c["t_s"] * 1e9))
        if r.get("tool_calls") and r["tool_calls"] != "[]":
            span.set_attribute("kral_nb.tool_calls", json.dumps(json.loads(r["tool_calls"])))
        if str(r["status"]) != "ok":
            span.set_status(Status(StatusCode.ERROR, str(r["error"] or r["status"])))
        span.end(end_time=end_ns)
        n += 1
    return n


#: the conventions' advisory bucket boundaries
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
CHUNK_BUCKETS = (0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


def _metric_attrs(r: dict[str, Any]) -> dict[str, Any]:
    provider = str(r["provider"])
    out: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": PROVIDER_NAMES.get(provider, provider),
                           "gen_ai.request.model": str(r["model"]), "gen_ai.response.model": str(r["model"])}
    if str(r["status"]) != "ok":
        out["error.type"] = str(r["status"])
    return out


def export_metrics(result: Any, *, meter_provider: Any) -> int:
    """Record the GenAI client metrics of every run of ``result`` through ``meter_provider``
    (read them with its readers: an OTLP exporter, the SDK's in-memory reader). Returns the
    number of runs recorded."""
    try:
        import opentelemetry.metrics  # noqa: F401
    except ImportError:
        raise ConfigError("OpenTelemetry export needs its extra: pip install 'kral-nb[otel]'") from None
    meter = meter_provider.get_meter("kral_nb")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
                                      explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}",
                                    description="Number of input and output tokens used.",
                                    explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
    first = meter.create_histogram("gen_ai.client.operation.time_to_first_chunk", unit="s",
                                   description="Time to receive the first chunk.",
                                   explicit_bucket_boundaries_advisory=CHUNK_BUCKETS)
    per_chunk = meter.create_histogram("gen_ai.client.operation.time_per_output_chunk", unit="s",
                                       description="Time per output chunk, after the first.",
                                       explicit_bucket_boundaries_advisory=CHUNK_BUCKETS)
    runs, chunks = result.runs, result.chunks
    content = chunks[chunks["kind"].astype(str).isin(list(CONTENT_KINDS)) & chunks["dt_s"].notna()]
    gaps = {str(k): g["dt_s"].to_numpy(float) for k, g in content.groupby("run_id", sort=False, observed=True)}
    n = 0
    for r in runs.to_dict("records"):
        attrs = _metric_attrs(r)
        if not pd.isna(r["e2e_s"]):
            duration.record(float(r["e2e_s"]), attrs)
        for name, kind in (("input_tokens", "input"), ("output_tokens", "output")):
            if not pd.isna(r.get(name)):
                tokens.record(int(r[name]), {**attrs, "gen_ai.token.type": kind})
        if not pd.isna(r.get("ttft_s")):
            first.record(float(r["ttft_s"]), attrs)
        for gap in gaps.get(str(r["run_id"]), ()):
            per_chunk.record(float(gap), attrs)
        n += 1
    return n
