"""Command-line spellings of the option sets in ``options.py``, generated from their fields
(names, docs, types, choices): the ``kral-nb`` CLI (argparse) and the ``%%kral`` magic
(IPython's ``@argument``) take exactly the options the functions take, and a new option
appears in all of them at once.

``max_tokens`` is ``--max-tokens``; a field may name its own flags (``duration_s`` is
``--duration``); a switch that defaults to on is ``--no-…`` (``--no-usage`` for
``include_usage``); levels are comma-separated (``--concurrency 1,4,16``), an SLO is
``--slo ttft_s=0.5,e2e_s=3``; JSON-valued options (``tools``, ``extra_body``) take JSON text,
or in the magic the name of a notebook variable; ``api_key`` has no spelling (a key on a
command line ends up in shell history and notebook source: use ``%kral key`` or the
environment). Values are parsed by :func:`values`, so a bad one is one clear ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import ConfigError
from ..options import OptionSet

Spec = tuple[str, tuple[str, ...], dict[str, Any]]


def specs(options: type[OptionSet], *, skip: tuple[str, ...] = (),
          defaults: Mapping[str, Any] | None = None) -> Iterator[Spec]:
    """(option name, flags, argparse keywords) for every option of ``options`` a command line
    can carry; ``defaults`` shown in the help where a command's default differs."""
    for f in dataclasses.fields(options):  # type: ignore[arg-type]
        meta = f.metadata
        arg = meta.get("arg", str)
        if arg is None or f.name in skip:
            continue
        long = "--" + f.name.replace("_", "-")
        doc = str(meta["doc"])
        if defaults and f.name in defaults:
            doc += f" (default: {defaults[f.name]})"
        kw: dict[str, Any] = {"dest": f.name, "help": doc, "default": None}
        flags: tuple[str, ...] = tuple(meta.get("flags") or ())
        if arg is bool:
            if f.default is True:  # a switch that turns it off
                flags = flags or ("--no-" + f.name.replace("_", "-"),)
                kw.update(action="store_false", help="do not " + doc)
            else:
                flags = (*flags, long)
                kw["action"] = "store_true"
        else:
            if not any(fl.startswith("--") for fl in flags):
                flags = (*flags, long)
            if arg in (int, float):
                kw["type"] = arg
            if meta.get("choices"):
                kw["choices"] = list(meta["choices"])
            else:
                kw["metavar"] = {"json": "JSON", "ints": "N,N,...", "floats": "X,X,...",
                                 "slo": "METRIC=S,..."}.get(arg, f.name.upper())
        yield f.name, flags, kw


def add_arguments(parser: Any, options: type[OptionSet], *, skip: tuple[str, ...] = (),
                  defaults: Mapping[str, Any] | None = None) -> None:
    """Add the options to an argparse parser (or argument group)."""
    for _, flags, kw in specs(options, skip=skip, defaults=defaults):
        parser.add_argument(*flags, **kw)


def magic_arguments(*sets: type[OptionSet], skip: tuple[str, ...] = ()) -> Callable[[Any], Any]:
    """The same arguments as IPython ``@argument`` decorators (place under ``@magic_arguments()``)."""
    from IPython.core.magic_arguments import argument

    def wrap(func: Any) -> Any:
        every = [s for options in sets for s in specs(options, skip=skip)]
        for _, flags, kw in reversed(every):
            func = argument(*flags, **kw)(func)  # type: ignore[no-untyped-call]
        return func

    return wrap


def values(args: Any, options: type[OptionSet], *, lookup: Callable[[str], Any] | None = None,
           defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options of ``options`` given on the command line (``None``: not given, or the
    command's ``defaults``) as keywords for the function; levels, SLOs and JSON parsed; with
    ``lookup`` (the magic) a bare name is a notebook variable first."""
    out: dict[str, Any] = dict(defaults or {})
    by_name = {f.name: f for f in dataclasses.fields(options)}  # type: ignore[arg-type]
    for name, flags, _ in specs(options):
        v = getattr(args, name, None)
        if v is None:
            continue
        arg = by_name[name].metadata.get("arg")
        flag = next(fl for fl in reversed(flags) if fl.startswith("--"))
        if arg == "json":
            v = _json(name, flag, v, lookup)
        elif arg in ("ints", "floats"):
            v = numbers(flag, v, int if arg == "ints" else float)
        elif arg == "slo":
            v = slo(flag, v)
        out[name] = v
    return out


def numbers(flag: str, text: str, kind: type) -> list[Any]:
    """``1,4,16`` -> [1, 4, 16]."""
    try:
        out = [kind(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise ConfigError(f"{flag} {text}: expected comma-separated numbers, e.g. 1,4,16") from None
    if not out:
        raise ConfigError(f"{flag}: expected comma-separated numbers, e.g. 1,4,16")
    return out


def slo(flag: str, text: str) -> dict[str, float]:
    """``ttft_s=0.5,e2e_s=3`` -> {"ttft_s": 0.5, "e2e_s": 3.0} (checked by ``LoadOptions``)."""
    out: dict[str, float] = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise ConfigError(f"{flag} {text}: expected METRIC=SECONDS pairs, e.g. ttft_s=0.5,e2e_s=3")
        out[name.strip()] = numbers(flag, value, float)[0]
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
