"""Load sweeps over real loopback against the sim, with real shard processes: schedules,
queue delay, goodput, saturation, interrupts, and 1 vs N shards."""

from __future__ import annotations

import _thread
import os
import threading
import time

import numpy as np
import pandas as pd
import pytest

import kral_nb
from kral_nb.loadgen.arrivals import schedule
from kral_nb.loadgen.levels import meets_slo
from kral_nb.net import kernelstamp


def test_open_loop_schedules_follow_the_arrival_process() -> None:
    gaps = np.diff(schedule(50, duration_s=200, arrival="poisson", seed=7))
    # Kolmogorov-Smirnov against Exp(mean 1/50), at the 1 % level
    x = np.sort(gaps)
    cdf = 1 - np.exp(-50 * x)
    emp = np.arange(1, len(x) + 1) / len(x)
    d = max(np.max(emp - cdf), np.max(cdf - (emp - 1 / len(x))))
    assert d < 1.63 / np.sqrt(len(x)), d
    assert abs(len(gaps) / 200 - 50) < 3 * np.sqrt(50 / 200)  # the count matches the rate
    bursty = np.diff(schedule(20, duration_s=300, arrival="gamma", burstiness=0.25, seed=1))
    assert 1.8 < bursty.std() / bursty.mean() < 2.2  # gamma shape 0.25: CV = 2
    assert np.allclose(np.diff(schedule(4, requests=9, arrival="constant")), 0.25)
    assert (schedule(5, requests=20, seed=3) == schedule(5, requests=20, seed=3)).all()
    assert not (schedule(5, requests=20, seed=3) == schedule(5, requests=20, seed=4)).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"concurrency": [1], "rate": [1]}, "not both"),
    ({"concurrency": [0], "requests": 1}, "concurrency must be integers from 1 to 4096"),
    ({"rate": [-1], "requests": 1}, "rate must be positive numbers of requests per second"),
    ({"concurrency": [1]}, "duration_s"),
    ({"concurrency": [1], "requests": 1, "slo": {"ttfb": 1}}, "slo must be positive limits in seconds"),
    ({"rate": [1], "requests": 1, "arrival": "weibull"}, "arrival must be"),
    ({"rate": [1], "requests": 1, "arrival": "gamma", "burstiness": 0}, "burstiness must be"),
    ({"rate": [1], "requests": 1, "seed": "x"}, "seed must be"),
    ({"concurrency": [1], "requests": 1, "shards": 0}, "shards must be"),
    ({"concurrency": [1], "requests": 1, "temprature": 1}, "did you mean 'temperature'"),
])
def test_bad_load_arguments_raise_before_anything_starts(kwargs: dict, message: str) -> None:
    with pytest.raises(kral_nb.ConfigError, match=message):
        kral_nb.load("hi", ["sim:fast"], progress=False, **kwargs)


def _key(runs: pd.DataFrame) -> list[tuple]:
    return sorted(zip(runs["status"].astype(str), runs["text"], runs["output_tokens"], strict=True))


def test_closed_loop_one_and_two_shards_give_the_same_rows_and_goodput(
        sim_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One slot on the server, 3 in flight: later requests queue, so a 0.25 s TTFT SLO splits
    them; goodput = requests meeting every SLO / the level's duration. One shard on asyncio's
    loop, two on uvloop: the same rows."""
    model = "sim:steady+n=5+slots=1+seed=load1"
    slo = {"ttft_s": 0.25, "e2e_s": 2.0}
    results = []
    pytest.importorskip("uvloop", reason="the fast extra is not installed: pip install 'kral-nb[fast]'")
    for shards, loop in ((1, "asyncio"), (2, "uvloop")):
        monkeypatch.setenv("KRAL_NB_LOOP", loop)
        results.append(kral_nb.load("hi", [model], concurrency=[3], requests=9, shards=shards, slo=slo,
                                    progress=False))
        assert results[-1].levels["loop"].tolist() == [loop]
        # asyncio's loop reads through the socket kral_nb stamps with the kernel's receive time
        stamps = "kernel" if loop == "asyncio" and kernelstamp.kernel_gives_stamps() else "loop"
        assert results[-1].levels["stamps"].tolist() == [stamps]
        assert (results[-1].levels["read_delay_s_p99"] >= 0).all() == (stamps == "kernel")
    one, two = results
    assert len(one) == len(two) == 9 and _key(one.runs) == _key(two.runs)
    assert set(one.runs["shard"]) == {0} and set(two.runs["shard"]) == {0, 1}
    for r in results:
        runs, lv = r.runs, r.levels.iloc[0]
        assert (runs["status"].astype(str) == "ok").all() and list(runs["repeat"]) == list(range(9))
        assert lv["requests"] == 9 and lv["shards"] == (1 if r is one else 2) and lv["mode"] == "closed"
        good = meets_slo(runs, slo)
        assert 0 < good.sum() < 9  # the queue pushed some TTFTs past the SLO
        window = (runs["sent_s"] + runs["e2e_s"]).max()  # from the level's start (no warmup) to its last response
        assert lv["window_s"] == pytest.approx(window)
        assert lv["goodput_rps"] == pytest.approx(good.sum() / window)
        assert lv["slo_attainment"] == pytest.approx(good.mean())
        assert lv["in_flight_max"] >= 1 and (runs["in_flight_at_send"] <= 3).all()
        assert lv["cost_usd_total"] == 0 and lv["cost_per_goodput_request_usd"] == 0  # the sim is free
        assert r.chunks["run_id"].nunique() == 9 and set(r.chunks["run_id"]) == set(runs["run_id"])
    assert "LoadResult 9 run(s) over 1 level(s): sim:steady+n=5+slots=1+seed=load1 (simulated)" in repr(one)


def test_open_loop_queue_delay_grows_when_the_server_is_slower_than_the_schedule(sim_root: str) -> None:
    """40 requests/s scheduled, two in flight at most, 0.2 s each: the client falls behind
    its schedule and queue_delay_s shows it (no coordinated omission)."""
    r = kral_nb.load("hi", ["sim:steady+n=10+seed=load2"], rate=[40], arrival="constant", requests=16,
                     shards=2, max_in_flight=2, progress=False)
    runs = r.runs.sort_values("scheduled_s")
    assert np.allclose(runs["scheduled_s"], np.arange(16) / 40)
    delay = runs["queue_delay_s"].to_numpy()
    assert delay[-4:].mean() > delay[:4].mean() + 0.5 and delay[-1] > 0.8
    for _, mine in runs.groupby("shard"):  # each shard (one in flight) falls further behind
        d = mine["queue_delay_s"].to_numpy()
        assert len(d) == 8 and (np.diff(d) > 0).sum() >= 6, d
    lv = r.levels.iloc[0]
    assert lv["mode"] == "open" and lv["offered_rps"] == 40 and lv["achieved_rps"] < 15
    assert lv["queue_delay_s_p99"] > 0.8


@pytest.mark.slow
def test_a_blocked_shard_loop_is_flagged_and_an_interrupt_keeps_every_chunk(
        sim_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAL_NB_BLOCK_SHARD_MS", "30")  # the shard blocks its loop 30 ms every 50 ms
    timer = threading.Timer(6.0, _thread.interrupt_main)
    timer.start()
    t = time.perf_counter()
    try:
        with pytest.raises(kral_nb.Cancelled) as info:
            kral_nb.load("hi", ["sim:steady+n=1000+seed=load3"], concurrency=[2], duration_s=60, shards=1,
                         progress=False)
    finally:
        timer.cancel()
    assert time.perf_counter() - t < 25
    r = info.value.result
    assert isinstance(r, kral_nb.LoadResult) and len(r) >= 2
    assert set(r.runs["status"].astype(str)) == {"cancelled"}  # at most 6 s into 10-second streams
    assert (r.runs["output_tokens"] > 10).all()  # the chunks received before the interrupt
    assert len(r.chunks) == r.runs["n_chunks"].sum() > 20
    lv = r.levels.iloc[0]
    assert lv["client_saturated"] and lv["loop_lag_s_p99"] >= 0.02
    if lv["stamps"] == "kernel":  # the reads waited for the blocked loop: measured, and flagged
        assert lv["read_delay_s_p99"] >= 0.005
    assert "client saturated" in r._repr_html_() and "add shards or machines" in repr(r)


@pytest.mark.slow
def test_a_shard_killed_mid_level_leaves_error_rows_keeps_the_rest_and_is_replaced(sim_root: str) -> None:
    import signal

    import httpx

    from tests.test_load_views import _children

    model = "steady+n=10+itl=0.05+seed=load5"  # 0.6 s streams
    killed: list[int] = []

    def kill_shard_1_mid_level() -> None:  # once both shards have finished a few streams
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(e["model"] == model for e in httpx.get(sim_root + "/_sim/log").json()) >= 14:
                shards = sorted(_children("kral_nb.loadgen.worker"))  # spawned in order: shard 1 is the second
                os.kill(shards[1], signal.SIGKILL)
                killed.append(shards[1])
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_shard_1_mid_level, daemon=True)
    killer.start()
    r = kral_nb.load("hi", ["sim:" + model], concurrency=[4, 2], duration_s=5, shards=2, progress=False)
    killer.join()
    assert killed, "the test did not find shard 1 to kill"
    runs = r.runs
    first, second = runs[runs["level"] == 4], runs[runs["level"] == 2]
    lost = first[first["status"] == "error"]
    # the two it had in flight, and any that ended in the last 0.25 s before its next report
    assert 2 <= len(lost) <= 4 and set(lost["shard"]) == {1}
    assert lost["error"].str.contains("load shard 1 on host").all()
    assert lost["error"].str.contains("was killed by SIGKILL").all()
    assert ((first["shard"] == 1) & (first["status"] == "ok")).sum() >= 2  # what it reported before it died
    assert ((first["shard"] == 0) & (first["status"] == "ok")).sum() >= 10  # the other shard's work, whole
    assert set(second["status"].astype(str)) == {"ok"} and set(second["shard"]) == {0, 1}  # a fresh shard 1
    ok = runs[runs["status"] == "ok"]
    assert (ok["n_content_chunks"] == 10).all() and len(r.chunks) == runs["n_chunks"].sum()


def test_level_cost_counts_every_billed_request_per_goodput_request() -> None:
    from kral_nb.loadgen.levels import _level_cost

    m = pd.DataFrame({"cost_usd": [0.002, 0.001, 0.0005, np.nan]})  # a failed run is billed too
    assert _level_cost(m, 2) == pytest.approx({"cost_usd_total": 0.0035, "cost_per_goodput_request_usd": 0.00175})
    out = _level_cost(m, 0)
    assert out["cost_usd_total"] == pytest.approx(0.0035) and np.isnan(out["cost_per_goodput_request_usd"])
    unknown = _level_cost(pd.DataFrame({"cost_usd": [np.nan, np.nan]}), 2)  # no price: NaN, never 0
    assert np.isnan(unknown["cost_usd_total"]) and np.isnan(unknown["cost_per_goodput_request_usd"])
