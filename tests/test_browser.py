"""The real frontend: JupyterLab in headless Debian Chromium (Playwright, no downloaded
browser). Panes must update live in the page, end with the final text and summary, survive
an interrupt with one line, and the side-by-side notebook must run without an error."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).parent.parent
TOKEN = "kral-browser-test"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not os.path.exists(CHROMIUM):
        message = "Debian chromium is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("KRAL_NB_REQUIRE_BROWSER"):
            pytest.fail(message)  # CI: never pass without the browser test
        pytest.skip(message)
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("results"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KRAL_NB_OUT": str(root / "out")}
    env.pop("KRAL_SIM_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--allow-root",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/api/status?token={TOKEN}", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start")
    yield url, root
    proc.terminate()
    proc.wait(10)


def put_notebook(url: str, path: str, cells: list[str]) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None, "id": f"c{i}"}
                    for i, c in enumerate(cells)]}
    r = httpx.put(f"{url}/api/contents/{path}?token={TOKEN}", json={"type": "notebook", "content": nb}, timeout=10)
    r.raise_for_status()


@pytest.fixture(scope="module")
def browser(lab: tuple[str, Path]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    yield context.new_page()
    context.close()


def open_notebook(page: Any, url: str, path: str) -> None:
    workspace = path.replace("/", "-").removesuffix(".ipynb")  # a fresh workspace: only this notebook open
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{path}?token={TOKEN}&reset")
    page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=60000)
    page.wait_for_function("document.body.innerText.includes('Idle')", timeout=60000)  # kernel ready


def command(page: Any, name: str) -> None:
    # not awaited: run-all resolves only when every cell has finished
    page.evaluate(f"() => {{ window.jupyterapp.commands.execute({json.dumps(name)}); }}")


def outputs_text(page: Any) -> str:
    return str(page.evaluate("[...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText).join('\\n')"))


def output_states(page: Any, until: str, timeout_s: float) -> list[str]:
    """Every distinct text the outputs showed, polled until ``until`` appears (live updates)."""
    states: list[str] = []
    deadline = time.time() + timeout_s
    while time.time() < deadline and until not in (states[-1] if states else ""):
        text = outputs_text(page)
        if not states or text != states[-1]:
            states.append(text)
        time.sleep(0.05)
    return states


def test_panes_stream_live_in_jupyterlab(lab: tuple[str, Path], page: Any) -> None:
    url, root = lab
    put_notebook(url, "magic.ipynb", ["%load_ext kral_nb",
                                      "%%kral -m sim:steady+n=150 -m sim:steady+n=150@anthropic\nHello live panes"])
    open_notebook(page, url, "magic.ipynb")
    command(page, "notebook:run-all-cells")
    states: list[str] = []
    deadline = time.time() + 60
    while time.time() < deadline:
        text = outputs_text(page)
        if not states or text != states[-1]:
            states.append(text)
        if text.count("✅ ok") >= 2 and "TTFT" in text and "tok/s" in text and "provider" in text:
            break
        time.sleep(0.05)
    final = states[-1]
    streaming = [s for s in states if "▶ streaming" in s]
    assert len(streaming) >= 3, f"expected live updates, saw {len(states)} states"  # updated in place, live
    assert final.count("✅ ok") >= 2 and "(simulated)" in final and "@anthropic" in final
    page.screenshot(path=str(root / "panes.png"))


def test_interrupt_prints_one_line(lab: tuple[str, Path], page: Any) -> None:
    url, _ = lab
    put_notebook(url, "interrupt.ipynb", ["%load_ext kral_nb", "%%kral -m sim:slow+n=400\nA long answer"])
    open_notebook(page, url, "interrupt.ipynb")
    command(page, "notebook:run-all-cells")
    page.wait_for_function("document.body.innerText.includes('▶ streaming')", timeout=30000)
    time.sleep(0.5)
    command(page, "notebook:interrupt-kernel")
    page.wait_for_function("document.body.innerText.includes('interrupted')", timeout=30000)
    text = outputs_text(page)
    assert "cancelled" in text and "Traceback" not in text and "KeyboardInterrupt" not in text


def test_side_by_side_notebook_runs_in_the_browser(lab: tuple[str, Path], page: Any) -> None:
    url, root = lab
    open_notebook(page, url, "notebooks/02-side-by-side.ipynb")
    command(page, "notebook:run-all-cells")
    # the last cell's line, or the first error (run-all stops there: waiting on would only time out).
    # An error output renders as application/vnd.jupyter.stderr, like any stderr line: its
    # traceback's header tells them apart.
    page.wait_for_function("document.body.innerText.includes('wrote [') || "
                           "document.body.innerText.includes('Traceback (most recent call last)')", timeout=600000)
    text = outputs_text(page)
    assert "Traceback (most recent call last)" not in text, text[-3000:]
    assert page.evaluate("document.querySelectorAll('.jp-OutputArea-output img').length") >= 1  # the plots
    assert (root / "out" / "runs.parquet").exists()
    page.screenshot(path=str(root / "side-by-side.png"), full_page=True)


def test_notebook_7_streams_live_too(lab: tuple[str, Path], page: Any) -> None:
    url, _ = lab
    put_notebook(url, "nb7.ipynb", ["%load_ext kral_nb", "%%kral -m sim:fast+n=200 -m sim:slow+n=12\nHello Notebook 7",
                                    "assert set(_kral.runs['status']) == {'ok'}; print('frames ok', len(_kral.chunks))"])
    page.goto(f"{url}/notebooks/nb7.ipynb?token={TOKEN}")  # Notebook 7's own UI
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
    page.get_by_role("menuitem", name="Run", exact=True).click()  # as a user would: Run > Run All Cells
    page.locator("li[data-command='runmenu:run-all']").click()
    states = output_states(page, "frames ok", 60)
    assert "frames ok" in states[-1] and states[-1].count("✅ ok") >= 2
    assert any("▶ streaming" in s for s in states)  # seen live


def test_the_load_form_shows_a_live_table_then_the_levels(lab: tuple[str, Path], page: Any) -> None:
    url, root = lab
    put_notebook(url, "load.ipynb", ["%load_ext kral_nb",
                                     "%%kral -m sim:steady+n=30+slots=2 --concurrency 1,4 --duration 3 --shards 1 "
                                     "--slo ttft_s=0.3\nHello load",
                                     "print('levels', len(_kral.levels))"])
    open_notebook(page, url, "load.ipynb")
    command(page, "notebook:run-all-cells")
    states = output_states(page, "levels 2", 120)
    final = states[-1]
    assert "levels 2" in final, final[-2000:]
    assert any("kral_nb load (live" in s and "in_flight" in s for s in states)  # the live table, updated
    assert "LoadResult" in final and "goodput rps" in final and "client saturated" in final
    # the level table fits the output area: no horizontal overflow hidden off-screen
    widths = page.evaluate("""[...document.querySelectorAll('.jp-OutputArea-output table')].map(
        t => [t.getBoundingClientRect().width, t.closest('.jp-OutputArea-output').scrollWidth > 0])""")
    assert widths and all(w > 100 for w, _ in widths)
    page.screenshot(path=str(root / "load.png"), full_page=True)
    # 800 px wide: the level table scrolls inside its own box; the output area does not overflow
    page.set_viewport_size({"width": 800, "height": 1000})
    time.sleep(0.5)
    boxes = page.evaluate("""[...document.querySelectorAll('.kral-load')].map(d => {
        const out = d.closest('.jp-OutputArea-output');
        return [getComputedStyle(d).overflowX, d.getBoundingClientRect().right, out.getBoundingClientRect().right,
                out.scrollWidth - out.clientWidth];})""")
    assert boxes and all(ov == "auto" and right <= out_right + 1 and spill <= 1 for ov, right, out_right, spill in boxes)
    page.screenshot(path=str(root / "load-800.png"), full_page=True)
    # dark theme: the table's text stays legible on its background (WCAG AA, 4.5:1)
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    try:
        _legible_in_dark(page, ".kral-load td", root / "load-dark.png")
    finally:  # the theme is a saved setting: later tests start light
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30000)


def _legible_in_dark(page: Any, selector: str, shot: Path) -> None:
    """In the dark theme (already switched on), ``selector``'s text stays legible on the
    background it is drawn on (WCAG AA, 4.5:1); a screenshot to ``shot``."""
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30000)
    time.sleep(1.0)
    fg, bg = page.evaluate("""(sel) => { const node = document.querySelector(sel);
        let el = node, bg = 'rgba(0, 0, 0, 0)';
        while (el && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) { bg = getComputedStyle(el).backgroundColor; el = el.parentElement; }
        return [getComputedStyle(node).color, bg]; }""", selector)
    assert _contrast(fg, bg) >= 4.5, (selector, fg, bg)
    page.screenshot(path=str(shot), full_page=True)


def _contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours."""
    def lum(css: str) -> float:
        r, g, b = (float(v) / 255 for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])
        return sum(w * (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
                   for w, c in zip((0.2126, 0.7152, 0.0722), (r, g, b), strict=True))
    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_html_report_opens_offline_and_fits_a_phone(lab: tuple[str, Path], browser: Any) -> None:
    """The report file in the browser: every section shown, not one network request, no
    horizontal scrolling at phone width (tables scroll in their own box)."""
    import kral_nb

    _, root = lab
    r = kral_nb.compare("Define latency.", ["sim:fast+n=8", "sim:steady+n=8"], repeat=2, progress=False)
    path = Path(r.to_html(str(root / "report.html")))
    for width, name in ((1100, "report.png"), (390, "report-phone.png")):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        requests: list[str] = []

        def seen(req: Any, requests: list[str] = requests) -> None:
            requests.append(req.url)

        page.on("request", seen)
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        titles = page.locator("h2").all_inner_texts()
        assert titles[:5] == ["What was run", "Requests", "Summary (ok runs; warmups excluded)", "Verdicts",
                              "Plots"], titles
        assert page.locator("figure svg").count() == 5
        assert requests == [path.as_uri()], requests  # the file itself, nothing else
        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (width, overflow)
        page.screenshot(path=str(root / name), full_page=False)
        context.close()


def test_a_result_shows_its_answers_fits_800px_and_reads_in_the_dark(lab: tuple[str, Path], page: Any) -> None:
    """``display(result)``: each answer above the table (the long one collapsed), the model
    HTML in an answer inert, the table scrolling in its own box at 800 px, the answers'
    secondary text legible in the dark theme."""
    url, root = lab
    put_notebook(url, "result.ipynb", [
        "import kral_nb\nr = kral_nb.compare('hi', ['sim:fast+n=6', 'sim:fast+n=400', 'sim:fast+n=6+error=2'], "
        "progress=False)\nr"])
    open_notebook(page, url, "result.ipynb")
    command(page, "notebook:run-all-cells")
    page.wait_for_selector(".kral-result", timeout=60000)
    text = outputs_text(page)
    assert "kral_nb result · 3 runs of 3 models: 2 ok, 1 error" in text, text[-2000:]
    opened = page.evaluate("[...document.querySelectorAll('.kral-result details')].map(d => d.open)")
    assert opened == [True, False, True], opened  # the 400-token answer starts collapsed
    page.set_viewport_size({"width": 800, "height": 1000})
    time.sleep(0.5)
    spill = page.evaluate("""(() => { const out = document.querySelector('.kral-result').closest('.jp-OutputArea-output');
        return out.scrollWidth - out.clientWidth; })()""")
    assert spill <= 1, spill
    page.screenshot(path=str(root / "result-800.png"), full_page=True)
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    try:
        _legible_in_dark(page, ".kral-result summary span", root / "result-dark.png")
    finally:
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30000)
