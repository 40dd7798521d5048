"""What a load sweep sends: a :class:`Workload` is a deterministic sequence of :class:`Item`
requests, plain data that pickles to a load shard or a Ray actor, where each request is built
(``plan.Target.job``) — the same items, in the same order, wherever they run.

**How tokens are counted.** Every length a workload asks for (``input_tokens``, a trace's
``input_length``) is in kral_nb's token rule, the sim's own: one whitespace-separated word is one
token. The words are drawn from :data:`WORDS`, short common English words that are one token
with their leading space in the GPT, Llama and Gemma vocabularies, so a prompt of *n* words is
*n* ± a few tokens for those models too (a test checks it with the local model's tokenizer).
Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

#: one token each (with the space before it) in the GPT-4o, Llama 3 and Gemma 3 vocabularies
WORDS = ("the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
         "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they",
         "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more",
         "when", "will", "would", "who", "so", "no", "time", "out", "up", "about", "into", "than", "them",
         "only", "other", "new", "some", "what", "could", "these", "two", "may", "first", "then", "do",
         "any", "like", "my", "now", "over", "such", "our", "man", "me", "even", "most", "made", "after",
         "also", "did", "many", "before", "must", "through", "back", "years", "where", "much", "your",
         "way", "well", "down", "should", "because", "each", "just", "those", "people", "how", "too")


def rng_for(*parts: Any) -> random.Random:
    """A generator seeded from ``parts``: the same on every machine and in every process
    (Python's ``hash`` of a string is not)."""
    return random.Random(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest())


def text(n_tokens: int, rng: random.Random) -> str:
    """``n_tokens`` words of :data:`WORDS`: that many tokens by the rule above."""
    return " ".join(rng.choices(WORDS, k=max(0, n_tokens)))


@dataclass(frozen=True)
class Item:
    """One request of a workload. ``messages``: (role, content) pairs in OpenAI's roles;
    ``max_tokens``: the output cap (None: the load's ``max_tokens`` option); ``exact``: ask for
    exactly ``max_tokens`` tokens where the provider can (``min_tokens``, ``ignore_eos``);
    ``input_tokens``: the input length asked for (the token rule); ``offset_s``: a trace's due
    time from the level's start; ``prefix_id``: the shared prefix it starts with."""

    messages: tuple[tuple[str, str], ...]
    max_tokens: int | None = None
    exact: bool = False
    input_tokens: int | None = None
    offset_s: float | None = None
    prefix_id: str | None = None

    def chat(self) -> list[dict[str, Any]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    @property
    def user(self) -> str:
        """The last user message (a session's turn takes it from its base workload)."""
        return next((c for r, c in reversed(self.messages) if r == "user"), "")


class Workload:
    """A sequence of requests, item ``i`` for every ``i >= 0``: ``distinct`` different ones
    repeating (a list of prompts, a dataset), or a new one each time (``None``: synthetic)."""

    kind: ClassVar[str] = "workload"
    distinct: int | None = None

    def item(self, i: int) -> Item:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What a report and a live view say about it: ``kind`` and its sizes."""
        return {"kind": self.kind}

    def summary(self) -> str:
        """It in a sentence (the live view's first line, the report's)."""
        return self.kind

    def schedule(self) -> list[float] | None:
        """A trace's due times (seconds from the level's start), or None: the load's levels
        decide when requests go."""
        return None

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "kind")
        return f"<kral_nb workload {self.kind}: {inner}>"


class Prompts(Workload):
    """The prompt (or prompts, in turn) given as ``load()``'s first argument."""

    kind = "prompts"

    def __init__(self, prompts: Sequence[str]) -> None:
        from ..errors import ConfigError

        if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise ConfigError("load() needs a prompt: a non-empty string, a list of them, or a workload "
                              "(kral_nb.workloads)")
        self.prompts = tuple(prompts)
        self.distinct = len(self.prompts)

    def item(self, i: int) -> Item:
        return Item((("user", self.prompts[i % len(self.prompts)]),))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "prompts": len(self.prompts)}

    def summary(self) -> str:
        return f"{len(self.prompts)} prompts in turn" if len(self.prompts) > 1 else "one prompt"


def as_workload(value: Any) -> Workload:
    """``load()``'s first argument as a workload: a workload, a prompt, or a list of prompts."""
    if isinstance(value, Workload):
        return value
    if isinstance(value, str):
        return Prompts([value])
    if isinstance(value, (list, tuple)):
        return Prompts(list(value))
    from ..errors import ConfigError

    raise ConfigError(f"load() takes a prompt, a list of prompts or a workload (kral_nb.workloads), "
                      f"got {type(value).__name__}")
