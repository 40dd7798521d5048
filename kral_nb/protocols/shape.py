"""Type checks for values read from the wire. Pure: no I/O, no clock.

Every field a parser reads goes through one of these. A value of the wrong type (a list
where text belongs, a float index, a string count, an integer too large for a frame column)
raises :class:`ShapeError`; the pipeline turns it into an ``error`` record naming the field
and the value, abbreviated, so a hostile or buggy server can never poison a record.
"""

from __future__ import annotations

from typing import Any

#: counts and indices above this are not plausible (and would overflow the chunks frame's Int32 columns)
MAX_COUNT = 2**31 - 1


class ShapeError(ValueError):
    """A value from the wire has the wrong type or range."""


def abbrev(value: Any, limit: int = 60) -> str:
    try:
        r = repr(value)
    except RecursionError:  # a value nested near the interpreter's limit (orjson allows 1024)
        r = f"<{type(value).__name__} nested too deep>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _bad(where: str, expected: str, value: Any) -> ShapeError:
    return ShapeError(f"{where}: expected {expected}, got {abbrev(value)}")


def obj(value: Any, where: str) -> dict[str, Any]:
    """A JSON object; ``null`` or absent is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(where, "an object", value)
    return value


def items(value: Any, where: str) -> list[Any]:
    """A JSON array; ``null`` or absent is an empty one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(where, "an array", value)
    return value


def text(value: Any, where: str) -> str:
    """A string; ``null`` or absent is the empty string."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(where, "a string", value)
    return value


def opt_text(value: Any, where: str) -> str | None:
    """A string, or None when ``null`` or absent."""
    return None if value is None else text(value, where)


def count(value: Any, where: str) -> int | None:
    """A non-negative integer (token count, index); ``null`` or absent is None."""
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise _bad(where, "a non-negative integer", value)
    return value


def json_text(value: Any, where: str) -> str:
    """Tool arguments: a string of JSON, or (as some servers send) the object itself."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        import json

        return json.dumps(value)
    raise _bad(where, "a string or an object", value)
