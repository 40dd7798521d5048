"""The keyless local provider: a real llama.cpp server with Gemma 3 270M, over loopback."""

from __future__ import annotations

import pytest

import kral_nb
from kral_nb import local

pytest.importorskip("llama_cpp", reason="the local extra is not installed: pip install 'kral-nb[local]'")


def test_local_model_streams_and_estimates_tokens() -> None:
    r = kral_nb.run("Say hello to the reader.", model="local:gemma3-270m", max_tokens=24)
    row = r.runs.iloc[0]
    assert r.status == "ok" and r.text.strip()
    assert row["tokens_source"] == "estimate"  # llama.cpp's server sends no usage in the stream
    assert 0 < row["ttft_s"] <= row["e2e_s"] and row["n_content_chunks"] >= 2
    url = local.ensure_running()
    again = kral_nb.run("Count to three.", model="local:gemma3-270m", max_tokens=12)
    assert again.status == "ok" and local.ensure_running() == url  # one server, reused


def test_any_gguf_path_or_a_clear_error() -> None:
    with pytest.raises(kral_nb.ConfigError, match="neither"):
        kral_nb.run("hi", model="local:/nonexistent/model.gguf")


def test_any_openai_compatible_server_through_the_openai_preset() -> None:
    url = local.ensure_running()  # llama.cpp's own OpenAI-compatible server, not the sim
    r = kral_nb.run("Say hi.", model="gemma", provider="openai", base_url=url + "/v1", api_key="x",
                    max_tokens=8)
    assert r.status == "ok" and r.runs["provider"].iloc[0] == "openai" and r.text
