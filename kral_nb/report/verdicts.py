"""Verdicts in words: a difference of medians and its bootstrap CI as a sentence people can
act on ("A faster by 120 ms than B, 95% CI [80 ms, 160 ms]"), in the units every other view
uses (``fmt.value``). Pure: no I/O, no clock."""

from __future__ import annotations

import math

from .. import fmt

#: metrics where more is better (everything else: less is better)
HIGHER_IS_BETTER = frozenset({"output_tokens_per_s", "output_tokens_per_s_p50", "goodput_rps", "achieved_rps"})


def unclear(metric: str, lo: float, hi: float, confidence: float = 0.95) -> str | None:
    """Why a difference's CI allows no verdict (too few runs, or it includes 0), else None."""
    if math.isnan(lo) or math.isnan(hi):
        return "not enough runs for a verdict (need >= 2 ok runs each)"
    if lo <= 0 <= hi:
        return (f"no clear difference ({confidence * 100:.0f}% CI [{fmt.value(metric, lo)}, "
                f"{fmt.value(metric, hi)}] includes 0)")
    return None


def ci_text(metric: str, lo: float, hi: float, confidence: float = 0.95) -> str:
    """"95% CI [80 ms, 160 ms]" for a CI that excludes 0 (both ends share a sign: shown unsigned)."""
    lo_abs, hi_abs = sorted((abs(lo), abs(hi)))
    return f"{confidence * 100:.0f}% CI [{fmt.value(metric, lo_abs)}, {fmt.value(metric, hi_abs)}]"


def better_word(metric: str, better: bool) -> str:
    """``faster`` / ``slower`` (latencies, tokens per second), ``cheaper`` / ``dearer``,
    else ``higher`` / ``lower``."""
    if metric.endswith("_usd"):
        return "cheaper" if better else "dearer"
    if metric.endswith("_s"):  # a latency, or tokens per second
        return "faster" if better else "slower"
    higher = better == (metric in HIGHER_IS_BETTER)
    return "higher" if higher else "lower"


def verdict(a: str, b: str, metric: str, d: float, lo: float, hi: float, confidence: float = 0.95) -> str:
    """"A faster by 120 ms than B, 95% CI [80 ms, 160 ms]" or "no clear difference"."""
    why = unclear(metric, lo, hi, confidence)
    if why is not None:
        return why if why.startswith("not enough") else f"{a} vs {b}: {why}"
    better_a = (d > 0) if metric in HIGHER_IS_BETTER else (d < 0)
    winner, loser = (a, b) if better_a else (b, a)
    return (f"{winner} {better_word(metric, True)} by {fmt.value(metric, abs(d))} than {loser}, "
            f"{ci_text(metric, lo, hi, confidence)}")
