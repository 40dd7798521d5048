"""The self-contained HTML report: its sections, escaping, nothing fetched, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kral_nb
from kral_nb.cli import main

pytest.importorskip("matplotlib")

HOSTILE = "<script>alert(1)</script> & <img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[kral_nb.Result, str]:
    r = kral_nb.compare("Define latency.", ["sim:fast+n=8", "sim:steady+n=8", "sim:slow+n=8+cut=3"],
                        repeat=2, warmup=1, progress=False)
    runs = r.runs.copy()
    runs["text"] = runs["text"].astype(object)
    runs.loc[0, "text"] = HOSTILE  # what a model may write
    r = kral_nb.Result.from_frames(r.chunks, runs)
    path = str(tmp_path_factory.mktemp("report") / "report.html")
    assert r.to_html(path) == path
    return r, Path(path).read_text()


def test_the_report_has_every_section(report: tuple[kral_nb.Result, str]) -> None:
    r, page = report
    for title in ("What was run", "Requests", "Summary (ok runs; warmups excluded)", "Verdicts", "Plots", f"Runs ({len(r.runs)})"):
        assert f"<h2>{title}</h2>" in page, title
    # every model here is free: the cost plot says so in words instead of drawing an empty frame
    assert page.count("<figure") == 5 and page.count("<svg") == 4 and "No cost to compare:" in page
    # the runs, the one request they sent, and the pairs under the TTFT and e2e verdict matrices
    assert page.count("<details>") == len(r.runs) + 1 + 2
    assert page.count("row vs column") == 2 and "faster by" in page
    assert "Define latency." in page and "&quot;max_tokens&quot;: null" in page  # the options, escaped
    assert "sim:fast+n=8 (simulated) faster by" in page  # a verdict
    assert "3 cut_off" in page and "genai-prices" in page


def test_the_report_is_self_contained_and_inert(report: tuple[kral_nb.Result, str]) -> None:
    _, page = report
    assert "<script" not in page.lower().replace("&lt;script", "")  # the model's script is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)  # nothing to fetch
    assert "@import" not in page and not re.search(r"url\((?!#)", page)  # SVG's own url(#clip) only


def test_the_report_command(report: tuple[kral_nb.Result, str], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    r, _ = report
    r.to_csv(str(tmp_path / "frames"))
    assert main(["report", str(tmp_path / "frames"), "--title", "Nightly"]) == 0
    page = (tmp_path / "frames" / "report.html").read_text()
    assert "<title>Nightly</title>" in page and "<h2>Plots</h2>" in page
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "is not a folder of kral_nb frames" in capsys.readouterr().err


def test_a_load_result_adds_its_levels(tmp_path: Path) -> None:
    lr = kral_nb.load("hi", ["sim:fast+n=4"], concurrency=[1, 2], requests=4, shards=1, progress=False)
    page = Path(lr.to_html(str(tmp_path / "load.html"))).read_text()
    assert "<h2>Levels</h2>" in page and "goodput" in page and page.count("<svg") == 4  # ttft, tpot, goodput, timeline
    assert 'aria-label="load_timeline"' in page and "Over time" in page
