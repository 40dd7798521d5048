"""The session's history: every finished run, once each, in the order they finished — the
one place that keeps runs (``run``, ``stream``, ``astream``, sweeps, load, cancellations)."""

from __future__ import annotations

from ..errors import Cancelled
from ..record.recorder import Run
from .result import Result


class History:
    """Every finished run of the session, once each, in the order they finished."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self._ids: set[int] = set()

    def keep(self, *runs: Run) -> None:
        for run in runs:
            if id(run) not in self._ids:
                self._ids.add(id(run))
                self.runs.append(run)


HISTORY = History()


def cancelled(result: Result) -> Cancelled:
    """The exception an interrupt becomes: every run settled and kept, the partial result on it."""
    for run in result.run_list:
        run.cancel()
    HISTORY.keep(*result.run_list)
    return Cancelled("cancelled: partial result in exc.result and kral_nb.history()", result=result)


def history() -> Result:
    """Every finished run of this Python session (kernel), in order."""
    return Result(list(HISTORY.runs))
