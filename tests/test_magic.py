"""%%kral and %kral through IPython's InteractiveShell, over loopback against the sim."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("ipywidgets", reason="the notebook extra is not installed: pip install 'kral-nb[notebook]'")
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import kral_nb
from kral_nb.views import display as kdisplay
from kral_nb.views import panes
from kral_nb.views.config import DEFAULTS
from kral_nb.views.magic import KralMagics


@pytest.fixture
def ip(sim_root: str) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "kral_nb")
    yield shell


def test_help_lists_the_options() -> None:
    doc = KralMagics.kral.__doc__ or ""
    for opt in ("--model", "--provider", "--protocol", "--system", "--temperature", "--max-tokens",
                "--repeat", "--tools", "--format", "--out", "--timeout", "--no-usage"):
        assert opt in doc, opt


def test_every_request_option_has_one_spelling_in_the_magic_and_the_cli() -> None:
    """Generated from Options: a new option appears in run(), the magic and the CLI at once."""
    import dataclasses
    import shlex

    from kral_nb.cli import args as cli_args
    from kral_nb.cli import build_parser
    from kral_nb.options import Options

    names = [f.name for f in dataclasses.fields(Options) if f.name != "api_key"]
    cli_help = build_parser()._subparsers._group_actions[0].choices["compare"].format_help()  # type: ignore[union-attr]
    for name in names:
        flag = "--no-usage" if name == "include_usage" else "--" + name.replace("_", "-")
        assert flag in (KralMagics.kral.__doc__ or "") and flag in cli_help, flag
    assert "api-key" not in cli_help and "api-key" not in (KralMagics.kral.__doc__ or "")
    line = ("-m sim:fast -p sim --extra-body '{\"top_p\": 0.5}' --tools TOOLS --no-usage --retries 2 "
            "-t 0.5 --gemini-body array --trace")
    args = KralMagics.kral.parser.parse_args(shlex.split(line))
    got = cli_args.values(args, Options, lookup={"TOOLS": [{"type": "function"}]}.__getitem__)
    assert got == {"provider": "sim", "extra_body": {"top_p": 0.5}, "tools": [{"type": "function"}],
                   "include_usage": False, "retries": 2, "temperature": 0.5, "gemini_body": "array",
                   "trace": True}
    cli = build_parser().parse_args(["compare", "--extra-body", '{"seed": 1}', "--max-tokens", "5"])
    assert cli_args.values(cli, Options) == {"extra_body": {"seed": 1}, "max_tokens": 5}
    with pytest.raises(kral_nb.ConfigError, match="--extra-body: expected JSON"):
        cli_args.values(build_parser().parse_args(["compare", "--extra-body", "{nope"]), Options)


def test_cell_streams_side_by_side_and_binds_result(ip: InteractiveShell) -> None:
    ip.user_ns["name"] = "big world"
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast+n=5 -m sim:fast+n=5@anthropic --out r", "Hello {name} {{x}}")
    r = ip.user_ns["_kral"]
    assert r is ip.user_ns["r"] and isinstance(r, kral_nb.Result)
    assert list(r.runs["protocol"]) == ["openai", "anthropic"] and r.status == "ok"
    assert list(r.runs["input_tokens"]) == [4, 4]  # "Hello big world {x}": interpolated, braces escaped
    assert "sim:fast+n=5 (simulated)" in cap.stdout and r.text in cap.stdout  # terminal text fallback


def test_repeat_uses_the_comparison_machinery(ip: InteractiveShell) -> None:
    with capture_output():
        ip.run_cell_magic("kral", "-m sim:instant+n=2 -m sim:instant+n=3 -n 3", "hi")
    runs = ip.user_ns["_kral"].runs
    assert len(runs) == 6 and list(runs["repeat"]) == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize(("line", "message"), [
    ("-m sim:fast -t 9", "temperature"),
    ("-m sim:fast --max-tokens 0", "max_tokens"),
    ("-m sim:fast --tools nope", "no such variable"),
    ("-m sim:fast --extra-body '{bad'", "--extra-body: expected a variable's name or JSON"),
    ("-m sim:fast --protocol grpc", "invalid choice"),
    ("-m warp:x -p warp", "unknown provider"),
    ("-m sim:fast -n 0", "repeat must be an integer from 1"),
    ("-m sim:fast --format pdf", "invalid choice"),
    ("-m 'sim:fast", "No closing quotation"),
    ("-m sim:fast --out __builtins__", "--out __builtins__: not a name"),
    ("-m sim:fast --out class", "--out class: not a name"),
    ("-m sim:fast --out 2x", "--out 2x: not a name"),
    ("-m nope:x", "unknown provider 'nope'"),
])
def test_bad_options_give_one_clear_line(ip: InteractiveShell, line: str, message: str) -> None:
    with capture_output() as cap:
        ip.run_cell_magic("kral", line, "hi")
    assert message in cap.stderr and "Traceback" not in cap.stderr + cap.stdout


def test_unknown_prompt_variable(ip: InteractiveShell) -> None:
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast", "hi {missing_var}")
    assert "{missing_var}" in cap.stderr


@pytest.mark.parametrize(("cell", "message"), [
    ("hi {", "literal braces"), ("hi }", "literal braces"), ("hi {0}", "positional field"),
    ("hi {x.missing}", "could not be filled"), ("hi {x[3]}", "could not be filled"),
])
def test_bad_prompt_braces_are_one_line(ip: InteractiveShell, cell: str, message: str) -> None:
    ip.user_ns["x"] = 1
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast+n=2", cell)
    assert cap.stderr.startswith("kral: ") and cap.stderr.count("\n") == 1 and message in cap.stderr


def test_quoted_model_names_lose_their_quotes(ip: InteractiveShell) -> None:
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m 'sim:fast+n=2' -m \"sim:fast+n=3\"", "hi")
    assert not cap.stderr
    assert list(ip.user_ns["_kral"].runs["model"]) == ["fast+n=2", "fast+n=3"]


def test_live_updates_are_throttled_and_end_with_a_final_refresh(
        ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kdisplay, "in_kernel", lambda: True)
    DEFAULTS.set("rate_hz", "10")
    try:
        with capture_output() as cap:  # records every display and every update
            ip.run_cell_magic("kral", "-m sim:steady+n=60 -m sim:fast+n=300", "hi")
    finally:
        DEFAULTS.set("rate_hz", "15")
    r = ip.user_ns["_kral"]
    e2e = float(r.runs["e2e_s"].max())
    n_chunks = int(r.runs["n_content_chunks"].sum())
    outputs = cap.outputs
    assert n_chunks == 360 and len(outputs) <= 10 * (e2e + 0.5) + 3  # << one per chunk
    final_panes = outputs[-2].data["text/html"]  # the final refresh, then the summary table
    assert all(t[:40] in final_panes for t in r.runs["text"]) and "✅ ok" in final_panes
    assert "<table" in outputs[-1].data["text/html"]


def test_markdown_is_made_safe() -> None:
    from kral_nb.views.markdown import Markdown, render

    assert render("costs $5 and $6") == "<p>costs &#36;5 and &#36;6</p>\n"  # literal in every renderer
    assert "<pre><code" in render("```python\nx = 1")  # an unclosed fence is code to the end
    text = "# Title\n\npara one\n\n```py\na\n\nb\n```\n\n- item\n\ntail"
    md = Markdown()
    for n in range(1, len(text) + 1):  # streamed: the settled blocks are reused, the result is the whole render
        assert md(text[:n], key="r") == render(text[:n]) or n < len(text)
    assert md(text, key="r") == render(text)


def test_interrupt_prints_one_line_and_keeps_partial(ip: InteractiveShell) -> None:
    timer = threading.Timer(0.6, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:slow+n=100 -m sim:slow+n=100@gemini", "hi")
    r = ip.user_ns["_kral"]
    assert set(r.runs["status"]) == {"cancelled"} and all(r.runs["text"].str.len() > 0)
    assert cap.stderr.count("\n") == 1 and "interrupted" in cap.stderr


def test_key_prompt_never_echoes_and_fails_clearly_without_stdin(
        ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    secret = "sk-kral-TESTKEY-123456"
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": secret)
    with capture_output() as cap:
        ip.run_line_magic("kral", "key kral")
    assert secret not in cap.stdout + cap.stderr and "set for this session" in cap.stdout

    def no_stdin(prompt: str = "") -> str:
        raise RuntimeError("StdinNotImplementedError")

    monkeypatch.setattr(getpass, "getpass", no_stdin)
    with capture_output() as cap:
        ip.run_line_magic("kral", "key openai")
    assert "cannot prompt" in cap.stderr


def test_config_and_history(ip: InteractiveShell) -> None:
    with capture_output() as cap:
        ip.run_line_magic("kral", "config model=sim:instant+n=2")
        ip.run_cell_magic("kral", "", "hi")
        ip.run_line_magic("kral", "config rate_hz=500")
        ip.run_line_magic("kral", "config rate_hz=1e-300")
        ip.run_line_magic("kral", "config model=nope:x")
        ip.run_line_magic("kral", "config provider=nope")
        ip.run_line_magic("kral", "config 'unclosed")
    lines = cap.stderr.strip().split("\n")
    assert len(lines) == 5 and all(line.startswith("kral: ") for line in lines)
    assert "rate_hz must be" in lines[0] and "rate_hz must be" in lines[1]
    assert "unknown provider 'nope'" in lines[2] and "unknown provider 'nope'" in lines[3]
    assert DEFAULTS.rate_hz == 15 and DEFAULTS.model == "sim:instant+n=2"
    assert ip.user_ns["_kral"].runs["model"].iloc[0] == "instant+n=2"
    DEFAULTS.set("model", "sim:fast")
    with capture_output() as cap:
        ip.run_line_magic("kral", "history")
    out: Any = cap.outputs[-1].data
    assert "instant+n=2" in out["text/html"]


def test_chat_widget_send_and_stop(sim_root: str, ip: InteractiveShell) -> None:
    from IPython.utils.capture import capture_output

    chat = kral_nb.ChatWidget(["sim:fast+n=8", "sim:fast+n=8@gemini", "sim:slow+n=200"],
                              selected=["sim:fast+n=8", "sim:fast+n=8@gemini"])
    with capture_output() as shown:
        chat._ipython_display_()  # what a cell ending in `chat` shows: the widget, then its transcript
    widget, transcript = shown.outputs
    assert "application/vnd.jupyter.widget-view+json" in widget.data and "kral-chat-live" in chat._dom_classes
    assert "nothing sent yet" in transcript.data["text/html"] and ":has(.kral-chat-live)" in transcript.data["text/html"]
    assert [c.value for c in chat.checks] == [True, True, False]  # one checkbox per model
    assert chat.children.index(chat.panes) < chat.children.index(chat.status)  # panes above the table
    chat.prompt.value = "hello"
    chat.prompt._on_msg(None, {"event": "submit"}, [])  # what Ctrl/Cmd+Enter in the prompt sends
    result = chat.wait(10)
    assert result is not None and list(chat.runs["status"]) == ["ok", "ok"]
    assert "<table" in chat.status.value
    assert chat.send.disabled is False and chat.stop.disabled is True
    for c in chat.checks:
        c.value = c.description == "sim:slow+n=200"
    chat.send.click()
    import time

    deadline = time.time() + 5
    while time.time() < deadline and not (chat.sweep and chat.sweep.result.run_list[0].text):
        time.sleep(0.05)
    chat.stop.click()
    chat.wait(10)
    assert list(chat.runs["status"]) == ["cancelled"] and chat.runs["text"].iloc[0]
    assert len(chat.history) == 2
    snapshot = chat._transcript().data  # what a saved notebook keeps, updated after each send
    assert snapshot.count("<b>Prompt:</b> hello") == 2 and "⏹ cancelled" in snapshot
    assert snapshot.count('class="kral-table"') == 2 and "jp-RenderedHTMLCommon" in chat.status.value


def test_chat_widget_renders_markdown_and_never_model_html() -> None:
    from kral_nb.record.recorder import Run
    from kral_nb.views import widgets

    run = Run("r", "sim", "fast", "openai", status="ok")
    run.text_parts.append("**bold** costs $5 <script>alert(1)</script>\n\n- item\n\n```py\nx<1\n```")
    out = panes.html_panes([run], 0, md=widgets.Markdown())
    assert "<strong>bold</strong>" in out and "<li>item</li>" in out and "<pre><code" in out
    assert "<script>" not in out and "&lt;script&gt;" in out and "costs &#36;5" in out
    assert "mathjax_ignore" in out


def test_chat_widget_reports_bad_input(sim_root: str) -> None:
    chat = kral_nb.ChatWidget(["sim:fast"])
    chat.prompt.value = "   "
    chat.send.click()
    assert "prompt is empty" in chat.status.value and chat.result is None


def test_the_load_form_runs_a_sweep_and_binds_a_load_result(ip: InteractiveShell) -> None:
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast+n=5+slots=2 --concurrency 1,3 --requests 6 --shards 1 "
                                  "--slo ttft_s=0.5,e2e_s=2 --out lr", "hi")
    lr = ip.user_ns["_kral"]
    assert isinstance(lr, kral_nb.LoadResult) and lr is ip.user_ns["lr"], cap.stderr
    assert list(lr.levels["level"]) == [1.0, 3.0] and list(lr.levels["requests"]) == [6, 6]
    assert lr.slo == {"ttft_s": 0.5, "e2e_s": 2.0} and "LoadResult 12 run(s)" in repr(lr)
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast --concurrency 1,x --requests 2", "hi")
    assert "--concurrency 1,x: expected comma-separated numbers" in cap.stderr and "Traceback" not in cap.stderr
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast --rate 5 --requests 2 --slo ttft", "hi")
    assert "--slo ttft: expected METRIC=SECONDS pairs" in cap.stderr
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast --rate 5 --requests 2 --slo ttfb=1", "hi")
    assert "slo must be positive limits in seconds for ttft_s, tpot_s, e2e_s" in cap.stderr


def test_the_capacity_form_searches_and_binds_a_capacity_result(ip: InteractiveShell) -> None:
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:steady+n=5+slots=2 --capacity --slo ttft_s=0.2 --search concurrency "
                                  "--probe-requests 10 --max-duration 20 --shards 1 --out found", "hi")
    found = ip.user_ns["_kral"]
    assert isinstance(found, kral_nb.CapacityResult) and found is ip.user_ns["found"], cap.stderr
    assert found.mode == "concurrency" and found.slo == {"ttft_s": 0.2} and len(found.probes) >= 3
    assert found.concurrency == 2, found.table()  # 2 slots of 0.14 s: a third in flight waits, TTFT 0.24 s
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast --capacity", "hi")
    assert "capacity() needs an SLO to hold" in cap.stderr and "Traceback" not in cap.stderr
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m sim:fast -m sim:slow --capacity --slo ttft_s=1", "hi")
    assert "--capacity searches one model" in cap.stderr
