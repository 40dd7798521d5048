"""Human messages from wire payloads, shared by the transport (error bodies) and the
protocol parsers (in-stream errors). Pure: no I/O, no clock."""

from __future__ import annotations

import json
from typing import Any


def error_message(obj: Any) -> str:
    """The human message of an error payload, whatever its shape."""
    err = obj.get("error", obj) if isinstance(obj, dict) else obj
    if isinstance(err, dict):
        msg = err.get("message") or err.get("msg") or json.dumps(err)[:500]
        kind = err.get("type") or err.get("status") or err.get("code")
        return f"{kind}: {msg}" if kind and kind != msg else str(msg)
    return str(err)[:500]
