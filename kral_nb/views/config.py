"""Session defaults for the magic and widgets (``%kral config``). Memory only."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError
from ..providers import get_provider, split_model

#: live pane updates per second: below 1 a pane looks frozen, above 60 no screen shows it
RATE_HZ = (1.0, 60.0)


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
                parsed = math.nan
            if not RATE_HZ[0] <= parsed <= RATE_HZ[1]:
                raise ConfigError(f"rate_hz must be a number from {RATE_HZ[0]:g} to {RATE_HZ[1]:g} "
                                  f"(updates per second), got {value!r}")
        elif key == "format" and value not in ("markdown", "text"):
            raise ConfigError(f"format must be markdown or text, got {value!r}")
        elif key == "provider":
            if value in ("", "none", "None"):
                parsed = None
            else:
                get_provider(value)
        elif key == "model":
            split_model(value, self.provider)  # a mistyped provider fails here, not in every later cell
        setattr(self, key, parsed)


DEFAULTS = Defaults()
