"""``kral_nb.load``: concurrency (closed loop) and arrival-rate (open loop) sweeps, each level's
requests dealt across shard processes (``shard.py``), gathered into the usual frames plus the
load columns and a per-level frame (``levels.py``).

Order: level by level as given, and within a level every model in turn (one cell at a time,
so models never compete for the client). Each shard is a process with its own event loop;
records come back as columns (``RecordColumns`` pickles as a few buffers).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from . import arrivals, raypool
from .errors import Cancelled, ConfigError
from .loadgather import Gather
from .loadresult import LoadResult
from .loadview import LoadView
from .plan import Options, plan, with_options
from .shard import MAX_IN_FLIGHT, CellTask
from .shardpool import ShardPool, loop_choice

MODES = ("closed", "open")
MAX_LEVEL_CONCURRENCY = 4096


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _levels(concurrency: Any, rate: Any) -> tuple[str, list[float]]:
    if (concurrency is None) == (rate is None):
        raise ConfigError("give concurrency=[...] (closed loop: requests kept in flight) or "
                          "rate=[...] (open loop: requests per second), not both and not neither")
    values = concurrency if concurrency is not None else rate
    values = [values] if isinstance(values, (int, float)) else list(values)
    if not values:
        raise ConfigError("the sweep needs at least one level")
    if concurrency is not None:
        if not all(_int(v) and 1 <= v <= MAX_LEVEL_CONCURRENCY for v in values):
            raise ConfigError(f"concurrency levels must be integers from 1 to {MAX_LEVEL_CONCURRENCY}, got {values}")
        return "closed", [float(v) for v in values]
    if not all(not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v < math.inf for v in values):
        raise ConfigError(f"rate levels must be positive numbers of requests per second, got {values}")
    return "open", [float(v) for v in values]


def default_shards() -> int:
    """One shard per usable core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@with_options
def load(prompt: str, models: Sequence[str | dict[str, Any]], *, concurrency: int | Sequence[int] | None = None,
         rate: float | Sequence[float] | None = None, arrival: str = "poisson", burstiness: float = 1.0,
         duration_s: float | None = None, requests: int | None = None, warmup_s: float = 0.0,
         slo: dict[str, float] | None = None, seed: int = 0, shards: int | None = None,
         max_in_flight: int | None = None, progress: bool | None = None, cluster: Any = None,
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
    shards as Ray actors (default: one per CPU of the cluster, or one per region). Returns a
    :class:`LoadResult`."""
    from .levels import SLO_METRICS

    mode, values = _levels(concurrency, rate)
    if duration_s is None and requests is None:
        raise ConfigError("give duration_s=... (seconds per level) or requests=... (per level)")
    if duration_s is not None and (isinstance(duration_s, bool) or not isinstance(duration_s, (int, float))
                                   or not 0 < duration_s <= 86_400):
        raise ConfigError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
    if requests is not None and (not _int(requests) or not 1 <= requests <= 1_000_000):
        raise ConfigError(f"requests must be an integer from 1 to 1,000,000, got {requests!r}")
    if isinstance(warmup_s, bool) or not isinstance(warmup_s, (int, float)) or not 0 <= warmup_s < (duration_s or math.inf):
        raise ConfigError(f"warmup_s must be a number of seconds from 0 to below duration_s, got {warmup_s!r}")
    if arrival not in arrivals.ARRIVALS:
        raise ConfigError(f"arrival must be one of {arrivals.ARRIVALS}, got {arrival!r}")
    if isinstance(burstiness, bool) or not isinstance(burstiness, (int, float)) or not 0 < burstiness < math.inf:
        raise ConfigError(f"burstiness must be a positive number (the gamma shape; 1 = Poisson), got {burstiness!r}")
    if not _int(seed):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    slo = dict(slo or {})
    bad = [k for k in slo if k not in SLO_METRICS]
    if bad or not all(not isinstance(v, bool) and isinstance(v, (int, float)) and v > 0 for v in slo.values()):
        raise ConfigError(f"slo takes positive limits in seconds for {', '.join(SLO_METRICS)}, got {slo!r}")
    if max_in_flight is not None and (not _int(max_in_flight) or not 1 <= max_in_flight <= 1_000_000):
        raise ConfigError(f"max_in_flight must be a positive integer, got {max_in_flight!r}")
    if shards is not None and (not _int(shards) or not 1 <= shards <= 256):
        raise ConfigError(f"shards must be an integer from 1 to 256, got {shards!r}")
    if not models:
        raise ConfigError("load() needs at least one model")
    on_ray = raypool.resolve(cluster)
    loop_choice()  # a bad KRAL_NB_LOOP fails here, not in every shard
    opts = Options.from_kwargs(options)
    templates: list[Any] = [plan(prompt, None, m, opts) for m in models]  # every check before any request
    for job in templates:
        job.run.listener = None
    cells = [{"cell": li * len(models) + mi, "model_index": mi, "mode": mode, "level": v, "warmup_s": float(warmup_s),
              "provider": templates[mi].run.provider, "model": templates[mi].run.model,
              "protocol": templates[mi].run.protocol}
             for li, v in enumerate(values) for mi in range(len(models))]
    view = LoadView(cells, enabled=progress if progress is not None else True)
    pool: ShardPool | raypool.RayPool
    if on_ray is not None:
        view.note(raypool.connect(on_ray), warn=False)  # before anything starts: one clear error if unreachable
        n_shards = shards or raypool.default_shards(on_ray)
        pool = raypool.RayPool(n_shards, on_ray)
    else:
        n_shards = shards or default_shards()
        pool = ShardPool(n_shards)
    gather = Gather(cells, slo)
    interrupted = False
    try:
        pool.start()
        for cell in cells:
            tasks = _tasks(cell, templates[cell["model_index"]], n_shards, mode, duration_s, requests, arrival,
                           burstiness, seed, -(-max_in_flight // n_shards) if max_in_flight else MAX_IN_FLIGHT)
            cell["shards"] = len(tasks)
            pool.run(tasks, gather, view)
    except KeyboardInterrupt:
        interrupted = True
        pool.stop_and_collect(gather, view)
    finally:
        pool.close()
        view.close()
    result = gather.result()
    from .history import HISTORY

    HISTORY.keep(*result.run_list)
    if interrupted:
        raise Cancelled("cancelled: the load sweep's partial result is in exc.result", result=result)
    return result


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (i < n % parts) for i in range(parts)]


def _tasks(cell: dict[str, Any], job: Any, n_shards: int, mode: str, duration_s: float | None,
           requests: int | None, arrival: str, burstiness: float, seed: int, max_in_flight: int) -> list[CellTask]:
    common = {"cell": cell["cell"], "job": job, "mode": mode, "start_ns": 0, "warmup_s": cell["warmup_s"],
              "duration_s": duration_s, "max_in_flight": max_in_flight}
    if mode == "closed":
        conc = [c for c in _split(int(cell["level"]), n_shards) if c > 0]
        quotas = _split(requests, len(conc)) if requests is not None else [None] * len(conc)
        return [CellTask(shard=i, concurrency=c, requests=q, **common)
                for i, (c, q) in enumerate(zip(conc, quotas, strict=True)) if q != 0]
    offsets = arrivals.schedule(cell["level"], arrival=arrival, burstiness=burstiness, duration_s=duration_s,
                                requests=requests, seed=seed + cell["cell"])
    cell["scheduled"] = len(offsets)
    return [CellTask(shard=i, offsets_s=offsets[i::n_shards].tolist(), **common)
            for i in range(min(n_shards, len(offsets)))]
