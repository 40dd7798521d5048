"""Session defaults for the magic and widgets (``%kral config``). Memory only."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError


@dataclass
class Defaults:
    model: str = "sim:fast"
    provider: str | None = None
    rate_hz: float = 15.0
    format: str = "markdown"

    def set(self, key: str, value: str) -> None:
        names = {f.name for f in fields(self)}
        if key not in names:
            raise ConfigError(f"unknown setting {key!r}; settings: {', '.join(sorted(names))}")
        parsed: Any = value
        if key == "rate_hz":
            try:
                parsed = float(value)
            except ValueError:
                parsed = -1.0
            if not 0 < parsed <= 60:
                raise ConfigError(f"rate_hz must be a number in (0, 60], got {value!r}")
        elif key == "format" and value not in ("markdown", "text"):
            raise ConfigError("format must be markdown or text")
        elif key == "provider" and value in ("", "none", "None"):
            parsed = None
        setattr(self, key, parsed)


DEFAULTS = Defaults()
