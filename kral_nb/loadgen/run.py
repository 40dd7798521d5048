"""``kral_nb.load``: concurrency (closed loop) and arrival-rate (open loop) sweeps, each level's
requests dealt across shard processes (``shard.py``), gathered into the usual frames plus the
load columns and a per-level frame (``levels.py``).

Order: level by level as given, and within a level every model in turn (one cell at a time,
so models never compete for the client). Each shard is a process with its own event loop;
records come back as columns (``RecordColumns`` pickles as a few buffers).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

from .. import fmt
from ..errors import Cancelled, ConfigError, KralError
from ..options import LoadOptions, Options, with_options
from ..plan import target
from ..workloads import Workload, as_workload
from . import arrivals, raypool
from .gather import Gather
from .pool import ShardPool
from .result import LoadResult
from .scrape import Scraper, endpoints
from .tasks import MAX_IN_FLIGHT, CellTask
from .view import LoadView
from .worker import loop_choice


def default_shards() -> int:
    """One shard per usable core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@with_options(LoadOptions, Options)
def load(prompt: str | Sequence[str] | Workload, models: Sequence[str | dict[str, Any]],
         **options: Any) -> LoadResult:
    """Sweep load levels for every model: ``concurrency=[1, 8, 32]`` keeps that many requests
    in flight (closed loop); ``rate=[1, 5, 20]`` sends requests per second on an ``arrival``
    schedule (``poisson``, ``constant``, ``gamma`` with ``burstiness``) whatever the responses
    do (open loop). Each level lasts ``duration_s`` or ``requests`` requests; requests sent in
    its first ``warmup_s`` are flagged and left out of the statistics. ``slo`` (``ttft_s``,
    ``tpot_s``, ``e2e_s`` limits in seconds) defines goodput. ``shards`` worker processes
    (default: one per core) share each level. Open loop: at most ``max_in_flight`` requests
    at once (default 4,096 per shard); a request due while the cap is reached waits, and its
    ``queue_delay_s`` shows it. ``cluster="ray"`` (or :class:`kral_nb.RayCluster`) runs the
    shards as Ray actors (default: one per CPU of the cluster, or one per region).

    ``prompt``: one prompt, a list (sent in turn), or a workload (``kral_nb.workloads``:
    synthetic lengths, a dataset, a trace replayed at its own times — then no levels — or
    multi-turn sessions). ``server_metrics=True`` (or a URL) scrapes the server's Prometheus
    metrics during every level into ``LoadResult.server_metrics``. Returns a :class:`LoadResult`."""
    lo = LoadOptions.take(options)
    return sweep(prompt, models, lo, Options.from_kwargs(options))


#: a probe's early stop: called while a level runs with (its cell, the live view's figures of
#: it), says why to stop it now (or None); ``capacity.py`` gives one
Guard = Callable[[dict[str, Any], dict[str, Any]], "str | None"]


def sweep(prompt: str | Sequence[str] | Workload, models: Sequence[str | dict[str, Any]], lo: LoadOptions,
          opts: Options, *, guard: Guard | None = None) -> LoadResult:
    """:func:`load` with its options taken; ``guard`` may stop a level early (its levels row
    says why in ``stopped_early``)."""
    workload = None if isinstance(prompt, str) else as_workload(prompt)
    times = workload.schedule() if workload is not None else None  # a trace's own arrival times
    lo.check_schedule(trace=times is not None)
    if times is not None:
        times = _replayed(times, lo.duration_s, lo.requests)
    mode, values = ("open", [_rate(times)]) if times is not None else (lo.mode, lo.levels)
    duration_s, requests, warmup_s, slo = lo.duration_s, lo.requests, lo.warmup_s, dict(lo.slo or {})
    if not models:
        raise ConfigError("load() needs at least one model")
    cluster, shards, progress, max_in_flight = lo.cluster, lo.shards, lo.progress, lo.max_in_flight
    arrival, burstiness, seed = lo.arrival, lo.burstiness, lo.seed
    on_ray = raypool.resolve(cluster)
    loop_choice()  # a bad KRAL_NB_LOOP fails here, not in every shard
    targets = [target(m, opts) for m in models]
    if workload is None:
        assert isinstance(prompt, str)
        templates: list[Any] = [t.job(prompt, None) for t in targets]  # every check before any request
    else:
        first = workload.item(0)
        templates = [t.job(None, first.chat(), max_tokens=first.max_tokens, exact=first.exact) for t in targets]
    for job in templates:
        job.run.listener = None
    cells = [{"cell": li * len(models) + mi, "model_index": mi, "mode": mode, "level": v, "warmup_s": float(warmup_s),
              "provider": templates[mi].run.provider, "model": templates[mi].run.model,
              "protocol": templates[mi].run.protocol, "request": templates[mi].run.request,
              "request_key": templates[mi].run.request_key, "duration_s": duration_s, "requests": requests,
              "arrival": arrival, "planned": requests if mode == "closed" else None, "drain_s": lo.drain_s}
             for li, v in enumerate(values) for mi in range(len(models))]
    view = (LoadView(cells, enabled=True, sink=progress) if callable(progress)
            else LoadView(cells, enabled=progress if progress is not None else True))
    _helpers_ready(templates, view)
    # the helpers answer now: a shard sends at once, never probing them inside a level's timing
    templates = [dataclasses.replace(job, ready=None) for job in templates]
    targets = [dataclasses.replace(t, ready=None) for t in targets]
    pool: ShardPool | raypool.RayPool
    if on_ray is not None:
        view.note(raypool.connect(on_ray), warn=False)  # before anything starts: one clear error if unreachable
        n_shards = shards or raypool.default_shards(on_ray)
        pool = raypool.RayPool(n_shards, on_ray)
    else:
        n_shards = shards or default_shards()
        pool = ShardPool(n_shards)
    if workload is not None:
        view.note(f"workload: {workload.summary()}", warn=False)
    gather = Gather(cells, slo, {"summary": workload.summary(), **workload.describe()} if workload else None)
    scraper = Scraper(endpoints(lo.server_metrics, [t.url for t in targets]))
    view.poll = scraper.notes  # the scraper's notes, shown by this thread
    interrupted = False
    failure: KralError | None = None
    try:
        pool.start()
        scraper.start()
        for cell in cells:
            mi = cell["model_index"]
            tasks = _tasks(cell, templates[mi], n_shards, mode, duration_s, requests, arrival,
                           burstiness, seed, -(-max_in_flight // n_shards) if max_in_flight else MAX_IN_FLIGHT,
                           times=times)
            if workload is not None:
                for t in tasks:
                    t.workload, t.target = workload, targets[mi]
            cell["shards"] = len(tasks)
            scraper.level(cell["cell"])
            pool.run(tasks, gather, view, None if guard is None else _stopper(guard, cell, view))
            scraper.level(None)
            dead = gather.all_lost([t.cell for t in tasks])
            if dead:  # the level measured nothing: stop, and say why
                failure = KralError(_all_lost_message(cell, dead, on_ray is not None))
                break
    except KeyboardInterrupt:
        interrupted = True
        pool.stop_and_collect(gather, view)
    finally:
        scraper.stop()
        pool.close()
        view.close()
    result = gather.result()
    if scraper.urls:
        result.server_metrics = scraper.frame(cells)
    from ..results.history import HISTORY

    HISTORY.keep(*result.run_list)
    if interrupted:
        raise Cancelled("cancelled: the load sweep's partial result is in exc.result", result=result)
    if failure is not None:
        failure.result = result
        raise failure
    return result


def _stopper(guard: Guard, cell: dict[str, Any], view: LoadView) -> Callable[[], bool]:
    """Asked by the pool while the level runs: stop it now? (once; the reason is kept in the
    cell, for the levels frame, and shown)."""

    def stop() -> bool:
        st = view.stats.get(cell["cell"])
        why = guard(cell, st) if st is not None and "stopped_early" not in cell else None
        if why:
            cell["stopped_early"] = why
            view.note(f"{fmt.model_label(cell['provider'], cell['model'], cell['protocol'])} at "
                      f"{fmt.level(cell['mode'], cell['level'])} stopped early: {why}", warn=False)
        return bool(why)

    return stop


def _all_lost_message(cell: dict[str, Any], dead: list[str], on_ray: bool) -> str:
    where = "Ray actors" if on_ray else "shard processes"
    fix = ("check the actors' logs (ray logs) and that every node has kral_nb installed" if on_ray else
           "each shard runs this interpreter with `-c \"from kral_nb.loadgen.worker import main; main()\"`: check "
           "that it starts in this environment (the shard's last words above), or run on Ray with cluster='ray'")
    return (f"every load shard of {fmt.model_label(cell['provider'], cell['model'], cell['protocol'])} at "
            f"{fmt.level(cell['mode'], cell['level'])} died before reporting anything, so the sweep stopped "
            f"(the levels before it are in exc.result). The {where}:\n  " + "\n  ".join(dead) + f"\nFix: {fix}")


def _helpers_ready(templates: list[Any], view: LoadView) -> None:
    """Start and wait for the helper servers (the sim, a local model) before the first level:
    their start-up is not the first level's queue delay."""
    from ..servers.startup import NOTES, wait

    for ready in dict.fromkeys(job.ready for job in templates if job.ready is not None):
        if ready.error:
            raise ConfigError(ready.error)
        view.note(ready.note or NOTES.get(ready.kind, "starting…"), warn=False)
        wait(ready)


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (i < n % parts) for i in range(parts)]


def _replayed(times: list[float], duration_s: float | None, requests: int | None) -> list[float]:
    """A trace's times, cut to its first ``requests`` or to those due within ``duration_s``."""
    out = times[:requests] if requests is not None else times
    return [t for t in out if duration_s is None or t < duration_s]


def _rate(times: list[float]) -> float:
    """A trace's level: its mean arrival rate (requests per second)."""
    span = times[-1] if len(times) > 1 else 0.0
    return round(len(times) / span, 3) if span > 0 else float(len(times))


def _tasks(cell: dict[str, Any], job: Any, n_shards: int, mode: str, duration_s: float | None,
           requests: int | None, arrival: str, burstiness: float, seed: int, max_in_flight: int,
           times: list[float] | None = None) -> list[CellTask]:
    """A cell's work dealt across shards: closed loop, its concurrency and quota (and every
    ``n``-th item of a workload to each); open loop, every ``n``-th due time of its schedule (a
    trace's own times, or the arrival process's) with the item each one sends."""
    common = {"cell": cell["cell"], "job": job, "mode": mode, "start_ns": 0, "warmup_s": cell["warmup_s"],
              "duration_s": duration_s, "max_in_flight": max_in_flight, "drain_s": cell["drain_s"]}
    if mode == "closed":
        conc = [c for c in _split(cell["level"], n_shards) if c > 0]
        quotas = _split(requests, len(conc)) if requests is not None else [None] * len(conc)
        return [CellTask(shard=i, concurrency=c, requests=q, first_index=i, stride=len(conc), **common)
                for i, (c, q) in enumerate(zip(conc, quotas, strict=True)) if q != 0]
    if times is not None:
        common["duration_s"] = None  # the trace was cut already: every request in it goes
        offsets = times
    else:
        offsets = arrivals.schedule(cell["level"], arrival=arrival, burstiness=burstiness, duration_s=duration_s,
                                    requests=requests, seed=seed + cell["cell"]).tolist()
    cell["planned"] = len(offsets)
    return [CellTask(shard=i, offsets_s=list(offsets[i::n_shards]), indices=list(range(i, len(offsets), n_shards)),
                     **common) for i in range(min(n_shards, len(offsets)))]
