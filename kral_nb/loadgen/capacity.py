"""``kral_nb.capacity``: the highest arrival rate (or concurrency) at which the share of
requests meeting every SLO stays at or above ``attainment``.

The search: one calibration request stream (concurrency 1, a few requests) gives the service
time, so the first probe is the rate one stream at a time sustains (``1 / e2e``; concurrency
mode starts at 1), a level every server that answers at all can take. Then it doubles the
level until a probe fails, and bisects between the highest pass and the lowest fail until the
bracket is narrower than ``precision`` of its lower end (concurrency: adjacent integers) or
``max_duration_s`` is spent. Why this and not a model-based search: it assumes nothing about
the server beyond "more load, no better attainment", finds the bracket in O(log) probes, and
every probe is an ordinary load level (the usual frames, kept).

Each probe sends about ``PROBE_S`` seconds of requests (open loop: at that rate, Poisson;
closed loop: that concurrency), at least ``MIN_PROBE_REQUESTS`` and at most ``probe_requests``
(80: the attainment's 95 % Wilson interval about ±7 points at 0.9, shown with each probe). A probe passes when its measured attainment is at least the target. A probe stops early
(:class:`ProbeGuard`, while it runs) when its verdict is already decided — more requests
missed the SLO than the target allows of the whole probe — or when the system is plainly
over-saturated: requests in flight growing without bound while completions fall behind the
offered rate (GuideLLM's over-saturation stop). A stopped probe fails, and says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..clock import now_ns
from ..errors import Cancelled, KralError
from ..options import MAX_LEVEL_CONCURRENCY, CapacityOptions, LoadOptions, Options, with_options
from ..workloads import Workload
from .capresult import OUT_OF_TIME, CapacityResult, CapacityView, Probe
from .result import LoadResult

CALIBRATION_REQUESTS = 4
#: a probe sends about PROBE_S seconds of requests, at least MIN_PROBE_REQUESTS and at most
#: ``probe_requests``: low levels (which pass easily) stay short
PROBE_S, MIN_PROBE_REQUESTS = 8.0, 20
#: over-saturation, all at once: in flight (mean over the last quarter of the probe so far) at
#: least SATURATION_GROWTH x its mean over the second quarter + SATURATION_SLACK; in flight now
#: above SATURATION_LITTLE x what Little's law gives a server that keeps up (rate x service
#: time) + SATURATION_SLACK; completions over the last half below COMPLETION_SHARE of the rate
SATURATION_GROWTH, SATURATION_LITTLE, SATURATION_SLACK, COMPLETION_SHARE = 2.0, 3.0, 5, 0.85
SATURATION_AFTER_S = 2.0
MAX_SHRINK = 6  # a first probe that fails: halve the level at most this often


class ProbeGuard:
    """Asked while a probe runs (``run.sweep``'s guard): why stop it now, or None."""

    def __init__(self, slo: dict[str, float], attainment: float, deadline_ns: int, service_s: float) -> None:
        self.slo, self.attainment, self.deadline_ns, self.service_s = slo, attainment, deadline_ns, service_s
        self.history: list[tuple[float, int, int]] = []  # (s since the level's start, in flight, done)

    def __call__(self, cell: dict[str, Any], st: dict[str, Any]) -> str | None:
        now = now_ns()
        if now > self.deadline_ns:
            return OUT_OF_TIME
        shards = list(st["shards"].values())
        planned = cell.get("planned") or cell.get("requests") or 0
        limit = self.slo.get("ttft_s")
        missed = sum(s["failed"] for s in shards) + (sum(t > limit for t in st["ttft_s"]) if limit else 0)
        if planned and (planned - missed) / planned < self.attainment - 1e-9:
            return (f"{missed} of {planned} requests missed the SLO already: attainment can no longer reach "
                    f"{self.attainment:.0%}")
        start = cell.get("start_ns")
        if cell["mode"] != "open" or start is None or now < start:
            return None
        t = (now - start) / 1e9
        self.history.append((t, sum(s["in_flight"] for s in shards), sum(s["done"] for s in shards)))
        return self._saturated(t, float(cell["level"])) if t >= max(SATURATION_AFTER_S, 4 * self.service_s) else None

    def _saturated(self, t: float, rate: float) -> str | None:
        h = self.history

        def mean_in_flight(a: float, b: float) -> float:
            xs = [n for s, n, _ in h if a * t <= s < b * t]
            return sum(xs) / len(xs) if xs else math.nan

        early, late = mean_in_flight(0.25, 0.5), mean_in_flight(0.75, 1.01)
        now_in_flight = h[-1][1]
        half = next(x for x in h if x[0] >= t / 2)
        done_rate = (h[-1][2] - half[2]) / max(1e-9, t - half[0])
        if (late >= SATURATION_GROWTH * early + SATURATION_SLACK
                and now_in_flight >= SATURATION_LITTLE * rate * self.service_s + SATURATION_SLACK
                and done_rate < COMPLETION_SHARE * rate):
            return (f"over-saturated: {now_in_flight} in flight and growing (a server keeping up holds about "
                    f"{rate * self.service_s:.0f}) while requests completed at {done_rate:.1f}/s of {rate:g}/s offered")
        return None


@with_options(CapacityOptions, Options)
def capacity(workload: str | Sequence[str] | Workload, model: str | dict[str, Any], **options: Any) -> CapacityResult:
    """The highest arrival rate (``mode="rate"``, requests/s, open loop) or concurrency
    (``mode="concurrency"``, closed loop) at which at least ``attainment`` of the requests meet
    every limit of ``slo`` (``ttft_s``, ``tpot_s``, ``e2e_s``): an adaptive search of load
    probes (grow until one fails, then bisect; docs/load.md, "Capacity"), each stopped early
    when its verdict is decided or the system is plainly over-saturated. Returns a
    :class:`CapacityResult`: ``rate_rps`` (or ``concurrency``), the ``bracket`` it lies in,
    every probe's ``levels`` and ``runs``, ``plot()``, ``to_html()``."""
    from .run import sweep

    co = CapacityOptions.take(options)
    opts = Options.from_kwargs(options)
    assert co.slo is not None
    started = now_ns()
    deadline = started + int(co.max_duration_s * 1e9)
    view = CapacityView(co, model, progress=co.progress)
    probes: list[Probe] = []
    service_s = 1.0  # one request's e2e at concurrency 1 (the calibration's median)

    def probe(level: float, *, calibration: bool = False) -> Probe:
        per_s = level if co.mode == "rate" else level / service_s  # the requests/s the level would complete
        n = (CALIBRATION_REQUESTS if calibration else
             int(min(co.probe_requests, max(MIN_PROBE_REQUESTS, per_s * PROBE_S))))
        if co.mode == "concurrency":
            n = max(n, 2 * int(level))  # every worker sends twice at least: a queue has time to form
        shape = ({"concurrency": [1 if calibration else int(level)]} if calibration or co.mode == "concurrency"
                 else {"rate": [level]})
        lo = LoadOptions.take({**shape, "requests": n, "slo": dict(co.slo or {}), "seed": co.seed + len(probes),
                               "shards": co.shards, "cluster": co.cluster, "server_metrics": co.server_metrics,
                               "progress": view.sink})
        view.probing(level, calibration)
        guard = None if calibration else ProbeGuard(dict(co.slo or {}), co.attainment, deadline, service_s)
        try:
            lr = sweep(workload, [model], lo, opts, guard=guard)
        except KralError as exc:  # interrupted, or every shard died: the probes so far are the result
            if isinstance(exc.result, LoadResult):
                probes.append(Probe.of(len(probes), level, exc.result, co.attainment, calibration=calibration))
            why = "interrupted" if isinstance(exc, Cancelled) else f"a probe failed: {exc}"
            exc.result = CapacityResult.of(co, probes, why, (now_ns() - started) / 1e9)
            raise
        p = Probe.of(len(probes), level, lr, co.attainment, calibration=calibration)
        probes.append(p)
        view.done(p)
        return p

    cal = probe(1, calibration=True)
    e2e = float(cal.levels["e2e_s_p50"].iloc[0]) if len(cal.levels) else math.nan
    if math.isfinite(e2e) and e2e > 0:
        service_s = e2e
    if co.start is not None:
        level = co.start
    elif co.mode == "concurrency" or not math.isfinite(e2e) or e2e <= 0:
        level = 1.0
    else:
        level = max(0.1, float(f"{1 / e2e:.2g}"))
    lo_pass: float | None = None
    hi_fail: float | None = None
    why = ""
    shrinks = 0
    while True:
        if now_ns() > deadline:
            why = f"max_duration_s ({co.max_duration_s:g} s) spent"
            break
        p = probe(level)
        if p.stopped_early == OUT_OF_TIME:
            why = f"max_duration_s ({co.max_duration_s:g} s) spent"
            break
        if p.passed:
            lo_pass = level
        else:
            hi_fail = level
        if hi_fail is None:
            if co.mode == "concurrency" and level * 2 > MAX_LEVEL_CONCURRENCY:
                why = f"concurrency {level:g} held and {MAX_LEVEL_CONCURRENCY:,} is the most a level may keep in flight"
                break
            level = level * 2
        elif lo_pass is None:
            shrinks += 1
            if shrinks > MAX_SHRINK:
                why = f"no level passed down to {level:g}"
                break
            level = level / 2 if co.mode == "rate" else max(1, int(level // 2))
            if co.mode == "concurrency" and level == hi_fail:
                why = "even concurrency 1 missed the SLO"
                break
        else:
            if _narrow(lo_pass, hi_fail, co):
                why = "bracket narrower than the precision asked"
                break
            level = (lo_pass + hi_fail) / 2 if co.mode == "rate" else (int(lo_pass) + int(hi_fail)) // 2
    view.close()
    return CapacityResult.of(co, probes, why, (now_ns() - started) / 1e9)


def _narrow(lo: float, hi: float, co: CapacityOptions) -> bool:
    if co.mode == "concurrency":
        return hi - lo <= 1
    return (hi - lo) <= co.precision * lo
