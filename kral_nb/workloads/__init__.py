"""Workloads like production, each usable as ``kral_nb.load()``'s first argument:
:func:`synthetic` token lengths (with a shared prefix), a local :func:`dataset`, a request
:func:`trace` replayed at its recorded offsets, multi-turn :func:`sessions`. A prompt or a list
of prompts keeps working. How tokens are counted: ``workloads.base``."""

from __future__ import annotations

from .base import WORDS, Item, Prompts, Workload, as_workload
from .datasets import Dataset, dataset
from .sessions import Sessions, sessions
from .synthetic import Synthetic, synthetic
from .traces import Trace, trace, write_sample_trace

__all__ = ["WORDS", "Dataset", "Item", "Prompts", "Sessions", "Synthetic", "Trace", "Workload", "as_workload",
           "dataset", "sessions", "synthetic", "trace", "write_sample_trace"]
