"""The OpenAI parser's fast path: the common chunk — one choice at index 0, no usage, no
error, no tool call — decoded by msgspec straight into typed structs, its types checked in
C (``bench/decode_chunks.py``: the JSON and the parser's checks were two thirds of a chunk's
CPU in the pure stages). Anything else, including every value of an unexpected type and
every malformed document, returns None and goes the general path (orjson and ``shape``),
which alone decides what an odd chunk becomes: the two agree on everything the fast path
accepts (``tests/test_wire_types.py`` compares them). Pure: no I/O, no clock.
"""

from __future__ import annotations

import msgspec

from .records import FINISH, REASONING, REFUSAL, START, TEXT, Chunk

UNSET = msgspec.UNSET

# Every field is declared, every other key refused (``forbid_unknown_fields``): msgspec then
# decodes every value in a document it accepts, as orjson does, instead of skipping the keys
# no struct names — a number beyond a double's range or nesting past the interpreter's limit
# in a skipped key would have passed here and failed there. Numbers are int64 only where a
# chunk has them (``created``, ``index``, vLLM's ``stop_reason``); anything else a provider
# adds (``logprobs``, usage, errors, extra keys) goes the general path.


class Delta(msgspec.Struct, forbid_unknown_fields=True):
    role: str | msgspec.UnsetType | None = UNSET  # only its presence matters (a START chunk)
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: None = None
    function_call: None = None


class Choice(msgspec.Struct, forbid_unknown_fields=True):
    index: int | None = None
    delta: Delta | None = None
    finish_reason: str | None = None
    logprobs: None = None
    stop_reason: int | str | None = None


class _Message(msgspec.Struct, forbid_unknown_fields=True):
    choices: list[Choice] | None = None
    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    obfuscation: str | None = None
    usage: None = None


_decode = msgspec.json.Decoder(_Message).decode


def one_choice(data: str) -> Choice | None:
    """The only choice of ``data`` when it is the common chunk the general path would read
    from these fields alone; else None."""
    try:
        msg = _decode(data)
    except Exception:  # malformed, another type or key (ValidationError), a str it cannot encode
        return None
    choices = msg.choices
    if choices is None or len(choices) != 1 or msg.object == "error":
        return None
    choice = choices[0]
    return None if choice.index else choice


def chunks(choice: Choice, started: bool) -> tuple[list[Chunk], bool]:
    """The general path's ``_choice`` for a choice :func:`one_choice` returned (types already
    checked, no tool call), and whether the stream has started after it."""
    delta = choice.delta
    out: list[Chunk] = []
    if delta is not None:
        if not started and delta.role is not UNSET:
            started = True
            out.append(Chunk(START))
        reasoning = delta.reasoning_content or delta.reasoning
        if reasoning:
            out.append(Chunk(REASONING, reasoning))
        if delta.content:
            out.append(Chunk(TEXT, delta.content))
        if delta.refusal:
            out.append(Chunk(REFUSAL, delta.refusal))
    if choice.finish_reason:
        out.append(Chunk(FINISH, finish_reason=choice.finish_reason))
    return out, started
