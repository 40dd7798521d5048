"""Load shards and comparisons on a Ray cluster. Each shard is a Ray async actor (one
process, one event loop) hosting ``shard.ShardRunner`` unchanged: the stamps are taken in the
actor exactly as in a local shard process. The driver (the notebook) polls the actors every
``REPORT_PERIOD_S`` for their partial reports, so the live view updates from the cluster and
records arrive as columns while a level runs; ``loadgather.Gather`` merges them as it does a
local pool's. Ray is optional (``pip install 'kral-nb[ray]'``); nothing else imports it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..clock import now_ns, wall_ns
from ..errors import ConfigError, KralError
from .rayactor import actor_info, new_actor
from .tasks import REPORT_PERIOD_S, CellReport, CellTask

if TYPE_CHECKING:
    from ..net.engine import Job
    from .gather import Gather
    from .view import LoadView

START_AFTER_S = 1.0  # a level starts this long after its tasks are sent: every actor has them by then
CONNECT_HELP = "start one with `ray start --head`, or unset RAY_ADDRESS for a local Ray"


@dataclass(frozen=True)
class RayCluster:
    """Where and how to run on Ray. ``address``: a running cluster (default ``RAY_ADDRESS``;
    with neither, a local ``ray.init()``). ``regions``: place shards on nodes carrying the
    custom resource ``region:<name>`` (``ray start --resources '{"region:eu": 1}'``), round
    robin; without, shards are spread over the nodes (``SPREAD``). ``init``: extra keyword
    arguments for a local ``ray.init``."""

    address: str | None = None
    regions: tuple[str, ...] = ()
    init: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.regions, str) or not all(isinstance(r, str) and r for r in self.regions):
            raise ConfigError(f"RayCluster(regions=...) takes a list of region names, got {self.regions!r}")
        object.__setattr__(self, "regions", tuple(self.regions))


def resolve(cluster: Any) -> RayCluster | None:
    if cluster is None or cluster is False:
        return None
    if cluster == "ray":
        return RayCluster()
    if isinstance(cluster, RayCluster):
        return cluster
    raise ConfigError(f"cluster must be None, 'ray' or kral_nb.RayCluster(...), got {cluster!r}")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("cluster='ray' needs Ray: pip install 'kral-nb[ray]'") from None
    return ray


def connect(c: RayCluster) -> str:
    """Join (or start) the cluster; one clear error before anything starts if it cannot be
    reached or lacks a requested region. Returns a line saying which cluster it is."""
    ray = _ray()
    address = c.address or os.environ.get("RAY_ADDRESS")
    if ray.is_initialized():
        where = "the Ray cluster this process already joined"
    else:
        if address:
            _reachable(address)
        try:
            if address:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
                where = f"the Ray cluster at {address}"
            else:
                ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False, **c.init)
                where = "a local Ray started here (no RAY_ADDRESS)"
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
            raise KralError(f"cannot reach the Ray cluster at {address or 'a new local Ray'}: {e} "
                            f"({CONNECT_HELP})") from None
    resources = ray.cluster_resources()
    missing = [r for r in c.regions if f"region:{r}" not in resources]
    if missing:
        raise ConfigError(f"no node of {where} has the resource region:{missing[0]} "
                          f"(start one with: ray start --resources '{{\"region:{missing[0]}\": 1}}')")
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return f"kral_nb on {where}: {nodes} node(s), {int(resources.get('CPU', 0))} CPU(s)"


def _reachable(address: str) -> None:
    """A TCP connect to the cluster's address (``host:port`` or ``ray://host:port``) before
    ``ray.init``, which retries an unreachable address for minutes."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local": Ray resolves those itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise KralError(f"cannot reach the Ray cluster at {address}: {e} ({CONNECT_HELP})") from None


def default_shards(c: RayCluster) -> int:
    if c.regions:
        return len(c.regions)
    return max(1, min(64, int(_ray().cluster_resources().get("CPU", 1))))


def compare(jobs: list[Job], concurrency: int, seed: int | None, c: RayCluster) -> tuple[list[Any], Any]:
    """``compare(cluster=...)``: the whole comparison from one actor, or from one actor per
    region (each with its own copy of the jobs). Returns the runs and their host/region frame;
    an interrupt cancels every actor and raises ``KeyboardInterrupt`` after gathering the runs."""
    import pandas as pd

    from .driver import fresh_job

    ray = _ray()
    regions = c.regions or ("",)
    actors = [new_actor(ray, r, "compare") for r in regions]
    infos = [actor_info(ray, a) for a in actors]
    copies = [jobs if len(regions) == 1 else [fresh_job(j, j.run.repeat) for j in jobs] for _ in regions]
    refs = [a.run_jobs.remote(js, concurrency, seed) for a, js in zip(actors, copies, strict=True)]
    interrupted = False
    try:
        while len(ray.wait(refs, num_returns=len(refs), timeout=REPORT_PERIOD_S)[0]) < len(refs):
            pass
    except KeyboardInterrupt:
        interrupted = True
        for a in actors:
            a.cancel.remote()
    runs: list[Any] = []
    meta: dict[str, list[Any]] = {"run_id": [], "host": [], "region": [], "clock_offset_s": []}
    for a, js, ref, info in zip(actors, copies, refs, infos, strict=True):
        try:
            got = ray.get(ref, timeout=30)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            got = [j.run for j in js]  # the plan's runs: never started here, so they say why
            for run in got:
                run.fail("error", f"Ray actor died on host {info['host']} before returning this run")
        finally:
            ray.kill(a, no_restart=True)
        for run in got:
            runs.append(run)
            for k, v in (("run_id", run.run_id), ("host", info["host"]), ("region", info["region"]),
                         ("clock_offset_s", info["clock_offset_s"])):
                meta[k].append(v)
    frame = pd.DataFrame(meta).astype({"run_id": "string", "host": "string", "region": "string"})
    if interrupted:
        raise KeyboardInterrupt((runs, frame))
    return runs, frame


class RayPool:
    """The Ray host of load shards: the same interface as ``shardpool.ShardPool``."""

    def __init__(self, n: int, cluster: RayCluster) -> None:
        self.ray = _ray()
        self.n, self.cluster = n, cluster
        self.actors: list[Any] = [None] * n
        self.info: list[dict[str, Any]] = [{} for _ in range(n)]
        self.pending: dict[int, tuple[int, Any]] = {}  # shard -> (cell, its run_cell ref)
        self.stop_requested = False

    def region(self, i: int) -> str:
        regions = self.cluster.regions
        return regions[i % len(regions)] if regions else ""

    def start(self) -> None:
        for i in range(self.n):
            self._spawn(i)
        for i in range(self.n):
            self._info(i)

    def _spawn(self, i: int) -> None:
        self.actors[i] = new_actor(self.ray, self.region(i), f"shard{i}")

    def _info(self, i: int) -> None:
        self.info[i] = actor_info(self.ray, self.actors[i])

    def run(self, tasks: list[CellTask], gather: Gather, view: LoadView,
            stop: Callable[[], bool] | None = None) -> None:
        """Run one cell's tasks to their end (or until ``stop()`` says so: the shards cancel
        what is in flight and report)."""
        start_wall = wall_ns() + int(START_AFTER_S * 1e9)
        start_local = now_ns() + int(START_AFTER_S * 1e9)
        for t in tasks:
            t.start_wall_ns, t.start_ns = start_wall, start_local
            view.start(t.cell, start_local)
            gather.expect(t.cell, t.shard, start_local, self.info[t.shard].get("host", ""))
            self.pending[t.shard] = (t.cell, self.actors[t.shard].run_cell.remote(t))
        self._collect(gather, view, stop=stop)

    def _collect(self, gather: Gather, view: LoadView, timeout_s: float | None = None,
                 stop: Callable[[], bool] | None = None) -> None:
        ray = self.ray
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.pending:
            if deadline is not None and time.monotonic() > deadline:
                for shard, (cell, _) in list(self.pending.items()):
                    self._lost(shard, cell, gather, view, "did not answer the interrupt")
                break
            refs = [ref for _, ref in self.pending.values()]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=REPORT_PERIOD_S)
            for shard, (cell, ref) in list(self.pending.items()):
                try:
                    for rep in ray.get(self.actors[shard].take.remote(), timeout=60):
                        self._add(rep, gather, view)
                    if ref in ready:
                        self._add(ray.get(ref), gather, view)
                        del self.pending[shard]
                except ray.exceptions.RayActorError:
                    self._lost(shard, cell, gather, view)
            if stop is not None and self.pending and stop():
                stop = None
                self._halt()
        view.render()

    def _add(self, rep: CellReport, gather: Gather, view: LoadView) -> None:
        info = self.info[rep.shard]
        rep.region, rep.clock_offset_s = info.get("region", rep.region), info.get("clock_offset_s", 0.0)
        gather.add(rep)
        view.update(rep.progress)

    def _lost(self, shard: int, cell: int, gather: Gather, view: LoadView, what: str = "died") -> None:
        host = self.info[shard].get("host", "an unknown host")
        cause = f"Ray actor for load shard {shard} {what} on host {host}"
        n = gather.lost(cell, shard, cause)
        view.note(f"{cause}: {n} request(s) in flight lost, everything reported before is kept")
        self.pending.pop(shard, None)
        if not self.stop_requested:
            self.ray.kill(self.actors[shard], no_restart=True)
            self._spawn(shard)  # a fresh actor for the next cell
            try:
                self._info(shard)
            except Exception:  # no node for it now: the next cell reports it lost
                pass

    def _halt(self) -> None:
        """Every shard still running the cell cancels its streams and sends what it has."""
        for i in self.pending:
            try:
                self.actors[i].cancel.remote()
            except Exception:  # a shard gone already is reported lost by the collect loop
                pass

    def stop_and_collect(self, gather: Gather, view: LoadView) -> None:
        self.stop_requested = True
        for shard in self.pending:
            self.actors[shard].cancel.remote()
        try:
            self._collect(gather, view, timeout_s=15)
        except KeyboardInterrupt:
            for shard, (cell, _) in list(self.pending.items()):
                gather.lost(cell, shard, f"load shard {shard} interrupted twice")
            self.pending.clear()

    def close(self) -> None:
        for a in self.actors:
            if a is not None:
                try:
                    self.ray.get(a.close.remote(), timeout=10)
                except Exception:  # a dead actor has nothing to close
                    pass
                self.ray.kill(a, no_restart=True)

