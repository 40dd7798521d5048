"""The live view of a load sweep: per (model, level), offered vs achieved rate, in flight,
TTFT p50/p99 and loop lag so far, from the shards' progress messages."""

from __future__ import annotations

import math
import sys
import time
from html import escape as html_escape
from typing import Any

import numpy as np

from ..clock import now_ns


class LoadView:
    """Progress per (model, level) while the sweep runs: offered vs achieved, in flight, TTFT
    p50/p99 so far. A table in a notebook (one display, updated at most 4 times a second),
    a line on stderr elsewhere."""

    def __init__(self, cells: list[dict[str, Any]], *, enabled: bool) -> None:
        self.cells_by_id = {c["cell"]: c for c in cells}
        self.enabled = enabled
        self.stats: dict[int, dict[str, Any]] = {}
        self._handle: Any = None
        self._last = 0.0
        self.notes: list[str] = []
        if enabled:
            try:
                from IPython import get_ipython  # type: ignore[attr-defined]

                shell = get_ipython()  # type: ignore[no-untyped-call]
                if shell is not None and getattr(shell, "kernel", None) is not None:
                    from IPython.display import HTML, display  # type: ignore[attr-defined]

                    self._handle = display(HTML("<i>kral_nb load: starting shards…</i>"),  # type: ignore[no-untyped-call]
                                           display_id=True)
            except ImportError:
                self._handle = None

    def update(self, msg: dict[str, Any]) -> None:
        """A shard's progress (its latest counts, the TTFTs since its last message)."""
        st = self.stats.setdefault(msg["cell"], {"shards": {}, "ttft_s": [], "end_ns": None})
        st["shards"][msg["shard"]] = msg
        st["ttft_s"] += msg["ttft_s"]
        if msg["final"] and all(s["final"] for s in st["shards"].values()):
            st["end_ns"] = now_ns()  # the cell is over: its rates stop changing
        if self.enabled and time.monotonic() - self._last > 0.25:
            self.render()

    def note(self, message: str, *, warn: bool = True) -> None:
        """Something the user must see beside the table (a shard lost; where the shards run)."""
        self.notes.append(("⚠ " if warn else "") + message)
        if self.enabled and self._handle is None:
            sys.stderr.write(f"\nkral_nb load: {message}\n")
        self.render()

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for cid, st in sorted(self.stats.items()):
            cell = self.cells_by_id[cid]
            shards = st["shards"].values()
            sent = sum(s["sent"] for s in shards)
            done = sum(s["done"] for s in shards)
            end = st["end_ns"] or now_ns()
            elapsed = max(1e-9, (end - cell.get("start_ns", end)) / 1e9)
            t = np.array(st["ttft_s"])
            out.append({"model": cell["model"], "mode": cell["mode"], "level": cell["level"],
                        "offered": cell["level"] if cell["mode"] == "open" else sent / elapsed,
                        "achieved": done / elapsed, "in_flight": sum(s["in_flight"] for s in shards),
                        "failed": sum(s["failed"] for s in shards),
                        "ttft_p50": float(np.percentile(t, 50)) if len(t) else math.nan,
                        "ttft_p99": float(np.percentile(t, 99)) if len(t) else math.nan,
                        "loop_lag_p99": max(s["lag_s_p99"] for s in shards)})
        return out

    def render(self) -> None:
        rows = self.rows()
        if not self.enabled or not (rows or (self.notes and self._handle is not None)):
            return
        self._last = time.monotonic()
        if self._handle is not None:
            import pandas as pd
            from IPython.display import HTML  # type: ignore[attr-defined]

            table = pd.DataFrame(rows).to_html(index=False, float_format=lambda v: f"{v:.3g}") if rows else ""
            notes = "".join(f"<p>{html_escape(n)}</p>" for n in self.notes)
            html = ("<b>kral_nb load</b> (live; rates per second, TTFT and loop lag in seconds)"
                    f'<div class="kral-load" style="overflow-x:auto;max-width:100%">{table}</div>{notes}')
            self._handle.update(HTML(html))  # type: ignore[no-untyped-call]
        else:
            r = rows[-1]
            sys.stderr.write(f"\rkral_nb load: {r['model']} {r['mode']} {r['level']:g}: "
                             f"{r['achieved']:.1f}/s done, {r['in_flight']} in flight, "
                             f"TTFT p50 {r['ttft_p50'] * 1000:.0f} ms, loop lag p99 {r['loop_lag_p99'] * 1000:.1f} ms   ")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self.render()
            if self._handle is None and self.stats:
                sys.stderr.write("\n")
