"""The keyless local provider: a real llama.cpp server with Gemma 3 270M, over loopback."""

from __future__ import annotations

import os

import pytest

import kral_nb
from kral_nb import sweeps
from kral_nb.servers import local

pytest.importorskip("llama_cpp", reason="the local extra is not installed: pip install 'kral-nb[local]'")


@pytest.fixture(scope="module")
def vocab() -> object:
    """The model's own tokenizer, in process (vocabulary only): the independent check."""
    import llama_cpp

    path, _ = local.model_path(local.DEFAULT_MODEL)
    return llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)


def n_tokens(vocab: object, text: str) -> int:
    return len(vocab.tokenize(text.encode(), add_bos=False, special=True))  # type: ignore[attr-defined]


def test_local_model_streams_with_exact_token_counts(vocab: object) -> None:
    r = kral_nb.run("Say hello to the reader.", model="local:gemma3-270m", max_tokens=24)
    row = r.runs.iloc[0]
    assert r.status == "ok" and r.text.strip()
    assert row["tokens_source"] == "tokenizer"  # llama.cpp's Python server sends no usage in the stream
    assert row["output_tokens"] == n_tokens(vocab, r.text)
    assert 0 < row["ttft_s"] <= row["e2e_s"] and row["n_content_chunks"] >= 2
    # tokens per chunk by the same tokenizer: they sum to the run's count, and per-token gaps exist
    content = r.chunks[r.chunks["kind"].astype(str) == "text"]
    assert set(content["n_tokens_source"].astype(str)) == {"tokenizer"}
    assert int(content["n_tokens"].sum()) == row["output_tokens"]
    assert 0 < row["itl_token_p50_s"] <= row["itl_token_p95_s"]
    url = local.ensure_running()
    again = kral_nb.run("Count to three.", model="local:gemma3-270m", max_tokens=12)
    assert again.status == "ok" and local.ensure_running() == url  # one server, reused


@pytest.mark.parametrize("max_tokens", [5, 40])
def test_max_tokens_caps_the_reported_count(vocab: object, max_tokens: int) -> None:
    r = kral_nb.run("Write a long story about a lighthouse keeper and the sea.", model="local:gemma3-270m",
                    max_tokens=max_tokens, temperature=0)
    row = r.runs.iloc[0]
    assert row["tokens_source"] == "tokenizer" and row["output_tokens"] == n_tokens(vocab, r.text)
    assert row["output_tokens"] <= max_tokens
    if row["finish_reason"] == "length":  # the model was cut: (nearly) every token it made is text
        assert row["output_tokens"] >= max_tokens - 2


def test_server_uses_every_core_by_default_and_says_so() -> None:
    url = local.ensure_running()
    proc = next(h.proc for h in local._servers.values() if h.root == url)
    with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[argv.index(b"--n_threads") + 1] == str(local.default_threads()).encode()
    assert local.default_threads() == len(os.sched_getaffinity(0))
    job = sweeps.sweep("hi", ["local:gemma3-270m"]).jobs[0]  # the pane says what it chose
    assert job.ready is not None and f"{local.default_threads()} threads" in job.ready.note


def test_threads_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAL_LOCAL_THREADS", "3")
    assert local.default_threads() == 3
    monkeypatch.setenv("KRAL_LOCAL_THREADS", "lots")
    with pytest.raises(kral_nb.ConfigError, match="KRAL_LOCAL_THREADS"):
        local.default_threads()


def test_any_gguf_path_or_a_clear_error() -> None:
    with pytest.raises(kral_nb.ConfigError, match="neither"):
        kral_nb.run("hi", model="local:/nonexistent/model.gguf")


def test_any_openai_compatible_server_through_the_openai_preset(vocab: object) -> None:
    url = local.ensure_running()  # llama.cpp's own OpenAI-compatible server, not the sim
    r = kral_nb.run("Say hi.", model="gemma", provider="openai", base_url=url + "/v1", api_key="x",
                    max_tokens=8)
    assert r.status == "ok" and r.runs["provider"].iloc[0] == "openai" and r.text
    assert r.runs["tokens_source"].iloc[0] == "estimate"  # nothing says this server can count
    counted = kral_nb.run("Say hi.", model="gemma", provider="openai", base_url=url + "/v1", api_key="x",
                          max_tokens=8, tokenizer="llama-cpp-python")
    row = counted.runs.iloc[0]
    assert row["tokens_source"] == "tokenizer" and row["output_tokens"] == n_tokens(vocab, counted.text)
