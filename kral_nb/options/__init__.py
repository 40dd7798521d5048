"""Every option a user can give, spelled once: a request's (:class:`Options`: ``run``,
``stream``, ``compare``, ``load``), a comparison's (:class:`SweepOptions`) and a load sweep's
(:class:`LoadOptions`), a capacity search's (:class:`CapacityOptions`). Each field carries its one-line doc, its check and how a command
line spells it; from them come the keyword-only signatures and ``help()`` of the entry
points (:func:`with_options`), the validation (``from_kwargs``: a :class:`ConfigError`
naming the argument, before any request) and the arguments of the ``%%kral`` magic and the
``kral-nb`` CLI (``cli/args.py``). A new option is one field here: ``base.py`` holds the
machinery and the shared checks, ``request.py`` a request's options, ``runs.py`` a
comparison's and a load sweep's.
"""

from .base import OptionSet, int_in, is_int, is_number, number_in, unknown_message, with_options
from .request import GEMINI_BODIES, MAX_RETRIES, TOKENIZERS, Options, RetryPolicy, Timeouts
from .runs import (
    ARRIVALS,
    MAX_LEVEL_CONCURRENCY,
    ORDERS,
    SLO_METRICS,
    CapacityOptions,
    LoadOptions,
    SweepOptions,
)

__all__ = ["ARRIVALS", "GEMINI_BODIES", "MAX_LEVEL_CONCURRENCY", "MAX_RETRIES", "ORDERS", "SLO_METRICS", "TOKENIZERS",
           "CapacityOptions", "LoadOptions", "OptionSet", "Options", "RetryPolicy", "SweepOptions", "Timeouts", "int_in", "is_int",
           "is_number", "number_in", "unknown_message", "with_options"]
