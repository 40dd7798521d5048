"""Public API over loopback: run, stream, astream, compare, start, history, cancellation,
provider syntax and the clear errors raised before any request."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time

import pytest

import kral_nb
from kral_nb import sweeps
from kral_nb.providers import split_model
from kral_nb.record.runrow import row as run_row
from kral_nb.sweeps import order_jobs


@pytest.fixture(autouse=True)
def _sim(sim_root: str) -> None:
    return None


def test_run_returns_text_and_frames() -> None:
    r = kral_nb.run("hello", model="sim:fast+n=7")
    assert r.status == "ok" and len(r.text.split()) == 7
    assert list(r.runs["run_id"]) == list(r.chunks["run_id"].unique())
    html = r._repr_html_()
    assert "kral_nb result · 1 run of 1 model: 1 ok" in html and "<b>sim:fast+n=7 (simulated)</b>" in html
    assert "TTFT" in html and r.text in html  # the answer above its metrics


def test_stream_yields_records_live_then_result() -> None:
    s = kral_nb.stream("hello", model="sim:steady+n=5")
    seen = []
    t_first = None
    for rec in s:
        if rec.kind == "text" and t_first is None:
            t_first = time.perf_counter()
            assert s.result.run_list[0].status == "streaming"  # live, not after the fact
        seen.append(rec)
    assert "".join(r.text for r in seen if r.kind == "text") == s.result.text
    assert [r.seq for r in seen] == list(range(len(seen)))
    assert all(b.t_s >= a.t_s for a, b in itertools.pairwise(seen))


def test_astream_on_the_callers_loop() -> None:
    async def main() -> str:
        parts = []
        async for rec in kral_nb.astream("hi", model="sim:fast+n=4@anthropic"):
            if rec.kind == "text":
                parts.append(rec.text)
        return "".join(parts)

    assert len(asyncio.run(main()).split()) == 4


def test_sync_run_works_inside_a_running_event_loop() -> None:
    async def inside() -> str:  # like a Jupyter cell: a loop is already running here
        return kral_nb.run("hi", model="sim:fast+n=3").text

    assert len(asyncio.run(inside()).split()) == 3


def test_compare_runs_models_concurrently_side_by_side() -> None:
    t = time.perf_counter()
    c = kral_nb.compare("hi", models=["sim:steady+n=30", "sim:steady+n=30@gemini", "sim:steady+n=30@anthropic"])
    wall = time.perf_counter() - t
    runs = c.runs
    assert list(runs["protocol"]) == ["openai", "gemini", "anthropic"] and (runs["status"] == "ok").all()
    assert wall < runs["e2e_s"].sum()  # overlapped, not one after another


def test_compare_repeat_warmup_and_failures_are_data() -> None:
    c = kral_nb.compare(["a b", "c d e"], models=["sim:instant+n=2", "sim:fast+status=500"],
                        repeat=2, warmup=1, retries=0)
    runs = c.runs
    assert len(runs) == 2 * 2 * 3
    assert runs["warmup"].sum() == 4 and set(runs["prompt_id"]) == {0, 1}
    assert set(runs.loc[runs["model"] == "fast+status=500", "status"]) == {"http_error"}
    s = c.summary()
    assert list(s["runs"]) == [4, 4] and list(s["ok"]) == [4, 0]


def test_order_interleaved_random_blocked() -> None:
    models = ["a", "b"]
    n = len(models)
    assert order_jobs(1, n, 0, 2, "interleaved", 0) == [(0, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1)]
    assert order_jobs(1, n, 0, 2, "blocked", 0) == [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1)]
    r1, r2 = order_jobs(1, n, 0, 5, "random", 1), order_jobs(1, n, 0, 5, "random", 1)
    assert r1 == r2 and sorted(r1) == sorted(order_jobs(1, n, 0, 5, "interleaved", 0))
    assert r1 != order_jobs(1, n, 0, 5, "interleaved", 0)


@pytest.mark.parametrize("order", ["interleaved", "random", "blocked"])
def test_warmups_run_before_the_measured_runs_of_their_model(order: str) -> None:
    for seed in range(20):
        items = order_jobs(2, 3, 2, 4, order, seed)
        assert sorted(items) == sorted((p, m, r) for p in range(2) for m in range(3) for r in range(6))
        for m in range(3):
            trials = [r for _, mi, r in items if mi == m]
            assert all(r < 2 for r in trials[:4]) and all(r >= 2 for r in trials[4:]), (order, seed, trials)


def test_history_accumulates_and_results_add() -> None:
    before = len(kral_nb.history())
    a = kral_nb.run("x", model="sim:instant+n=1")
    b = kral_nb.run("y", model="sim:instant+n=2")
    assert len(kral_nb.history()) == before + 2
    both = a + b
    assert len(both.runs) == 2 and both.runs["run_id"].is_unique


def test_keyboard_interrupt_cancels_and_keeps_partial_records() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals need the main thread")
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t = time.perf_counter()
    with pytest.raises(kral_nb.Cancelled) as info:
        kral_nb.compare("hi", models=["sim:slow+n=100", "sim:slow+n=100@anthropic"])
    assert time.perf_counter() - t < 3  # the streams were cancelled, not waited out
    runs = info.value.result.runs
    assert (runs["status"] == "cancelled").all()
    assert (runs["n_content_chunks"] >= 1).all() and runs["text"].str.len().min() > 0
    assert isinstance(info.value, KeyboardInterrupt)


def test_cancelled_single_run() -> None:
    timer = threading.Timer(0.6, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(kral_nb.Cancelled) as info:
        kral_nb.run("hi", model="sim:slow+n=100")
    run = info.value.result
    assert run.status == "cancelled" and run.text and len(run.chunks) >= 2


@pytest.mark.parametrize(("model", "provider", "expected"), [
    ("sim:fast", None, ("sim", "fast")),
    ("ollama:llama3:8b", None, ("ollama", "llama3:8b")),
    ("kral:llama3:8b", None, ("kral", "llama3:8b")),
    ("llama3:8b", "kral", ("kral", "llama3:8b")),
    ("openai/gpt-4o", "openrouter", ("openrouter", "openai/gpt-4o")),
    ("gpt-4o", None, ("kral", "gpt-4o")),
])
def test_provider_model_syntax(model: str, provider: str | None, expected: tuple[str, str]) -> None:
    assert split_model(model, provider) == expected


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prompt": "", "model": "sim:fast"}, "prompt is empty"),
    ({"prompt": "x", "model": "nope:x", "provider": "nope"}, "unknown provider"),
    ({"prompt": "x", "model": "sim:warp"}, "unknown sim profile"),
    ({"prompt": "x", "model": "sim:fast", "protocol": "grpc"}, "protocol must be one of openai, anthropic, gemini"),
    ({"prompt": "x", "model": "sim:fast", "base_url": "ftp://h/v1"}, "http(s) URL"),
    ({"prompt": "x", "model": "sim:fast", "temperature": 9}, "temperature"),
    ({"prompt": "x", "model": "sim:fast", "max_tokens": 0}, "max_tokens"),
    ({"prompt": "x", "model": "sim:fast", "timeout": -1}, "timeout"),
    ({"prompt": "x", "model": "sim:fast", "tools": [{"name": "f"}]}, "each tool must look like"),
    ({"prompt": "x", "model": "sim:fast", "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "string"}}}]}, "JSON schema object"),
    ({"prompt": "x", "model": "sim:fast", "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {"city": {"type": "strnig"}}}}}]},
     "not a valid JSON schema at properties/city/type"),
    ({"prompt": "x", "model": "sim:"}, "no model after the colon"),
    # careless callers: each names the argument
    ({"prompt": "x", "model": "nope:x"}, "unknown provider 'nope'"),
    ({"prompt": "x", "model": "sim:fast", "temprature": 0.3}, "did you mean 'temperature'"),
    ({"prompt": "x", "model": "sim:fast", "top_p": 0.3}, "extra_body"),
    ({"prompt": "x", "model": "sim:fast", "temperature": "hot"}, "temperature must be a number"),
    ({"prompt": "x", "model": "sim:fast", "temperature": True}, "temperature must be a number"),
    ({"prompt": "x", "model": "sim:fast", "max_tokens": True}, "max_tokens"),
    ({"prompt": "x", "model": "sim:fast", "max_tokens": 5.0}, "max_tokens"),
    ({"prompt": "x", "model": "sim:fast", "retries": "3"}, "retries"),
    ({"prompt": "x", "model": "sim:fast", "retries": True}, "retries"),
    ({"prompt": "x", "model": "sim:fast", "retries": 1000}, "retries must be an integer from 0 to 10"),
    ({"prompt": "x", "model": "sim:fast", "timeout": float("nan")}, "timeout"),
    ({"prompt": "x", "model": "sim:fast", "timeout": float("inf")}, "timeout"),
    ({"prompt": "x", "model": "sim:fast", "timeout": True}, "timeout"),
    ({"prompt": "x", "model": "sim:fast", "timeout": kral_nb.Timeouts}, "timeout"),
    ({"prompt": "x", "model": "sim:fast", "base_url": 8080}, "base_url must be a string"),
    ({"prompt": "x", "model": "sim:fast", "base_url": "http://localhost:99999/v1"}, "invalid port"),
    ({"prompt": "x", "model": "sim:fast", "base_url": "http://localhost:abc/v1"}, "invalid port"),
    ({"prompt": "x", "model": "sim:fast", "extra_body": [1]}, "extra_body must be a dict"),
    ({"prompt": "x", "model": "sim:fast", "gemini_body": "array"}, "gemini protocol only"),
    ({"prompt": "x", "model": "sim:fast@gemini", "gemini_body": "ndjson"}, "gemini_body must be"),
    ({"prompt": "x", "model": "sim:fast", "api_key": "sk-abc\r\nX-Injected: 1"}, "control character"),
    ({"prompt": "x", "model": "sim:fast", "api_key": "sk-clé"}, "non-ASCII"),
])
def test_bad_input_fails_before_any_request(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(kral_nb.ConfigError, match=None) as info:
        kral_nb.run(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_timeouts_object_is_validated() -> None:
    for bad in (-1, 0, float("nan"), float("inf"), "5", True):
        with pytest.raises(kral_nb.ConfigError, match="idle_s"):
            kral_nb.Timeouts(idle_s=bad)  # type: ignore[arg-type]
    with pytest.raises(kral_nb.ConfigError, match="retries must be"):
        kral_nb.RetryPolicy(max_retries=11)


def test_a_bad_key_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRET-1234\n")
    with pytest.raises(kral_nb.ConfigError) as info:
        kral_nb.run("x", model="openai:gpt-4o")
    assert "$OPENAI_API_KEY" in str(info.value) and "SECRET" not in str(info.value)
    with pytest.raises(kral_nb.ConfigError) as info:
        kral_nb.set_key("openai", "sk-SECRET-1234\x00")
    assert "SECRET" not in str(info.value)


def test_extra_body_reaches_the_request(sim_root: str) -> None:
    import httpx

    r = kral_nb.run("x", model="sim:fast+n=2+seed=extra", extra_body={"top_p": 0.5}, check=False)
    assert r.status == "ok"
    job = sweeps.sweep("x", ["sim:fast"], extra_body={"top_p": 0.5}).jobs[0]
    assert job.spec.json["top_p"] == 0.5 and "temprature" not in job.spec.json
    assert httpx.get(sim_root + "/_sim/health").status_code == 200


def test_repeat_beyond_the_bound_fails_before_planning() -> None:
    t0 = time.perf_counter()
    with pytest.raises(kral_nb.ConfigError, match="repeat"):
        kral_nb.compare("x", ["sim:fast"], repeat=10**9)
    with pytest.raises(kral_nb.ConfigError, match="runs"):
        kral_nb.compare(["x"] * 1000, ["sim:fast"] * 100, repeat=10)
    assert time.perf_counter() - t0 < 1  # nothing was planned


def test_missing_key_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRAL_API_KEY", raising=False)
    with pytest.raises(kral_nb.MissingKeyError, match="KRAL_API_KEY"):
        kral_nb.run("x", model="gpt-4o")


def test_start_runs_in_background_and_can_be_stopped() -> None:
    sw = kral_nb.start("hi", ["sim:slow+n=200", "sim:slow+n=200@gemini"])
    result = sw.result
    deadline = time.time() + 5
    while time.time() < deadline and not all(r.text for r in result.run_list):
        time.sleep(0.05)
    sw.cancel()
    assert [r.status for r in result.run_list] == ["cancelled", "cancelled"]
    assert all(r.text for r in result.run_list)


def test_interrupt_closes_the_connections(sim_root: str) -> None:
    import httpx

    timer = threading.Timer(0.6, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(kral_nb.Cancelled):
        kral_nb.compare("hi", models=["sim:slow+n=300+seed=close1", "sim:slow+n=300+seed=close2@gemini"])
    deadline = time.time() + 3
    while time.time() < deadline:  # the server sees both clients hang up, long before the streams' end
        log = {e["model"]: e for e in httpx.get(sim_root + "/_sim/log").json()}
        entries = [log.get("slow+n=300+seed=close1"), log.get("slow+n=300+seed=close2")]
        if all(e and e.get("closed_early") for e in entries):
            break
        time.sleep(0.1)
    assert all(e and e.get("closed_early") is True for e in entries), entries


def test_progress_bar_for_long_sweeps(capsys: pytest.CaptureFixture[str]) -> None:
    kral_nb.compare("hi", ["sim:instant+n=2", "sim:instant+n=3"], repeat=3)
    err = capsys.readouterr().err
    assert "kral_nb runs" in err and "6/6" in err


def test_connect_time_on_a_new_connection_and_zero_on_reuse() -> None:
    with kral_nb.sim.serve() as root:  # a server this client has never connected to
        first = kral_nb.run("a", model="sim:instant+n=2", base_url=root + "/v1").runs.iloc[0]
        second = kral_nb.run("b", model="sim:instant+n=2", base_url=root + "/v1").runs.iloc[0]
    assert first["connect_s"] > 0 and second["connect_s"] == 0
    assert first["ttfb_s"] > 0 and first["http_version"] == "HTTP/1.1" and first["http_status"] == 200


def test_gc_is_paused_while_streams_are_open_and_resumes_after() -> None:
    import gc

    seen = []
    s = kral_nb.stream("hi", model="sim:steady+n=8")
    for rec in s:
        if rec.kind == "text":
            seen.append(gc.isenabled())  # mid-stream: the next chunk is still 10 ms away
    assert len(seen) == 8 and not any(seen[:5])  # paused during the stream
    deadline = time.time() + 2
    while not gc.isenabled() and time.time() < deadline:
        time.sleep(0.01)
    assert gc.isenabled()
    gc.disable()  # a user who turned it off keeps it off
    try:
        kral_nb.run("hi", model="sim:instant+n=2")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_blocked_caller_loop_does_not_skew_astream_stamps() -> None:
    """astream's stream runs on the engine loop: a consumer that stalls its own loop for
    150 ms delays its reading, never the arrival stamps (10 ms gaps stay 10 ms gaps)."""
    async def consume(block_s: float) -> None:
        async for rec in kral_nb.astream("x", model="sim:steady+n=12"):
            if rec.kind == "text" and block_s:
                time.sleep(block_s)  # noqa: ASYNC251 -- the point: a stalled event loop
                block_s = 0

    async def both() -> None:
        await asyncio.gather(consume(0.15), consume(0))

    before = len(kral_nb.history())
    asyncio.run(both())
    runs = kral_nb.history().run_list[before:]
    assert len(runs) == 2 and all(r.status == "ok" for r in runs)
    rows = [run_row(r) for r in runs]
    assert all(row["itl_max_s"] < 0.1 for row in rows), [row["itl_max_s"] for row in rows]
    assert all(r.loop_lag_max_s < 0.1 for r in runs), [r.loop_lag_max_s for r in runs]


def test_astream_reuses_the_pooled_connection_of_run(sim_root: str) -> None:
    """No connect cost per call: astream after run rides the same keep-alive connection."""
    kral_nb.run("warm", model="sim:instant+n=1")

    async def one() -> list[kral_nb.Record]:
        return [r async for r in kral_nb.astream("x", model="sim:instant+n=2")]

    asyncio.run(one())
    asyncio.run(one())  # a second caller loop: still the engine's pool
    connects = [r.connect_ns for r in kral_nb.history().run_list[-2:]]
    assert connects == [0, 0], connects


@pytest.mark.parametrize("close", [True, False])
def test_leaving_astream_early_cancels_the_stream(close: bool) -> None:
    """Closed generator: cancelled at once. Abandoned one: once the caller's loop is gone."""
    import contextlib

    async def first_text() -> str:
        agen = kral_nb.astream("x", model="sim:steady+n=300")
        async with contextlib.aclosing(agen) if close else contextlib.nullcontext(agen) as records:
            async for rec in records:
                if rec.kind == "text":
                    return rec.text
        return ""

    before = len(kral_nb.history())
    t = time.perf_counter()
    assert asyncio.run(first_text())
    deadline = time.time() + 10
    while len(kral_nb.history()) == before and time.time() < deadline:
        time.sleep(0.02)
    run = kral_nb.history().run_list[-1]
    assert run.status == "cancelled" and run.text and len(run.text.split()) < 300
    assert time.perf_counter() - t < 2.5  # 300 chunks at 10 ms would take 3 s


def test_gemini_array_body_is_chosen_through_run_and_compare(sim_root: str) -> None:
    import httpx

    r = kral_nb.run("hi", model="sim:fast+n=6+seed=arr@gemini", gemini_body="array")
    assert r.status == "ok" and len(r.text.split()) == 6 and r.runs["tokens_source"].iloc[0] == "usage"
    c = kral_nb.compare("hi", [{"model": "sim:fast+n=4+seed=arr2@gemini", "gemini_body": "array"},
                               "sim:fast+n=4+seed=arr3@gemini"])
    assert list(c.runs["status"]) == ["ok", "ok"]
    log = {e["model"]: e for e in httpx.get(sim_root + "/_sim/log").json()}
    assert log["fast+n=6+seed=arr"]["protocol"] == "gemini"
    job = sweeps.sweep("hi", ["sim:fast@gemini"], gemini_body="array").jobs[0]
    assert "alt=sse" not in job.spec.url
    assert "alt=sse" in sweeps.sweep("hi", ["sim:fast@gemini"]).jobs[0].spec.url


@pytest.mark.parametrize(("model", "kw", "cls", "kind"), [
    ("sim:fast+n=5+malformed=2", {}, kral_nb.ProtocolError, "protocol"),
    ("sim:fast+n=5+error=2", {}, kral_nb.StreamError, "stream"),
    ("sim:fast+n=9+cut=3", {}, kral_nb.StreamError, "cut_off"),
    ("sim:fast+status=404", {}, kral_nb.HTTPStatusError, "http"),
    ("sim:fast+n=10+stall=2+stall_after=3", {"timeout": kral_nb.Timeouts(idle_s=0.3, total_s=10)},
     kral_nb.KralTimeoutError, "timeout"),
    ("llamacpp:m", {"base_url": "http://127.0.0.1:9/v1"}, kral_nb.ConnectError, "connect"),
])
def test_each_error_kind_raises_its_class(model: str, kw: dict[str, object], cls: type, kind: str) -> None:
    with pytest.raises(kral_nb.KralError) as info:
        kral_nb.run("x", model=model, retries=0, **kw)  # type: ignore[arg-type]
    assert type(info.value) is cls
    run = info.value.result.run_list[0]
    assert run.error_kind == kind and run.status == {"http": "http_error", "cut_off": "cut_off"}.get(kind, "error")


def test_a_servers_words_never_choose_the_exception() -> None:
    from kral_nb.record.replay import replay

    run = replay("openai", [(1, b'data: {"error": {"message": "malformed JSON in stream event: no"}}\n\n')])
    assert run.status == "error" and run.error_kind == "stream"  # the server's text, not kral_nb's finding


def test_task_future_honours_the_concurrent_futures_contract() -> None:
    import concurrent.futures

    from kral_nb.net import loop

    async def slow(client: object) -> int:
        await asyncio.sleep(30)
        return 1

    async def quick(client: object) -> int:
        return 7

    fut = loop.engine().submit(slow)
    time.sleep(0.05)
    t0 = time.perf_counter()
    assert fut.cancel() is True and time.perf_counter() - t0 < 0.5  # returns at once
    assert fut.cancelled() and fut.done()
    with pytest.raises(concurrent.futures.CancelledError):
        fut.result(timeout=1)
    done = loop.engine().submit(quick)
    assert done.result(timeout=5) == 7
    assert done.cancel() is False and not done.cancelled()  # a finished call cannot be cancelled


def test_history_keeps_each_run_once() -> None:
    before = len(kral_nb.history())
    sw = kral_nb.start("hi", ["sim:slow+n=200"])
    time.sleep(0.3)
    sw.cancel()
    sw.cancel()
    assert len(kral_nb.history()) == before + 1 and "1 cancelled" in repr(sw)


def test_interpreter_exit_is_clean(sim_root: str) -> None:
    import subprocess
    import sys

    code = "import kral_nb; kral_nb.run('hi', model='sim:fast+n=3'); kral_nb.compare('hi', ['sim:fast+n=2'] * 3)"
    out = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "KRAL_SIM_URL": sim_root})
    assert out.returncode == 0 and "Task was destroyed" not in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_every_option_shows_in_the_signatures_and_help() -> None:
    import dataclasses
    import inspect

    from kral_nb.options import Options

    names = [f.name for f in dataclasses.fields(Options)]
    for fn in (kral_nb.run, kral_nb.stream, kral_nb.astream, kral_nb.compare, kral_nb.start):
        params = inspect.signature(fn).parameters
        assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in names), fn
        assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()), fn
    assert all(f"{n}:" in (kral_nb.run.__doc__ or "") for n in names)
    from kral_nb.views.magic import KralMagics

    assert "sampling temperature, 0 to 2" in (KralMagics.kral.__doc__ or "")
