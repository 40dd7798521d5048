"""Column names and dtypes of the two frames (docs/metrics.md). The public data contract:
pinned by ``tests/test_schema.py`` and documented in ``docs/metrics.md``."""

from __future__ import annotations

CHUNK_DTYPES: dict[str, str] = {
    "run_id": "category",  # one code per row (the runs frame has one row per run: "string" there)
    "provider": "category",
    "model": "category",
    "protocol": "category",
    "seq": "int32",
    "kind": "category",
    "t_s": "float64",  # seconds since the request started (from integer ns)
    "dt_s": "float64",  # gap since the previous content-bearing chunk of the run
    "text": "string",
    "n_chars": "int32",
    "tool_index": "Int32",
    "tool_id": "category",
    "tool_name": "category",
    "tool_args": "string",
    "finish_reason": "category",
    "input_tokens": "Int32",  # counts and indices are at most 2**31 - 1 (protocols/shape.py)
    "output_tokens": "Int32",
    "reasoning_tokens": "Int32",
    "cached_tokens": "Int32",
    "n_bytes": "int64",  # raw bytes received since the previous record (sums to the body)
    "n_tokens": "Int32",  # tokens of a content chunk, where the stream or a tokenizer tells
    "n_tokens_source": "category",  # usage | tokenizer (metrics.chunk_tokens)
    "choice": "int32",  # OpenAI n > 1: the choice a chunk belongs to (0: the run's answer)
}
CHUNK_COLUMNS = tuple(CHUNK_DTYPES)

RUN_DTYPES: dict[str, str] = {
    "run_id": "string",
    "provider": "category",
    "model": "category",
    "protocol": "category",
    "started_at": "datetime64[ns, UTC]",
    "status": "category",  # ok | error | cut_off | cancelled | http_error
    "http_status": "Int64",
    "http_version": "string",
    "error": "string",
    "connect_s": "float64",
    "ttfb_s": "float64",
    "t_first_event_s": "float64",
    "ttft_s": "float64",
    "ttfa_s": "float64",
    "e2e_s": "float64",
    "n_chunks": "int64",
    "n_content_chunks": "int64",
    "input_tokens": "Int64",
    "output_tokens": "Int64",
    "reasoning_tokens": "Int64",
    "cached_tokens": "Int64",
    "tokens_source": "category",  # usage | tokenizer | estimate
    "output_tokens_per_s": "float64",
    "itl_mean_s": "float64",
    "itl_p50_s": "float64",
    "itl_p95_s": "float64",
    "itl_max_s": "float64",
    "tpot_s": "float64",
    "finish_reason": "string",
    "text": "string",
    "tool_calls": "string",  # JSON list of {index, id, name, arguments}
    "repeat": "int64",
    "prompt_id": "int64",
    # kral_nb additions after the design's columns
    "warmup": "bool",
    "buffered": "bool",  # content arrived in one burst at the end: a proxy held it back
    "max_idle_s": "float64",  # longest gap between any two arrivals (incl. keepalives)
    "attempts": "int64",
    "retry_wait_s": "float64",
    "loop_lag_max_s": "float64",  # event-loop lag measured during the run (timing uncertainty)
    "n_bytes": "int64",
    "server_metrics": "string",  # JSON: what the server reports itself (llama.cpp timings, cost)
    "server_tool_calls": "string",  # JSON list: tools the provider ran itself (web_search, ...)
    "streamed": "bool",  # False: a 2xx JSON completion instead of a stream (stream ignored)
    "itl_token_p50_s": "float64",  # per-token gaps: a chunk's gap spread over its tokens
    "itl_token_p95_s": "float64",
    "request_key": "string",  # hash of what was asked apart from the model (ChatRequest.key)
    "request": "category",  # that request as JSON (ChatRequest.describe): one copy per distinct request
    "terminator": "category",  # ok runs: done (the protocol's terminator) | none (a clean end after a finish)
    "n_choices": "int64",  # choices the stream carried (OpenAI n > 1); the answer is choice 0's
}
#: the runs frame's cost columns (kral_nb.cost), computed from the columns above
COST_DTYPES = {
    "input_cost_usd": "float64",
    "output_cost_usd": "float64",
    "cost_usd": "float64",
    "cost_status": "category",  # priced | estimated_tokens | unknown_model | free
    "price_source": "string",  # genai-prices <version>: <provider>/<model>, or the prices= override
}
RUN_COLUMNS = tuple(RUN_DTYPES) + tuple(COST_DTYPES)

STATUSES = ("ok", "error", "cut_off", "cancelled", "http_error")
