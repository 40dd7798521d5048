"""Pure metric helpers (docs/metrics.md): token estimates and the buffered flag."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def estimate_tokens(text: str) -> int:
    """Token count of ``text``: tiktoken's ``o200k_base`` when installed and its data is
    cached, else the documented heuristic ``ceil(chars / 4)`` (OpenAI's rule of thumb)."""
    if not text:
        return 0
    enc = _encoding()
    if enc is not None:
        return len(enc.encode(text, disallowed_special=()))
    return math.ceil(len(text) / 4)


_ENC: object = None


def _encoding() -> Any:
    global _ENC
    if _ENC is None:
        try:
            import tiktoken  # type: ignore[import-not-found]

            _ENC = tiktoken.get_encoding("o200k_base")
        except Exception:  # not installed, or no cached data offline
            _ENC = False
    return _ENC or None


def is_buffered(ttft_s: float, e2e_s: float, n_content: int, gaps_s: Sequence[float]) -> bool:
    """Content that arrives in one burst at the end: at least 4 content chunks, TTFT >= 90%
    of an e2e over 0.5 s, and every gap between arrivals < 5 ms (or one single read).
    A proxy is holding the stream back: its TTFT is not the model's."""
    if n_content < 4 or not (e2e_s > 0.5) or math.isnan(ttft_s):
        return False
    return ttft_s >= 0.9 * e2e_s and (not gaps_s or max(gaps_s) < 0.005)
