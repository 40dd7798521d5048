"""Fuzzing the decoders and the three parsers: arbitrary or mutated bytes never raise; they
become records (``error`` ones where the data is bad) with a documented status."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kral_nb.protocols import PROTOCOLS
from kral_nb.record.replay import replay
from kral_nb.record.runrow import row as run_row
from kral_nb.results.columns import STATUSES

from .conftest import golden, golden_files

SEEDS = {p: [golden(p, n) for n in golden_files(p)] for p in PROTOCOLS}
FUZZ = settings(max_examples=3500, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def mutated(draw: st.DrawFn, protocol: str) -> bytes:
    """A golden stream with random byte edits (flip, insert, delete, truncate) or raw noise."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=400))
    data = bytearray(draw(st.sampled_from(SEEDS[protocol])))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "json"]))
        if op == "flip":
            data[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b"\n", b"\r", b":", b"data: ", b"{", b"[]", b"null", b"\xff",
                                              b'"choices":5,', b'{"type":"content_block_delta","delta":3}']))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 20))]
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = draw(st.sampled_from([b'data: {"choices":[1]}\n\n', b'data: {"choices":[{"delta":[]}]}\n\n',
                                              b'data: {"candidates":{"x":1}}\n\n', b'data: []\n\n',
                                              b'event: message_start\ndata: {"message":[]}\n\n',
                                              b'data: {"usage":{"prompt_tokens":"x"}}\n\n']))
    return bytes(data)


def check(protocol: str, data: bytes, cuts: list[int], sse: bool = True) -> None:
    pieces, prev = [], 0
    for c in sorted(c % (len(data) + 1) for c in cuts):
        pieces.append(data[prev:c])
        prev = c
    pieces.append(data[prev:])
    run = replay(protocol, [(i, p) for i, p in enumerate(pieces, 1)], sse=sse)
    assert run.status in STATUSES
    run_row(run)  # metrics over any records never raise either


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_fuzz_parsers_never_raise(protocol: str) -> None:
    @FUZZ
    @given(mutated(protocol), st.lists(st.integers(0, 10_000), max_size=4))
    def inner(data: bytes, cuts: list[int]) -> None:
        check(protocol, data, cuts)

    inner()


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=4))
def test_fuzz_gemini_json_array_decoder(data: bytes, cuts: list[int]) -> None:
    check("gemini", data, cuts, sse=False)


@pytest.mark.parametrize(("protocol", "data"), [
    ("openai", b'data: {"choices":[1]}\n\n'),
    ("openai", b'data: {"choices":[{"delta":{"tool_calls":[7]}}]}\n\n'),
    ("anthropic", b'event: message_start\ndata: {"type":"message_start","message":{"usage":5}}\n\n'),
    ("gemini", b'data: {"candidates":[{"content":{"parts":[3]}}]}\n\n'),
])
def test_valid_json_of_unexpected_shape_is_an_error_record(protocol: str, data: bytes) -> None:
    run = replay(protocol, [(1, data)])
    assert run.status == "error" and run.error is not None and "unexpected event shape" in run.error


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=6), JSON, max_size=4), max_size=5),
       st.lists(st.integers(0, 10_000), max_size=6), st.sampled_from(["", " ", "\n", "\r\n  "]))
def test_json_array_decoder_finds_every_element_at_any_split(elements: list[dict[str, object]], cuts: list[int],
                                                              ws: str) -> None:
    import json

    from kral_nb.protocols.gemini import JSONArrayDecoder

    data = ("[" + ws + ("," + ws).join(json.dumps(e, ensure_ascii=False) for e in elements) + ws + "]").encode()
    d = JSONArrayDecoder()
    events, prev = [], 0
    for c in sorted(c % (len(data) + 1) for c in cuts):
        events += d.decode(data[prev:c])
        prev = c
    events += d.decode(data[prev:]) + d.flush()
    assert [json.loads(e.data) for e in events] == elements and not d.pending  # type: ignore[union-attr]
