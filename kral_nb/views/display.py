"""Live panes in IPython: one display output updated in place at a bounded rate, always
ending with a final refresh; a text fallback for terminals and a static mode for CI
(``KRAL_NB_STATIC=1``: only the final render, so saved notebooks hold no update stream)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..clock import now_ns
from ..record.recorder import Run
from . import panes
from .markdown import Markdown

DEFAULT_RATE_HZ = 15.0


def in_kernel() -> bool:
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class _Bundle:
    def __init__(self, bundle: dict[str, str]) -> None:
        self.bundle = bundle

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return self.bundle


class LivePanes:
    """Render ``runs`` side by side; call :meth:`tick` periodically and :meth:`final` once."""

    def __init__(self, runs: Sequence[Run], *, fmt: str = "markdown", rate_hz: float = DEFAULT_RATE_HZ,
                 live: bool | None = None) -> None:
        self.runs, self.fmt, self.rate_hz = list(runs), fmt, rate_hz
        self.md = Markdown() if fmt == "markdown" else None  # answers' Markdown, rendered safely
        static = os.environ.get("KRAL_NB_STATIC", "") not in ("", "0")
        self.live = (in_kernel() and not static) if live is None else live
        self.n_updates = 0
        self._handle: Any = None
        self._last_key: tuple[Any, ...] | None = None
        self._idle_ticks = 0

    def bundle(self) -> dict[str, str]:
        t = now_ns()
        text = panes.plain(self.runs, t)
        return {"text/html": panes.html_panes(self.runs, t, md=self.md), "text/plain": text}

    def _key(self) -> tuple[Any, ...]:
        return tuple((len(r.records), r.status, r.note) for r in self.runs)

    def start(self) -> None:
        if self.live:
            from IPython.display import display

            self._handle = display(_Bundle(self.bundle()), display_id=True)
            self._last_key = self._key()

    def tick(self) -> None:
        """Refresh if anything changed (elapsed time alone refreshes at most once a second)."""
        if self._handle is None:
            return
        key = self._key()
        if key == self._last_key and self._idle_ticks < self.rate_hz:
            self._idle_ticks += 1
            return
        self._last_key, self._idle_ticks = key, 0
        self._handle.update(_Bundle(self.bundle()))
        self.n_updates += 1

    def final(self) -> None:
        """The guaranteed final refresh: final text and stats, then the summary table."""
        from IPython.display import display

        if self._handle is not None:
            self._handle.update(_Bundle(self.bundle()))
            self.n_updates += 1
        elif in_kernel():
            display(_Bundle(self.bundle()))
        else:
            print(panes.plain(self.runs, now_ns()))
