"""kral_nb: watch and measure LLM streams from a notebook.

    import kral_nb
    r = kral_nb.run("Hello", model="sim:fast")      # keyless simulated gateway
    r.text, r.runs, r.chunks                         # the answer and two pandas frames
    kral_nb.compare("Hello", models=["sim:fast", "sim:slow"], repeat=5).summary()

Importing kral_nb loads only its error classes: every other public name loads its module on
first use (``run`` the request path, ``load`` the shards, ``ChatWidget`` the widgets), so a
script that only streams starts fast. ``%load_ext kral_nb`` loads the magic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    Cancelled,
    ConfigError,
    ConnectError,
    HTTPStatusError,
    KralError,
    KralTimeoutError,
    MissingKeyError,
    ProtocolError,
    StreamError,
)

__version__ = "0.2.0.dev0"

#: public name -> the module that defines it (imported on first use)
_LAZY = {
    "run": "api", "stream": "api", "astream": "api", "Stream": "api",
    "compare": "sweeps", "start": "sweeps", "Sweep": "sweeps",
    "Record": "protocols.records",
    "Timeouts": "options", "RetryPolicy": "options",
    "PRESETS": "providers", "set_key": "providers",
    "Result": "results.result", "read_parquet": "results.result", "read_csv": "results.result",
    "history": "results.history", "Store": "results.store", "store": "results.store",
    "load": "loadgen.run", "LoadResult": "loadgen.result", "RayCluster": "loadgen.raypool",
    "freeze_support": "loadgen.worker",
    "capacity": "loadgen.capacity", "CapacityResult": "loadgen.capresult",
    "compare_runs": "report.regress",
    "ChatWidget": "views.widgets",
}
_SUBPACKAGES = ("sim",)

__all__ = [
    "PRESETS",
    "Cancelled",
    "CapacityResult",
    "ChatWidget",
    "ConfigError",
    "ConnectError",
    "HTTPStatusError",
    "KralError",
    "KralTimeoutError",
    "LoadResult",
    "MissingKeyError",
    "ProtocolError",
    "RayCluster",
    "Record",
    "Result",
    "RetryPolicy",
    "Store",
    "Stream",
    "StreamError",
    "Sweep",
    "Timeouts",
    "__version__",
    "astream",
    "capacity",
    "compare",
    "compare_runs",
    "freeze_support",
    "history",
    "load",
    "load_ipython_extension",
    "read_csv",
    "read_parquet",
    "run",
    "set_key",
    "sim",
    "start",
    "store",
    "stream",
]

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from . import sim
    from .api import Stream, astream, run, stream
    from .loadgen.capacity import capacity
    from .loadgen.capresult import CapacityResult
    from .loadgen.raypool import RayCluster
    from .loadgen.result import LoadResult
    from .loadgen.run import load
    from .loadgen.worker import freeze_support
    from .options import RetryPolicy, Timeouts
    from .protocols.records import Record
    from .providers import PRESETS, set_key
    from .report.regress import compare_runs
    from .results.history import history
    from .results.result import Result, read_csv, read_parquet
    from .results.store import Store, store
    from .sweeps import Sweep, compare, start
    from .views.widgets import ChatWidget


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'kral_nb' has no attribute {name!r}")
    globals()[name] = value  # next time a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBPACKAGES})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kral_nb``: imports the magic module only now."""
    from .views.magic import load_ipython_extension as load

    load(ipython)
