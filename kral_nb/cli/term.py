"""How the CLI writes to a terminal (``rich``): tables from frames of text (numbers right-
aligned, "—" for what is missing), a progress bar for a comparison's runs, a live table with
one bar per load level, and ``--json``: one JSON document on stdout and nothing else there
(messages and progress always go to stderr)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .. import fmt

#: messages and progress: stderr, so stdout holds only the results (or the JSON document)
#: a terminal: its own width; a log or a pipe: wide enough that tables do not wrap
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160)
out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def say(message: str) -> None:
    err.print(f"[bold]kral_nb[/bold]: {message}", markup=True, highlight=False)


def _numeric(values: Sequence[str]) -> bool:
    shown = [v for v in values if v and v != fmt.DASH]
    return bool(shown) and all(v.lstrip("~$-").replace(",", "").replace(".", "", 1)[:1].isdigit() for v in shown)


def table(frame: pd.DataFrame, title: str = "", *, caption: str = "") -> Table:
    """A rich table of a frame of text: headers as given, numbers right-aligned."""
    t = Table(title=title or None, caption=caption or None, title_justify="left", header_style="bold",
              show_lines=False, pad_edge=False)
    for col in frame.columns:
        values = [str(v) for v in frame[col]]
        numeric = _numeric(values)
        t.add_column(str(col), justify="right" if numeric else "left", overflow="fold",
                     no_wrap=numeric or col in ("model", "A", "B", "concurrency", "offered")
                     or any(" / " in v for v in values),
                     max_width=90 if col in ("error", "verdict") else None)
    for row in frame.itertuples(index=False):
        t.add_row(*[fmt.DASH if fmt.missing(v) or v == "" else str(v) for v in row])
    return t


def show(frame: pd.DataFrame, title: str = "", *, caption: str = "") -> None:
    out.print(table(frame, title, caption=caption))


def plain(value: Any) -> Any:
    """A value as JSON: NaN and NA as null, timestamps as ISO text."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def emit_json(doc: dict[str, Any]) -> None:
    """The one document on stdout."""
    sys.stdout.write(json.dumps(doc, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class RunBar:
    """A comparison's progress: runs done of planned, failures, elapsed and remaining."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.failed = 0
        self.progress = Progress(TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                                 TextColumn("left"), TimeRemainingColumn(), console=err, transient=False,
                                 disable=not enabled)
        self.task = self.progress.add_task("runs", total=total, failed=0)

    def __enter__(self) -> RunBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def done(self, run: Any) -> None:
        self.failed += run.status != "ok"
        self.progress.update(self.task, advance=1, failed=self.failed)


class LevelBars:
    """A load sweep's live view in a terminal: one bar per level (requests done of planned, or
    the level's time), in flight, errors, TTFT so far, and the notes under it."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[what]}"),
                                 TimeElapsedColumn(), TextColumn("{task.fields[more]}"), console=err)
        self.tasks: dict[str, TaskID] = {}
        self.notes_shown = 0
        self.live = Live(self.progress, console=err, refresh_per_second=4, transient=False)

    def __call__(self, rows: list[dict[str, Any]], notes: list[str]) -> None:
        for r in rows:
            key = r["cell"]
            timed = not r["planned_n"] and r["duration_s"]
            total = r["duration_s"] if timed else max(r["planned_n"], r["done_n"], 1)
            done = min(r["elapsed_s"], r["duration_s"]) if timed else r["done_n"]
            if r["state"] == "done":
                total, done = 1, 1
            more = f"{r['in flight']} in flight · {r['errors']} errors · TTFT p50 {r['TTFT p50']}"
            if key not in self.tasks:
                self.tasks[key] = self.progress.add_task(f"{r['model']} @ {r['level']}", total=total, what="", more="")
            self.progress.update(self.tasks[key], total=total, completed=done, what=r["progress"], more=more)
        for note in notes[self.notes_shown:]:
            self.live.console.print(note)
        self.notes_shown = len(notes)

    @contextmanager
    def shown(self, *, enabled: bool) -> Iterator[LevelBars | None]:
        if not enabled:
            yield None
            return
        with self.live:
            yield self
