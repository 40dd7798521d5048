"""Open-loop arrival schedules: when each request of a level is due, independent of responses.
Pure and seeded (NumPy's PCG64): the same seed gives the same schedule on every machine.

Inter-arrival gaps follow vLLM's ``bench serve``: ``gamma`` with shape ``burstiness`` and mean
``1 / rate`` (``burstiness = 1`` is a Poisson process; below 1 burstier, above 1 smoother);
``poisson`` is gamma with shape 1; ``constant`` is exactly ``1 / rate``.
"""

from __future__ import annotations

import math

import numpy as np

from ..options import ARRIVALS

MAX_ARRIVALS = 1_000_000


def schedule(rate: float, *, arrival: str = "poisson", burstiness: float = 1.0,
             duration_s: float | None = None, requests: int | None = None, seed: int = 0) -> np.ndarray:
    """Offsets in seconds from the level's start, ascending: every arrival before
    ``duration_s``, or the first ``requests`` arrivals (whichever is given; both: the first
    limit reached). The first request is due at 0."""
    if arrival not in ARRIVALS:
        raise ValueError(f"arrival must be one of {ARRIVALS}, got {arrival!r}")
    if not rate > 0 or not math.isfinite(rate):
        raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
    shape = 1.0 if arrival == "poisson" else burstiness
    if arrival == "gamma" and (not shape > 0 or not math.isfinite(shape)):
        raise ValueError(f"burstiness must be a positive number, got {burstiness!r}")
    if duration_s is None and requests is None:
        raise ValueError("give duration_s or requests")
    cap = min(requests if requests is not None else MAX_ARRIVALS, MAX_ARRIVALS)
    rng = np.random.default_rng(seed)
    times = np.zeros(1)
    while len(times) < cap and (duration_s is None or times[-1] < duration_s):
        n = min(cap - len(times), int((duration_s or 0) * rate * 1.2) + 64)
        gaps = np.full(n, 1.0 / rate) if arrival == "constant" else rng.gamma(shape, 1.0 / (rate * shape), size=n)
        times = np.concatenate([times, times[-1] + np.cumsum(gaps)])
    if duration_s is not None:
        times = times[times < duration_s]
    return times[:cap]
