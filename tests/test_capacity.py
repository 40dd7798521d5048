"""The operating point and the server beside the client, over loopback against the sim: a
capacity search that lands where queueing theory puts it, probes stopped early when plainly
over-saturated, the sim's Prometheus metrics agreeing with its slots, timeslices that cover
each level, and the GenAI client metrics through the OpenTelemetry SDK."""

from __future__ import annotations

import http.server
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import kral_nb
from kral_nb.clock import now_ns
from kral_nb.loadgen.capacity import ProbeGuard
from kral_nb.loadgen.run import sweep
from kral_nb.loadgen.scrape import NAMES, Scraper, parse
from kral_nb.options import LoadOptions, Options

SLOTS_MODEL = "sim:steady+n=30+slots=4"  # 4 slots, each stream 0.1 s + 29 x 0.01 s = 0.39 s
SERVICE_S = 0.39


@pytest.mark.slow
def test_the_capacity_search_lands_where_queueing_theory_puts_it(tmp_path: Path) -> None:
    """``sim:steady+n=30+slots=4`` is an M/D/4 queue under Poisson arrivals: 4 servers, a
    deterministic service of S = 0.39 s, so it is stable below c/S = 10.3 requests/s. A
    request meets ``ttft_s <= 0.5`` when it waits at most t = 0.5 - 0.1 = 0.4 s for a slot.

    Lower end: M/M/4 with the same mean service waits longer than M/D/4 (Cosmetatos: about
    twice as long), so its Erlang-C tail P(W > t) = C(4, λS) exp(-(4/S - λ) t) bounds the
    miss rate from above: it reaches 10 % at λ = 7.0 requests/s, so every rate up to 7.0
    holds the SLO for 90 % of requests in the steady state; with the bisection's 10 %
    precision the answer is at least 0.9 x 7.0 ≈ 6.3. Upper end: at or above c/S = 10.3 the
    queue grows without bound (an 80-request probe from an empty queue passes at 10.5/s in
    fewer than one run in five, simulated), so the answer is below 10.5. The M/D/4 steady
    state itself crosses 90 % at ~8.4 requests/s."""
    t0 = time.monotonic()
    found = kral_nb.capacity("hi", SLOTS_MODEL, slo={"ttft_s": 0.5}, attainment=0.9, progress=False)
    assert time.monotonic() - t0 < 120, "the search must take under 2 minutes"
    assert found.rate_rps is not None and 6.3 <= found.rate_rps < 10.5, found.table()
    lo, hi = found.bracket
    assert hi is not None and lo is not None and lo < hi and (hi - lo) <= 0.1 * lo + 1e-9
    lv = found.levels
    probes = lv[~lv["calibration"]]
    assert probes.loc[probes["passed"], "level"].max() == found.rate_rps
    assert (probes.loc[probes["passed"], "slo_attainment"] >= 0.9).all()
    assert (probes.loc[~probes["passed"], "slo_attainment"] < 0.9).all() or \
        (probes.loc[~probes["passed"], "stopped_early"] != "").all()
    assert ((lv["attainment_ci_low"] <= lv["slo_attainment"]) & (lv["slo_attainment"] <= lv["attainment_ci_high"])).all()
    assert set(found.runs["probe"]) == set(lv["probe"])
    assert f"{found.rate_rps:g}" in found.sentence() and "held TTFT ≤ 500 ms for 90%" in found.sentence()
    html = Path(found.to_html(str(tmp_path / "capacity.html"))).read_text()
    assert found.sentence().replace("≤", "&le;") in html or found.sentence() in html
    assert "<svg" in html and "<script" not in html


@pytest.mark.slow
def test_a_concurrency_search_finds_the_slots() -> None:
    """Closed loop against 4 slots, each stream 0.39 s, SLO TTFT 0.3 s: at concurrency 4 no
    request waits; at 5 one in five waits a whole stream (TTFT ~0.49 s), so 20 % miss and 90 %
    attainment fails. The answer is exactly 4."""
    found = kral_nb.capacity("hi", SLOTS_MODEL, slo={"ttft_s": 0.3}, mode="concurrency", progress=False)
    assert found.concurrency == 4 and found.bracket == (4, 5), found.table()
    assert found.rate_rps is None


def test_a_plainly_over_saturated_probe_stops_early() -> None:
    """20 requests/s at a server that completes ~10/s, with an SLO nothing misses (so only the
    over-saturation rule can stop it): the 300-request schedule would last 15 s."""
    lo = LoadOptions.take({"rate": [20.0], "requests": 300, "slo": {"ttft_s": 100.0}, "shards": 1,
                           "progress": False})
    guard = ProbeGuard({"ttft_s": 100.0}, 0.9, now_ns() + 10**12, SERVICE_S)
    t0 = time.monotonic()
    lr = sweep("hi", [SLOTS_MODEL], lo, Options.from_kwargs({}), guard=guard)
    assert time.monotonic() - t0 < 10
    row = lr.levels.iloc[0]
    assert row["stopped_early"].startswith("over-saturated:"), row["stopped_early"]
    assert row["requests"] < 200 and (lr.runs["status"].astype(str) == "cancelled").any()


def test_a_probe_whose_verdict_is_decided_stops_early() -> None:
    """Closed loop (the over-saturation rule is open loop's), 8 in flight at 4 slots: every
    other request waits a whole stream, so misses pass 10 % of 120 within a few rounds."""
    lo = LoadOptions.take({"concurrency": [8], "requests": 120, "slo": {"ttft_s": 0.15}, "shards": 1,
                           "progress": False})
    lr = sweep("hi", [SLOTS_MODEL], lo, Options.from_kwargs({}),
               guard=ProbeGuard({"ttft_s": 0.15}, 0.9, now_ns() + 10**12, SERVICE_S))
    assert "attainment can no longer reach 90%" in lr.levels["stopped_early"].iloc[0]
    assert lr.levels["requests"].iloc[0] < 120


def test_server_metrics_from_the_sim_agree_with_its_slots(tmp_path: Path) -> None:
    lr = kral_nb.load("hi", [SLOTS_MODEL], rate=[14], duration_s=3, shards=1, progress=False, server_metrics=True)
    sm = lr.server_metrics
    assert sm is not None and list(sm.columns) == ["t_s", "cell", "level", "source", "metric", "labels", "value"]
    assert sm["source"].astype(str).str.endswith("/metrics").all()
    mine = sm[sm["labels"].map(lambda s: json.loads(s).get("model_name") == "steady+n=30+slots=4")]

    def values(name: str) -> pd.Series:
        return mine.loc[mine["metric"].astype(str) == name].set_index("t_s")["value"]

    running, waiting, kv = (values("vllm:num_requests_running"), values("vllm:num_requests_waiting"),
                            values("vllm:kv_cache_usage_perc"))
    assert len(running) >= 5 and running.max() <= 4 and running.max() == 4  # never beyond its slots
    assert waiting.max() > 0  # 14/s offered to ~10/s of capacity: a queue
    assert (kv - running / 4).abs().max() < 1e-9
    generated = values("vllm:generation_tokens_total")
    assert generated.is_monotonic_increasing and generated.iloc[-1] >= 30 * (lr.runs["status"] == "ok").sum()
    during = sm[sm["cell"].notna()]
    assert during["t_s"].min() >= -0.5 and during["t_s"].max() <= lr.runs["sent_s"].max() + lr.runs["e2e_s"].max() + 1
    for concept in ("running", "waiting", "kv_cache_usage", "prompt_tokens", "generation_tokens"):
        assert NAMES[concept][0].startswith("vllm:")
    assert "<svg" in lr.plot.server().html()
    names = [n for n, _ in lr.plot.figures()]
    assert "load_server" in names and "load_timeline" in names
    lr.to_parquet(str(tmp_path / "frames"))
    back = pd.read_parquet(tmp_path / "frames" / "server_metrics.parquet")
    assert len(back) == len(sm)


def test_an_unreachable_metrics_endpoint_is_a_note_not_a_failure() -> None:
    notes: list[str] = []
    lr = kral_nb.load("hi", ["sim:instant"], concurrency=[1], requests=3, shards=1, server_metrics="http://127.0.0.1:9/metrics",
                      progress=lambda rows, n: notes.extend(x for x in n if x not in notes))
    assert (lr.runs["status"] == "ok").all()
    assert lr.server_metrics is not None and len(lr.server_metrics) == 0
    for bad in ("ftp://x", "localhost:8000/metrics", "http://user:secret@host/metrics", ["http://h/metrics", 3]):
        with pytest.raises(kral_nb.ConfigError, match="server_metrics must be True, 'auto', or http"):
            kral_nb.load("hi", ["sim:instant"], concurrency=[1], requests=1, server_metrics=bad)


def test_the_metrics_parser_keeps_what_it_can_read() -> None:
    page = ('# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="m"} 3\n'
            '# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total{model_name="m"} 12\n'
            'vllm:prompt_tokens_created{model_name="m"} 1.7e9\nodd_gauge NaN\nodd_other +Inf\n')
    assert parse(page) == [("vllm:num_requests_running", '{"model_name": "m"}', 3.0),
                           ("vllm:prompt_tokens_total", '{"model_name": "m"}', 12.0)]
    with pytest.raises(ValueError):
        parse("this is { not prometheus")


def test_timeslices_cover_each_level() -> None:
    lr = kral_nb.load("hi", ["sim:steady"], rate=[8, 16], duration_s=2, shards=1, progress=False, slo={"ttft_s": 0.5})
    ts = lr.timeslices(0.5)
    runs = lr.runs
    for level, g in ts.groupby("level"):
        mine = runs[runs["level"] == level]
        assert g["started"].sum() == len(mine)
        assert g["completed"].sum() == (mine["status"] == "ok").sum()
        assert g["t0_s"].min() == 0 and g["t1_s"].max() >= (mine["sent_s"] + mine["e2e_s"]).max()
        assert list(g["window"]) == list(range(len(g)))
        tokens = g["output_tokens_per_s"].sum() * 0.5
        assert tokens == pytest.approx(mine["output_tokens"].sum(), rel=1e-6)
    assert ts["ttft_s_p50"].dropna().between(0.05, 2).all()
    with pytest.raises(kral_nb.ConfigError, match="window_s"):
        lr.timeslices(0)
    assert "<svg" in lr.plot.timeline(0.5).html()


def test_otel_metrics_follow_the_genai_conventions() -> None:
    metrics_sdk = pytest.importorskip("opentelemetry.sdk.metrics", reason="the otel extra is not installed")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    result = kral_nb.compare("hello there", ["sim:fast", "sim:steady@anthropic"], repeat=2)
    reader = InMemoryMetricReader()
    provider = metrics_sdk.MeterProvider(metric_readers=[reader])
    assert result.to_otel(meter_provider=provider, spans=False) == 0
    data = reader.get_metrics_data()
    points = {m.name: (m.unit, m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics}
    assert set(points) == {"gen_ai.client.operation.duration", "gen_ai.client.token.usage",
                           "gen_ai.client.operation.time_to_first_chunk",
                           "gen_ai.client.operation.time_per_output_chunk"}
    runs = result.runs
    unit, dur = points["gen_ai.client.operation.duration"]
    assert unit == "s" and sum(p.count for p in dur) == len(runs)
    assert sum(p.sum for p in dur) == pytest.approx(runs["e2e_s"].sum())
    attrs = {p.attributes["gen_ai.provider.name"] for p in dur}
    assert attrs == {"sim"} and all(p.attributes["gen_ai.operation.name"] == "chat" for p in dur)
    assert {p.attributes["gen_ai.request.model"] for p in dur} == {"fast", "steady"}
    unit, usage = points["gen_ai.client.token.usage"]
    by_type = {t: sum(p.sum for p in usage if p.attributes["gen_ai.token.type"] == t) for t in ("input", "output")}
    assert unit == "{token}" and by_type == {"input": runs["input_tokens"].sum(), "output": runs["output_tokens"].sum()}
    _, first = points["gen_ai.client.operation.time_to_first_chunk"]
    assert sum(p.sum for p in first) == pytest.approx(runs["ttft_s"].sum())
    _, per = points["gen_ai.client.operation.time_per_output_chunk"]
    gaps = result.chunks["dt_s"].notna() & result.chunks["kind"].astype(str).isin(["text", "reasoning"])
    assert sum(p.count for p in per) == int(gaps.sum())
    assert list(first[0].explicit_bounds)[:3] == [0.01, 0.02, 0.04]


@pytest.mark.slow
def test_kral_nb_capacity_from_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "cap"
    env = {**os.environ, "PYTHONPATH": str(Path(kral_nb.__file__).parents[1])}
    p = subprocess.run([sys.executable, "-m", "kral_nb", "capacity", "hi", "-m", "sim:steady+n=30+slots=4",
                        "--slo", "ttft_s=0.5", "--probe-requests", "20", "--max-duration", "20", "--json",
                        "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["mode"] == "rate" and doc["slo"] == {"ttft_s": 0.5} and len(doc["probes"]) >= 2
    assert doc["answer"].startswith(("Capacity:", "No level held"))
    assert math.isfinite(doc["elapsed_s"]) and doc["elapsed_s"] < 40
    assert sorted(os.listdir(out)) == ["capacity.json", "capacity.png", "levels.csv", "report.html"]


class _Hostile(http.server.BaseHTTPRequestHandler):
    """/drip sends a metrics page a few bytes at a time, forever; /huge sends 20,000 samples."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        if self.path == "/drip":
            try:
                for _ in range(200):
                    self.wfile.write(b"# HELP x y\n")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                return
        else:
            lines = [f"junk_{i} 1" for i in range(20_000)] + ['vllm:num_requests_running{model_name="m"} 2']
            self.wfile.write(("\n".join(lines) + "\n").encode())

    def log_message(self, *args: object) -> None:
        pass


def test_a_hostile_metrics_page_neither_hangs_nor_floods_a_sweep() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        drip = Scraper([f"{root}/drip"], period_s=0.1)
        drip.start()
        time.sleep(7)  # three abandoned scrapes of 2 s each
        t0 = time.monotonic()
        drip.stop()
        assert time.monotonic() - t0 < 5 and not drip._thread.is_alive()  # type: ignore[union-attr]
        notes = drip.notes()
        assert any("failed 3 times in a row" in n and "not read whole in 2 s" in n for n in notes), notes
        assert drip.rows == []
        huge = Scraper([f"{root}/huge"], period_s=0.2)
        huge.start()
        time.sleep(1)
        huge.stop()
        assert huge.rows and {r[2] for r in huge.rows} == {"vllm:num_requests_running"}
        assert any("more than 5,000 samples" in n for n in huge.notes())
    finally:
        server.shutdown()


def test_a_probe_cut_by_the_time_budget_has_no_verdict() -> None:
    """4 calibration requests take ~2 s with the sim's start; the first probe (20 requests at
    2.5/s, ~8 s) is cut when the 6 s budget runs out: neither a pass nor a fail, and the search
    ends saying so."""
    found = kral_nb.capacity("hi", SLOTS_MODEL, slo={"ttft_s": 0.5}, max_duration_s=6, progress=False)
    assert found.bracket == (None, None) and found.rate_rps is None
    assert found.sentence().startswith("No level was decided: max_duration_s (6 s) spent"), found.sentence()
    assert found.table()["verdict"].tolist()[1:] == ["—"] and len(found.probes) == 2
