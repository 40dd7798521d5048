"""The recorder: turns stamped bytes into a run's records and its runs-frame row.

Pure: every timestamp is data passed in by the transport (``t_ns`` from
``time.perf_counter_ns()``); nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..protocols.records import (
    CONTENT_KINDS,
    ERROR,
    FINISH,
    REASONING,
    REFUSAL,
    SERVER,
    SERVER_TOOL_CALL,
    TEXT,
    TOOL_CALL,
    USAGE,
    Chunk,
    ToolCall,
)
from ..redact import mask
from . import metrics
from .columnar import RecordColumns, TextBuffer

_USAGE_FIELDS = ("input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens")

#: a run's state: pending -> streaming -> one of columns.STATUSES
Status = Literal["pending", "streaming", "ok", "error", "cut_off", "cancelled", "http_error"]
#: why a run failed; errors.ERROR_CLASSES maps it to the exception run(check=True) raises
ErrorKind = Literal["connect", "timeout", "http", "protocol", "stream", "cut_off", "cancelled", "error"]
_STATUS_OF_KIND: dict[str, Status] = {"http": "http_error", "cut_off": "cut_off", "cancelled": "cancelled"}


@dataclass(frozen=True)
class Asked:
    """What a workload asked of one request in a load sweep (runs frame columns of the same
    names): its conversation and turn (1 for the first), the input and output lengths requested
    (kral_nb's token rule), the shared prefix it starts with."""

    session_id: str | None = None
    turn: int | None = None
    input_tokens_requested: int | None = None
    output_tokens_requested: int | None = None
    prefix_id: str | None = None


@dataclass
class Run:
    """One request's live state. The engine thread writes it; displays read snapshots."""

    run_id: str
    provider: str
    model: str
    protocol: str
    repeat: int = 0
    prompt_id: int = 0
    warmup: bool = False
    status: Status = "pending"  # changed only through the methods below
    note: str = ""  # what a pending run waits for ("loading model…"), shown in its pane
    helper_wait_s: float = 0.0  # how long it waited for its helper server to start, before sending
    asked: Asked | None = None  # a load workload's request: what it asked for
    error: str | None = None
    error_kind: ErrorKind | None = None
    started_at: datetime | None = None
    t0_ns: int | None = None  # request start: just before the request bytes are written
    connect_ns: int = 0
    headers_ns: int | None = None
    end_ns: int | None = None
    http_status: int | None = None
    http_version: str | None = None
    attempts: int = 0
    retry_wait_s: float = 0.0
    loop_lag_max_s: float = math.nan
    # records: (t_ns, n_bytes, chunk) in arrival order, held as columns
    records: RecordColumns = field(default_factory=RecordColumns)
    text_parts: TextBuffer = field(default_factory=TextBuffer)
    reasoning_parts: TextBuffer = field(default_factory=TextBuffer)
    tool_calls: dict[int, ToolCall] = field(default_factory=dict)
    server_tool_calls: dict[int, ToolCall] = field(default_factory=dict)  # run by the provider
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    server_metrics: dict[str, Any] = field(default_factory=dict)  # the server's own figures
    first_content_ns: int | None = None  # for live displays (the frames recompute it)
    n_bytes: int = 0
    trace: list[tuple[int, bytes]] | None = None  # raw reads, kept when trace=True
    listener: Any = None  # called as listener(t_ns, chunks) on the engine thread (stream())
    secrets: tuple[str, ...] = field(default=(), repr=False)  # scrubbed from everything the server sent
    counted_output_tokens: int | None = None  # by the server's tokenizer, when usage is missing
    counted_chunk_tokens: list[int] | None = None  # by the model's tokenizer, per content chunk
    streamed: bool = True  # False: the server answered with one JSON completion, not a stream
    terminator: str | None = None  # ok runs: "done" (the protocol's terminator) or "none" (clean end after a finish)
    other_choices: dict[int, TextBuffer] = field(default_factory=dict)  # n > 1: choices other than 0
    request_key: str | None = None  # ChatRequest.key(): what was asked, apart from the model
    request: str | None = None  # ChatRequest.describe(): the same, as JSON
    _pending_bytes: int = 0
    _last_read_ns: int | None = None  # the latest read's arrival
    _max_read_gap_ns: int | None = None  # the longest gap between reads (from the request start)

    # -- writing (engine thread) ---------------------------------------------------------
    def add(self, t_ns: int, n_bytes: int, chunks: list[Chunk]) -> None:
        """Record the chunks decoded from one raw read that arrived at ``t_ns``."""
        self.n_bytes += n_bytes
        self._pending_bytes += n_bytes
        last = self._last_read_ns if self._last_read_ns is not None else self.t0_ns
        if last is not None and (self._max_read_gap_ns is None or t_ns - last > self._max_read_gap_ns):
            self._max_read_gap_ns = t_ns - last
        self._last_read_ns = t_ns
        if not chunks:
            return
        if self.records.add(t_ns, self._pending_bytes, chunks):
            self.text_parts.compact()
            self.reasoning_parts.compact()
        self._pending_bytes = 0
        content = False
        for c in chunks:
            kind = c.kind
            if kind == TEXT:
                if c.choice:  # n > 1: choice 0 is the answer, the others are kept apart
                    self.other_choices.setdefault(c.choice, TextBuffer()).append(c.text)
                else:
                    self.text_parts.append(c.text)
                content = True
            elif kind == REASONING:
                if not c.choice:
                    self.reasoning_parts.append(c.text)
                content = True
            elif kind == TOOL_CALL:
                if not c.choice:
                    _add_tool(self.tool_calls, c)
                content = True
            elif kind == SERVER_TOOL_CALL:
                _add_tool(self.server_tool_calls, c)
                content = True
            elif kind == REFUSAL:
                content = True
            elif kind == USAGE:
                for f in _USAGE_FIELDS:
                    v = getattr(c, f)
                    if v is not None:
                        self.usage[f] = v  # last non-null value wins: never a sum
            elif kind == FINISH:
                if not c.choice:
                    self.finish_reason = c.finish_reason
            elif kind == ERROR:
                if self.error is None:
                    self.error = c.text
                    self.error_kind = c.error_kind or "stream"  # type: ignore[assignment]
            elif kind == SERVER:
                self.server_metrics.update(json.loads(c.text))
        if content and self.first_content_ns is None:
            self.first_content_ns = t_ns
        if self.listener is not None:
            self.listener(t_ns, chunks)

    # -- status: the only writers ---------------------------------------------------------
    def begin_attempt(self) -> None:
        """A (new) attempt starts: nothing of a failed earlier attempt is kept but the counts."""
        self.status, self.error, self.error_kind, self.http_status = "pending", None, None, None
        self.records.closed = False
        self.text_parts.reopen()
        self.reasoning_parts.reopen()

    def begin_streaming(self) -> None:
        self.status = "streaming"

    def fail(self, kind: ErrorKind, message: str, t_ns: int | None = None) -> None:
        """End the run as failed: status from the kind (``http`` -> ``http_error``,
        ``cut_off``, ``cancelled``; others -> ``error``)."""
        self.status = _STATUS_OF_KIND.get(kind, "error")
        self.error, self.error_kind = message, kind
        self._close_records()
        if self.end_ns is None and t_ns is not None:
            self.end_ns = t_ns

    def _close_records(self) -> None:
        """No more records: the answer and reasoning are read from them from now on."""
        self.records.close()
        self.text_parts.settle(self.records, TEXT)
        self.reasoning_parts.settle(self.records, REASONING)

    def cancel(self, t_ns: int | None = None, why: str = "cancelled by the user") -> None:
        """Interrupted (by the user, or a load level's drain deadline): a run not yet final
        becomes ``cancelled``, saying ``why``."""
        if self.status in ("pending", "streaming"):
            self.fail("cancelled", self.error or why, t_ns)

    def finish(self, t_ns: int, done: bool, mid_event: bool) -> None:
        """The body ended at ``t_ns``: ``ok`` at the protocol's terminator (``terminator =
        done``) or at a clean end of body after a finish reason (``none``: Perplexity and
        GPUStack never send ``[DONE]``); else ``error`` / ``cut_off`` (an abrupt end)."""
        self.end_ns = t_ns
        self._close_records()
        if self.error is not None:
            self.status = "error"
        elif done or (self.finish_reason is not None and not mid_event):
            self.status, self.terminator = "ok", "done" if done else "none"
        else:
            self.fail("cut_off", cut_off_message(self, mid_event))

    @property
    def final(self) -> bool:
        return self.status not in ("pending", "streaming")

    # -- reading (any thread) ------------------------------------------------------------
    @property
    def text(self) -> str:
        """The answer so far (masked where a key split across chunks would show)."""
        text = str(self.text_parts)
        return mask(text, self.secrets) if self.secrets else text

    @property
    def reasoning(self) -> str:
        text = str(self.reasoning_parts)
        return mask(text, self.secrets) if self.secrets else text

    def generated_text(self) -> str:
        """Everything the model generated as text: reasoning, answer, tool arguments."""
        return self.reasoning + self.text + "".join(
            tc.arguments for tc in (*self.tool_calls.values(), *self.server_tool_calls.values()))

    def content_texts(self) -> list[str]:
        """Each content chunk's text (tool arguments for a tool-call fragment), in arrival order."""
        return [c.text or (c.tool_args or "") for _, _, c in self.records.settled() if c.kind in CONTENT_KINDS]

    def output_tokens(self) -> tuple[int, str]:
        """The run's output token count and its source — the one count every view shows:
        ``usage`` from the stream, else ``tokenizer`` (counted by the model's tokenizer after
        the run), else ``estimate`` (``metrics.estimate_tokens`` over every generated
        character: reasoning, answer and tool arguments)."""
        out = self.usage.get("output_tokens")
        if out is not None:
            return out, "usage"
        if self.counted_output_tokens is not None:
            return self.counted_output_tokens, "tokenizer"
        tools = sum(len(tc.arguments) for tc in (*self.tool_calls.values(), *self.server_tool_calls.values()))
        return metrics.estimate_tokens(self.text_parts.n_chars() + self.reasoning_parts.n_chars() + tools), "estimate"


def _add_tool(calls: dict[int, ToolCall], c: Chunk) -> None:
    assert c.tool_index is not None
    call = calls.get(c.tool_index)
    if call is None:
        call = calls[c.tool_index] = ToolCall(c.tool_index)
    if c.tool_id and not call.id:
        call.id = c.tool_id
    if c.tool_name and not call.name:
        call.name = c.tool_name
    if c.tool_args:
        call.arguments += c.tool_args


COMMON_IDLE_TIMEOUTS_S = (30.0, 60.0, 100.0, 120.0, 300.0)


def cut_off_message(run: Run, mid_event: bool) -> str:
    """Why a stream ended without its terminator, with the likely cause."""
    idle_ns = run._max_read_gap_ns or 0
    if run.end_ns is not None and run._last_read_ns is not None:
        idle_ns = max(idle_ns, run.end_ns - run._last_read_ns)
    idle = idle_ns / 1e9
    where = "in the middle of an event" if mid_event else "between events"
    msg = (f"stream ended {where} without its terminator after {len(run.records)} chunks "
           f"(longest idle gap {idle:.1f} s)")
    near = [t for t in COMMON_IDLE_TIMEOUTS_S if abs(idle - t) <= 0.1 * t]
    if near:
        msg += (f"; the gap is close to a common proxy idle timeout ({near[0]:.0f} s): a proxy "
                "likely closed the idle connection; ask the server for keepalives or raise the "
                "proxy's idle timeout")
    return msg
