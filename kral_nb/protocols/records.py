"""The vocabulary that flows between stages: normalized chunks (what every protocol parser
emits and every consumer reads), accumulated tool calls, and the ``Record`` that ``stream()``
and ``astream()`` hand out.

Kinds (``Chunk.kind``):

- ``start``      the stream opened (OpenAI role-only delta, Anthropic ``message_start``)
- ``text``       answer text
- ``reasoning``  reasoning / thinking text
- ``refusal``    refusal text (OpenAI)
- ``tool_call``  a tool-call fragment (``tool_index``; id/name on the first fragment): a call
                 of one of *your* functions, for you to execute
- ``server_tool_call``   a fragment of a tool the *provider* runs itself (Anthropic
                 ``server_tool_use`` such as ``web_search`` / ``code_execution``, ``mcp_tool_use``);
                 same fields as ``tool_call``, kept apart so nobody executes it by mistake
- ``server_tool_result`` the provider's result block for one (``tool_id`` = the call's id,
                 ``tool_name`` = the block type, ``tool_args`` = its content as JSON)
- ``usage``      token counts (cumulative or final; the last non-null value wins)
- ``finish``     a finish / stop reason
- ``error``      an error reported inside the stream, or data that could not be parsed
- ``keepalive``  an SSE comment or ping: visible idle gaps
- ``done``       the protocol's terminator (``[DONE]``, ``message_stop``)
- ``server``     metrics the server reports about itself (JSON text: llama.cpp ``timings``,
                 OpenRouter ``cost``); kept beside kral_nb's own measurements
- ``other``      an event kral_nb does not know (kept, never fatal)
"""

from __future__ import annotations

from dataclasses import dataclass

START = "start"
TEXT = "text"
REASONING = "reasoning"
REFUSAL = "refusal"
TOOL_CALL = "tool_call"
SERVER_TOOL_CALL = "server_tool_call"
SERVER_TOOL_RESULT = "server_tool_result"
USAGE = "usage"
FINISH = "finish"
ERROR = "error"
KEEPALIVE = "keepalive"
DONE = "done"
SERVER = "server"
OTHER = "other"

KINDS = (START, TEXT, REASONING, REFUSAL, TOOL_CALL, SERVER_TOOL_CALL, SERVER_TOOL_RESULT, USAGE, FINISH, ERROR,
         KEEPALIVE, DONE, SERVER, OTHER)
#: kinds that carry generated output (TTFT, inter-chunk gaps)
CONTENT_KINDS = frozenset({TEXT, REASONING, REFUSAL, TOOL_CALL, SERVER_TOOL_CALL})
#: content kinds that are the answer, not the thinking (TTFA)
ANSWER_KINDS = frozenset({TEXT, REFUSAL, TOOL_CALL, SERVER_TOOL_CALL})


@dataclass(slots=True)
class Chunk:
    """One normalized piece of a stream. ``text`` holds text, reasoning, refusal, comment or
    error message; tool fragments use the ``tool_*`` fields."""

    kind: str
    text: str = ""
    tool_index: int | None = None
    tool_id: str | None = None
    tool_name: str | None = None
    tool_args: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    error_kind: str | None = None  # on error records: "protocol" for data that is not the wire format
    choice: int = 0  # OpenAI n > 1: which choice this belongs to (0: the run's answer)


@dataclass(slots=True)
class ToolCall:
    """A tool call accumulated from fragments; ``arguments`` is the raw JSON text."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""

    def parsed_arguments(self) -> object:
        """The arguments as JSON (raises ``ValueError`` when they are not valid JSON)."""
        import json

        return json.loads(self.arguments or "{}")

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class Record:
    """One normalized chunk as it arrives: ``t_s`` since the request started."""

    run_id: str
    seq: int
    t_s: float
    chunk: Chunk

    @property
    def kind(self) -> str:
        return self.chunk.kind

    @property
    def text(self) -> str:
        return self.chunk.text
