"""The frame schema is the public data contract (docs/metrics.md): pinned here."""

from __future__ import annotations

import re
from pathlib import Path

import kral_nb
from kral_nb.results.columns import CHUNK_COLUMNS, CHUNK_DTYPES, RUN_COLUMNS

DESIGN_CHUNKS = ["run_id", "provider", "model", "protocol", "seq", "kind", "t_s", "dt_s", "text", "n_chars", "tool_index", "tool_id", "tool_name", "tool_args", "finish_reason", "input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens", "n_bytes"]
EXTRA_CHUNKS = ["n_tokens", "n_tokens_source", "choice"]
DESIGN_RUNS = ["run_id", "provider", "model", "protocol", "started_at", "status", "http_status", "http_version", "error", "connect_s", "ttfb_s", "t_first_event_s", "ttft_s", "ttfa_s", "e2e_s", "n_chunks", "n_content_chunks", "input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens", "tokens_source", "output_tokens_per_s", "itl_mean_s", "itl_p50_s", "itl_p95_s", "itl_max_s", "tpot_s", "finish_reason", "text", "tool_calls", "repeat", "prompt_id"]
EXTRA_RUNS = ["warmup", "buffered", "max_idle_s", "attempts", "retry_wait_s", "loop_lag_max_s", "n_bytes",
              "server_metrics", "server_tool_calls", "streamed", "itl_token_p50_s", "itl_token_p95_s",
              "request_key", "request", "terminator", "n_choices",
              "input_cost_usd", "output_cost_usd", "cost_usd", "cost_status", "price_source"]


def test_columns_are_the_designs_in_order() -> None:
    assert list(CHUNK_COLUMNS) == DESIGN_CHUNKS + EXTRA_CHUNKS
    assert list(RUN_COLUMNS) == DESIGN_RUNS + EXTRA_RUNS


def test_frames_have_exact_columns_and_dtypes(sim_root: str) -> None:
    r = kral_nb.run("x", model="sim:fast+n=3")
    assert list(r.chunks.columns) == DESIGN_CHUNKS + EXTRA_CHUNKS and list(r.runs.columns) == DESIGN_RUNS + EXTRA_RUNS
    d = r.runs.dtypes
    assert str(d["started_at"]) == "datetime64[ns, UTC]" and str(d["http_status"]) == "Int64"
    assert str(d["status"]) == "category"
    # every chunk column in its documented dtype: the narrow ones keep 10^6 rows under 150 MB
    assert {c: str(t) for c, t in r.chunks.dtypes.items()} == CHUNK_DTYPES


def test_the_docs_document_every_column() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    for col in DESIGN_CHUNKS + EXTRA_CHUNKS + DESIGN_RUNS + EXTRA_RUNS:
        assert re.search(rf"`{col}`", doc), col


def test_public_api_is_pinned() -> None:
    assert sorted(kral_nb.__all__) == sorted([
        "PRESETS", "Cancelled", "ConfigError", "ConnectError", "HTTPStatusError", "KralError", "KralTimeoutError",
        "MissingKeyError", "ProtocolError", "Record", "Result", "RetryPolicy", "Stream",
        "StreamError", "Timeouts", "__version__", "astream", "compare", "compare_runs", "history", "read_parquet",
        "read_csv", "run", "set_key", "start", "stream", "load_ipython_extension", "ChatWidget",
        "load", "LoadResult", "RayCluster", "store", "Store", "Sweep", "sim", "freeze_support", "capacity",
        "CapacityResult",
    ])
    for name in kral_nb.__all__:
        assert hasattr(kral_nb, name), name
