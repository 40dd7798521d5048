"""Server metrics on the load's timeline: a thread in the driving process (never on a shard's
loop) reads a Prometheus endpoint every ``period_s`` while the sweep runs, parses it with
``prometheus_client``'s text parser and keeps every sample as a row: ``t_s`` (seconds since
the sweep's first level started, the clock the runs are placed on), ``cell`` / ``level`` (the
level running then), ``source``, ``metric``, ``labels`` (JSON), ``value``.

``server_metrics=True`` (or ``"auto"``) scrapes ``/metrics`` at the root of each model's server (the sim,
vLLM, SGLang, llama.cpp with ``--metrics``, TGI); a URL (or a list) scrapes those. No key is
ever sent to a metrics endpoint. :data:`NAMES` maps each server's names to the concepts the
views draw (requests running and waiting, KV-cache use, tokens).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from typing import Any

import httpx

from ..clock import now_ns
from ..net.client import plain_client

PERIOD_S = 0.5
MAX_BODY = 1024 * 1024  # a metrics page larger than this is not read (vLLM's is ~100 KB)
SCRAPE_DEADLINE_S = 2.0  # a page not read whole in this long is abandoned (a server dripping bytes)
MAX_SAMPLES = 5_000  # per scrape: beyond it, only the concepts of NAMES are kept
MAX_ROWS = 500_000  # per sweep: beyond it, only the concepts of NAMES are kept (and a note says so)
MAX_FAILURES = 3  # in a row: the endpoint is rested for RETRY_AFTER periods (and a note says so)
RETRY_AFTER = 10

#: concept -> the names servers give it (first found wins): the documented name map
NAMES: dict[str, tuple[str, ...]] = {
    "running": ("vllm:num_requests_running", "sglang:num_running_reqs", "llamacpp:requests_processing",
                "tgi_batch_current_size"),
    "waiting": ("vllm:num_requests_waiting", "sglang:num_queue_reqs", "llamacpp:requests_deferred", "tgi_queue_size"),
    "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage",
                       "llamacpp:kv_cache_usage_ratio"),
    "prompt_tokens": ("vllm:prompt_tokens_total", "sglang:prompt_tokens_total", "llamacpp:prompt_tokens_total"),
    "generation_tokens": ("vllm:generation_tokens_total", "sglang:generation_tokens_total",
                          "llamacpp:tokens_predicted_total"),
}
COLUMNS = ("t_s", "cell", "level", "source", "metric", "labels", "value")


def endpoints(setting: bool | str | Sequence[str] | None, urls: Sequence[str]) -> list[str]:
    """The metrics URLs to scrape (``setting`` checked by the options: ``LoadOptions``):
    ``True`` / ``"auto"`` -> ``/metrics`` at the root of each model's base URL (credentials
    and query dropped)."""
    if not setting:
        return []
    if setting is True or setting == "auto":
        out = [str(httpx.URL(u).copy_with(path="/metrics", query=None, username=None, password=None)) for u in urls]
    elif isinstance(setting, str):
        out = [setting]
    else:
        out = list(setting)
    return list(dict.fromkeys(out))


def parse(text: str) -> list[tuple[str, str, float]]:
    """(metric, labels as JSON, value) of every sample in a Prometheus text page (a counter's
    ``_created`` timestamp left out: it says when the server started counting, not the load;
    a value that is not finite left out too)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created") or not math.isfinite(s.value):
                continue
            out.append((s.name, json.dumps(dict(sorted(s.labels.items()))), float(s.value)))
    return out


CONCEPTS = frozenset(name for names in NAMES.values() for name in names)


class Scraper:
    """Scrapes ``urls`` every ``period_s`` from :meth:`start` to :meth:`stop`; the level
    running is set with :meth:`level`. Failures become notes (:meth:`notes`, taken by the
    driving thread), never errors: a sweep is not stopped by its metrics."""

    def __init__(self, urls: list[str], *, period_s: float = PERIOD_S) -> None:
        self.urls, self.period_s = urls, period_s
        self.rows: list[tuple[int, str, str, str, float]] = []  # t_ns, source, metric, labels, value
        self.cell: int | None = None
        self.ends: dict[int, int] = {}  # cell -> when its level was over (its shards' last report)
        self.failures = dict.fromkeys(urls, 0)
        self.rest = dict.fromkeys(urls, 0)  # periods an endpoint still sits out
        self._notes: list[str] = []
        self._capped = False  # rows kept to the views' concepts (said once)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def level(self, cell: int | None) -> None:
        """The level ``cell`` is about to start (None: the one running is over)."""
        if cell is None and self.cell is not None:
            self.ends[self.cell] = now_ns()
        self.cell = cell

    def notes(self) -> list[str]:
        """What the user must hear since the last call (an endpoint failing, rows capped)."""
        with self._lock:
            out, self._notes = self._notes, []
        return out

    def start(self) -> None:
        if self.urls:
            self._thread = threading.Thread(target=self._run, name="kral_nb-scrape", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(SCRAPE_DEADLINE_S * len(self.urls) + 5)  # a scrape never outlives its deadline

    def _run(self) -> None:
        with plain_client(max(1.0, 2 * self.period_s)) as client:
            while True:
                self._round(client)
                if self._stop.wait(self.period_s):
                    self._round(client)  # one last look at the end: the state the sweep left
                    return

    def _round(self, client: httpx.Client) -> None:
        for url in self.urls:
            if self.rest[url]:
                self.rest[url] -= 1
            else:
                self._scrape(client, url)

    def _scrape(self, client: httpx.Client, url: str) -> None:
        t = now_ns()
        deadline = t + int(SCRAPE_DEADLINE_S * 1e9)
        try:
            with client.stream("GET", url) as r:
                r.raise_for_status()
                body = bytearray()
                for part in r.iter_bytes():
                    body += part
                    if len(body) > MAX_BODY:
                        raise ValueError(f"a page of more than {MAX_BODY:,} bytes")
                    if now_ns() > deadline:
                        raise TimeoutError(f"the page was not read whole in {SCRAPE_DEADLINE_S:g} s")
            samples = parse(body.decode("utf-8", "replace"))
        except Exception as exc:  # a metrics page is the server's, untrusted: any failure is a note
            self.failures[url] += 1
            if self.failures[url] >= MAX_FAILURES:
                self.failures[url], self.rest[url] = 0, RETRY_AFTER
                self._note(f"server metrics: {url} failed {MAX_FAILURES} times in a row ({_why(exc)}); "
                           f"trying again in {RETRY_AFTER * self.period_s:g} s")
            return
        self.failures[url] = 0
        with self._lock:
            full = len(self.rows) >= MAX_ROWS
            if len(samples) > MAX_SAMPLES or full:
                samples = [x for x in samples if x[0] in CONCEPTS][:MAX_SAMPLES]
                if not self._capped:
                    self._capped = True
                    why = f"{MAX_ROWS:,} samples kept" if full else f"a page of more than {MAX_SAMPLES:,} samples"
                    self._notes.append(f"server metrics: {why}; keeping only the metrics the views draw "
                                       "(running, waiting, KV-cache use, tokens)")
            self.rows.extend((t, url, m, labels, v) for m, labels, v in samples)

    def _note(self, message: str) -> None:
        with self._lock:
            self._notes.append(message)

    def frame(self, cells: list[dict[str, Any]]) -> Any:
        """The long frame: ``t_s`` from the first level's start; ``cell`` / ``level`` the level
        running when the sample was taken (from its start to its end; NA between levels)."""
        import pandas as pd

        with self._lock:
            rows = list(self.rows)
        starts = [c["start_ns"] for c in cells if c.get("start_ns") is not None]
        t0 = min(starts) if starts else (rows[0][0] if rows else 0)
        spans = [(c["start_ns"], self.ends.get(c["cell"], 2**63), c["cell"], c["level"]) for c in cells
                 if c.get("start_ns") is not None]

        def during(t: int) -> tuple[int | None, float]:
            return next(((cell, level) for a, b, cell, level in spans if a <= t <= b), (None, float("nan")))

        by_scrape = {t: during(t) for t in dict.fromkeys(r[0] for r in rows)}  # one lookup per scrape
        where = [by_scrape[r[0]] for r in rows]
        return pd.DataFrame({
            "t_s": [(r[0] - t0) / 1e9 for r in rows],
            "cell": pd.array([w[0] for w in where], dtype="Int64"),
            "level": [w[1] for w in where],
            "source": pd.Categorical([r[1] for r in rows]),
            "metric": pd.Categorical([r[2] for r in rows]),
            "labels": [r[3] for r in rows],
            "value": [r[4] for r in rows],
        }, columns=list(COLUMNS))


def _why(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}"[:200]


def series(frame: Any, concept: str) -> Any:
    """One concept's samples (``NAMES``: the first name found), one value per scrape and
    source (server): counts summed over their labels, a ratio (KV-cache use) their highest.
    Columns ``t_s``, ``source``, ``value``, ``metric``."""
    import pandas as pd

    for name in NAMES[concept]:
        rows = frame[frame["metric"].astype(str) == name]
        if len(rows):
            how = "max" if concept == "kv_cache_usage" else "sum"
            out = rows.groupby(["t_s", "source"], observed=True)["value"].agg(how).reset_index()
            out["metric"] = name
            return out
    return pd.DataFrame(columns=["t_s", "source", "value", "metric"])
