"""What a saved notebook shows, executed headlessly by nbclient as a person's notebook is: each
answer once after ``%%kral`` (the panes, then a table without them), no ``#-1`` for a warmup,
``summary()`` in at most 12 columns with milliseconds, verdicts whole, the verdict matrix, and
plots as SVG that take the theme's colours (no white box) or a sentence when there is nothing to
draw."""

from __future__ import annotations

import html
import os
import re
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed: pip install 'kral-nb[notebook]'")
nbclient = pytest.importorskip("nbclient", reason="the notebook extra is not installed: pip install 'kral-nb[notebook]'")

CELLS = [
    "import kral_nb\n%load_ext kral_nb",
    "%%kral -m sim:fast+n=12+seed=1 -m sim:slow+n=6+seed=2\nSay something.",
    "c = kral_nb.compare('hi', ['sim:fast+n=8', 'sim:slow+n=8'], repeat=3, warmup=1, progress=False)\n"
    "[r.run_id for r in c if r.warmup]",
    "c.summary()",
    "c.compare_pairs('ttft_s')",
    "c.verdict_matrix('ttft_s')",
    "c.plot.ttft()",
    "c.plot.cost()",
    "c.runs[['model', 'warmup']].assign(label=[kral_nb.fmt.run_label(r) for r in c])",
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> list[list[dict[str, Any]]]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    env_before = os.environ.get("KRAL_NB_STATIC")
    os.environ["KRAL_NB_STATIC"] = "1"  # the saved form only (no update stream), as CI saves notebooks
    try:
        nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}}).execute()
    finally:
        if env_before is None:
            os.environ.pop("KRAL_NB_STATIC", None)
        else:
            os.environ["KRAL_NB_STATIC"] = env_before
    return [cell.get("outputs", []) for cell in nb.cells]


def _html(outs: list[dict[str, Any]]) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in outs)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_each_answer_once_after_the_magic(outputs: list[list[dict[str, Any]]]) -> None:
    outs = outputs[1]
    page = _html(outs)
    assert page.count('class="kral-pane"') == 2  # the panes: every answer, once
    assert 'class="kral-table"' in page and "kral_nb result · 2 runs of 2 models: 2 ok" in page
    tables = [o["data"]["text/html"] for o in outs if 'class="kral-table"' in o.get("data", {}).get("text/html", "")]
    assert len(tables) == 1 and "kral-answer" not in tables[0] and "<details" not in tables[0]  # never the answers again
    assert "~ estimated tokens" not in page  # the sim reports usage: nothing estimated, no footnote
    head = re.findall(r"<th[^>]*>([^<]*)</th>", tables[0])
    assert head == ["run", "status", "TTFT", "tokens", "tok/s", "e2e"], head


def test_warmups_are_called_warmup(outputs: list[list[dict[str, Any]]]) -> None:
    labels = _text(_html(outputs[8]))
    assert "warmup" in labels and "#-1" not in labels and "#0" not in labels


def test_summary_fits_and_speaks_ms(outputs: list[list[dict[str, Any]]]) -> None:
    page = _html(outputs[3])
    head = re.findall(r"<th[^>]*>([^<]*)</th>", page)
    assert 4 <= len(head) <= 12, head
    assert any("(ms)" in h for h in head) and all("\n" not in h and len(h) <= 24 for h in head), head
    assert "ttft_s" not in page and "0.0" not in _text(page).split("TTFT")[0]  # no raw seconds


def test_verdicts_are_whole_and_in_the_matrix(outputs: list[list[dict[str, Any]]]) -> None:
    pairs = _text(_html(outputs[4]))
    assert "faster by" in pairs and "95% CI [" in pairs and "…" not in pairs and "..." not in pairs
    assert "(ms)" in pairs  # medians in the summary's unit
    matrix = _text(_html(outputs[5]))
    assert "row vs column" in matrix and "faster by" in matrix and "slower by" in matrix


def test_plots_take_the_theme_or_say_why_not(outputs: list[list[dict[str, Any]]]) -> None:
    ttft = outputs[6]
    kinds = {k for o in ttft for k in o.get("data", {})}
    assert "image/png" not in kinds and "text/html" in kinds  # one copy: the themed SVG
    svg = _html(ttft)
    assert "<svg" in svg and "var(--jp-ui-font-color1" in svg and "currentColor" in svg
    assert "#ffffff" not in svg.lower() and "fill: #fff;" not in svg  # no white box in a dark theme
    assert "×10" not in svg and "1e-" not in svg
    cost = _text(_html(outputs[7]))
    assert "No cost to compare:" in cost and "<svg" not in _html(outputs[7])  # the sim is free: words, no empty axis
