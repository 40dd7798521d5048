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
# screenshots a person can look at after a CI run (light, dark, narrow)
ARTIFACTS = Path(os.environ.get("KRAL_NB_ARTIFACTS", ROOT / "artifacts" / "browser"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not os.path.exists(CHROMIUM):
        message = "Debian chromium is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("KRAL_NB_REQUIRE_BROWSER"):
            pytest.fail(message)  # CI: never pass without the browser test
        pytest.skip(message)
    root = tmp_path_factory.mktemp("lab")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("results"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user = tmp_path_factory.mktemp("lab-user")  # outside the served tree
    settings = user / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # this test's own user settings: no news toast over the screenshots
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {**os.environ, "KRAL_NB_OUT": str(root / "out"), "JUPYTERLAB_SETTINGS_DIR": str(user / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(user / "workspaces")}
    env.pop("KRAL_SIM_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--allow-root",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=True",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
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


def run_notebook(page: Any, url: str, path: str, cells: list[str]) -> None:
    """Write ``cells`` as a notebook, open it, and run all its cells (not awaited)."""
    put_notebook(url, path, cells)
    open_notebook(page, url, path)
    command(page, "notebook:run-all-cells")


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


def saved_html(page: Any, root: Path, path: str, expect: str) -> str:
    """Save the open notebook as a user would, then render the file as nbconvert does (no
    kernel, no widget state): what a saved notebook, nbviewer or an HTML export shows."""
    from nbconvert import HTMLExporter

    command(page, "docmanager:save")
    deadline = time.time() + 30
    while time.time() < deadline and expect not in (root / path).read_text(encoding="utf-8"):
        time.sleep(0.2)
    body, _ = HTMLExporter().from_filename(str(root / path))
    return str(body)


def test_panes_stream_live_in_jupyterlab(lab: tuple[str, Path], page: Any) -> None:
    """A fresh kernel: panes appear at once saying the simulator is starting, then stream
    live side by side — top-aligned, the long answer's box capped and following its end —
    and end with every answer shown in full and the summary table, which the saved
    notebook's HTML keeps."""
    url, root = lab
    run_notebook(page, url, "magic.ipynb", ["%load_ext kral_nb",
                                      "%%kral -m sim:steady+n=300 -m sim:steady+n=60@anthropic -m sim:slow+n=30\n"
                                      "Hello live panes"])
    states: list[str] = []
    live_boxes: list[list[float]] = []
    deadline = time.time() + 60
    while time.time() < deadline:
        text = outputs_text(page)
        if not states or text != states[-1]:
            states.append(text)
            if "▶ streaming" in text:
                live_boxes += page.evaluate(f"[...document.querySelectorAll('.kral-live')].map({LIVE_BOX_JS})")
                if len(live_boxes) < 40:
                    page.screenshot(path=str(ARTIFACTS / "panes-streaming.png"))
        if text.count("✅ ok") >= 3 and "TTFT" in text and "provider" not in text and "kral_nb result" in text:
            break
        time.sleep(0.05)
    final = states[-1]
    assert any("starting simulator…" in s for s in states[:5]), states[:3]  # feedback before the sim answers
    assert len([s for s in states if "▶ streaming" in s]) >= 3, f"expected live updates, saw {len(states)} states"
    assert final.count("✅ ok") >= 3 and "(simulated)" in final and "@anthropic" in final
    # while streaming, a long answer's box is 14 whole lines high, scrolled to its end, its first
    # visible line whole, and it says there is more above (the shadow's "scroll" layer)
    capped = [box for box in live_boxes if box[2] > 0]
    assert capped and all(abs(h - 14 * 21) <= 1 for h, *_ in capped), live_boxes[:5]
    assert all(cut == 0 for *_, cut, _ in capped), [b for b in capped if b[4]][:3]
    assert all("scroll" in attach for *_, attach in capped), capped[:1]
    # top-aligned: every pane of the first row starts at the same height, whatever its length
    tops = page.evaluate("[...document.querySelectorAll('.kral-pane')].map(p => Math.round(p.getBoundingClientRect().top))")
    assert len(tops) == 3 and len(set(tops)) == 1, tops
    assert page.locator(".kral-live").count() == 0  # final: every answer shown in full
    # then one compact table, never the answers again
    assert page.locator(".kral-table").count() == 1 and page.locator(".kral-result details").count() == 0
    assert page.locator(".kral-answer").count() == 3
    page.set_viewport_size({"width": 1280, "height": 1000})
    time.sleep(0.5)
    assert _stats_lines(page) and all(n >= 2 for lines in _stats_lines(page) for n in lines), _stats_lines(page)
    page.screenshot(path=str(ARTIFACTS / "panes.png"))
    saved = saved_html(page, root, "magic.ipynb", "kral-pane")
    assert saved.count('class="kral-pane"') == 3 and saved.count("✅ ok") >= 3
    # narrow (800 px): as many columns as fit, nothing spills out of the output area
    narrow_then_dark(page, ".kral-panes", ".kral-stats", "panes", full_page=False)


def test_model_text_is_shown_literally_in_jupyterlab(lab: tuple[str, Path], page: Any) -> None:
    """The panes' HTML, with the answer's Markdown rendered by kral_nb, shown by JupyterLab 4
    (with MathJax): ``$`` stays a dollar sign, model HTML stays text, a script never runs."""
    url, _ = lab
    evil = ("Prices: $5 and $10 per run, <script>window.kralPwned = 1</script> "
            "<img src=x onerror=\"window.kralPwned = 2\"> **bold**\n\n```html\n<b>$x$</b>\n```")
    run_notebook(page, url, "literal.ipynb", [
        "from IPython.display import display\nfrom kral_nb.views import panes\nfrom kral_nb.record.recorder import Run\n"
        f"run = Run('r', 'sim', 'fast', 'openai', status='ok')\nrun.text_parts.append({evil!r})\n"
        "from kral_nb.views.markdown import Markdown\n"
        "display({'text/html': panes.html_panes([run], 0, md=Markdown())}, raw=True)"])
    page.wait_for_selector(".kral-pane strong", timeout=60000)
    time.sleep(1.0)  # let MathJax have its go
    pane = page.locator(".kral-pane").first.inner_text()
    assert "Prices: $5 and $10 per run, <script>window.kralPwned = 1</script>" in pane, pane
    assert "<b>$x$</b>" in pane and page.locator(".kral-pane mjx-container").count() == 0
    assert page.locator(".kral-pane img, .kral-pane script").count() == 0
    assert page.evaluate("window.kralPwned === undefined")


def test_interrupt_prints_one_line(lab: tuple[str, Path], page: Any) -> None:
    """Interrupt mid-stream: one line, no traceback, and the sim (a helper process in its
    own session) survives: the next cell streams from the same one."""
    url, _ = lab
    run_notebook(page, url, "interrupt.ipynb", ["%load_ext kral_nb", "%%kral -m sim:slow+n=400\nA long answer",
                                          "from kral_nb.sim import server\nprint('sim alive', server._auto.alive())"])
    page.wait_for_function("document.body.innerText.includes('▶ streaming')", timeout=30000)
    time.sleep(0.5)
    command(page, "notebook:interrupt-kernel")
    page.wait_for_function("document.body.innerText.includes('interrupted')", timeout=30000)
    text = outputs_text(page)
    assert "cancelled" in text and "Traceback" not in text and "KeyboardInterrupt" not in text
    stderr = page.evaluate("[...document.querySelectorAll('[data-mime-type=\"application/vnd.jupyter.stderr\"]')]"
                           ".map(e => e.innerText.trim()).filter(t => t)")
    assert len(stderr) == 1 and stderr[0].count("\n") == 0, stderr  # exactly one line
    page.locator(".jp-Cell").nth(2).click()  # run the last cell on its own, as a user would
    command(page, "notebook:run-cell")
    # the cell's own source says 'sim alive' too: wait for the printed output
    page.wait_for_function("[...document.querySelectorAll('.jp-OutputArea-output')]"
                           ".some(e => e.innerText.includes('sim alive'))", timeout=30000)
    assert "sim alive True" in outputs_text(page)


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
    assert page.evaluate("document.querySelectorAll('.jp-OutputArea-output img').length") >= 1  # the 2×2 figure
    assert page.locator(".kral-plot svg").count() >= 1  # the cost plot, in the theme's colours
    assert (root / "out" / "runs.parquet").exists()
    page.screenshot(path=str(ARTIFACTS / "side-by-side.png"), full_page=True)


def test_notebook_7_streams_live_too(lab: tuple[str, Path], page: Any) -> None:
    """Notebook 7's own UI: panes stream live; the long answer's capped box shows its first
    visible line whole and a shadow saying there is more above."""
    url, _ = lab
    put_notebook(url, "nb7.ipynb", ["%load_ext kral_nb",
                                    "%%kral -m sim:steady+n=300 -m sim:slow+n=12\nHello Notebook 7",
                                    "assert set(_kral.runs['status']) == {'ok'}; print('frames ok', len(_kral.chunks))"])
    page.goto(f"{url}/notebooks/nb7.ipynb?token={TOKEN}")  # Notebook 7's own UI
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
    page.get_by_role("menuitem", name="Run", exact=True).click()  # as a user would: Run > Run All Cells
    page.locator("li[data-command='runmenu:run-all']").click()
    states: list[str] = []
    boxes: list[list[Any]] = []
    deadline = time.time() + 60
    while time.time() < deadline and "frames ok" not in (states[-1] if states else ""):
        text = outputs_text(page)
        if not states or text != states[-1]:
            states.append(text)
            scrolled = [b for b in page.evaluate(f"[...document.querySelectorAll('.kral-live')].map({LIVE_BOX_JS})")
                        if b[2] > 0]
            if scrolled and not boxes:
                page.screenshot(path=str(ARTIFACTS / "nb7-scrolled.png"))
            boxes += scrolled
        time.sleep(0.05)
    assert "frames ok" in states[-1] and states[-1].count("✅ ok") >= 2
    assert any("▶ streaming" in s for s in states)  # seen live
    assert boxes and all(cut == 0 and "scroll" in attach for *_, cut, attach in boxes), boxes[:3]


def test_the_load_form_shows_a_live_table_then_the_levels(lab: tuple[str, Path], page: Any) -> None:
    url, _ = lab
    run_notebook(page, url, "load.ipynb", ["%load_ext kral_nb",
                                     "%%kral -m sim:steady+n=30+slots=2 --concurrency 1,4 --duration 3 --shards 1 "
                                     "--slo ttft_s=0.3\nHello load",
                                     "print('levels', len(_kral.levels))"])
    states = output_states(page, "levels 2", 120)
    final = states[-1]
    assert "levels 2" in final, final[-2000:]
    assert any("kral_nb load (live" in s and "in flight" in s for s in states)  # the live table, updated
    assert "kral_nb load · sim:steady" in final and "goodput" in final and "SLO met" in final
    assert "TTFT ≤ 300 ms" in final  # the SLO in words, in the title
    # the level table fits the output area: no horizontal overflow hidden off-screen
    widths = page.evaluate("""[...document.querySelectorAll('.jp-OutputArea-output table')].map(
        t => [t.getBoundingClientRect().width, t.closest('.jp-OutputArea-output').scrollWidth > 0])""")
    assert widths and all(w > 100 for w, _ in widths)
    page.screenshot(path=str(ARTIFACTS / "load.png"), full_page=True)
    # 800 px wide: the level table scrolls inside its own box; the output area does not overflow
    page.set_viewport_size({"width": 800, "height": 1000})
    time.sleep(0.5)
    boxes = page.evaluate("""[...document.querySelectorAll('.kral-load')].map(d => {
        const out = d.closest('.jp-OutputArea-output');
        return [getComputedStyle(d).overflowX, d.getBoundingClientRect().right, out.getBoundingClientRect().right,
                out.scrollWidth - out.clientWidth];})""")
    assert boxes and all(ov == "auto" and right <= out_right + 1 and spill <= 1 for ov, right, out_right, spill in boxes)
    page.screenshot(path=str(ARTIFACTS / "load-800.png"), full_page=True)
    # dark theme: the table's text stays legible on its background (WCAG AA, 4.5:1)
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    try:
        _legible_in_dark(page, ".kral-load td", ARTIFACTS / "load-dark.png")
    finally:  # the theme is a saved setting: later tests start light
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30000)


def test_the_capacity_form_shows_its_search_live_then_the_answer(lab: tuple[str, Path], page: Any) -> None:
    url, root = lab
    run_notebook(page, url, "capacity.ipynb", ["%load_ext kral_nb",
                                         "%%kral -m sim:steady+n=5+slots=2 --capacity --slo ttft_s=0.2 --search "
                                         "concurrency --probe-requests 10 --max-duration 40 --shards 1\nhi",
                                         "print('probes', len(_kral.probes), _kral.concurrency)"])
    states = output_states(page, "probes ", 180)
    final = states[-1]
    assert "probes " in final, final[-2000:]
    live = [s for s in states if "kral_nb capacity (live" in s]
    assert any("in flight" in s for s in live), live  # the running probe, updated
    assert any("calibration: " in s and "→" in s for s in live)  # a line per probe done, as it ends
    assert "the answer follows" in final  # the live box says it is done, not still live
    assert "Capacity: 2 " in final and "held TTFT ≤ 200 ms for 90% of requests" in final
    assert "probe" in final and "attainment" in final and "verdict" in final  # the probes table
    page.screenshot(path=str(ARTIFACTS / "capacity.png"), full_page=True)
    narrow_then_dark(page, ".kral-capacity", ".kral-capacity td", "capacity")
    html = saved_html(page, root, "capacity.ipynb", "Capacity: 2 ")
    assert "Capacity: 2 " in html and "(live; the answer follows" in html  # both boxes survive in the saved file


#: a live box as [height, font px, overflow, scrollTop, lines cut at its top edge, background-attachment]
LIVE_BOX_JS = """b => { const top = b.getBoundingClientRect().top; let cut = 0;
    const walk = document.createTreeWalker(b, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) { const r = document.createRange(); r.selectNodeContents(n);
        for (const rect of r.getClientRects()) { if (rect.top < top - 1 && rect.bottom > top + 1) cut++; } }
    return [b.getBoundingClientRect().height, parseFloat(getComputedStyle(b).fontSize), b.scrollHeight - b.clientHeight,
            b.scrollTop, cut, getComputedStyle(b).backgroundAttachment]; }"""


def _stats_lines(page: Any) -> list[list[int]]:
    """For each stats line, how many of its parts each visual line holds."""
    return list(page.evaluate("""[...document.querySelectorAll('.kral-stats')].map(s => {
        const rows = new Map(); for (const p of s.querySelectorAll('span')) {
            const t = Math.round(p.getBoundingClientRect().top); rows.set(t, (rows.get(t) || 0) + 1); }
        return [...rows.values()]; })"""))


def narrow_then_dark(page: Any, box: str, text: str, name: str, *, full_page: bool = True) -> None:
    """At 800 px ``box`` spills nothing out of its output area (``{name}-800.png``); in the
    dark theme ``text`` stays legible (``{name}-dark.png``); the light theme is restored."""
    page.set_viewport_size({"width": 800, "height": 1000})
    time.sleep(0.5)
    spill = page.evaluate("""(sel) => { const out = document.querySelector(sel).closest('.jp-OutputArea-output');
        return out.scrollWidth - out.clientWidth; }""", box)
    assert spill <= 1, (box, spill)
    page.screenshot(path=str(ARTIFACTS / f"{name}-800.png"), full_page=full_page)
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    try:
        _legible_in_dark(page, text, ARTIFACTS / f"{name}-dark.png")
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
    for width, name, scheme in ((1100, "report.png", "light"), (390, "report-phone.png", "light"),
                                (1100, "report-dark.png", "dark")):
        context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
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
        assert page.locator("figure svg").count() == 4 and page.locator("figure .kral-plot-empty").count() == 1
        assert requests == [path.as_uri()], requests  # the file itself, nothing else
        # plot text drawn at least 9 px high (scaled with its figure), in the scheme's colours
        smallest = page.evaluate("Math.min(...[...document.querySelectorAll('figure svg text')].map("
                                 "t => t.getBoundingClientRect().height).filter(h => h > 0))")
        assert smallest >= 9, (width, smallest)
        fg, bg = page.evaluate("""[getComputedStyle(document.querySelector('figure svg text')).fill,
                                  getComputedStyle(document.body).backgroundColor]""")
        assert _contrast(fg, bg) >= 4.5, (scheme, fg, bg)
        if name != "report.png":  # the top for the README; the plots for the others
            page.locator("h2", has_text="Plots").scroll_into_view_if_needed()
        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (width, overflow)
        page.screenshot(path=str(ARTIFACTS / name), full_page=False)
        context.close()


def test_a_result_shows_its_answers_fits_800px_and_reads_in_the_dark(lab: tuple[str, Path], page: Any) -> None:
    """``display(result)``: each answer above the table (the long one collapsed), the model
    HTML in an answer inert, the table scrolling in its own box at 800 px, the answers'
    secondary text legible in the dark theme."""
    url, _ = lab
    run_notebook(page, url, "result.ipynb", [
        "import kral_nb\nr = kral_nb.compare('hi', ['sim:fast+n=6', 'sim:fast+n=400', 'sim:fast+n=6+error=2'], "
        "progress=False)\nr"])
    page.wait_for_selector(".kral-result", timeout=60000)
    text = outputs_text(page)
    assert "kral_nb result · 3 runs of 3 models: 2 ok, 1 error" in text, text[-2000:]
    opened = page.evaluate("[...document.querySelectorAll('.kral-result details')].map(d => d.open)")
    assert opened == [True, False, True], opened  # the 400-token answer starts collapsed
    narrow_then_dark(page, ".kral-result", ".kral-result summary span", "result")


def test_chat_widget_keys_styles_and_survives_save_and_reload(lab: tuple[str, Path], page: Any) -> None:
    """The ChatWidget as a person uses it: tick a second model, type two lines (Enter is a new
    line, letters never reach the notebook's shortcuts), Shift+Enter sends without re-running
    the cell or losing the prompt; the answers stream as rendered Markdown at a normal line
    height above a styled table. Saved, the kernel gone and the notebook reopened: the
    conversation is there and no "model not found" line is."""
    url, root = lab
    put_notebook(url, "chat.ipynb", [
        "import kral_nb\nchat = kral_nb.ChatWidget(['sim:fast+n=120', 'sim:steady+n=60', 'sim:slow'], "
        "selected=['sim:fast+n=120'])\nchat",
        "print('second cell')"])
    open_notebook(page, url, "chat.ipynb")
    command(page, "notebook:run-cell-and-select-next")
    page.wait_for_selector(".kral-prompt", timeout=60000)
    page.get_by_text("sim:steady+n=60", exact=True).click()  # the checkbox's label
    page.locator(".kral-prompt").click()
    page.keyboard.type("Hello")
    page.keyboard.press("Enter")  # a new line, not a send
    page.keyboard.type("chat abdm")  # a, b, d, m: notebook shortcuts in command mode
    assert page.locator(".kral-prompt").input_value() == "Hello\nchat abdm"
    kinds = page.evaluate("[...document.querySelectorAll('.jp-Cell')].map(c => c.classList.contains('jp-CodeCell'))")
    assert kinds == [True, True], kinds  # no cell added, none turned Markdown or Raw
    page.keyboard.press("Shift+Enter")  # sends
    page.wait_for_function("document.querySelectorAll('.kral-panes .kral-pane').length === 2 && "
                           "document.querySelector('.kral-chat-live .kral-table') !== null", timeout=60000)
    assert page.locator(".kral-prompt").input_value() == "Hello\nchat abdm"  # the prompt is kept
    assert page.locator(".jp-Cell").count() == 2
    assert page.locator(".jp-Cell").first.locator(".jp-InputPrompt").inner_text().strip() == "[1]:"  # not re-run
    assert "second cell" not in outputs_text(page)  # Shift+Enter did not run the next cell either
    panes_box = page.locator(".kral-chat-live .kral-panes").bounding_box()
    table_box = page.locator(".kral-chat-live .kral-table").bounding_box()
    assert panes_box["y"] + panes_box["height"] <= table_box["y"] + 1  # panes above the table
    assert page.locator(".kral-panes li, .kral-panes strong").count() > 0  # Markdown rendered
    line, size, pad = page.evaluate("""(() => { const p = document.querySelector('.kral-chat-live .kral-pane p');
        const td = document.querySelector('.kral-chat-live .kral-table td');
        return [parseFloat(getComputedStyle(p).lineHeight), parseFloat(getComputedStyle(p).fontSize),
                parseFloat(getComputedStyle(td).paddingLeft)]; })()""")
    assert line <= 1.6 * size and pad > 0, (line, size, pad)  # a normal line height; a styled table
    assert not page.locator(".kral-chat-transcript").is_visible()  # beside the live widget: hidden
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
    saved = saved_html(page, root, "chat.ipynb", "Prompt:")
    assert "<b>Prompt:</b> Hello\nchat abdm" in saved and saved.count('class="kral-pane"') >= 2
    # the kernel goes away (as after a shutdown or on another machine); the notebook is reopened
    for kernel in httpx.get(f"{url}/api/kernels?token={TOKEN}", timeout=10).json():
        httpx.delete(f"{url}/api/kernels/{kernel['id']}?token={TOKEN}", timeout=30)
    page.goto("about:blank")
    open_notebook(page, url, "chat.ipynb")
    page.wait_for_function("document.body.innerText.includes('Prompt: Hello')", timeout=60000)
    time.sleep(3.0)  # the widget manager has given up on the model by now
    text = page.evaluate("document.querySelector('.jp-Notebook').innerText")
    dom = page.evaluate("document.querySelector('.jp-Cell .jp-OutputArea').outerHTML.slice(0, 1500)")
    assert "model not found" not in text and "Error displaying widget" not in text, dom
    assert "Loading widget" not in text, dom
    assert page.locator(".kral-chat-transcript .kral-pane").count() >= 2
    page.screenshot(path=str(ARTIFACTS / "chat-reloaded.png"), full_page=True)


def test_summary_and_a_plot_follow_the_theme(lab: tuple[str, Path], page: Any) -> None:
    """``summary()`` in at most 12 one-line columns; a plot drawn as SVG whose text takes the
    theme's colour: legible in the dark theme, with no white box behind it."""
    url, _ = lab
    run_notebook(page, url, "views.ipynb", [
        "import kral_nb\nc = kral_nb.compare('hi', ['sim:fast+n=20', 'sim:slow+n=20'], repeat=3, warmup=1, progress=False)\n"
        "c.summary()",
        "c.plot.ttft()"])
    page.wait_for_selector(".kral-plot svg text", timeout=60000)
    heads = page.evaluate("[...document.querySelectorAll('.jp-OutputArea-output table')][0].querySelectorAll('th')"
                          ".length")
    assert 4 <= heads <= 12, heads
    page.screenshot(path=str(ARTIFACTS / "summary-plot.png"), full_page=True)
    lines = page.evaluate("""[...document.querySelectorAll('.jp-OutputArea-output table th')].map(t => {
        const r = document.createRange(); r.selectNodeContents(t); return [t.innerText, r.getClientRects().length]; })""")
    assert all(n <= 1 for _, n in lines), lines  # one-line headers
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    try:
        _legible_in_dark(page, ".kral-plot svg text", ARTIFACTS / "plot-dark.png")
        backs = page.evaluate("""[...document.querySelectorAll('.kral-plot svg path, .kral-plot svg rect')]
            .map(e => getComputedStyle(e).fill).filter(f => f === 'rgb(255, 255, 255)').length""")
        assert backs == 0, backs  # nothing drawn white: no glaring box in the dark
    finally:
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30000)
