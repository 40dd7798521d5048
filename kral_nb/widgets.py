"""``ChatWidget``: prompt box, model picker, Send and Stop, live panes. A thin shell: its
callbacks only start and cancel engine runs (in the background, so Stop works while the
kernel is idle); the panes are refreshed from a helper thread by setting widget values."""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from . import api, panes
from .config import DEFAULTS
from .engine import now_ns
from .result import Result

DEFAULT_MODELS = ("sim:fast", "sim:steady", "sim:slow", "sim:fast@anthropic", "sim:fast@gemini")


class ChatWidget(w.VBox):  # type: ignore[misc]
    """Send one prompt to several models side by side. After each send, ``.result``,
    ``.runs`` and ``.chunks`` hold the frames; ``.history`` every result of this widget."""

    def __init__(self, models: Sequence[str] = DEFAULT_MODELS, *, selected: Sequence[str] | None = None,
                 rate_hz: float | None = None, **options: Any) -> None:
        self.prompt = w.Textarea(placeholder="Prompt…", layout=w.Layout(width="100%", height="80px"))
        self.models = w.SelectMultiple(options=list(models), value=tuple(selected or models[:2]),
                                       description="models", rows=min(6, len(models)))
        self.send = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.status = w.HTML()
        self.panes = w.HTML()
        self.options, self.rate_hz = options, rate_hz or DEFAULTS.rate_hz
        self.result: Result | None = None
        self.history: list[Result] = []
        self.sweep: api.Sweep | None = None
        self._thread: threading.Thread | None = None
        self.send.on_click(self._on_send)
        self.stop.on_click(self._on_stop)
        super().__init__([self.prompt, w.HBox([self.models, w.VBox([self.send, self.stop])]),
                          self.status, self.panes])

    @property
    def runs(self) -> Any:
        return None if self.result is None else self.result.runs

    @property
    def chunks(self) -> Any:
        return None if self.result is None else self.result.chunks

    def _on_send(self, _: Any = None) -> None:
        if self.sweep is not None and self.sweep.future is not None and not self.sweep.future.done():
            return
        try:
            self.sweep = api.start(self.prompt.value, list(self.models.value), **self.options)
        except api.KralError as exc:
            self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
            return
        self.send.disabled, self.stop.disabled = True, False
        self.status.value = "streaming…"
        self._thread = threading.Thread(target=self._refresh, args=(self.sweep,), daemon=True)
        self._thread.start()

    def _on_stop(self, _: Any = None) -> None:
        if self.sweep is not None:
            self.sweep.cancel()

    def _refresh(self, sweep: api.Sweep) -> None:
        assert sweep.future is not None
        runs = sweep.result.run_list
        wake = threading.Event()
        sweep.future.add_done_callback(lambda _: wake.set())
        while not sweep.future.done():
            self.panes.value = panes.html_panes(runs, now_ns())
            wake.wait(1.0 / self.rate_hz)
        self.panes.value = panes.html_panes(runs, now_ns())  # the final refresh
        self.result = sweep.result
        self.history.append(sweep.result)
        self.status.value = sweep.result._repr_html_()
        self.send.disabled, self.stop.disabled = False, True

    def wait(self, timeout_s: float | None = None) -> Result | None:
        """Block until the current send has finished (scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.result
