"""kral_nb: watch and measure LLM streams from a notebook.

    import kral_nb
    r = kral_nb.run("Hello", model="sim:fast")      # keyless simulated gateway
    r.text, r.runs, r.chunks                         # the answer and two pandas frames
    kral_nb.compare("Hello", models=["sim:fast", "sim:slow"], repeat=5).summary()

Importing kral_nb does not import IPython or ipywidgets; ``%load_ext kral_nb`` loads the magic.
"""

from __future__ import annotations

from typing import Any

from .api import Record, Stream, astream, compare, history, run, start, stream
from .client import Timeouts
from .engine import RetryPolicy
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
from .loadresult import LoadResult
from .loadrun import load
from .providers import PRESETS, set_key
from .raypool import RayCluster
from .result import Result
from .store import Store, store

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "Cancelled",
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
    "Timeouts",
    "__version__",
    "astream",
    "compare",
    "compare_runs",
    "history",
    "load",
    "load_ipython_extension",
    "read_csv",
    "read_parquet",
    "run",
    "set_key",
    "start",
    "store",
    "stream",
]


def read_parquet(directory: str) -> Result:
    """Reload frames written by ``Result.to_parquet(directory)``."""
    from .export import read

    return Result.from_frames(*read(directory, "parquet"))


def read_csv(directory: str) -> Result:
    """Reload frames written by ``Result.to_csv(directory)``."""
    from .export import read

    return Result.from_frames(*read(directory, "csv"))


def __getattr__(name: str) -> Any:
    """``kral_nb.ChatWidget``, ``kral_nb.compare_runs`` (it needs pandas) and ``kral_nb.sim``
    are imported on first use only."""
    if name == "compare_runs":
        from .regress import compare_runs

        return compare_runs
    if name == "ChatWidget":
        from .widgets import ChatWidget

        return ChatWidget
    if name == "sim":
        import importlib

        return importlib.import_module(".sim", __name__)
    raise AttributeError(f"module 'kral_nb' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kral_nb``: imports the magic module only now."""
    from .magic import load_ipython_extension as load

    load(ipython)
