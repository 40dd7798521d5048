"""Progress for long sweeps: tqdm's notebook-aware bar when installed, else one text line."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    def __init__(self, total: int, *, enabled: bool, desc: str = "kral_nb runs") -> None:
        self.total, self.n, self.failed = total, 0, 0
        self._bar: Any = None
        self.enabled = enabled
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="run", leave=True)
        except ImportError:
            self._bar = None

    def update(self, run: Any) -> None:
        self.n += 1
        self.failed += run.status != "ok"
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix(failed=self.failed, refresh=False)
            self._bar.update(1)
        else:
            sys.stderr.write(f"\rkral_nb: {self.n}/{self.total} runs, {self.failed} failed")
            sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            sys.stderr.write("\n")
