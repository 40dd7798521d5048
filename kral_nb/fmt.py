"""How a model and a run are named everywhere (panes, tables, plots, verdicts, reprs).
Pure. The name is what a user types (``provider:model[@protocol]``; ``@openai`` is the
default and left out), and the simulated gateway is labelled simulated wherever it appears."""

from __future__ import annotations

from typing import Any


def model_label(provider: Any, model: Any, protocol: Any) -> str:
    """``sim:fast@anthropic (simulated)``, ``openai:gpt-4o``."""
    proto = "" if protocol == "openai" else f"@{protocol}"
    sim = " (simulated)" if provider == "sim" else ""
    return f"{provider}:{model}{proto}{sim}"


def run_label(run: Any) -> str:
    """A run: its model's label, then ``prompt N``, ``#repeat`` and ``warmup`` when they apply."""
    prompt = f" prompt {run.prompt_id}" if run.prompt_id else ""
    rep = f" #{run.repeat}" if run.repeat else ""
    warm = " warmup" if run.warmup else ""
    return model_label(run.provider, run.model, run.protocol) + prompt + rep + warm
