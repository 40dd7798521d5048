"""Baseline vs candidate and the regression gate, on a real regression: the candidate's
requests go through a proxy of our own that holds each one 150 ms before passing it on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

import kral_nb
from kral_nb import sim
from kral_nb.cli import main
from kral_nb.errors import ConfigError
from kral_nb.report.regress import compare_runs, parse_fraction, verdict

from .hostile import Handler, hostile

MODEL = "sim:steady+n=6"


def delaying_proxy(host: str, port: int, delay_s: float) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        await asyncio.sleep(delay_s)
        head, _, body = request.partition(b"\r\n\r\n")
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
        up_r, up_w = await asyncio.open_connection(host, port)
        up_w.write(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body)
        await up_w.drain()
        while data := await up_r.read(65536):
            writer.write(data)
            await writer.drain()
        up_w.close()
    return handler


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = urlsplit(sim.ensure_running())
    out = {}
    base = kral_nb.compare("Define latency.", [MODEL], repeat=8, warmup=1, progress=False)
    again = kral_nb.compare("Define latency.", [MODEL], repeat=8, warmup=1, progress=False)
    other = kral_nb.compare("Define throughput.", [MODEL], repeat=3, progress=False)
    capped = kral_nb.compare("Define latency.", [MODEL], repeat=3, max_tokens=5, progress=False)
    with hostile({"/": delaying_proxy(root.hostname or "", root.port or 0, 0.15)}) as (url, _):
        slow = kral_nb.compare("Define latency.", [MODEL], repeat=8, warmup=1, base_url=url + "/v1",
                               progress=False)
    for name, result in (("base", base), ("again", again), ("other", other), ("slow", slow), ("capped", capped)):
        out[name] = tmp_path_factory.mktemp(name)
        result.to_parquet(str(out[name]))
    return out


@pytest.mark.slow
def test_compare_runs_finds_the_injected_regression(runs: dict[str, Path]) -> None:
    table = compare_runs(str(runs["base"]), str(runs["slow"]), metrics=("ttft_s", "e2e_s", "cost_usd"))
    ttft = table.set_index("metric").loc["ttft_s"]
    assert ttft["model"] == "sim:steady+n=6 (simulated)" and ttft["n_baseline"] == ttft["n_candidate"] == 8
    assert 0.13 < ttft["diff"] < 0.3 and ttft["ci_low"] > 0.1
    assert ttft["regression"] == pytest.approx(ttft["diff"] / ttft["median_baseline"])
    assert ttft["verdict"].startswith("candidate slower by ") and "95% CI" in ttft["verdict"]
    assert table.set_index("metric").loc["cost_usd", "verdict"].startswith("no clear difference")


def test_the_gate_exit_codes(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", "--baseline", str(runs["base"]), "--candidate", str(runs["slow"]),
                 "--metric", "ttft_s", "--max-regression", "10%"]) == 1
    err = capsys.readouterr().err
    assert "FAIL sim:steady+n=6 (simulated) ttft_s" in err
    # the same setup measured twice: within noise, no regression beyond 10 % with confidence
    assert main(["gate", "--baseline", str(runs["base"]), "--candidate", str(runs["again"]),
                 "--max-regression", "10%"]) == 0
    assert "pass" in capsys.readouterr().err
    # a regression the threshold allows passes: +150 ms on ~0.1 s is far below +500 %
    assert main(["gate", "--baseline", str(runs["base"]), "--candidate", str(runs["slow"]),
                 "--max-regression", "500%"]) == 0
    # another prompt: refused, not compared
    assert main(["gate", "--baseline", str(runs["base"]), "--candidate", str(runs["other"])]) == 2
    assert "asked different things: the messages (prompt) differ" in capsys.readouterr().err
    assert main(["gate", "--baseline", str(runs["base"]), "--candidate", str(runs["capped"])]) == 2
    assert "asked different things: max_tokens null vs 5" in capsys.readouterr().err
    assert main(["gate", "--baseline", str(runs["base"]), "--candidate", "/nonexistent"]) == 2
    assert "is not a folder of kral_nb frames" in capsys.readouterr().err


def test_higher_is_better_metrics_regress_downwards() -> None:
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"provider": "sim", "model": "m", "protocol": "openai", "status": "ok", "warmup": False,
                         "output_tokens_per_s": rng.normal(100, 2, 20)})
    cand = base.assign(output_tokens_per_s=rng.normal(80, 2, 20))
    row = compare_runs(base, cand, metrics=["output_tokens_per_s"], allow_different_requests=True).iloc[0]  # no request keys
    assert row["diff"] < 0 and row["regression"] == pytest.approx(-row["change"]) and row["regression_ci_low"] > 0.15
    assert row["verdict"].startswith("candidate slower by ")  # fewer tokens per second
    assert verdict("ttft_s", -0.05, -0.07, -0.03, 0.5) == "candidate faster by 50 ms (-10.0%), 95% CI [30 ms, 70 ms]"


def test_bad_arguments_say_what_to_do() -> None:
    assert parse_fraction("10%") == pytest.approx(0.1) and parse_fraction("0.25") == 0.25
    with pytest.raises(ConfigError, match="percentage or a fraction"):
        parse_fraction("ten")
    df = pd.DataFrame({"provider": ["sim"], "model": ["a"], "protocol": ["openai"], "status": ["ok"],
                       "warmup": [False], "ttft_s": [0.1]})
    with pytest.raises(ConfigError, match="no model is in both"):
        compare_runs(df, df.assign(model="b"), metrics=["ttft_s"])
    with pytest.raises(ConfigError, match="unknown metric 'nope'"):
        compare_runs(df, df, metrics=["nope"])
