"""Comparisons: ``sweep`` plans every job of prompts × models × trials (validated before any
request), ``compare`` runs it to the end (locally on the engine loop, or in Ray actors),
``start`` runs it in the background; ``Sweep`` owns a planned comparison's execution."""

from __future__ import annotations

import concurrent.futures
import inspect
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .errors import ConfigError, KralError
from .net import engine as _engine
from .net import loop as _loop
from .options import ORDERS, Options, SweepOptions, with_options
from .plan import plan
from .record.recorder import Run
from .results.history import HISTORY, cancelled
from .results.result import Result

__all__ = ["Sweep", "compare", "order_jobs", "start", "sweep"]

#: runs planned by one call at most (each run holds its records in memory)
MAX_RUNS = 100_000


def order_jobs(n_prompts: int, n_models: int, warmup: int, repeat: int, order: str,
               seed: int | None) -> list[tuple[int, int, int]]:
    """(prompt_id, model_index, trial) in execution order; trials ``< warmup`` are warmups.

    ``interleaved``: trial-major, every model once per round (drift hits all alike);
    ``random``: the warmup rounds first, then the measured runs shuffled with ``seed``;
    ``blocked``: all trials of a model together, its warmups first.
    """
    if order not in ORDERS:
        raise KralError(f"order must be one of {ORDERS}, got {order!r}")
    n_trials = warmup + repeat
    if order == "blocked":
        return [(p, m, r) for m in range(n_models) for r in range(n_trials) for p in range(n_prompts)]
    items = [(p, m, r) for r in range(n_trials) for p in range(n_prompts) for m in range(n_models)]
    if order == "random":
        n_warm = warmup * n_prompts * n_models
        measured = items[n_warm:]
        random.Random(seed).shuffle(measured)
        items = items[:n_warm] + measured
    return items


class Sweep:
    """A planned comparison: every job validated, nothing sent yet. ``submit()`` starts it on
    the engine loop (returns at once); ``wait()`` blocks with an optional ``tick`` called
    every ``interval_s`` in the caller's thread (live displays), turning an interrupt into
    :class:`Cancelled` after the streams have unwound."""

    def __init__(self, jobs: list[_engine.Job], concurrency: int, seed: int | None) -> None:
        self.jobs, self.concurrency, self.seed = jobs, concurrency, seed
        self.result = Result(j.run for j in jobs)
        self.future: _loop.TaskFuture[None] | None = None

    def __repr__(self) -> str:
        counts = Counter(j.run.status for j in self.jobs)
        return f"<kral_nb.Sweep {len(self.jobs)} run(s): {', '.join(f'{n} {s}' for s, n in counts.items())}>"

    def submit(self, on_done: Callable[[Run], None] | None = None) -> _loop.TaskFuture[None]:
        def done(run: Run) -> None:
            HISTORY.keep(run)
            if on_done is not None:
                on_done(run)

        self.future = _loop.engine().submit(
            lambda client: _engine.execute_all(client, self.jobs, self.concurrency, done, self.seed))
        return self.future

    def wait(self, tick: Callable[[], None] | None = None, interval_s: float = 0.1) -> Result:
        fut = self.future or self.submit()
        switch_s = sys.getswitchinterval()
        if tick is not None:  # rendering in this thread: hand the GIL back to the engine sooner
            sys.setswitchinterval(min(switch_s, 0.0005))
        try:
            while True:
                try:
                    fut.result(timeout=interval_s if tick else None)
                    break
                except concurrent.futures.TimeoutError:
                    if tick is not None:
                        tick()
        except (KeyboardInterrupt, concurrent.futures.CancelledError):
            self.cancel()
            raise cancelled(self.result) from None
        finally:
            sys.setswitchinterval(switch_s)
        return self.result

    def cancel(self) -> None:
        if self.future is not None:
            self.future.cancel_task()
        for j in self.jobs:
            j.run.cancel()
        HISTORY.keep(*(j.run for j in self.jobs))


def _plan(prompt: str | Sequence[str], models: Sequence[str | dict[str, Any]], so: SweepOptions,
          options: dict[str, Any]) -> Sweep:
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts or not models:
        raise ConfigError("compare() needs at least one prompt and one model")
    n_runs = len(prompts) * len(models) * (so.repeat + so.warmup)
    if n_runs > MAX_RUNS:
        raise ConfigError(f"this comparison would plan {n_runs:,} runs (prompts x models x (repeat + warmup)); "
                          f"the limit is {MAX_RUNS:,} per call: split it into several calls")
    opts = Options.from_kwargs(options)
    order_list = order_jobs(len(prompts), len(models), so.warmup, so.repeat, so.order, so.seed)
    jobs = [plan(prompts[p], None, models[m], opts, repeat=r - so.warmup, prompt_id=p, warmup=r < so.warmup)
            for p, m, r in order_list]
    return Sweep(jobs, so.concurrency or len(models), so.seed)


@with_options(SweepOptions, Options)
def sweep(prompt: str | Sequence[str], models: Sequence[str | dict[str, Any]], **options: Any) -> Sweep:
    """Plan a comparison (validating everything before any request); see :func:`compare`."""
    so = SweepOptions.take(options)
    if so.cluster not in (None, False):
        raise ConfigError("cluster= runs with compare(), not sweep() or start()")
    return _plan(prompt, models, so, options)


@with_options(SweepOptions, Options)
def compare(prompt: str | Sequence[str], models: Sequence[str | dict[str, Any]], *,
            on_done: Callable[[Run], None] | None = None, **options: Any) -> Result:
    """Run every model on every prompt, ``repeat`` times each (plus ``warmup`` runs flagged
    and excluded from statistics), ``concurrency`` at a time (default: all models of one
    round side by side), in ``interleaved`` / ``random`` / ``blocked`` order. Failures are
    data: statuses in the runs frame, nothing raised. Shows a progress bar for long sweeps;
    ``on_done(run)`` is called as each run ends.
    ``cluster="ray"`` (or :class:`kral_nb.RayCluster`, e.g. with ``regions=``) runs the
    comparison in a Ray actor — one per region, each running every job — and adds ``host``,
    ``region`` and ``clock_offset_s`` columns."""
    from .loadgen import raypool
    from .views.progress import Progress

    so = SweepOptions.take(options)
    sw = _plan(prompt, models, so, options)
    on_ray = raypool.resolve(so.cluster)
    if on_ray is not None:
        sys.stderr.write(raypool.connect(on_ray) + "\n")
        try:
            runs, meta = raypool.compare(sw.jobs, sw.concurrency, so.seed, on_ray)
        except KeyboardInterrupt as stop:
            runs, meta = stop.args[0] if stop.args and isinstance(stop.args[0], tuple) else ([], None)
            raise cancelled(Result(runs, meta=meta)) from None
        HISTORY.keep(*runs)
        return Result(runs, meta=meta)
    bar = Progress(len(sw.jobs), enabled=so.progress if so.progress is not None else len(sw.jobs) > len(models))

    def done(run: Run) -> None:
        bar.update(run)
        if on_done is not None:
            on_done(run)

    sw.submit(done)
    try:
        return sw.wait()
    finally:
        bar.close()


def start(prompt: str | Sequence[str], models: Sequence[str | dict[str, Any]], **kwargs: Any) -> Sweep:
    """Start a comparison in the background and return its :class:`Sweep` at once:
    ``sweep.result`` fills in live, ``sweep.cancel()`` stops it, ``sweep.wait()`` joins."""
    sw = sweep(prompt, models, **kwargs)
    sw.submit()
    return sw


start.__signature__ = inspect.signature(sweep)  # type: ignore[attr-defined]
