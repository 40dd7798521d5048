"""What a load shard is sent and what it sends back (``shard.ShardRunner.run_cell``): plain
data, pickled to a shard process or a Ray actor and back."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..net.engine import Job
from ..record.recorder import Run

if TYPE_CHECKING:
    from ..plan import Target
    from ..workloads import Workload

MAX_IN_FLIGHT = 4096  # per shard, open loop: beyond it requests wait (and their queue delay shows)
REPORT_PERIOD_S = 0.25


@dataclass
class CellTask:
    """One shard's part of one (model, level) cell: plain data, pickled to the shard."""

    cell: int
    shard: int
    job: Job  # the model's validated job; each request clones it with a fresh run
    mode: str  # "closed" | "open"
    start_ns: int  # the level's common start (CLOCK_MONOTONIC of the host that made the task)
    warmup_s: float
    duration_s: float | None
    concurrency: int = 0  # closed loop: this shard's workers
    requests: int | None = None  # closed loop: this shard's quota
    offsets_s: list[float] = field(default_factory=list)  # open loop: this shard's due times
    max_in_flight: int = 4096  # open loop: this shard's cap
    drain_s: float = 30.0  # after duration_s, how long requests in flight may still finish
    start_wall_ns: int | None = None  # across hosts: the common start as UTC wall time (time_ns)
    region: str = ""  # where the shard runs (Ray: the node's region:<name> resource)
    workload: Workload | None = None  # None: every request is ``job``'s
    target: Target | None = None  # builds a workload's requests
    first_index: int = 0  # closed loop: this shard's items are first_index, + stride, + 2 stride, ...
    stride: int = 1
    indices: list[int] = field(default_factory=list)  # open loop: the item (or session) of each offset


@dataclass
class CellReport:
    """What a shard sends back, every ``REPORT_PERIOD_S`` while a cell runs and once at its
    end (``final``): the runs that finished since the last report (records as columns), every
    request sent since then (``sent``: run id, when it was due, how many of this shard's
    requests were in flight as it was sent, so a request lost with its shard still shows),
    progress for the live view, and, in the final report, the shard's own health."""

    cell: int
    shard: int
    runs: list[Run]
    sent: list[tuple[str, int, int]]
    progress: dict[str, Any]
    start_ns: int = 0  # the cell's start on this shard's own monotonic clock: run times count from it
    final: bool = False
    lag_s: list[float] = field(default_factory=list)  # event-loop lateness samples, every LAG_PERIOD_S
    cpu_s: float = 0.0  # process CPU time over the cell
    wall_s: float = 0.0
    loop: str = ""  # the event loop's implementation: "uvloop" or "asyncio"
    stamps: str = ""  # "kernel": arrival = the kernel's receive time; "loop": when the loop got the bytes
    read_delay_s: list[float] = field(default_factory=list)  # kernel-stamped reads: loop time − kernel time
    region: str = ""
    clock_offset_s: float = 0.0  # this host's wall clock minus the driver's (Ray), for started_at
    host: str = field(default_factory=lambda: os.uname().nodename)
