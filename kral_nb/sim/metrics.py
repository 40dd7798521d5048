"""The sim's ``GET /metrics``: Prometheus text with vLLM's names, kept by ``prometheus_client``
in a registry of the app's own, so a load test can scrape the server beside the client.

What they mean here, per ``model_name`` (the sim model string, options included):

- ``vllm:num_requests_running``: streams holding a slot (``+slots=N``), or every stream
  being written when the model has no slots;
- ``vllm:num_requests_waiting``: streams queued for a slot (0 without ``+slots``);
- ``vllm:kv_cache_usage_perc``: running ÷ slots (0–1; 0 without ``+slots``);
- ``vllm:prompt_tokens_total`` / ``vllm:generation_tokens_total``: tokens by the sim's rule,
  prompt on arrival, generated as each piece is written;
- ``vllm:prefix_cache_queries_total`` / ``vllm:prefix_cache_hits_total``: prompt tokens
  looked up in / found in the prefix cache (``+cache``);
- ``vllm:request_success_total``: streams written to their end.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LABEL = "model_name"


class SimMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r, labels = self.registry, [LABEL]
        self.running = Gauge("vllm:num_requests_running", "Requests being written (holding a slot).", labels,
                             registry=r)
        self.waiting = Gauge("vllm:num_requests_waiting", "Requests queued for a slot.", labels, registry=r)
        self.kv_usage = Gauge("vllm:kv_cache_usage_perc", "Slots in use, 0-1 (the sim's KV-cache stand-in).",
                              labels, registry=r)
        self.prompt = Counter("vllm:prompt_tokens", "Prompt tokens received.", labels, registry=r)
        self.generation = Counter("vllm:generation_tokens", "Tokens generated.", labels, registry=r)
        self.cache_queries = Counter("vllm:prefix_cache_queries", "Prompt tokens looked up in the prefix cache.",
                                     labels, registry=r)
        self.cache_hits = Counter("vllm:prefix_cache_hits", "Prompt tokens found in the prefix cache.", labels,
                                  registry=r)
        self.success = Counter("vllm:request_success", "Requests written to their end.", labels, registry=r)
        self.slots: dict[str, int] = {}  # model -> its slots (+slots=N)
        self.n_running: dict[str, int] = {}
        self._generation: dict[str, Any] = {}  # model -> its generation_tokens child

    def arrived(self, model: str, prompt_tokens: int, cached: int | None) -> None:
        """A request came in: its prompt counted (and looked up, with a cache)."""
        self.prompt.labels(model).inc(prompt_tokens)
        if cached is not None:
            self.cache_queries.labels(model).inc(prompt_tokens)
            self.cache_hits.labels(model).inc(cached)

    def queued(self, model: str, slots: int) -> None:
        """Its stream waits for one of the model's ``slots``."""
        self.slots[model] = slots
        self.waiting.labels(model).inc()
        self._usage(model)

    def started(self, model: str) -> None:
        """A stream starts being written (it got its slot)."""
        if model in self.slots:
            self.waiting.labels(model).dec()
        self.running.labels(model).inc()
        self.n_running[model] = self.n_running.get(model, 0) + 1
        self._usage(model)

    def generated(self, model: str, n_tokens: int) -> None:
        """Tokens written (once per chunk: the labelled counter is looked up once per model)."""
        counter = self._generation.get(model)
        if counter is None:
            counter = self._generation[model] = self.generation.labels(model)
        counter.inc(n_tokens)

    def ended(self, model: str, *, started: bool, complete: bool) -> None:
        """A stream ended (written to its end, or the client left; perhaps while it waited)."""
        if started:
            self.running.labels(model).dec()
            self.n_running[model] -= 1
        elif model in self.slots:
            self.waiting.labels(model).dec()
        if complete:
            self.success.labels(model).inc()
        self._usage(model)

    def _usage(self, model: str) -> None:
        slots = self.slots.get(model)
        if slots:
            self.kv_usage.labels(model).set(self.n_running.get(model, 0) / slots)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics as Prometheus text, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
