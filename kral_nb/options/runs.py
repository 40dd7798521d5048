"""How many runs and where: a comparison's options (:class:`SweepOptions`) and a load
sweep's (:class:`LoadOptions`). Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .base import OptionSet, int_in, is_int, number_in, opt

ORDERS = ("interleaved", "random", "blocked")
MAX_REPEAT = 10_000
MAX_CONCURRENCY = 4096


def _cluster(v: Any) -> bool:
    return v is False or v == "ray" or type(v).__name__ == "RayCluster"


@dataclass
class SweepOptions(OptionSet):
    """How a comparison runs (``compare``, ``sweep``, ``start``, ``kral-nb compare``)."""

    repeat: int = opt(1, "measured runs per model and prompt", arg=int, flags=("-n",),
                       check=int_in(1, MAX_REPEAT), must=f"an integer from 1 to {MAX_REPEAT:,}")
    warmup: int = opt(0, "warmup runs first, flagged and left out of the statistics", arg=int,
                       check=int_in(0, MAX_REPEAT), must=f"an integer from 0 to {MAX_REPEAT:,}")
    concurrency: int | None = opt(None, "runs at once (default: all models of one round side by side)", arg=int,
                                   check=int_in(1, MAX_CONCURRENCY), must=f"an integer from 1 to {MAX_CONCURRENCY}")
    order: str = opt("interleaved", "interleaved (every model once per round), random or blocked", choices=ORDERS)
    seed: int | None = opt(0, "seed of the random order and the statistics' bootstrap", arg=int, check=is_int,
                            must="an integer")
    progress: bool | None = opt(None, "a progress bar (default: when there are more runs than models)", arg=None)
    cluster: Any = opt(None, "'ray' (or kral_nb.RayCluster(...)): run in Ray actors", choices=("ray",),
                        check=_cluster, must="None, 'ray' or kral_nb.RayCluster(...)")


ARRIVALS = ("poisson", "constant", "gamma")
#: latencies a load SLO can bound (seconds)
SLO_METRICS = ("ttft_s", "tpot_s", "e2e_s")
MAX_LEVEL_CONCURRENCY = 4096
MAX_SHARDS = 256


def _levels(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: (check(v) if not isinstance(v, (list, tuple)) else bool(v) and all(map(check, v)))


def _metrics_url(v: Any) -> bool:
    """An http(s) URL with a host and no credentials in it (nothing secret goes to a metrics page)."""
    from urllib.parse import urlsplit

    if not isinstance(v, str):
        return False
    try:
        u = urlsplit(v)
    except ValueError:
        return False
    return u.scheme in ("http", "https") and bool(u.hostname) and u.username is None and u.password is None


def _server_metrics(v: Any) -> bool:
    if isinstance(v, bool) or v == "auto":
        return True
    if isinstance(v, (list, tuple)):
        return bool(v) and all(map(_metrics_url, v))
    return _metrics_url(v)


SERVER_METRICS_MUST = "True, 'auto', or http(s) URLs of Prometheus pages without credentials in them"


def _slo(v: Any) -> bool:
    return isinstance(v, dict) and all(k in SLO_METRICS and number_in(0, above=True)(x) for k, x in v.items())


@dataclass
class LoadOptions(OptionSet):
    """A load sweep's schedule and where it runs (``load``, ``%%kral --concurrency/--rate``,
    ``kral-nb load``)."""

    concurrency: int | list[int] | None = opt(
        None, "closed loop: requests kept in flight, one level each (e.g. 1,4,16)", arg="ints",
        check=_levels(int_in(1, MAX_LEVEL_CONCURRENCY)),
        must=f"integers from 1 to {MAX_LEVEL_CONCURRENCY} (levels of requests in flight)")
    rate: float | list[float] | None = opt(
        None, "open loop: requests per second, one level each (e.g. 1,5,20)", arg="floats",
        check=_levels(number_in(0, above=True)), must="positive numbers of requests per second")
    arrival: str = opt("poisson", "open loop: the arrival process", choices=ARRIVALS)
    burstiness: float = opt(1.0, "open loop, gamma arrivals: the shape (1 = Poisson, < 1 burstier)", arg=float,
                             check=number_in(0, above=True), must="a positive number (the gamma shape; 1 = Poisson)")
    duration_s: float | None = opt(None, "seconds per level", arg=float, flags=("--duration",),
                                    check=number_in(0, 86_400, above=True), must="a positive number of seconds")
    drain_s: float = opt(30.0, "seconds a level with a duration waits for the requests still in flight "
                         "after it; then they end cancelled (AIPerf's grace period)", arg=float,
                         flags=("--drain",), check=number_in(0, 86_400), must="a number of seconds >= 0")
    requests: int | None = opt(None, "requests per level (instead of, or as well as, a duration)", arg=int,
                                check=int_in(1, 1_000_000), must="an integer from 1 to 1,000,000")
    warmup_s: float = opt(0.0, "seconds at the start of each level whose requests are flagged and left out",
                           arg=float, flags=("--warmup",), check=number_in(0), must="a number of seconds >= 0")
    slo: dict[str, float] | None = opt(None, f"latency limits in seconds for goodput ({', '.join(SLO_METRICS)}), "
                                        "e.g. ttft_s=0.5,e2e_s=3", arg="slo", check=_slo,
                                        must=f"positive limits in seconds for {', '.join(SLO_METRICS)}")
    seed: int = opt(0, "seed of the arrival schedules", arg=int, check=is_int, must="an integer")
    shards: int | None = opt(None, "worker processes (default: one per core; on Ray one per CPU)", arg=int,
                              check=int_in(1, MAX_SHARDS), must=f"an integer from 1 to {MAX_SHARDS}")
    max_in_flight: int | None = opt(None, "open loop: at most this many requests at once (default 4,096 per "
                                     "shard); a request due beyond it waits, and its queue delay shows it",
                                     arg=int, check=int_in(1, 1_000_000), must="a positive integer")
    progress: Any = opt(None, "the live table (default: on); or a callable(rows, notes) that draws it", arg=None,
                        check=lambda v: isinstance(v, bool) or callable(v), must="True, False or a callable")
    server_metrics: Any = opt(None, "scrape Prometheus metrics during every level: 'auto' (or True) for /metrics "
                              "at each model's server, or a URL", flags=("--server-metrics",),
                              check=_server_metrics, must=SERVER_METRICS_MUST)
    cluster: Any = opt(None, "'ray' (or kral_nb.RayCluster(...)): the shards as Ray actors", choices=("ray",),
                        check=_cluster, must="None, 'ray' or kral_nb.RayCluster(...)")

    def check(self) -> None:
        super().check()
        if self.duration_s is not None and self.warmup_s >= self.duration_s:
            raise ConfigError(f"warmup_s must be below duration_s, got warmup_s={self.warmup_s!r}")

    def check_schedule(self, *, trace: bool = False) -> None:
        """The levels make sense for what is sent: levels and a length for prompts, none for a
        trace (it brings its own arrival times)."""
        if trace:
            if self.concurrency is not None or self.rate is not None:
                raise ConfigError("a trace brings its own arrival times: give no concurrency or rate (replay it "
                                  "faster with workloads.trace(..., speedup=2); requests=/duration_s= replay its start)")
            return
        if (self.concurrency is None) == (self.rate is None):
            raise ConfigError("give concurrency=[...] (closed loop: requests kept in flight) or "
                              "rate=[...] (open loop: requests per second), not both and not neither")
        if self.duration_s is None and self.requests is None:
            raise ConfigError("give duration_s=... (seconds per level) or requests=... (per level)")

    @property
    def mode(self) -> str:
        """``closed`` (concurrency levels) or ``open`` (rate levels, or a trace's times)."""
        return "closed" if self.concurrency is not None else "open"

    @property
    def levels(self) -> list[int] | list[float]:
        """The levels as given, in order: integers (closed loop) or requests/s (open loop)."""
        if self.concurrency is not None:
            return list(self.concurrency) if isinstance(self.concurrency, (list, tuple)) else [self.concurrency]
        if self.rate is None:
            return []
        rates = list(self.rate) if isinstance(self.rate, (list, tuple)) else [self.rate]
        return [float(r) for r in rates]




CAPACITY_MODES = ("rate", "concurrency")


@dataclass
class CapacityOptions(OptionSet):
    """A capacity search (``capacity``, ``%%kral --capacity``, ``kral-nb capacity``): the SLO to
    hold, how often, and how long the search may take."""

    slo: dict[str, float] | None = opt(None, f"latency limits in seconds a request must meet ({', '.join(SLO_METRICS)}), "
                                        "e.g. ttft_s=0.5", arg="slo", check=_slo,
                                        must=f"positive limits in seconds for {', '.join(SLO_METRICS)}")
    attainment: float = opt(0.9, "the share of requests that must meet every SLO", arg=float,
                            check=number_in(0, 1, above=True), must="a share above 0 and at most 1")
    mode: str = opt("rate", "search the arrival rate (open loop) or the concurrency (closed loop)",
                    choices=CAPACITY_MODES, flags=("--search",))
    probe_requests: int = opt(80, "at most this many requests per probe (~8 s of them; a concurrency probe twice its "
                                   "concurrency at least): the attainment's interval narrows with them",
                              arg=int, check=int_in(10, 100_000), must="an integer from 10 to 100,000")
    precision: float = opt(0.1, "stop when the bracket's width is at most this share of its lower end",
                           arg=float, check=number_in(0, 1, above=True), must="a share above 0 and at most 1")
    start: float | None = opt(None, "the first probe's level (default: what one stream at a time sustains)",
                              arg=float, check=number_in(0, above=True), must="a positive number")
    max_duration_s: float = opt(600.0, "seconds the whole search may take (it ends with the bracket it has)",
                                arg=float, flags=("--max-duration",), check=number_in(0, above=True),
                                must="a positive number of seconds")
    seed: int = opt(0, "seed of the arrival schedules", arg=int, check=is_int, must="an integer")
    shards: int | None = opt(None, "worker processes (default: one per core; on Ray one per CPU)", arg=int,
                              check=int_in(1, MAX_SHARDS), must=f"an integer from 1 to {MAX_SHARDS}")
    server_metrics: Any = opt(None, "scrape Prometheus metrics during every probe: 'auto' (or True) or a URL",
                              flags=("--server-metrics",),
                              check=_server_metrics, must=SERVER_METRICS_MUST)
    progress: Any = opt(None, "the live view (default: on); or a callable(rows, notes) that draws it", arg=None,
                        check=lambda v: v is None or isinstance(v, bool) or callable(v),
                        must="True, False or a callable")
    cluster: Any = opt(None, "'ray' (or kral_nb.RayCluster(...)): the shards as Ray actors", choices=("ray",),
                        check=_cluster, must="None, 'ray' or kral_nb.RayCluster(...)")

    def check(self) -> None:
        super().check()
        if not self.slo:
            raise ConfigError("capacity() needs an SLO to hold, e.g. slo={'ttft_s': 0.5}")
