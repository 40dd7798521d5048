"""The OpenAI parser's fast path: the common chunk — one choice at index 0, no usage, no
error, no tool call — decoded by msgspec straight into typed structs, its types checked in
C (``bench/decode_chunks.py``: the JSON and the parser's checks were two thirds of a chunk's
CPU in the pure stages). Anything else, including every value of an unexpected type and
every malformed document, returns None and goes the general path (orjson and ``shape``),
which alone decides what an odd chunk becomes: the two agree on everything the fast path
accepts (``tests/test_wire_types.py`` compares them). Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

import msgspec

UNSET = msgspec.UNSET


class Delta(msgspec.Struct):
    role: Any = UNSET  # only its presence matters (a START chunk)
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: Any = None


class Choice(msgspec.Struct):
    index: Any = None
    delta: Delta | None = None
    finish_reason: str | None = None


class _Message(msgspec.Struct):
    choices: list[Choice] | None = None
    usage: Any = None
    error: Any = None
    object: Any = None
    timings: Any = UNSET


_decode = msgspec.json.Decoder(_Message).decode


def one_choice(data: str) -> Choice | None:
    """The only choice of ``data`` when it is the common chunk the general path would read
    from these fields alone; else None."""
    try:
        msg = _decode(data)
    except msgspec.DecodeError:  # malformed, or a value of another type (ValidationError)
        return None
    choices = msg.choices
    if (choices is None or len(choices) != 1 or msg.usage is not None or msg.error
            or msg.object == "error" or msg.timings is not UNSET):
        return None
    choice = choices[0]
    if choice.index or (choice.delta is not None and choice.delta.tool_calls):
        return None
    return choice
