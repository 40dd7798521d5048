"""Every value read from the wire is type-checked at the parser boundary: well-formed JSON
with a wrong type in any field the parsers read becomes an ``error`` record, never a
poisoned one, and every Result built from such runs stays readable (text, frames, summary,
Parquet) — alone and together, as ``history()`` holds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kral_nb
from kral_nb.protocols import PROTOCOLS
from kral_nb.record.recorder import Run
from kral_nb.record.replay import replay
from kral_nb.record.runrow import row as run_row

from .conftest import golden, golden_files

WRONG = st.sampled_from([[], ["x"], {}, {"a": 1}, 1.5, 3.0, -1, 2**70, "7", "", True, None,
                         [{"type": "text", "text": 5}], 10**20, 2**31, 2**53])  # beyond the Int32 columns


def events(protocol: str) -> list[tuple[str, bytes]]:
    """(event line, JSON data) of every JSON event in the protocol's golden SSE files."""
    out = []
    for name in golden_files(protocol):
        if not name.endswith(".sse"):
            continue
        for block in golden(protocol, name).replace(b"\r\n", b"\n").split(b"\n\n"):
            lines = block.strip(b"\xef\xbb\xbf").split(b"\n")
            data = b"".join(line[6:] for line in lines if line.startswith(b"data: "))
            head = b"\n".join(line for line in lines if line.startswith(b"event:"))
            try:
                json.loads(data)
            except ValueError:
                continue
            out.append((head.decode(), data))
    return out


EVENTS = {p: events(p) for p in PROTOCOLS}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def replace(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    doc = json.loads(json.dumps(doc))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return doc


@st.composite
def poisoned_stream(draw: st.DrawFn, protocol: str) -> bytes:
    """A short stream of golden events, one or two of them with a field of the wrong type."""
    evs = EVENTS[protocol]
    picked = draw(st.lists(st.integers(0, len(evs) - 1), min_size=1, max_size=6))
    body = b""
    for n, i in enumerate(picked):
        head, data = evs[i]
        doc = json.loads(data)
        if n < 2 and paths(doc):
            doc = replace(doc, draw(st.sampled_from(paths(doc))), draw(WRONG))
        body += (head.encode() + b"\n" if head else b"") + b"data: " + json.dumps(doc).encode() + b"\n\n"
    return body


def readable(result: kral_nb.Result, tmp: Path) -> None:
    assert isinstance(result.text, str)
    runs, chunks = result.runs, result.chunks
    assert len(runs) == len(result) and set(runs["status"]) <= {"ok", "error", "cut_off"}
    assert chunks["text"].map(lambda v: v is None or isinstance(v, str) or v != v).all()
    result.summary()
    result.to_parquet(str(tmp))
    back = kral_nb.read_parquet(str(tmp))
    assert len(back.runs) == len(runs)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_wrong_types_in_every_field_become_error_records(protocol: str, tmp_path: Path) -> None:
    runs: list[Run] = []

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(poisoned_stream(protocol))
    def inner(body: bytes) -> None:
        run = replay(protocol, [(1, body)])
        runs.append(run)
        for _, _, c in run.records:  # every record field has its declared type
            assert isinstance(c.text, str)
            for f in ("tool_index", "input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens"):
                v = getattr(c, f)
                assert v is None or (type(v) is int and 0 <= v <= 2**31 - 1), (f, v)
            for f in ("tool_id", "tool_name", "tool_args", "finish_reason"):
                assert getattr(c, f) is None or isinstance(getattr(c, f), str), f
        assert isinstance(run.text, str) and isinstance(run.reasoning, str)
        run_row(run)

    inner()
    errors = [r.error for r in runs if r.error and "unexpected event shape" in r.error]
    assert errors, "no wrong type was ever reported"
    readable(kral_nb.Result(runs), tmp_path)  # history() holds many such runs together


@pytest.mark.parametrize(("protocol", "data", "field"), [
    ("openai", b'data: {"choices":[{"delta":{"content":5}}]}\n\n', "delta.content"),
    ("openai", b'data: {"choices":[{"delta":{"tool_calls":[{"index":1.0}]}}]}\n\n', "tool_calls.index"),
    ("openai", b'data: {"choices":[],"usage":{"prompt_tokens":"12"}}\n\n', "usage.prompt_tokens"),
    ("openai", b'data: {"choices":[],"usage":{"completion_tokens":99999999999999999999}}\n\n', ""),
    ("anthropic", b'data: {"type":"message_delta","usage":{"output_tokens":[1]}}\n\n', "usage.output_tokens"),
    ("anthropic", b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":{}}}\n\n',
     "delta.text"),
    ("gemini", b'data: {"candidates":[{"content":{"parts":[{"text":["a"]}]}}]}\n\n', "text"),
    ("gemini", b'data: {"usageMetadata":{"promptTokenCount":-3}}\n\n', "usageMetadata.promptTokenCount"),
])
def test_the_error_names_the_field(protocol: str, data: bytes, field: str) -> None:
    run = replay(protocol, [(1, data)])
    assert run.status == "error" and run.error is not None, run.error
    assert ("unexpected event shape" in run.error and field in run.error) or "malformed JSON" in run.error
    run_row(run)


BIG = 2**31 - 1  # the Int32 columns' bound: each value passes it, their sum does not
SUMS = {
    "openai": b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2000000000,'
              b'"completion_tokens_details":{"reasoning_tokens":2100000000}}}\n\ndata: [DONE]\n\n',
    "anthropic": b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":'
                 b'{"input_tokens":%d,"cache_read_input_tokens":5,"output_tokens":1}}}\n\n' % BIG,
    "gemini": b'data: {"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"usageMetadata":'
              b'{"candidatesTokenCount":%d,"thoughtsTokenCount":9}}\n\n' % BIG,
}


@pytest.mark.parametrize("protocol", list(SUMS))
def test_a_sum_of_counts_past_the_bound_is_an_error_record(protocol: str) -> None:
    """Counts the parsers add together (cache reads into input, reasoning into output) are
    checked as counts: past 2^31 - 1 an ``error`` record, and every frame still builds."""
    run = replay(protocol, [(1, SUMS[protocol])])
    kinds = [c.kind for _, _, c in run.records]
    assert "error" in kinds, kinds
    assert all(v is None or v <= BIG for _, _, c in run.records
               for v in (c.input_tokens, c.output_tokens, c.reasoning_tokens, c.cached_tokens))
    result = kral_nb.Result([run])
    assert len(result.chunks) == len(run.records) and len(result.runs) == 1


def _both_paths(body: bytes) -> tuple[list[Any], list[Any]]:
    """Every chunk of ``body`` by the OpenAI parser with its msgspec fast path and without it."""
    from kral_nb.protocols import openai
    from kral_nb.protocols.request import RequestSpec
    from kral_nb.protocols.shape import ShapeError

    out = []
    for fast in (True, False):
        items = openai.new_decoder(RequestSpec("http://x/", {}, None)).decode(body)
        parser, chunks = openai.OpenAIParser(fast=fast), []
        for item in items:
            try:
                chunks.append(parser.feed(item))
            except ShapeError as exc:
                chunks.append(str(exc))
        out.append(chunks)
    return out[0], out[1]


ODD_OPENAI = [  # shapes at the edges of what the fast path takes
    b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n',
    b'data: {"choices":[{"delta":{"role":null}}]}\n\ndata: {"choices":[{"delta":{}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"a","reasoning_content":"","reasoning":"r"}}]}\n\n',
    b'data: {"choices":[{"index":false,"delta":{"content":"a"},"finish_reason":""}]}\n\n',
    b'data: {"choices":[{"index":1,"delta":{"content":"b"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"x"}}],"usage":null,"timings":{"n":1}}\n\n',
    b'data: {"choices":[{"delta":{"content":"x"}}],"object":"error","error":{"message":"m"}}\n\n',
    b'data: {"choices":[{"delta":{"content":"x"}}],"error":""}\n\n',
    b'event: error\ndata: {"choices":[{"delta":{"content":"x"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"x","tool_calls":[]}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":0,"refusal":"no"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"a\\ud800"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"x"}}],"choices":[{"delta":{"content":"y"}}]}\n\n',
    b'data: {"choices":[{"delta":"text"}]}\n\ndata: {"choices":[{"delta":[]}]}\n\n',
    b'data: {"choices":{"delta":{"content":"x"}}}\n\ndata: [1]\n\ndata: {"choices":[{"delta":{"content":"x"}}]} x\n\n',
    # found by review: a number past a double's range, or deep nesting, in a key kral_nb does not read
    b'data: {"created":1e400,"choices":[{"delta":{"content":"hi"}}]}\n\n',
    b'data: {"choices":[{"delta":{"role":1' + b"0" * 309 + b',"content":"hi"}}]}\n\n',
    b'data: {"x":' + b"[" * 1000 + b"]" * 1000 + b',"choices":[{"delta":{"content":"hi"}}]}\n\n',
    b'data: {"choices":[{"index":' + b"[" * 1000 + b"]" * 1000 + b',"delta":{"content":"hi"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"hi"},"logprobs":{"content":[{"logprob":1e400}]}}]}\n\n',
]


@pytest.mark.parametrize("body", ODD_OPENAI + [golden("openai", n) for n in golden_files("openai")])
def test_the_openai_fast_path_agrees_with_the_general_one(body: bytes) -> None:
    fast, general = _both_paths(body)
    assert fast == general


def test_the_common_chunk_takes_the_fast_path() -> None:
    """The speed is the point: the sim's chunks (the shape of OpenAI's and vLLM's) are decoded
    by msgspec, not sent down the general path by a key the structs do not declare."""
    from kral_nb.protocols import openai_fast
    from kral_nb.sim.script import Ev
    from kral_nb.sim.wire import OpenAIWire

    wire = OpenAIWire("m", "chatcmpl-1", include_usage=True)
    for ev in (Ev(0, "start"), Ev(0, "text", "hi"), Ev(0, "finish", "stop")):
        data = wire.render(ev).decode().removeprefix("data: ").strip()
        assert openai_fast.one_choice(data) is not None, data
    vllm = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,' \
           '"delta":{"content":"a"},"logprobs":null,"finish_reason":null,"stop_reason":null}]}'
    assert openai_fast.one_choice(vllm) is not None
    assert openai_fast.one_choice(vllm.replace('"m"', '"m","obfuscation":"x","extra":1')) is None  # unknown key


def test_the_openai_fast_path_agrees_on_poisoned_streams() -> None:
    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(poisoned_stream("openai"))
    def inner(body: bytes) -> None:
        fast, general = _both_paths(body)
        assert fast == general

    inner()
