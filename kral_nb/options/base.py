"""The machinery every option set shares: each option a dataclass field with its doc, its
check and its command-line spelling (:func:`opt`); :class:`OptionSet` takes and checks a set
from keyword arguments; :func:`with_options` shows a set as keyword-only parameters. The
shared checks (:func:`is_int`, :func:`is_number`, ...) are the only place kral_nb writes them.
Pure: no I/O, no clock."""


from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
from collections.abc import Callable
from dataclasses import field
from typing import Any, TypeVar

from ..errors import ConfigError

# -- the checks every option set shares -------------------------------------------------


def is_int(v: Any) -> bool:
    """An integer (``True`` is not one)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """A finite int or float (``True`` is not one)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def int_in(lo: int, hi: float = math.inf) -> Callable[[Any], bool]:
    return lambda v: is_int(v) and lo <= v <= hi


def number_in(lo: float, hi: float = math.inf, *, above: bool = False) -> Callable[[Any], bool]:
    """``lo <= v <= hi`` (``above``: ``lo < v``)."""
    return lambda v: is_number(v) and (v > lo if above else v >= lo) and v <= hi


def opt(default: Any, doc: str, *, arg: Any = str, flags: tuple[str, ...] = (),
         choices: tuple[str, ...] | None = None, check: Callable[[Any], bool] | None = None,
         must: str = "", factory: Callable[[], Any] | None = None) -> Any:
    """A field with its one-line documentation (``help()`` of every entry point, the magic,
    the CLI), how a command line spells it — ``arg``: ``str``/``int``/``float``, ``bool`` (a
    switch), ``"json"`` (JSON text, or in the magic a variable's name), ``"ints"`` /
    ``"floats"`` (comma-separated levels), ``"slo"`` (``ttft_s=0.5,e2e_s=3``) or None (never on
    a command line) — and its check: ``None`` always passes, else ``check(value)`` must hold
    (the error says the value ``must`` be that)."""
    meta = {"doc": doc, "arg": arg, "flags": flags, "choices": choices, "check": check, "must": must}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def unknown_message(name: str, known: list[str], what: str = "option") -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" — did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
    return f"unknown {what} {name!r}{hint} (provider-specific request fields go in extra_body={{...}})"


T = TypeVar("T", bound="OptionSet")


class OptionSet:
    """A dataclass of options: taken from keyword arguments, each checked by its field."""

    @classmethod
    def take(cls: type[T], kw: dict[str, Any]) -> T:
        """This set's options, removed from ``kw`` (the rest are someone else's)."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        mine = {k: kw.pop(k) for k in list(kw) if k in names}
        out = cls(**mine)
        out.check()
        return out

    def check(self) -> None:
        """Every field against its own check, with the argument's name in the message."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            check, choices = f.metadata.get("check"), f.metadata.get("choices")
            if v is None or (check is None and not choices):
                continue
            if choices and check is None and v not in choices:
                raise ConfigError(f"{f.name} must be one of {', '.join(map(str, choices))}, got {v!r}")
            if check is not None and not check(v):
                raise ConfigError(f"{f.name} must be {f.metadata['must']}, got {v!r}")


F = TypeVar("F", bound=Callable[..., Any])


def with_options(*sets: type[OptionSet]) -> Callable[[F], F]:
    """Make ``func(..., **options)`` show the options of ``sets`` as keyword-only parameters in
    ``help()``, ``inspect.signature`` and Jupyter's completion, each with its doc."""

    def wrap(func: F) -> F:
        sig = inspect.signature(func)
        params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        docs = []
        for s in sets:
            fields = dataclasses.fields(s)  # type: ignore[arg-type]
            for f in fields:
                default = f.default if f.default is not dataclasses.MISSING else None
                params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                                annotation=f.type))
            title = (s.__doc__ or s.__name__).split("(")[0].strip().rstrip(".")
            docs.append(f"\n    {title}:\n" + "\n".join(f"    {f.name}: {f.metadata['doc']}" for f in fields))
        func.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        func.__doc__ = (func.__doc__ or "").rstrip() + "\n" + "".join(docs) + "\n"
        return func

    return wrap
