"""``summary()``'s frame: numbers stay in seconds and dollars for code (``ttft_s_p50``), while
the notebook and ``print`` show it for people — one model label, times in ms with sensible
precision, units in the headers, empty columns left out. Pure."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import fmt
from ..fmt import model_label

_GROUP = ("provider", "model", "protocol")


def _header(name: str) -> str:
    if "_usd" in name:  # cost_usd_median -> "cost median ($)"
        return name.replace("_usd", "").replace("_", " ") + " ($)"
    if "tokens_per_s" in name:
        return name.replace("output_tokens_per_s", "tok/s").replace("_", " ")
    base, _, stat = name.partition("_s_")
    if stat:  # ttft_s_p50 -> "ttft p50 (ms)"
        return f"{base.replace('_', ' ')} {stat.replace('_', ' ')} (ms)"
    return name.replace("_", " ")


def view(frame: pd.DataFrame) -> pd.DataFrame:
    """The people's copy: strings, one ``model`` label column first."""
    out = pd.DataFrame(index=frame.index)
    if all(c in frame.columns for c in _GROUP):
        out["model"] = [model_label(p, m, pr) for p, m, pr in
                        zip(frame["provider"], frame["model"], frame["protocol"], strict=True)]
    for name in frame.columns:
        if name in _GROUP:
            continue
        col = frame[name]
        if col.isna().all():
            continue  # nothing to show (e.g. cost for self-hosted models)
        if "_usd" in name:
            show: Any = fmt.usd
        elif "tokens_per_s" in name or (pd.api.types.is_float_dtype(col) and "_s_" not in name):
            show = fmt.number
        elif "_s_" in name:
            show = lambda v: fmt.ms(v, unit=False)  # noqa: E731 - the unit is in the header
        else:
            show = lambda v: fmt.DASH if fmt.missing(v) else str(v)  # noqa: E731
        out[_header(name)] = col.map(show)
    return out


class Summary(pd.DataFrame):
    """A plain DataFrame of numbers (operations on it return plain DataFrames) that displays
    through :func:`view`."""

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    def _repr_html_(self) -> str:  # type: ignore[override]
        return view(pd.DataFrame(self)).to_html(index=False, escape=True)

    def __repr__(self) -> str:
        return view(pd.DataFrame(self)).to_string(index=False)
