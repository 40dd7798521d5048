"""The one clock kral_nb measures with, and the wall clock it labels with.

``now_ns`` is ``time.perf_counter_ns``: CLOCK_MONOTONIC on Linux, so stamps taken in
different processes on one host (the engine thread, load shards) share one time line.
``wall_ns`` (UTC, ``time.time_ns``) only labels (``started_at``) and meets across hosts
(Ray). Who may read them, and why, is pinned by ``tests/test_layering.py``.
"""

from __future__ import annotations

import time

now_ns = time.perf_counter_ns
wall_ns = time.time_ns
