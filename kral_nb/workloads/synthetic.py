"""Prompts of given token lengths (``workloads.synthetic``), as vLLM's ``random`` dataset and
AIPerf's synthetic inputs make them: lengths drawn from a normal distribution (rounded, at
least one token), an optional prefix every prompt shares (a system prompt or a document: what
prompt caching reuses), and the output asked to be exactly its length."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Item, Workload, rng_for, text


def _count(name: str, value: Any, *, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{name} must be a whole number of tokens, at least {least}; got {value!r}")
    return value


def _spread(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{name} must be a standard deviation in tokens, 0 or more; got {value!r}")
    return float(value)


class Synthetic(Workload):
    kind = "synthetic"

    def __init__(self, input_tokens: int, output_tokens: int, *, input_sd: float = 0, output_sd: float = 0,
                 prefix_tokens: int = 0, seed: int = 0) -> None:
        self.input_tokens = _count("input_tokens", input_tokens, least=1)
        self.output_tokens = _count("output_tokens", output_tokens, least=1)
        self.input_sd, self.output_sd = _spread("input_sd", input_sd), _spread("output_sd", output_sd)
        self.prefix_tokens = _count("prefix_tokens", prefix_tokens)
        if self.prefix_tokens >= self.input_tokens:
            raise ConfigError(f"prefix_tokens ({prefix_tokens}) must be fewer than input_tokens ({input_tokens}): "
                              "the prefix is part of each prompt")
        self.seed = seed
        self._prefix = text(self.prefix_tokens, rng_for("prefix", seed, self.prefix_tokens))

    def item(self, i: int) -> Item:
        rng = rng_for("synthetic", self.seed, i)
        n_in = max(self.prefix_tokens + 1, round(rng.gauss(self.input_tokens, self.input_sd)))
        n_out = max(1, round(rng.gauss(self.output_tokens, self.output_sd)))
        body = text(n_in - self.prefix_tokens, rng)
        prompt = f"{self._prefix} {body}" if self._prefix else body
        prefix = f"prefix-{self.seed}-{self.prefix_tokens}" if self.prefix_tokens else None
        return Item((("user", prompt),), max_tokens=n_out, exact=True, input_tokens=n_in, prefix_id=prefix)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "input_tokens": self.input_tokens, "input_sd": self.input_sd,
                "output_tokens": self.output_tokens, "output_sd": self.output_sd,
                "prefix_tokens": self.prefix_tokens, "seed": self.seed}

    def summary(self) -> str:
        def spread(sd: float) -> str:
            return f" ± {sd:g}" if sd else ""

        prefix = f", the first {self.prefix_tokens:,} shared" if self.prefix_tokens else ""
        return (f"synthetic: {self.input_tokens:,}{spread(self.input_sd)} input tokens{prefix}, "
                f"{self.output_tokens:,}{spread(self.output_sd)} output tokens")


def synthetic(input_tokens: int, output_tokens: int, *, input_sd: float = 0, output_sd: float = 0,
              prefix_tokens: int = 0, seed: int = 0) -> Synthetic:
    """Prompts of ``input_tokens`` tokens (normal, standard deviation ``input_sd``) asking for
    ``output_tokens`` (``output_sd``): ``max_tokens`` is the output length, and the provider is
    asked for exactly that many where it can (``min_tokens``, ``ignore_eos``). The first
    ``prefix_tokens`` of every prompt are the same text (to exercise prompt caching). Tokens are
    counted by kral_nb's rule (``workloads.base``: one word, one token). Deterministic from
    ``seed``: request ``i`` is the same wherever it is built."""
    return Synthetic(input_tokens, output_tokens, input_sd=input_sd, output_sd=output_sd,
                     prefix_tokens=prefix_tokens, seed=seed)
