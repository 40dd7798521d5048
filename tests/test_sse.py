"""SSE decoder: WHATWG examples, line endings, fields, and byte-split invariance."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kral_nb.protocols.sse import Comment, Event, SSEDecoder


def decode_all(data: bytes, cuts: list[int] | None = None) -> list[Event | Comment]:
    d = SSEDecoder()
    out: list[Event | Comment] = []
    prev = 0
    for c in sorted(cuts or []):
        out += d.decode(data[prev:c])
        prev = c
    out += d.decode(data[prev:])
    return out + d.flush()


def test_whatwg_stock_example() -> None:
    # The spec's "stock" example: two data lines form one event joined by a newline.
    data = b"data: YHOO\ndata: +2\ndata: 10\n\n"
    assert decode_all(data) == [Event("YHOO\n+2\n10")]


def test_whatwg_four_blocks_example() -> None:
    # Comment, two-line event with id, an event with only a data field, and an empty data.
    data = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n"
    assert decode_all(data) == [
        Comment("test stream"),
        Event("first event", id="1"),
        Event("second event", id=""),
    ]  # the third block is not terminated by a blank line: discarded at the end


def test_whatwg_empty_data_examples() -> None:
    # "data" with no colon and "data:" both append an empty line; two events, the first "".
    assert decode_all(b"data\n\ndata\ndata\n\ndata:\n") == [Event(""), Event("\n")]


def test_whatwg_space_after_colon_is_optional() -> None:
    assert decode_all(b"data:test\n\ndata: test\n\n") == [Event("test"), Event("test")]


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_line_endings(eol: bytes) -> None:
    data = eol.join([b"event: add", b"data: 1", b"", b"data: 2", b"", b""])
    assert decode_all(data) == [Event("1", "add"), Event("2")]


def test_cr_then_lf_across_reads_is_one_line_end() -> None:
    d = SSEDecoder()
    assert d.decode(b"data: a\r") == []
    assert d.decode(b"\n\r") == [Event("a")]
    assert d.decode(b"\ndata: b\r\n\r\n") == [Event("b")]


def test_bom_dropped_once_even_if_split() -> None:
    d = SSEDecoder()
    assert d.decode(b"\xef\xbb") == []
    assert d.decode(b"\xbfdata: x\n\n") == [Event("x")]
    # a second BOM later is data, not stripped
    assert decode_all(b"\xef\xbb\xbfdata: \xef\xbb\xbfy\n\n") == [Event("\ufeffy")]


def test_fields_id_nul_retry_unknown() -> None:
    data = b"id: 7\nretry: 1500\nfoo: bar\ndata: a\n\nid: x\x00y\nretry: 1.5\ndata: b\n\n"
    assert decode_all(data) == [Event("a", id="7", retry=1500), Event("b", id="7")]


def test_event_type_resets_and_empty_dispatch() -> None:
    # A blank line with no data dispatches nothing but resets the event type.
    assert decode_all(b"event: x\n\ndata: y\n\n") == [Event("y")]


def test_utf8_split_inside_character() -> None:
    raw = "data: 日本🎉\n\n".encode()
    for cut in range(len(raw)):
        assert decode_all(raw, [cut]) == [Event("日本🎉")]


def test_pending_and_unterminated_event() -> None:
    d = SSEDecoder()
    d.decode(b"data: half")
    assert d.pending
    assert d.flush() == []
    d2 = SSEDecoder()
    d2.decode(b"data: x\n\n")
    assert not d2.pending


STREAM = (
    b"\xef\xbb\xbf: hello\r\n\r\nevent: e\r\ndata: one\r\ndata: two\r\nid: 3\r\n\r\n"
    b"data: caf\xc3\xa9 \xf0\x9f\x8e\x89\r\rdata:x\n\n: bye\n"
)


def test_every_single_split_gives_the_same_items() -> None:
    whole = decode_all(STREAM)
    assert whole == [Comment("hello"), Event("one\ntwo", "e", "3"), Event("café 🎉", id="3"),
                     Event("x", id="3"), Comment("bye")]
    for cut in range(len(STREAM) + 1):
        assert decode_all(STREAM, [cut]) == whole, cut


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_random_partitions_give_the_same_items(cuts: list[int]) -> None:
    assert decode_all(STREAM, cuts) == decode_all(STREAM)
