"""The exceptions kral_nb raises.

    KralError (Exception)
    ├── ConfigError            bad arguments, unknown provider, invalid URL (before any request)
    │   └── MissingKeyError    the provider needs a key and none was found
    ├── ConnectError           could not connect, or the connection closed before any answer
    ├── HTTPStatusError        the server answered with a non-2xx status
    ├── StreamError            the stream carried an error event, broke, or was cut off
    │   └── ProtocolError      bytes that are not the wire format they should be
    └── KralTimeoutError       connect, idle-read or total timeout

A failed run records an error *kind* (``Run.error_kind``); each class names its kind and
:data:`ERROR_CLASSES` maps a kind back to its class — the one table between the two.

    Cancelled (KeyboardInterrupt, *not* an Exception): the user stopped the run. Like
    Ctrl-C itself it passes through ``except Exception:``, so a script stops; it carries
    ``.result`` like the others.

Every error raised after a request started carries ``.result``: the partial
:class:`~kral_nb.result.Result` with every chunk that arrived.  Messages never
contain API keys.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any


class KralError(Exception):
    """Base class of every kral_nb error."""

    result: Any = None
    kind = "error"  # the run's error_kind when this error ends a run

    def __init__(self, message: str, *, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class ConfigError(KralError, ValueError):
    """An argument or setting is invalid; raised before any request is sent."""


class MissingKeyError(ConfigError):
    """The provider needs an API key and none was given or found in the environment."""


class ConnectError(KralError):
    """Could not connect, or the server closed the connection before answering."""

    kind = "connect"


class HTTPStatusError(KralError):
    """The server answered with a non-2xx status before streaming. ``provider_message`` is
    the server's own message (scrubbed of secrets)."""

    kind = "http"

    def __init__(self, message: str, *, status: int = 0, result: Any = None,
                 provider_message: str = "") -> None:
        super().__init__(message, result=result)
        self.status = status
        self.provider_message = provider_message
        self.retry_after_s: float | None = None

    def with_retry_after(self, header: str | None, now: datetime) -> HTTPStatusError:
        """Parse ``Retry-After``: seconds, or an HTTP date (relative to ``now``, UTC)."""
        self.retry_after_s = parse_retry_after(header, now)
        return self


def parse_retry_after(header: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds (RFC 9110: delay-seconds or an HTTP-date); None when absent
    or unreadable. Pure: the caller passes the current time."""
    if not header:
        return None
    header = header.strip()
    try:
        value = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - now).total_seconds())
    return max(0.0, value) if math.isfinite(value) else None


class StreamError(KralError):
    """The stream reported an error, or ended without its terminator (cut off)."""

    kind = "stream"


class ProtocolError(StreamError):
    """Data that does not follow the wire format (recorded as an ``error`` chunk)."""

    kind = "protocol"


class KralTimeoutError(KralError, TimeoutError):
    """A connect, idle-read or total timeout expired."""

    kind = "timeout"


#: error kind -> the exception ``run(check=True)`` raises for a run that failed that way
ERROR_CLASSES: dict[str, type[KralError]] = {
    cls.kind: cls for cls in (ConnectError, HTTPStatusError, StreamError, ProtocolError, KralTimeoutError)
}
ERROR_CLASSES["cut_off"] = StreamError


class Cancelled(KeyboardInterrupt):
    """The run was interrupted (kernel interrupt, Ctrl-C, Stop); ``.result`` keeps the partial
    run. A ``KeyboardInterrupt``, not a :class:`KralError`: ``except Exception`` must not
    swallow a user's Ctrl-C."""

    def __init__(self, message: str, *, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


__all__ = [
    "ERROR_CLASSES",
    "Cancelled",
    "ConfigError",
    "ConnectError",
    "HTTPStatusError",
    "KralError",
    "KralTimeoutError",
    "MissingKeyError",
    "ProtocolError",
    "StreamError",
]
