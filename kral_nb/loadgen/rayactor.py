"""The Ray side of load shards and comparisons: ``ShardActor``, one Ray async actor (one
process, one event loop) hosting ``shard.ShardRunner`` unchanged, so stamps are taken in the
actor exactly as in a local shard process; ``new_actor`` places one; ``actor_info`` reads its
host and clock offset. The driver side (connecting, polling, gathering) is ``raypool.py``."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from ..clock import wall_ns
from .shard import ShardRunner
from .tasks import CellReport, CellTask
from .worker import loop_choice

if TYPE_CHECKING:
    from ..net.engine import Job

_ACTORS = 0


class ShardActor:
    """The Ray actor: one ShardRunner on the actor's event loop. Control calls (``take``,
    ``cancel``, ``info``) run beside the work on the same loop."""

    def __init__(self, region: str) -> None:
        self.runner = ShardRunner()
        self.runner.warm()
        self.region = region
        self.outbox: list[CellReport] = []
        self.stopping = False
        self.jobs_task: asyncio.Future[Any] | None = None

    async def info(self) -> dict[str, Any]:
        import ray

        return {"host": os.uname().nodename, "region": self.region, "wall_ns": wall_ns(), "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id()}

    async def run_cell(self, task: CellTask) -> CellReport:
        self.stopping = False
        task.region = self.region
        return await self.runner.run_cell(task, emit=self._emit, stop=lambda: self.stopping)

    def _emit(self, report: CellReport) -> None:
        self.outbox.append(report)  # take() swaps the list: never bind the old one's append

    async def take(self) -> list[CellReport]:
        out, self.outbox = self.outbox, []
        return out

    async def cancel(self) -> None:
        self.stopping = True
        if self.jobs_task is not None:
            self.jobs_task.cancel()

    async def run_jobs(self, jobs: list[Job], concurrency: int, seed: int | None) -> list[Any]:
        """A whole comparison (``compare(cluster=...)``) from this actor's host."""
        from ..net import engine

        self.jobs_task = asyncio.ensure_future(
            engine.execute_all(self.runner.client(), jobs, concurrency, lambda _: None, seed))
        try:
            await self.jobs_task
        except asyncio.CancelledError:
            pass  # cancel(): the runs say so below
        for j in jobs:
            j.run.cancel()
        return [j.run for j in jobs]

    async def close(self) -> None:
        await self.runner.close()


def new_actor(ray: Any, region: str, role: str) -> Any:
    """An actor with one CPU, on a node of ``region`` or spread over the nodes; named
    ``kral_nb_<role>_<n>`` (``ray.util.list_named_actors()`` lists them)."""
    global _ACTORS
    _ACTORS += 1
    opts: dict[str, Any] = {"num_cpus": 1, "max_concurrency": 1000, "name": f"kral_nb_{role}_{_ACTORS}"}
    if loop_choice() == "asyncio":  # Ray gives async actors uvloop when it is installed
        opts["runtime_env"] = {"env_vars": {"RAY_USE_UVLOOP": "0"}}
    if region:
        opts["resources"] = {f"region:{region}": 0.001}
    else:
        opts["scheduling_strategy"] = "SPREAD"
    return ray.remote(ShardActor).options(**opts).remote(region)


def actor_info(ray: Any, actor: Any) -> dict[str, Any]:
    """Host, region, and the host's wall clock minus the driver's (half a round trip)."""
    ray.get(actor.info.remote(), timeout=120)  # the actor is up (its start is not a round trip)
    before = wall_ns()
    info: dict[str, Any] = ray.get(actor.info.remote(), timeout=120)
    after = wall_ns()
    info["clock_offset_s"] = (info["wall_ns"] - (before + after) / 2) / 1e9
    return info
