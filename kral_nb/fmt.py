"""How kral_nb writes values for people, in one place: every view, the HTML report and the
CLI format through here, so a millisecond, a dollar, a rate and a model's name read the same
everywhere. Pure: no I/O, no clock.

The name of a model is what a user types (``provider:model[@protocol]``; ``@openai`` is the
default and left out), and the simulated gateway is labelled simulated wherever it appears.
A missing value is an em dash (``—``), never ``nan`` or ``<NA>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DASH = "—"
#: how a metric is named for people (headers, verdicts, SLOs)
NAMES = {"ttft_s": "TTFT", "ttfa_s": "TTFA", "tpot_s": "TPOT", "e2e_s": "e2e", "itl_s": "ITL",
         "itl_p50_s": "ITL p50", "output_tokens_per_s": "tok/s", "cost_usd": "cost"}


def missing(v: Any) -> bool:
    """None, NaN, pandas' NA or NaT."""
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN, and NA raises
    except TypeError:
        return True


def model_label(provider: Any, model: Any, protocol: Any) -> str:
    """``sim:fast@anthropic (simulated)``, ``openai:gpt-4o``."""
    proto = "" if protocol == "openai" else f"@{protocol}"
    sim = " (simulated)" if provider == "sim" else ""
    return f"{provider}:{model}{proto}{sim}"


def run_label(run: Any) -> str:
    """A run: its model's label, then ``prompt N``, ``#repeat`` and ``warmup`` when they apply
    (a warmup is called that, not numbered)."""
    prompt = f" prompt {run.prompt_id}" if run.prompt_id else ""
    if run.warmup:
        return model_label(run.provider, run.model, run.protocol) + prompt + " warmup"
    rep = f" #{run.repeat}" if run.repeat else ""
    return model_label(run.provider, run.model, run.protocol) + prompt + rep


def ms(seconds: Any, *, unit: bool = True) -> str:
    """Seconds as milliseconds with sensible precision: ``0.4 ms``, ``3.2 ms``, ``212 ms``,
    ``1,234 ms``."""
    if missing(seconds):
        return DASH
    v = float(seconds) * 1000
    text = f"{v:,.2f}" if abs(v) < 1 else f"{v:,.1f}" if abs(v) < 10 else f"{v:,.0f}"
    return text + (" ms" if unit else "")


def secs(seconds: Any) -> str:
    """``0.64 s``, ``12.3 s``, ``3 min 20 s``."""
    if missing(seconds):
        return DASH
    v = float(seconds)
    if v >= 120:
        return f"{int(v // 60)} min {int(v % 60)} s"
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s"


def usd(v: Any, digits: int = 3) -> str:
    """Dollars with ``digits`` significant digits, never in e-notation: ``$0.0000328``, ``$0``."""
    if missing(v):
        return DASH
    v = float(v)
    if v == 0:
        return "$0"
    places = max(2, digits - 1 - math.floor(math.log10(abs(v))))
    text = f"{abs(v):,.{places}f}"
    if places > 2:  # a fraction of a cent: no trailing zeros past the cents
        text = text.rstrip("0")
        text += "0" * max(0, 2 - len(text.partition(".")[2]))
    return f"{'-' if v < 0 else ''}${text}"


def number(v: Any, digits: int = 3) -> str:
    """A plain number with at most ``digits`` significant digits, thousands separators, no
    e-notation and no trailing zeros: ``9.73``, ``2.5``, ``0.0412``, ``1,234``."""
    if missing(v):
        return DASH
    v = float(v)
    if v == 0:
        return "0"
    places = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    text = f"{v:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rate(v: Any, per: str = "/s") -> str:
    """Requests or tokens per second: ``9.7/s``."""
    return DASH if missing(v) else number(v) + per


def share(v: Any) -> str:
    """A fraction as a percentage: ``95%``, ``99.5%``."""
    if missing(v):
        return DASH
    p = float(v) * 100
    return f"{p:.0f}%" if p == round(p) else f"{p:.1f}%"


def count(v: Any) -> str:
    return DASH if missing(v) else f"{int(v):,}"


def tokens(n: Any, source: Any = None) -> str:
    """A token count, ``~`` when estimated."""
    if missing(n):
        return DASH
    return ("~" if source == "estimate" else "") + f"{int(n):,}"


def value(metric: str, v: Any) -> str:
    """A metric's value in its unit: seconds as ms, dollars, tokens/s, rates."""
    if metric.endswith("_usd") or "_usd_" in metric:
        return usd(v)
    if "tokens_per_s" in metric:
        return DASH if missing(v) else f"{number(v)} tok/s"
    if metric.endswith("_rps"):
        return rate(v)
    if metric.endswith("_s") or "_s_" in metric:
        return ms(v)
    return number(v)


def level(mode: str, v: Any) -> str:
    """A load level: concurrency as an integer (``8``), a rate as requests per second (``2.5/s``)."""
    if missing(v):
        return DASH
    return f"{int(v)}" if mode == "closed" else rate(v)


def levels(mode: str, values: Any) -> str:
    """``concurrency 1, 4, 16`` or ``rate 1/s, 5/s``."""
    shown = ", ".join(level(mode, v) for v in values)
    return f"concurrency {shown}" if mode == "closed" else f"rate {shown}"


def slo(limits: Mapping[str, float] | None) -> str:
    """``TTFT ≤ 500 ms and e2e ≤ 3,000 ms``; ``no SLO`` when there is none."""
    if not limits:
        return "no SLO"
    return " and ".join(f"{NAMES.get(k, k)} ≤ {ms(v)}" for k, v in limits.items())
