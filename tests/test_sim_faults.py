"""Every fault the sim injects, per protocol, over real loopback HTTP: status, message, and
every chunk that arrived is in the frame. Timing is asserted as inequalities only."""

from __future__ import annotations

from typing import Any

import pytest

import kral_nb
from kral_nb import Timeouts
from kral_nb.protocols import PROTOCOLS


def go(model: str, protocol: str, **kw: Any) -> kral_nb.Result:
    kw.setdefault("retries", 0)
    return kral_nb.run("measure this stream please", model=f"sim:{model}@{protocol}", check=False, **kw)


def content(result: kral_nb.Result) -> Any:
    ch = result.chunks
    return ch[ch["kind"].isin(["text", "reasoning", "tool_call"])]


@pytest.fixture(autouse=True)
def _sim(sim_root: str) -> None:
    return None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ok_stream_has_text_usage_and_timings(protocol: str) -> None:
    r = go("fast+n=12", protocol)
    row = r.runs.iloc[0]
    assert r.status == "ok" and row["protocol"] == protocol
    assert len(r.text.split()) == 12 and row["tokens_source"] == "usage"
    assert row["output_tokens"] == 12 and row["input_tokens"] >= 1
    assert 0 <= row["ttfb_s"] <= row["t_first_event_s"] <= row["ttft_s"] <= row["e2e_s"]
    assert row["n_content_chunks"] == 12 == len(content(r))
    assert r.chunks["n_bytes"].sum() == row["n_bytes"] > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ttft_at_least_the_injected_delay(protocol: str) -> None:
    r = go("steady+ttft=0.25+n=3", protocol)
    assert r.runs["ttft_s"].iloc[0] >= 0.25
    r = go("fast+headers_delay=0.3+n=3", protocol)
    assert r.runs["ttfb_s"].iloc[0] >= 0.3 and r.runs["ttft_s"].iloc[0] >= 0.3


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 503])
def test_http_errors_report_provider_message(protocol: str, status: int) -> None:
    r = go(f"fast+status={status}", protocol, api_key="sk-test-SECRET-abcdef")
    row = r.runs.iloc[0]
    assert r.status == "http_error" and row["http_status"] == status
    assert f"HTTP {status}" in row["error"] and "sk-test-SECRET-abcdef" not in row["error"]
    assert ("invalid API key" if status == 401 else "simulated HTTP") in row["error"]
    with pytest.raises(kral_nb.HTTPStatusError) as info:
        kral_nb.run("x", model=f"sim:fast+status={status}@{protocol}", retries=0)
    assert info.value.status == status and info.value.result.status == "http_error"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retry_honours_retry_after_then_succeeds(protocol: str) -> None:
    r = go(f"fast+n=3+status=429+fail_first=1+retry_after=0.2+seed={protocol}", protocol, retries=2)
    row = r.runs.iloc[0]
    assert r.status == "ok" and row["attempts"] == 2 and row["retry_wait_s"] >= 0.2
    assert row["ttft_s"] < 0.2  # measured from the attempt that succeeded


def test_no_retry_on_non_retryable_status() -> None:
    r = go("fast+status=400", "openai", retries=3)
    assert r.status == "http_error" and r.runs["attempts"].iloc[0] == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stall_beyond_idle_timeout_keeps_chunks(protocol: str) -> None:
    r = go("fast+n=10+stall=2+stall_after=3", protocol, timeout=Timeouts(idle_s=0.3, total_s=10))
    assert r.status == "error" and "idle-read timeout" in r.error
    assert len(content(r)) == 3 and r.text.strip()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_total_timeout_distinct_from_idle(protocol: str) -> None:
    r = go("slow+n=40", protocol, timeout=Timeouts(idle_s=5, total_s=0.6))
    assert r.status == "error" and "total timeout" in r.error and len(content(r)) >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_cut_off_keeps_every_chunk(protocol: str) -> None:
    r = go("fast+n=20+cut=5", protocol)
    assert r.status == "cut_off" and "without its terminator" in r.error
    assert len(content(r)) == 5 and len(r.text.split()) == 5
    with pytest.raises(kral_nb.StreamError) as info:
        kral_nb.run("x", model=f"sim:fast+n=20+cut=5@{protocol}")
    assert info.value.result.status == "cut_off"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_cut_in_the_middle_of_an_event(protocol: str) -> None:
    r = go("fast+n=20+cut_mid=4", protocol)
    assert r.status == "cut_off" and "middle of an event" in r.error and len(content(r)) == 4


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_mid_stream_error_event(protocol: str) -> None:
    r = go("fast+n=20+error=6", protocol)
    assert r.status == "error" and "Overloaded" in r.error and len(content(r)) == 6
    assert (r.chunks["kind"] == "error").sum() == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_malformed_json_is_an_error_record_and_the_stream_goes_on(protocol: str) -> None:
    r = go("fast+n=10+malformed=3", protocol)
    assert r.status == "error" and "malformed JSON" in r.error
    assert r.text.endswith(" after") and (r.chunks["kind"] == "error").sum() == 1


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_keepalives_make_idle_gaps_visible(protocol: str) -> None:
    r = go("fast+n=5+stall=0.4+keepalive=0.1", protocol)
    kinds = r.chunks["kind"]
    assert r.status == "ok" and (kinds == "keepalive").sum() >= 3
    assert r.runs["max_idle_s"].iloc[0] < 0.3  # keepalives broke the 0.4 s silence


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("option", ["crlf", "bom", "unicode"])
def test_wire_variants_give_the_same_records(protocol: str, option: str) -> None:
    plain = go("fast+n=8" + ("+unicode" if option == "unicode" else ""), protocol)
    variant = go(f"fast+n=8+{option}", protocol)
    assert variant.status == "ok" and variant.text == plain.text
    if option == "unicode":
        assert any(ord(ch) > 127 for ch in variant.text)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_one_megabyte_line(protocol: str) -> None:
    r = go("fast+n=6+bigline", protocol)
    assert r.status == "ok" and len(r.text) > 1 << 20


def test_buffering_proxy_is_flagged() -> None:
    r = go("steady+n=60+buffered", "openai")
    assert r.status == "ok" and bool(r.runs["buffered"].iloc[0])
    assert not bool(go("steady+n=60", "openai").runs["buffered"].iloc[0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tool_calls_stream_and_accumulate(protocol: str) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}]
    r = go("fast+tools=2", protocol, tools=tools)
    calls = r.tool_calls
    assert r.status == "ok" and len(calls) == 2
    assert all(c.name == "get_weather" and set(c.parsed_arguments()) == {"city", "days"} for c in calls)  # type: ignore[arg-type]
    if protocol != "gemini":  # Gemini sends whole calls, the others fragments
        assert (r.chunks["kind"] == "tool_call").sum() > 4


def test_reasoning_makes_ttft_and_ttfa_differ() -> None:
    r = go("reasoning+n=5", "openai")
    row = r.runs.iloc[0]
    assert row["ttfa_s"] > row["ttft_s"] and row["reasoning_tokens"] == 20


def test_server_rejecting_stream_options_gets_a_second_request_without_it() -> None:
    r = go("fast+n=6+reject_usage", "openai")
    row = r.runs.iloc[0]
    assert r.status == "ok" and row["attempts"] == 2 and row["retry_wait_s"] == 0
    assert row["tokens_source"] == "estimate" and row["output_tokens"] >= 1


def test_cut_off_message_names_the_proxy_idle_timeout() -> None:
    from kral_nb.record.recorder import Run, cut_off_message

    run = Run("r", "kral", "m", "openai")
    run.t0_ns = 0
    run.add(1_000_000, 1, [])
    run.add(2_000_000, 1, [])
    run.end_ns = 2_000_000 + 60_200_000_000  # the body ended 60.2 s after the last bytes
    msg = cut_off_message(run, mid_event=False)
    assert "longest idle gap 60.2 s" in msg and "proxy idle timeout (60 s)" in msg and "keepalives" in msg
    run.end_ns = 2_000_000 + 5_000_000_000
    assert "proxy" not in cut_off_message(run, mid_event=True)


@pytest.mark.parametrize(("model", "timeout", "cls"), [
    ("fast+n=10+malformed=3", None, kral_nb.ProtocolError),
    ("fast+n=10+error=3", None, kral_nb.StreamError),
    ("fast+n=10+stall=2+stall_after=2", Timeouts(idle_s=0.3), kral_nb.KralTimeoutError),
    ("fast+headers_delay=2", Timeouts(idle_s=0.3), kral_nb.KralTimeoutError),
])
def test_single_runs_raise_the_matching_error(model: str, timeout: Timeouts | None, cls: type) -> None:
    with pytest.raises(cls) as info:
        kral_nb.run("x", model=f"sim:{model}", timeout=timeout, retries=0)
    assert isinstance(info.value, kral_nb.KralError) and info.value.result.run_list[0].status == "error"
