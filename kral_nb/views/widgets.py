"""``ChatWidget``: prompt box (Enter: a new line; Shift+Enter or Ctrl/Cmd+Enter: send; no key
reaches the notebook's shortcuts), one checkbox per model, Send and Stop, live panes with the
answers rendered as Markdown, the results table under them. A thin shell: its callbacks only
start and cancel engine runs (in the background, so Stop works while the kernel is idle); the
panes are refreshed from a helper thread by setting widget values.

What survives save and reload: JupyterLab and Notebook 7 save no widget state by default
(the ``saveState`` setting is off), so a reopened notebook has no model for the widget. The
chat therefore displays two outputs — the widget, and a transcript (``text/html``: every
prompt, its answers and the table) updated in place after each send. While the widget is
alive the transcript is hidden (CSS ``:has(.kral-chat-live)``); in a notebook reopened
without the widget, the transcript shows and the widget's "model not found" line is hidden.
nbconvert's HTML, nbviewer and GitHub show the transcript."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

from .. import sweeps
from ..clock import now_ns
from ..errors import KralError
from ..results.result import Result
from . import panes
from .config import DEFAULTS
from .markdown import Markdown
from .resultview import RunsTable

DEFAULT_MODELS = ("sim:fast", "sim:steady", "sim:slow", "sim:fast@anthropic", "sim:fast@gemini")



class PromptBox(anywidget.AnyWidget):  # type: ignore[misc]
    """A textarea whose Shift+Enter, Ctrl+Enter or Cmd+Enter calls :meth:`on_submit`
    callbacks (ipywidgets' Textarea has no key events); Enter is a new line."""

    _esm = """
    function render({ model, el }) {
      const box = document.createElement("textarea");
      box.className = "kral-prompt";
      box.rows = 3;
      box.placeholder = model.get("placeholder");
      box.style.cssText = "width:100%;box-sizing:border-box;font:inherit;resize:vertical;padding:6px;" +
        "color:var(--jp-ui-font-color1,#000);background:var(--jp-layout-color1,#fff);" +
        "border:1px solid var(--jp-border-color1,#bdbdbd);border-radius:4px";
      box.style.lineHeight = "1.45";
      box.value = model.get("value");
      // Lumino stops looking for notebook shortcuts at this attribute: typing "a", "b", "dd",
      // Shift+Enter in the box is text or a send, never a notebook command
      box.setAttribute("data-lm-suppress-shortcuts", "true");
      // synced when it matters (leaving the box, a send), not per keystroke: an echoed older
      // value never overwrites what is being typed
      const sync = () => { if (model.get("value") !== box.value) { model.set("value", box.value); model.save_changes(); } };
      box.addEventListener("change", sync);
      box.addEventListener("keydown", (e) => {
        e.stopPropagation();  // no keystroke leaves the box (the notebook listens on the document)
        if (e.key === "Enter" && (e.shiftKey || e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          sync();
          model.send({ event: "submit", value: box.value });
        }  // Enter alone: the textarea's own new line
      });
      model.on("change:value", () => {
        if (document.activeElement !== box && box.value !== model.get("value")) box.value = model.get("value");
      });
      el.appendChild(box);
    }
    export default { render };
    """
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("Prompt… (Enter: new line · Shift+Enter or Ctrl/⌘+Enter: send)").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._submit: list[Callable[[], None]] = []
        self.on_msg(self._on_msg)

    def on_submit(self, callback: Callable[[], None]) -> None:
        self._submit.append(callback)

    def _on_msg(self, _: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            if isinstance(content.get("value"), str):  # what the box held at Ctrl+Enter
                self.value = content["value"]
            for callback in self._submit:
                callback()


class ChatWidget(w.VBox):  # type: ignore[misc]
    """Send one prompt to several models side by side. After each send, ``.result``,
    ``.runs`` and ``.chunks`` hold the frames; ``.history`` every result of this widget."""

    def __init__(self, models: Sequence[str] = DEFAULT_MODELS, *, selected: Sequence[str] | None = None,
                 rate_hz: float | None = None, **options: Any) -> None:
        chosen = set(selected or models[:2])
        self.prompt = PromptBox()
        self.checks = [w.Checkbox(value=m in chosen, description=m, indent=False,
                                  layout=w.Layout(width="auto", margin="0 12px 0 0")) for m in models]
        self.send = w.Button(description="Send", button_style="primary", icon="paper-plane",
                             tooltip="Send to the checked models (Shift+Enter or Ctrl+Enter in the prompt)")
        self.stop = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.panes = w.HTML()
        self.status = w.HTML()
        self.options, self.rate_hz = options, rate_hz or DEFAULTS.rate_hz
        self.md = Markdown()  # model Markdown as safe HTML (views/markdown.py), settled blocks rendered once
        self.result: Result | None = None
        self.history: list[Result] = []
        self.sweep: sweeps.Sweep | None = None
        self._thread: threading.Thread | None = None
        self._transcripts: list[Any] = []  # display handles of the transcript outputs
        self.send.on_click(self._on_send)
        self.stop.on_click(self._on_stop)
        self.prompt.on_submit(self._on_send)
        row = w.HBox(self.checks, layout=w.Layout(flex_flow="row wrap"))
        super().__init__([self.prompt, row, w.HBox([self.send, self.stop]), self.panes, self.status])
        self.add_class("kral-chat-live")  # present only while the widget is rendered

    @property
    def selected(self) -> list[str]:
        return [c.description for c in self.checks if c.value]

    @property
    def runs(self) -> Any:
        return None if self.result is None else self.result.runs

    @property
    def chunks(self) -> Any:
        return None if self.result is None else self.result.chunks

    def _on_send(self, _: Any = None) -> None:
        if self.sweep is not None and self.sweep.future is not None and not self.sweep.future.done():
            return
        if not self.selected:
            self.status.value = "<b>Check at least one model.</b>"
            return
        try:
            self.sweep = sweeps.start(self.prompt.value, self.selected, **self.options)
        except KralError as exc:
            self.status.value = f"<b>{html.escape(str(exc))}</b>"
            return
        self.send.disabled, self.stop.disabled = True, False
        self.status.value = ""
        self._thread = threading.Thread(target=self._refresh, args=(self.sweep,), daemon=True)
        self._thread.start()

    def _on_stop(self, _: Any = None) -> None:
        if self.sweep is not None:
            self.sweep.cancel()

    def _refresh(self, sweep: sweeps.Sweep) -> None:
        assert sweep.future is not None
        runs = sweep.result.run_list
        wake = threading.Event()
        sweep.future.add_done_callback(lambda _: wake.set())
        while not sweep.future.done():
            self.panes.value = panes.html_panes(runs, now_ns(), md=self.md)
            wake.wait(1.0 / self.rate_hz)
        self.panes.value = panes.html_panes(runs, now_ns(), md=self.md)  # the final refresh
        self.result = sweep.result
        self.history.append(sweep.result)
        self.status.value = _styled(RunsTable(sweep.result.runs)._repr_mimebundle_()["text/html"])
        self.send.disabled, self.stop.disabled = False, True
        transcript = self._transcript()
        for handle in self._transcripts:
            handle.update(transcript)

    def wait(self, timeout_s: float | None = None) -> Result | None:
        """Block until the current send has finished (scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.result

    def snapshot(self) -> Any:
        """The conversation so far as static HTML to display in a cell (it stays in the saved
        notebook and its HTML): each prompt, its answers (Markdown rendered) and stats."""
        from IPython.core.display import HTML

        return HTML(self._snapshot_html())

    def _snapshot_html(self) -> str:
        if not self.history:
            return "<p><i>kral_nb ChatWidget: nothing sent yet.</i></p>"
        parts = []
        for result in self.history:
            runs = result.run_list
            prompt = _prompt(runs[0].request or "") if runs else ""
            parts.append(f"<p><b>Prompt:</b> {html.escape(prompt)}</p>"
                         + panes.html_panes(runs, now_ns(), md=self.md)
                         + _styled(RunsTable(result.runs)._repr_mimebundle_()["text/html"]))
        return "<div class='kral-chat'>" + "".join(parts) + "</div>"

    def _transcript(self) -> Any:
        """The transcript output: hidden beside the live widget, shown where it is gone."""
        from IPython.core.display import HTML

        return HTML(f'<div class="kral-chat-transcript"><style>{_TRANSCRIPT_CSS}</style>'
                    f"<small><i>kral_nb ChatWidget — the conversation as sent (shown when the widget is not "
                    f"running)</i></small>{self._snapshot_html()}</div>")

    def _ipython_display_(self) -> None:
        """The widget, then its transcript (updated in place after each send)."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        self._transcripts.append(display(self._transcript(), display_id=True))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = f"<kral_nb.ChatWidget: {len(self.history)} send(s); models {', '.join(self.selected)}>"
        return bundle


# the live widget hides its transcript; without it (a reopened notebook) the transcript shows
# and the widget's output — a bare line, "Loading widget…" or "Error displaying widget: model
# not found", in the one output JupyterLab gives no data-mime-type — is hidden. A live widget's
# output is hidden only until it renders (its elements and class appear).
_TRANSCRIPT_CSS = (".jp-OutputArea:has(.kral-chat-live) .kral-chat-transcript{display:none}"
                   ".jp-OutputArea:has(.kral-chat-transcript):not(:has(.kral-chat-live)) "
                   ".jp-OutputArea-output:not([data-mime-type]):not(:has(*)){display:none}")  # :has() cannot nest


def _styled(table_html: str) -> str:
    """A table inside a widget, styled as JupyterLab styles tables in outputs (a widget's HTML
    is not inside a rendered output), at a normal line height (widgets use 28 px)."""
    return f'<div class="jp-RenderedHTMLCommon" style="line-height:1.45;padding:0">{table_html}</div>'


def _prompt(request: str) -> str:
    """The last user message of a run's ``request`` description."""
    try:
        messages = json.loads(request).get("messages") or []
    except (ValueError, AttributeError):
        return ""
    users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else ""
