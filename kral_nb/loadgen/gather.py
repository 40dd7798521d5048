"""Gathering a load sweep: the shards' reports (partial ones while a cell runs, a final one
at its end) become the runs and the load columns. Pure: no clock, no I/O. Whatever the host
(a local process, a Ray actor), a shard that dies leaves its sent-but-unreported requests
as ``error`` runs naming the cause; everything it reported before stays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..record.recorder import Run
from .result import LoadResult

if TYPE_CHECKING:
    from .tasks import CellReport

META = ("run_id", "cell", "level", "mode", "scheduled_s", "sent_s", "queue_delay_s", "in_flight_at_send",
        "shard", "host", "region", "clock_offset_s")
#: what a workload asked of each request (``recorder.Asked``): NA where it does not apply
ASKED = ("session_id", "turn", "input_tokens_requested", "output_tokens_requested", "prefix_id")


class Gather:
    """Collects reports as they arrive; :meth:`result` builds the :class:`LoadResult`."""

    def __init__(self, cells: list[dict[str, Any]], slo: dict[str, float],
                 workload: dict[str, Any] | None = None) -> None:
        self.cells, self.slo, self.workload = cells, slo, workload
        self.by_cell = {c["cell"]: c for c in cells}
        for c in cells:
            c.setdefault("shards", 0)
            c.update(lag_s=[], read_delay_s=[], cpu_s=[], wall_s=[])
        self.runs: list[Run] = []
        self.sent: dict[str, tuple[int, int, int, int]] = {}  # run id -> (cell, shard, scheduled_ns, in flight)
        self.host: dict[tuple[int, int], tuple[str, str, float]] = {}  # host, region, clock offset
        self.start_ns: dict[tuple[int, int], int] = {}  # each shard's start on its own host's clock
        self.open: set[tuple[int, int]] = set()  # (cell, shard) with requests not yet reported
        self.reported: set[tuple[int, int]] = set()  # (cell, shard) that sent at least one report
        self.failed: dict[tuple[int, int], str] = {}  # (cell, shard) lost: how it ended

    def expect(self, cell: int, shard: int, start_ns: int, host: str) -> None:
        """A task went out: its start and host stand until the shard's own reports say more
        (a shard that dies before its first report still has rows to place)."""
        self.start_ns.setdefault((cell, shard), start_ns)
        self.host.setdefault((cell, shard), (host, "", 0.0))

    def add(self, rep: CellReport) -> None:
        key = (rep.cell, rep.shard)
        self.reported.add(key)
        self.host[key], self.start_ns[key] = (rep.host, rep.region, rep.clock_offset_s), rep.start_ns
        for run_id, scheduled, in_flight in rep.sent:
            self.sent[run_id] = (rep.cell, rep.shard, scheduled, in_flight)
        self.runs += rep.runs
        if rep.final:
            cell = self.by_cell[rep.cell]
            cell["lag_s"].append(rep.lag_s)
            cell["cpu_s"].append(rep.cpu_s)
            cell["wall_s"].append(rep.wall_s)
            cell["read_delay_s"].append(rep.read_delay_s)
            cell["loop"], cell["stamps"] = rep.loop, rep.stamps
            self.open.discard(key)
        else:
            self.open.add(key)

    def lost(self, cell_id: int, shard: int, cause: str, *, journal: Sequence[tuple[str, int, int]] = (),
             detail: str = "") -> int:
        """Shard ``shard`` died during cell ``cell_id``: each request it sent and never
        reported — from its reports and its ``journal`` (written before each request went
        out, so it outlives a SIGKILL) — ends as an ``error`` run saying why. Returns how many."""
        for run_id, scheduled, in_flight in journal:
            self.sent.setdefault(run_id, (cell_id, shard, scheduled, in_flight))
        self.failed[(cell_id, shard)] = detail or cause
        reported = {r.run_id for r in self.runs}
        cell = self.by_cell[cell_id]
        n = 0
        for run_id, (c, s, _, _) in self.sent.items():
            if (c, s) == (cell_id, shard) and run_id not in reported:
                run = Run(run_id, cell["provider"], cell["model"], cell["protocol"])
                run.request, run.request_key = cell.get("request"), cell.get("request_key")
                run.fail("error", f"{cause}; this request was sent and its records were lost with the shard")
                self.runs.append(run)
                n += 1
        self.open.discard((cell_id, shard))
        return n

    def all_lost(self, cells: Sequence[int]) -> list[str]:
        """How each shard of ``cells`` ended, when every one of them died before reporting
        anything (the level measured nothing); else ``[]``."""
        keys = [k for k in self.start_ns if k[0] in cells]
        if not keys or any(k in self.reported or k not in self.failed for k in keys):
            return []
        return [f"shard {s}: {self.failed[(c, s)]}" for c, s in keys]

    def result(self) -> LoadResult:
        import pandas as pd

        meta: dict[str, list[Any]] = {k: [] for k in (*META, *ASKED)}
        for run in self.runs:
            cell_id, shard, sched, in_flight = self.sent[run.run_id]
            cell = self.by_cell[cell_id]
            start = self.start_ns[(cell_id, shard)]  # no clock arithmetic across hosts
            host, region, offset = self.host[(cell_id, shard)]
            sent = (run.t0_ns - start) / 1e9 if run.t0_ns is not None else math.nan
            for k, v in (("run_id", run.run_id), ("cell", cell_id), ("level", cell["level"]), ("mode", cell["mode"]),
                         ("scheduled_s", (sched - start) / 1e9), ("sent_s", sent),
                         ("queue_delay_s", sent - (sched - start) / 1e9), ("in_flight_at_send", in_flight),
                         ("shard", shard), ("host", host), ("region", region), ("clock_offset_s", offset)):
                meta[k].append(v)
            asked = run.asked
            for k in ASKED:
                meta[k].append(getattr(asked, k) if asked is not None else None)
        closed = all(c["mode"] == "closed" for c in self.cells)  # a concurrency is a whole number
        frame = pd.DataFrame(meta).astype({"run_id": "string", "cell": "int64", "level": "int64" if closed else "float64",
                                           "scheduled_s": "float64", "sent_s": "float64", "queue_delay_s": "float64",
                                           "mode": "category", "in_flight_at_send": "int64", "shard": "int64",
                                           "host": "string", "region": "string", "clock_offset_s": "float64",
                                           "session_id": "string", "turn": "Int64", "input_tokens_requested": "Int64",
                                           "output_tokens_requested": "Int64", "prefix_id": "string"})
        order = frame.sort_values(["cell", "scheduled_s"], kind="stable")
        rank = {rid: i for i, rid in enumerate(order["run_id"].tolist())}
        runs = sorted(self.runs, key=lambda r: rank[r.run_id])
        cell_of = dict(zip(order["run_id"].tolist(), order["cell"].tolist(), strict=True))
        counts: dict[int, int] = {}
        for run in runs:  # send order within the cell, across shards
            c = cell_of[run.run_id]
            run.repeat = counts.get(c, 0)
            counts[c] = run.repeat + 1
        return LoadResult(runs, frame, self.cells, self.slo, workload=self.workload)
