"""Runs as OpenTelemetry spans (GenAI semantic conventions), checked with the SDK's own
in-memory exporter."""

from __future__ import annotations

import pandas as pd
import pytest

import kral_nb

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed: pip install 'kral-nb[otel]'")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode


def _spans(result: kral_nb.Result) -> list:  # type: ignore[type-arg]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert result.to_otel(tracer_provider=provider) == len(result.runs)
    return list(exporter.get_finished_spans())


def test_each_run_is_a_genai_span_with_its_chunks(tmp_path: object) -> None:
    r = kral_nb.compare("hi", ["sim:steady+n=6@gemini", "sim:fast+n=6+cut=2"], progress=False)
    spans = {s.attributes["kral_nb.run_id"]: s for s in _spans(r)}
    for row in r.runs.to_dict("records"):
        s = spans[row["run_id"]]
        a = s.attributes
        assert s.name == f"chat {row['model']}" and s.kind == SpanKind.CLIENT
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == row["model"]
        assert a["kral_nb.ttft_s"] == pytest.approx(row["ttft_s"])
        assert s.start_time == pd.Timestamp(row["started_at"]).value
        assert s.end_time - s.start_time == pytest.approx(row["e2e_s"] * 1e9, abs=1)
        content = r.chunks[(r.chunks["run_id"] == row["run_id"]) & r.chunks["kind"].isin(["text", "reasoning"])]
        assert [e.attributes["kral_nb.t_s"] for e in s.events] == pytest.approx(content["t_s"].tolist())
        if row["status"] == "ok":
            assert a["gen_ai.usage.output_tokens"] == row["output_tokens"] and a["gen_ai.provider.name"] == "sim"
            assert a["gen_ai.response.finish_reasons"] == (row["finish_reason"],)
            assert [e.attributes["kral_nb.n_tokens"] for e in s.events] == content["n_tokens"].tolist()
        else:  # the cut-off run: an error span that keeps what arrived
            assert s.status.status_code == StatusCode.ERROR and a["error.type"] == "cut_off" and s.events


def test_a_reloaded_result_exports_the_same_spans(tmp_path: object) -> None:
    r = kral_nb.compare("hi", ["sim:fast+n=4"], repeat=2, progress=False)
    r.to_parquet(str(tmp_path))
    back = kral_nb.read_parquet(str(tmp_path))
    key = [(s.name, s.start_time, s.end_time, dict(s.attributes), len(s.events)) for s in _spans(r)]
    assert key == [(s.name, s.start_time, s.end_time, dict(s.attributes), len(s.events)) for s in _spans(back)]
