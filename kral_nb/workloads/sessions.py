"""Multi-turn conversations (``workloads.sessions``): each turn's request carries the whole
conversation so far — every earlier prompt and the answer received to it — so the context
grows turn by turn, as a chat client's does (and a prefix cache can reuse it). A session's
turns go one after another, each when the previous one has ended plus the think time; a load
level keeps sessions in flight (closed loop) or starts them on its arrival schedule (open)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Item, Workload, as_workload


class Sessions(Workload):
    kind = "sessions"

    def __init__(self, base: Any, *, turns: int, think_time_s: float = 0.0) -> None:
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
            raise ConfigError(f"turns must be a whole number, at least 1; got {turns!r}")
        if isinstance(think_time_s, bool) or not isinstance(think_time_s, (int, float)) or not think_time_s >= 0:
            raise ConfigError(f"think_time_s must be seconds, 0 or more; got {think_time_s!r}")
        self.base = as_workload(base)
        if isinstance(self.base, Sessions) or self.base.schedule() is not None:
            raise ConfigError("sessions() takes prompts, a dataset or synthetic prompts, not "
                              f"{self.base.kind}: its turns follow each other, not a schedule")
        self.turns, self.think_time_s = turns, float(think_time_s)
        self.distinct = None

    def turn(self, session: int, turn: int, history: tuple[tuple[str, str], ...]) -> Item:
        """Turn ``turn`` (0-based) of session ``session``: the conversation so far, then this
        turn's prompt (its base workload's item, with that item's output length)."""
        base = self.base.item(session * self.turns + turn)
        n_in = None if base.input_tokens is None or history else base.input_tokens  # a grown context: not asked
        return Item((*history, ("user", base.user)), max_tokens=base.max_tokens, exact=base.exact,
                    input_tokens=n_in, prefix_id=base.prefix_id)

    def item(self, i: int) -> Item:
        """A session's first turn (each later one needs the answers before it: :meth:`turn`)."""
        return self.turn(i, 0, ())

    def describe(self) -> dict[str, Any]:
        base = {f"base {k}": v for k, v in self.base.describe().items()}
        return {"kind": self.kind, "turns": self.turns, "think_time_s": self.think_time_s, **base}

    def summary(self) -> str:
        think = f", {self.think_time_s:g} s think time" if self.think_time_s else ""
        return f"sessions of {self.turns} turns{think}, prompts from {self.base.summary()}"


def sessions(base: Any, *, turns: int, think_time_s: float = 0.0) -> Sessions:
    """Conversations of ``turns`` turns, each turn's prompt from ``base`` (a workload, a prompt
    or a list of prompts: session ``s`` turn ``t`` uses its item ``s * turns + t``), sent with
    the conversation so far — earlier prompts and the answers received — when the previous turn
    has ended plus ``think_time_s``. In a load level, ``concurrency`` counts sessions in flight
    and ``rate`` starts sessions; ``requests`` counts turns. Runs carry ``session_id`` and
    ``turn`` (1 for the first)."""
    return Sessions(base, turns=turns, think_time_s=think_time_s)
