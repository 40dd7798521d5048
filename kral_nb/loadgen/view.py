"""The live view of a load sweep: a progress line per (model, level) from the shards' progress
messages — requests done of those planned (or time left), in flight, errors, TTFT so far — and
the notes a user must see (a shard lost, where the shards run). A table in a notebook (one
display, updated at most 4 times a second), a line per level on a terminal. Shown, never
recorded: the numbers that count are the levels frame's."""

from __future__ import annotations

import sys
from collections.abc import Callable
from html import escape as html_escape
from typing import Any

import numpy as np

from .. import fmt
from ..clock import now_ns

RENDER_PERIOD_S = 0.25
#: the columns a row shows (the others are numbers for a sink's progress bars)
SHOWN = ("model", "level", "progress", "in flight", "errors", "done/s", "TTFT p50", "TTFT p99",
         "TTFT turn 1 / later", "cache hit", "state")
#: a rate is shown once the level has run this long and completed this many requests
RATE_AFTER_S, RATE_AFTER_DONE = 1.0, 3


def live_handle(placeholder: str) -> Any:
    """A display updated in place, showing ``placeholder`` — in a Jupyter kernel; else None
    (a terminal or a script gets lines on stderr instead)."""
    try:
        from IPython import get_ipython  # type: ignore[attr-defined]

        shell = get_ipython()  # type: ignore[no-untyped-call]
        if shell is None or getattr(shell, "kernel", None) is None:
            return None
        from IPython.display import HTML, display  # type: ignore[attr-defined]

        return display(HTML(placeholder), display_id=True)  # type: ignore[no-untyped-call]
    except ImportError:
        return None


class LoadView:
    """Progress per (model, level) while the sweep runs."""

    def __init__(self, cells: list[dict[str, Any]], *, enabled: bool,
                 sink: Callable[[list[dict[str, Any]], list[str]], None] | None = None) -> None:
        self.cells_by_id = {c["cell"]: c for c in cells}
        self.enabled = enabled
        self.sink = sink  # draws the rows and notes itself (the CLI's live table)
        self.stats: dict[int, dict[str, Any]] = {}
        self._handle: Any = None
        self._last_ns = 0
        self._line_cell: int | None = None  # the level the terminal line shows
        self.notes: list[str] = []
        self.poll: Callable[[], list[str]] | None = None  # more notes, from another thread (the scraper's)
        if enabled and sink is None:
            self._handle = live_handle("<i>kral_nb load: starting shards…</i>")

    def start(self, cell: int, start_ns: int) -> None:
        """Cell ``cell`` starts at ``start_ns``."""
        self.cells_by_id[cell]["start_ns"] = start_ns
        self._stats(cell)

    def _stats(self, cell: int) -> dict[str, Any]:
        return self.stats.setdefault(cell, {"shards": {}, "ttft_s": [], "ttft_turn1_s": [], "ttft_later_turns_s": [],
                                            "end_ns": None,
                                            "input_tokens": 0, "cached_tokens": 0, "cache_reported": False})

    def update(self, msg: dict[str, Any]) -> None:
        """A shard's progress (its latest counts; the TTFTs and tokens since its last message)."""
        st = self._stats(msg["cell"])
        st["shards"][msg["shard"]] = msg
        st["ttft_s"] += msg["ttft_s"]
        st["ttft_turn1_s"] += msg.get("ttft_turn1_s", [])
        st["ttft_later_turns_s"] += msg.get("ttft_later_turns_s", [])
        st["input_tokens"] += msg.get("input_tokens", 0)
        st["cached_tokens"] += msg.get("cached_tokens", 0)
        st["cache_reported"] |= bool(msg.get("cache_reported"))
        if msg["final"] and all(s["final"] for s in st["shards"].values()):
            st["end_ns"] = now_ns()  # the cell is over: its figures stop changing
            self.render()
        else:
            self.tick()

    def tick(self) -> None:
        """Re-render when the last render is older than ``RENDER_PERIOD_S`` (time left moves
        even when no report came)."""
        for message in self.poll() if self.poll is not None else ():
            self.note(message)
        if self.enabled and now_ns() - self._last_ns > RENDER_PERIOD_S * 1e9:
            self.render()

    def note(self, message: str, *, warn: bool = True) -> None:
        """Something the user must see beside the table (a shard lost; where the shards run)."""
        self.notes.append(("⚠ " if warn else "") + message)
        if self.enabled and self._handle is None and self.sink is None:
            self._end_line()
            sys.stderr.write(f"kral_nb load: {message}\n")
        self.render()

    def rows(self) -> list[dict[str, str]]:
        """One row per level started so far, as text."""
        out = []
        now = now_ns()
        for cid, st in sorted(self.stats.items()):
            cell = self.cells_by_id[cid]
            shards = list(st["shards"].values())
            done = sum(s["done"] for s in shards)
            start = cell.get("start_ns", now)
            end = st["end_ns"] or now
            elapsed = max(0.0, (end - start) / 1e9)
            planned = cell.get("planned")
            left = cell.get("duration_s")
            if st["end_ns"]:
                progress = f"{done:,} done"
            elif planned:
                progress = f"{done:,} / {planned:,}"
            elif left:
                progress = f"{done:,} done, {fmt.secs(max(0.0, left - elapsed))} left"
            else:
                progress = f"{done:,} done"
            t, first, later = np.array(st["ttft_s"]), st["ttft_turn1_s"], st["ttft_later_turns_s"]
            show_rate = elapsed >= RATE_AFTER_S and done >= RATE_AFTER_DONE
            out.append({"done_n": done, "planned_n": planned or 0, "elapsed_s": elapsed, "duration_s": left or 0.0,
                        "model": fmt.model_label(cell["provider"], cell["model"], cell["protocol"]),
                        "level": fmt.level(cell["mode"], cell["level"]),
                        "progress": progress, "in flight": f"{sum(s['in_flight'] for s in shards):,}",
                        "errors": f"{sum(s['failed'] for s in shards):,}",
                        "done/s": fmt.rate(done / elapsed) if show_rate else fmt.DASH,
                        "TTFT p50": fmt.ms(np.percentile(t, 50)) if len(t) else fmt.DASH,
                        "TTFT p99": fmt.ms(np.percentile(t, 99)) if len(t) else fmt.DASH,
                        "TTFT turn 1 / later": f"{_p50(first)} / {_p50(later)}" if first or later else "",
                        "cache hit": (fmt.share(st["cached_tokens"] / st["input_tokens"])
                                      if st["cache_reported"] and st["input_tokens"] else ""),
                        "state": "done" if st["end_ns"] else ("waiting" if now < start else "running"),
                        "cell": str(cid)})
        return out

    def render(self) -> None:
        rows = self.rows()
        if not self.enabled or not (rows or (self.notes and self._handle is not None)):
            return
        self._last_ns = now_ns()
        if self.sink is not None:
            self.sink(rows, self.notes)
            return
        if self._handle is not None:
            import pandas as pd
            from IPython.display import HTML  # type: ignore[attr-defined]

            used = [k for k in SHOWN if any(r[k] for r in rows)]  # a column nobody fills is not shown
            shown = [{k: r[k] for k in used} for r in rows]
            table = pd.DataFrame(shown).to_html(index=False, escape=True, border=0) if rows else ""
            notes = "".join(f"<p>{html_escape(n)}</p>" for n in self.notes)
            html = ("<b>kral_nb load</b> (live; the levels table follows when the sweep ends)"
                    f'<div class="kral-load" style="overflow-x:auto;max-width:100%">{table}</div>{notes}')
            self._handle.update(HTML(html))  # type: ignore[no-untyped-call]
            return
        r = rows[-1]
        cid = int(r["cell"])
        line = (f"kral_nb load: {r['model']} @ {r['level']}: {r['progress']}, {r['in flight']} in flight, "
                f"{r['errors']} errors, TTFT p50 {r['TTFT p50']}"
                + (f", cache hit {r['cache hit']}" if r["cache hit"] else ""))
        if not sys.stderr.isatty():  # a log, not a terminal: one line per level, when it ends
            if r["state"] == "done" and self._line_cell != cid:
                sys.stderr.write(line + "\n")
                self._line_cell = cid
            return
        if self._line_cell is not None and cid != self._line_cell:
            self._end_line()  # the previous level's line stays, with its final figures
        self._line_cell = cid
        sys.stderr.write(f"\r\x1b[K{line}")
        sys.stderr.flush()

    def _end_line(self) -> None:
        if self._line_cell is not None and sys.stderr.isatty():
            sys.stderr.write("\n")
            self._line_cell = None

    def close(self) -> None:
        self.tick()  # the last notes
        if self.enabled:
            self.render()
            if self._handle is None and self.sink is None:
                self._end_line()


def _p50(values: list[float]) -> str:
    return fmt.ms(float(np.percentile(values, 50))) if values else fmt.DASH
