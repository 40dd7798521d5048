"""Command-line spellings of :class:`~kral_nb.plan.Options`, generated from its fields (names,
docs, types, choices): the ``%%kral`` magic and the ``kral-nb`` CLI take exactly the options
``run()`` takes, and a new option appears in all three at once.

``max_tokens`` is ``--max-tokens``; a switch that defaults to on is ``--no-…`` (``--no-usage``
for ``include_usage``); JSON-valued options (``tools``, ``extra_body``) take JSON text, or in
the magic the name of a notebook variable; ``api_key`` has no spelling (a key on a command line
ends up in shell history and notebook source: use ``%kral key`` or the environment).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ConfigError
from .plan import Options


def _specs() -> Iterator[tuple[str, tuple[str, ...], dict[str, Any]]]:
    """(option name, flags, argparse keywords) for every option a command line can carry."""
    for f in dataclasses.fields(Options):
        meta = f.metadata
        arg = meta.get("arg", str)
        if arg is None:
            continue
        long = "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = {"dest": f.name, "help": meta["doc"], "default": None}
        flags: tuple[str, ...] = tuple(meta.get("flags") or ())
        if arg is bool:
            if f.default is True:  # a switch that turns it off
                flags = flags or ("--no-" + f.name.replace("_", "-"),)
                kw.update(action="store_false", help="do not " + meta["doc"])
            else:
                flags = (*flags, long)
                kw["action"] = "store_true"
            kw["default"] = None
        else:
            flags = (*flags, long)
            if arg in (int, float):
                kw["type"] = arg
            if meta.get("choices"):
                kw["choices"] = list(meta["choices"])
            else:
                kw["metavar"] = "JSON" if arg == "json" else f.name.upper()
        yield f.name, flags, kw


def add_to(parser: Any, *, skip: tuple[str, ...] = ()) -> None:
    """Add the options to an argparse parser."""
    for name, flags, kw in _specs():
        if name not in skip:
            parser.add_argument(*flags, **kw)


def magic_arguments(func: Any, *, skip: tuple[str, ...] = ()) -> Any:
    """The same arguments as IPython ``@argument`` decorators (place under ``@magic_arguments()``)."""
    from IPython.core.magic_arguments import argument

    for name, flags, kw in reversed(list(_specs())):
        if name not in skip:
            func = argument(*flags, **kw)(func)  # type: ignore[no-untyped-call]
    return func


def values(args: Any, *, lookup: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """The options given on the command line (``None`` = not given) as keywords for ``run()``.
    JSON-valued ones are parsed; with ``lookup`` (the magic) a bare name is a variable first."""
    out: dict[str, Any] = {}
    for name, flags, kw in _specs():
        v = getattr(args, name, None)
        if v is None:
            continue
        if kw.get("metavar") == "JSON":
            v = _json(name, flags[-1], v, lookup)
        out[name] = v
    return out


def _json(name: str, flag: str, text: str, lookup: Callable[[str], Any] | None) -> Any:
    if lookup is not None and text.isidentifier():
        try:
            return lookup(text)
        except KeyError:
            raise ConfigError(f"{flag} {text}: no such variable in the notebook") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        where = "a variable's name or JSON" if lookup is not None else "JSON"
        raise ConfigError(f"{flag}: expected {where} for {name}, got {text!r} ({exc})") from None
