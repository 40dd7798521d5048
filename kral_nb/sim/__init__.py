"""kral_nb's simulated gateway: a real HTTP server on loopback, labelled simulated everywhere.

    with kral_nb.sim.serve() as url:          # http://127.0.0.1:PORT
        kral_nb.run("hi", model="sim:fast", base_url=url + "/v1")

Models are latency profiles with options: ``fast``, ``slow``, ``steady``, ``bursty``,
``reasoning``, ``instant``, plus faults such as ``fast+cut=5`` (see ``script.FAULTS_HELP``).
"""

from __future__ import annotations

from .script import FAULTS_HELP, PROFILES, parse_model
from .server import ensure_running, load_traces, serve, start

__all__ = ["FAULTS_HELP", "PROFILES", "ensure_running", "load_traces", "parse_model", "serve", "start"]
