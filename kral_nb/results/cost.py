"""Dollars per run, from pydantic's ``genai-prices`` price database (offline package data:
nothing here reaches the network; its optional updater is never started).

Columns added to the runs frame (docs/metrics.md, *Cost*): ``input_cost_usd``,
``output_cost_usd``, ``cost_usd``, ``cost_status`` and ``price_source``. A run is costed
from the usage it carried, even when it was cut off, failed or was cancelled (billed for what
was generated); without usage, from the estimated output tokens (``estimated_tokens``).

Which provider prices a model: the run's provider (``openai``, ``anthropic``, ``gemini`` →
``google``, ``openrouter``); for the ``kral`` gateway, a ``vendor/model`` name is priced at
that vendor, any other name is matched by genai-prices to the provider that serves it.
Self-hosted providers (``sim``, ``local``, ``ollama``, ``llamacpp``, ``vllm``) are ``free``.
A model the database does not know is ``NaN`` with ``unknown_model``, never 0. ``prices=``
overrides per model (keyed ``provider:model`` or ``model``), in $ per million tokens
(``input``, ``output``, ``cached_input``), and wins over everything, self-hosted models
included (what your own hardware costs per token).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FREE = frozenset({"sim", "local", "ollama", "llamacpp", "vllm"})
PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic", "gemini": "google", "openrouter": "openrouter"}
VENDOR_IDS = {"gemini": "google", "google": "google", "anthropic": "anthropic", "openai": "openai",
              "mistralai": "mistral", "mistral": "mistral", "x-ai": "x-ai", "xai": "x-ai", "deepseek": "deepseek",
              "meta-llama": "meta", "groq": "groq", "cohere": "cohere"}
COLUMNS = ("input_cost_usd", "output_cost_usd", "cost_usd", "cost_status", "price_source")
STATUSES = ("priced", "estimated_tokens", "unknown_model", "free")


def _num(v: Any) -> int | None:
    try:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return int(v)
    except (TypeError, ValueError):  # pandas NA
        return None


def provider_and_model(provider: str, model: str) -> tuple[str | None, str]:
    """The genai-prices provider id (None: let it match the model) and model name."""
    if provider in PROVIDER_IDS and provider != "openrouter":
        return PROVIDER_IDS[provider], model
    if provider == "openrouter":
        return "openrouter", model
    vendor, sep, rest = model.partition("/")
    if sep and vendor.lower() in VENDOR_IDS:
        return VENDOR_IDS[vendor.lower()], rest
    return None, model


@functools.lru_cache(maxsize=65536)
def _package_price(provider_id: str | None, model: str, input_tokens: int, cached: int,
                   output_tokens: int) -> tuple[float, float, str] | None:
    import genai_prices

    usage = genai_prices.Usage(input_tokens=input_tokens, cache_read_tokens=cached, output_tokens=output_tokens)
    try:
        calc = genai_prices.calc_price(usage, model, provider_id=provider_id)
    except LookupError:
        return None
    source = f"genai-prices {version('genai-prices')}: {calc.provider.id}/{calc.model.id}"
    return float(calc.input_price), float(calc.output_price), source


@functools.lru_cache(maxsize=4096)
def _rates(provider_id: str | None, model: str) -> tuple[float, float, float] | None:
    """$ per input, cached-input and output token at a million tokens of each (the live line)."""
    m = 1_000_000
    base = _package_price(provider_id, model, m, 0, m)
    cached = _package_price(provider_id, model, m, m, 0)
    if base is None or cached is None:
        return None
    return base[0] / m, cached[0] / m, base[1] / m


def live_cost(provider: str, model: str, input_tokens: int | None, cached_tokens: int | None,
              output_tokens: int) -> float:
    """A quick linear estimate for the live stats line (a genai-prices calculation takes ~1 ms,
    too slow for every render; the frames use the exact one). NaN when the model is unknown."""
    if provider in FREE:
        return 0.0
    rates = _rates(*provider_and_model(provider, model))
    if rates is None:
        return math.nan
    n_in, n_cached = input_tokens or 0, min(cached_tokens or 0, input_tokens or 0)
    return (n_in - n_cached) * rates[0] + n_cached * rates[1] + output_tokens * rates[2]


def price_run(provider: str, model: str, input_tokens: Any, cached_tokens: Any, output_tokens: Any,
              tokens_source: str, prices: Mapping[str, Mapping[str, float]] | None = None) -> tuple[Any, ...]:
    """``(input_cost_usd, output_cost_usd, cost_usd, cost_status, price_source)`` of one run."""
    nan = math.nan
    n_in, n_cached, n_out = _num(input_tokens), _num(cached_tokens) or 0, _num(output_tokens)
    status = "estimated_tokens" if tokens_source == "estimate" else "priced"  # usage, tokenizer: exact
    key, prices = f"{provider}:{model}", prices or {}
    override = prices.get(key, prices.get(model))
    if override is not None:  # wins over everything, self-hosted too (what your own hardware costs)
        per = {k: float(override.get(k, 0.0)) / 1e6 for k in ("input", "output", "cached_input")}
        cin = nan if n_in is None else (n_in - n_cached) * per["input"] + n_cached * per.get("cached_input", per["input"])
        cout = nan if n_out is None else n_out * per["output"]
        return cin, cout, _sum(cin, cout), status, f"prices= override for {key if key in prices else model}"
    if provider in FREE:
        return 0.0, 0.0, 0.0, "free", f"{provider}: self-hosted, no per-token price"
    provider_id, name = provider_and_model(provider, model)
    got = _package_price(provider_id, name, n_in or 0, min(n_cached, n_in or 0), n_out or 0)
    if got is None:
        return nan, nan, nan, "unknown_model", f"genai-prices {version('genai-prices')}: no price for {model!r}"
    cin, cout, source = got
    if n_in is None:
        cin = nan  # no usage: the prompt's tokens are unknown, the estimate covers the output only
    return cin, cout, _sum(cin, cout), status, source


def _sum(cin: float, cout: float) -> float:
    if math.isnan(cout):
        return math.nan
    return cout if math.isnan(cin) else cin + cout


def add_cost(runs: pd.DataFrame, prices: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """The runs frame with the cost columns (replacing any already there)."""
    import pandas as pd

    rows = [price_run(p, m, i, c, o, str(s), prices) for p, m, i, c, o, s in zip(
        runs["provider"].astype(str), runs["model"].astype(str), runs["input_tokens"], runs["cached_tokens"],
        runs["output_tokens"], runs["tokens_source"].astype(str), strict=True)]
    out = runs.drop(columns=[c for c in COLUMNS if c in runs.columns])
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [[] for _ in COLUMNS]
    for name, values in zip(COLUMNS, cols, strict=True):
        dtype = "float64" if name.endswith("_usd") else ("category" if name == "cost_status" else "string")
        out[name] = pd.Series(list(values), index=runs.index, dtype=dtype)
    return out
