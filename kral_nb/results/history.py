"""The session's history: every finished run, once each, in the order they finished — the
one place that keeps runs (``run``, ``stream``, ``astream``, sweeps, load, cancellations).
Bounded: the newest ``KRAL_NB_HISTORY`` runs (default 10,000) are kept, with every chunk they
recorded; ``history(clear=True)`` hands them over and starts afresh."""

from __future__ import annotations

import os
from collections import OrderedDict

from ..errors import Cancelled, ConfigError
from ..record.recorder import Run
from .result import Result

DEFAULT_LIMIT = 10_000


def _limit() -> int:
    value = os.environ.get("KRAL_NB_HISTORY", "")
    if not value:
        return DEFAULT_LIMIT
    if not value.isdigit():
        raise ConfigError(f"KRAL_NB_HISTORY must be a number of runs (0 keeps none), got {value!r}")
    return int(value)


class History:
    """The newest ``limit`` finished runs of the session, once each, in the order they finished."""

    def __init__(self, limit: int | None = None) -> None:
        self._runs: OrderedDict[int, Run] = OrderedDict()
        self.limit = _limit() if limit is None else limit
        self.dropped = 0  # runs let go to stay within the limit

    @property
    def runs(self) -> list[Run]:
        return list(self._runs.values())

    def keep(self, *runs: Run) -> None:
        for run in runs:
            if id(run) not in self._runs:
                self._runs[id(run)] = run
        while len(self._runs) > self.limit:
            self._runs.popitem(last=False)
            self.dropped += 1

    def clear(self) -> None:
        self._runs.clear()
        self.dropped = 0


HISTORY = History()


def cancelled(result: Result) -> Cancelled:
    """The exception an interrupt becomes: every run settled and kept, the partial result on it."""
    for run in result.run_list:
        run.cancel()
    HISTORY.keep(*result.run_list)
    return Cancelled("cancelled: partial result in exc.result and kral_nb.history()", result=result)


def history(*, clear: bool = False) -> Result:
    """Every finished run of this Python session (kernel), in order — the newest 10,000
    (``KRAL_NB_HISTORY``). ``clear=True`` returns them and forgets them (their memory is
    freed once nothing else holds them)."""
    result = Result(HISTORY.runs)
    if clear:
        HISTORY.clear()
    return result
