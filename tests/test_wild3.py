"""The wild, third round, over real loopback HTTP: keys scrubbed from every artifact (before
anything shortens a message), nothing lost on a failed write, no verdict from nothing, model
text that cannot act in a browser, a stream that ends with its reader, bounded waits."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pandas as pd
import pytest

import kral_nb
from kral_nb.cli import main as cli

from .conftest import golden
from .hostile import SSE_HEAD, chunk, hostile, openai_events

KEY = "sk-live-0123456789abcdefSECRET"


async def echo_comment(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    """An SSE comment echoing the Authorization header; the key in one event written in two
    reads (split mid-key on the wire); the key split across two content events."""
    auth = next(line for line in req.split(b"\r\n") if line.lower().startswith(b"authorization"))
    w.write(SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(b": echo " + auth + b"\n\n"))
    await w.drain()
    event = b'data: {"choices":[{"delta":{"content":"echo ' + KEY.encode() + b' "}}]}\n\n'
    cut = event.index(KEY.encode()) + 10
    for piece in (event[:cut], event[cut:]):
        await asyncio.sleep(0.02)
        w.write(chunk(piece))
        await w.drain()
    half = len(KEY) // 2
    await asyncio.sleep(0.02)
    w.write(chunk(openai_events("your key: " + KEY[:half], KEY[half:] + " ok")) + chunk(b""))
    await w.drain()


async def echo_url(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    """A 404 echoing the request line (and so the URL's query) in its message."""
    line = req.split(b"\r\n")[0].decode()
    body = json.dumps({"error": {"message": f"no route for {line}", "type": "not_found"}}).encode()
    w.write(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    await w.drain()


def _long(prefix: bytes) -> bytes:
    """The key placed so that a 200-character cut would fall in its middle."""
    return prefix + b"x" * (190 - len(prefix)) + KEY.encode()


async def html_page(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    body = b"<html><body>" + _long(b"<p>") + b"</p></body></html>"
    w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    await w.drain()


async def malformed(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"\r\n" + b"data: {" + _long(b"") + b"\n\n")
    await w.drain()


async def wrong_shape(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"\r\n" + b'data: {"choices": [{"delta": {"content": 5, "pad": "' + _long(b"") + b'"}}]}\n\n')
    await w.drain()


async def perplexity(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"\r\n" + golden("openai", "perplexity_2025_no_done.sse"))
    await w.drain()


async def n_two(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    w.write(SSE_HEAD + b"\r\n" + golden("openai", "openai_n2.sse"))
    await w.drain()


async def slow_forever(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    """A chunk every 50 ms until the client goes away; notes when it did."""
    w.write(SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n")
    try:
        for i in range(400):
            w.write(chunk(openai_events(f"t{i} ", done=False)))
            await w.drain()
            await asyncio.sleep(0.05)
    except (ConnectionError, RuntimeError):
        GONE.append(time.monotonic())


async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    await asyncio.sleep(300)  # accepts, never answers


async def gzip_head_bad_tail(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    """A good compressed head and a corrupt tail in the same read."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    good = z.compress(openai_events("alpha ", "beta ", done=False)) + z.flush(zlib.Z_SYNC_FLUSH)
    body = good + b"\x00not deflate at all\xff" * 3
    w.write(SSE_HEAD + b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    await w.drain()


GONE: list[float] = []
ROUTES = {"/echo-comment": echo_comment, "/echo-url": echo_url, "/html": html_page, "/malformed": malformed,
          "/shape": wrong_shape, "/perplexity": perplexity, "/n2": n_two, "/slow": slow_forever,
          "/silent": silent, "/gzip-tail": gzip_head_bad_tail}


@pytest.fixture(scope="module")
def server() -> object:
    with hostile(ROUTES) as (url, h):
        yield url, h


def go(url: str, path: str, **kw: object) -> kral_nb.Result:
    kw.setdefault("retries", 0)
    kw.setdefault("api_key", KEY)
    return kral_nb.run("hi", model="llamacpp:m", base_url=f"{url}/{path}", check=False, **kw)  # type: ignore[arg-type]


def _no_key(text: str) -> None:
    for part in (KEY, KEY[:12], KEY[-12:]):
        assert part not in text, part


def test_a_key_echoed_in_a_comment_and_split_across_reads_reaches_no_artifact(server: object, tmp_path: Path) -> None:
    url, _ = server  # type: ignore[misc]
    r = go(url, "echo-comment", trace=True)
    assert r.status == "ok" and "ok" in r.text
    r.to_parquet(str(tmp_path / "p"), traces=True)
    r.to_csv(str(tmp_path / "c"), traces=True)
    kral_nb.store(str(tmp_path / "s")).append(r)
    r.to_html(str(tmp_path / "r.html"))
    texts = [r.text, repr(r), r._repr_html_(), r.chunks.to_string(), r.runs.to_string()]
    for f in tmp_path.rglob("*"):
        if f.is_file() and f.name != "traces.jsonl":
            texts.append(f.read_bytes().decode("latin-1"))
    for t in texts:
        _no_key(t)
    # the raw reads: the echoed header and the key cut between two reads are masked; a key
    # split across two events is not contiguous on the wire (it is in every text above)
    for f in tmp_path.rglob("traces.jsonl"):
        wire = "".join(data for _, data in json.loads(f.read_text())["reads"])  # the reads joined back
        assert "Bearer " + "*" * len(KEY) in wire and "echo " + "*" * len(KEY) in wire and KEY not in wire
    assert "***" in r.chunks["text"].fillna("").str.cat()  # the comment is kept, its key masked


def test_credentials_in_the_base_url_never_show(server: object) -> None:
    url, h = server  # type: ignore[misc]
    host = url.removeprefix("http://")
    user_only = go(url.replace("http://", f"http://{KEY}@"), "echo-url", api_key=None)  # a key as the user name
    query = go(url, f"echo-url/v1?key={KEY}&api-version=2024-10-21", api_key=None)
    for r in (user_only, query):
        assert r.status == "http_error"
        _no_key(r.error or "")
        _no_key(repr(r.run_list[0]) + r.runs.to_string())
    line = h.requests[-1].split(b"\r\n")[0].decode()
    assert line.startswith("POST /echo-url/v1/chat/completions?key=") and "api-version=2024-10-21" in line  # path, then query
    with pytest.raises(kral_nb.ConfigError) as info:
        kral_nb.run("hi", model="llamacpp:m", base_url=f"http://{host}:99999/v1?key={KEY}")
    _no_key(str(info.value))
    assert "key=***" in str(info.value)


@pytest.mark.parametrize("path", ["html", "malformed", "shape"])
def test_a_message_is_scrubbed_before_it_is_shortened(server: object, path: str) -> None:
    url, _ = server  # type: ignore[misc]
    r = go(url, path)
    assert r.status == "error" and r.error
    _no_key(r.error)
    _no_key(r.chunks["text"].fillna("").str.cat())


def test_providers_that_never_send_done_and_n_two_over_the_wire(server: object) -> None:
    url, _ = server  # type: ignore[misc]
    p = go(url, "perplexity", api_key=None)
    assert p.status == "ok" and p.runs["terminator"].iloc[0] == "none" and p.text.endswith("cats have staff.")
    two = go(url, "n2", api_key=None)
    assert two.text == "I'm unable to help." and two.runs["n_choices"].iloc[0] == 2
    other = two.chunks[two.chunks["choice"] == 1]
    assert other["text"].fillna("").str.cat() == "Sorry, I cannot help."


def test_a_stream_left_early_stops_at_once(server: object) -> None:
    url, _ = server  # type: ignore[misc]
    GONE.clear()
    s = kral_nb.stream("hi", model="llamacpp:m", base_url=f"{url}/slow", retries=0)
    t = time.monotonic()
    for i, _ in enumerate(s):
        if i == 3:
            break
    left = time.monotonic()
    deadline = time.monotonic() + 3
    while not GONE and time.monotonic() < deadline:
        time.sleep(0.02)
    assert GONE and GONE[0] - left < 1.0, (GONE, left - t)  # the server saw the connection close
    assert s.result.status == "cancelled" and s.result.run_list[0].final


def test_a_good_gzip_head_before_a_corrupt_tail_in_one_read_is_kept(server: object) -> None:
    url, _ = server  # type: ignore[misc]
    r = go(url, "gzip-tail")
    assert r.status == "error" and "decode" in (r.error or "")
    assert r.text == "alpha beta "


def test_a_load_level_waits_its_drain_not_the_idle_timeout(server: object) -> None:
    url, _ = server  # type: ignore[misc]
    t = time.monotonic()
    lr = kral_nb.load("hi", ["llamacpp:m"], base_url=f"{url}/silent", concurrency=[2], duration_s=1, drain_s=1.5,
                      shards=1, progress=False, retries=0)
    took = time.monotonic() - t
    assert took < 6, took  # 1 s + 1.5 s drain + the shard's start, not the 60 s idle timeout
    assert len(lr) == 2 and set(lr.runs["status"].astype(str)) == {"cancelled"}
    assert lr.runs["error"].str.contains("drain_s").all()


def test_the_history_is_bounded_and_clears(sim_root: str) -> None:
    from kral_nb.record.recorder import Run
    from kral_nb.results.history import History

    h = History(limit=3)
    h.keep(*[Run(f"r{i}", "sim", "m", "openai") for i in range(5)])
    assert [r.run_id for r in h.runs] == ["r2", "r3", "r4"] and h.dropped == 2
    h.clear()
    assert h.runs == []
    kral_nb.run("hi", model="sim:fast+n=2")
    assert len(kral_nb.history(clear=True)) >= 1 and len(kral_nb.history()) == 0


# -- nothing lost on a failed write ------------------------------------------------------------


def _result() -> kral_nb.Result:
    from kral_nb.record.replay import replay

    from .conftest import golden as g

    return kral_nb.Result([replay("openai", [(1000, g("openai", "text_usage.sse"))])])


def test_a_failed_write_leaves_the_previous_result_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = str(tmp_path / "out")
    first = _result()
    first.to_parquet(out)
    calls = []

    def boom(self: pd.DataFrame, path: str, **kw: object) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        Path(path).write_bytes(b"partial")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        _result().to_parquet(out)
    monkeypatch.undo()
    back = kral_nb.read_parquet(out)
    assert back.runs["run_id"].tolist() == first.runs["run_id"].tolist()
    assert sorted(os.listdir(out)) == ["chunks.parquet", "runs.parquet"]  # no temporary left


def test_a_new_result_replaces_every_file_of_the_old_one(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    old = _result()
    old.run_list[0].trace = [(1, b"data: x\n\n")]
    old.to_parquet(out, traces=True)
    new = _result()
    new.to_csv(out)  # CSV over Parquet, no traces: nothing of the old result may be read again
    assert sorted(os.listdir(out)) == ["chunks.csv", "runs.csv"]
    from kral_nb.results.export import read_any

    assert read_any(out)[1]["run_id"].tolist() == new.runs["run_id"].tolist()


def test_a_failed_store_append_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: pd.DataFrame, path: str, **kw: object) -> None:
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError):
        kral_nb.store(str(tmp_path)).append(_result())
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_forked_child_is_a_store_session_of_its_own(tmp_path: Path) -> None:
    from kral_nb.results import store

    parent = store.SESSION_ID
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its session id, then leave without cleanup
        os.write(w, store.SESSION_ID.encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 64).decode() != parent


def test_compare_checks_its_output_folder_before_sending_anything(server: object, tmp_path: Path) -> None:
    url, h = server  # type: ignore[misc]
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):
        pytest.skip("running as a user who can write anywhere (root without a read-only folder)")
    seen = len(h.requests)
    assert cli(["compare", "hi", "-m", "llamacpp:m", "--base-url", f"{url}/slow", "--out", str(locked / "x")]) == 2
    assert len(h.requests) == seen


def test_compare_refuses_an_output_path_that_is_a_file(server: object, tmp_path: Path) -> None:
    url, h = server  # type: ignore[misc]
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    seen = len(h.requests)
    assert cli(["compare", "hi", "-m", "llamacpp:m", "--base-url", f"{url}/slow", "--out", str(a_file)]) == 2
    assert len(h.requests) == seen  # nothing sent, nothing billed


# -- no verdict from nothing ---------------------------------------------------------------------


def _frames(tmp_path: Path, name: str, statuses: list[str], ttft: list[float]) -> str:
    from kral_nb.results.columns import COST_DTYPES, RUN_DTYPES

    base = _result()
    n = len(statuses)
    runs = pd.concat([base.runs] * n, ignore_index=True)
    runs["run_id"] = pd.array([f"{name}{i}" for i in range(n)], dtype="string")
    runs["status"] = pd.Categorical(statuses)
    runs["ttft_s"] = ttft
    runs["request_key"] = pd.array(["abc123def456"] * n, dtype="string")  # both sides asked the same
    folder = tmp_path / name
    kral_nb.Result.from_frames(base.chunks.iloc[:0], runs[[c for c in {**RUN_DTYPES, **COST_DTYPES} if c in runs]]).to_parquet(str(folder))
    return str(folder)


def test_a_candidate_whose_every_request_failed_fails_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _frames(tmp_path, "base", ["ok"] * 6, [0.1] * 6)
    cand = _frames(tmp_path, "cand", ["http_error"] * 6, [float("nan")] * 6)
    assert cli(["gate", "--baseline", base, "--candidate", cand]) == 1
    assert "measured nothing" in capsys.readouterr().err
    assert cli(["gate", "--baseline", cand, "--candidate", base]) == 2  # a broken baseline: no verdict


def test_a_corrupt_baseline_is_exit_2_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _frames(tmp_path, "base", ["ok"] * 6, [0.1] * 6)
    cand = _frames(tmp_path, "cand", ["ok"] * 6, [0.1] * 6)
    Path(base, "runs.parquet").write_bytes(b"PAR1 this is not parquet")
    assert cli(["gate", "--baseline", base, "--candidate", cand]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "Traceback" not in err


def test_frames_from_an_older_version_report_and_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = _result()
    old_runs = r.runs.drop(columns=["streamed", "terminator", "n_choices", "request", "request_key", "cost_usd",
                                    "input_cost_usd", "output_cost_usd", "cost_status", "price_source"])
    old = tmp_path / "old"
    old.mkdir()
    old_runs.to_parquet(old / "runs.parquet")
    r.chunks.drop(columns=["choice", "n_tokens"]).to_parquet(old / "chunks.parquet")
    assert cli(["report", str(old)]) == 0
    assert Path(old, "report.html").exists()
    assert cli(["gate", "--baseline", str(old), "--candidate", str(old), "--metric", "cost_usd"]) in (0, 2)
    err = capsys.readouterr().err
    assert "unknown metric" not in err and "Traceback" not in err


# -- model text that cannot act in a browser -------------------------------------------------------

HOSTILE_MD = ("[click](javascript:alert(1)) ![track](http://evil.example/pixel.png) "
              "[ok](https://example.com/page) [a [b] c](javascript:x)\n\n[ref]: javascript:y")


BYPASSES = ["``<img src=x onerror=alert(1)>`", "\\`[x](javascript:alert(1))\\`",
            "hello\n    ```\n<img src=x onerror=alert(1)>", "```a`\n<img src=x onerror=alert(1)>",
            "~~~\n```\n~~~\n<img src=x onerror=alert(1)>", "````\n```\n````\n![t](http://evil/t.png)",
            "[x](JaVaScRiPt:alert(1)) [y](&#106;avascript:alert(1)) <javascript:alert(1)> [d](data:text/html,x)"]


@pytest.mark.parametrize("text", [HOSTILE_MD, *BYPASSES])
def test_model_markdown_cannot_fetch_or_script(text: str) -> None:
    """Rendered by a CommonMark parser with raw HTML off (code found as a browser finds it),
    then defused: no image, no link but http(s) ones opening apart."""
    from kral_nb.views.markdown import render

    html = render(text).lower()
    assert "<img" not in html and 'href="javascript' not in html and 'href="data' not in html
    assert "<script" not in html and " onerror=" not in html.replace("&lt;img src=x onerror=", "")
    if "https://example.com/page" in text:
        assert 'href="https://example.com/page" rel="noopener noreferrer" target="_blank"' in render(text)


def test_a_blank_line_in_model_text_cannot_break_out_of_a_pane() -> None:
    """Panes are HTML all the way: tool arguments or an error with blank lines stay text."""
    from kral_nb.record.recorder import Run
    from kral_nb.views import panes
    from kral_nb.views.markdown import Markdown

    payload = "\n\n![t](http://evil/t.png) [c](javascript:alert(document.cookie))\n\n"
    run = Run("r", "sim", "fast", "openai", status="error", error="boom" + payload)
    run.text_parts.append(HOSTILE_MD)
    from kral_nb.protocols.records import ToolCall

    run.tool_calls[0] = ToolCall(0, "c1", "f", payload)
    for html in (panes.html_panes([run], 0, md=Markdown()), panes.html_panes([run], 0)):
        assert "<img" not in html and 'href="javascript' not in html and 'src="http://evil' not in html


def test_the_suite_runs_with_sigint_ignored() -> None:
    """Started like ``nohup`` (SIGINT ignored), the interrupt tests still pass: each installs
    the default handler itself (``conftest.sigint_raises``)."""
    code = ("import signal, sys, pytest; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-o', 'addopts=', "
            "'tests/test_api.py', '-k', 'keyboard_interrupt']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stdout + out.stderr


def test_gzip_body_helpers_stay_stdlib() -> None:
    """The valid prefix of a corrupt gzip read comes from zlib itself (a copy of the
    decompressor, bisected), no library of ours."""
    from kral_nb.protocols.encoding import BodyDecodeError, decoder_for

    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    good = z.compress(b"data: one\n\n") + z.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(BodyDecodeError) as info:
        decoder_for("gzip").decode(good + b"\x00\xffbroken")
    assert info.value.partial == b"data: one\n\n"
    assert gzip.decompress(gzip.compress(b"x")) == b"x"


# -- a second hostile review: the classes behind the first cases ------------------------------

ESCAPED = KEY.replace("-", "\\u002d")  # the key once JSON is decoded, not on the wire


async def escaped(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    body = ('data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
            'data: {"choices":[{"delta":{},"finish_reason":"' + ESCAPED + '"}],'
            '"usage":{"prompt_tokens":1,"completion_tokens":1,"echo":"' + ESCAPED + '"}}\n\ndata: [DONE]\n\n')
    w.write(SSE_HEAD + b"\r\n" + body.encode())
    await w.drain()


async def escaped_401(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    body = ('{"error":{"message":"bad key ' + ESCAPED + '"}}').encode()
    w.write(b"HTTP/1.1 401 X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    await w.drain()


async def split_between(r: asyncio.StreamReader, w: asyncio.StreamWriter, req: bytes) -> None:
    """The key's halves in two content deltas with a keepalive between; again in tool arguments."""
    a, b = KEY[:10], KEY[10:]
    events = [{"choices": [{"delta": {"content": "key " + a}}]}, None, {"choices": [{"delta": {"content": b + " end"}}]},
              {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f",
                                                                                         "arguments": '{"k":"' + a}}]}}]},
              {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": b + '"}'}}]}}]}]
    body = "".join(": keep-alive\n\n" if e is None else "data: " + json.dumps(e) + "\n\n" for e in events)
    w.write(SSE_HEAD + b"\r\n" + (body + "data: [DONE]\n\n").encode())
    await w.drain()


@pytest.mark.parametrize("handler", [escaped, escaped_401, split_between])
def test_a_key_in_json_escapes_or_split_around_other_chunks_reaches_nothing(handler: object, tmp_path: Path) -> None:
    from kral_nb.views import panes

    with hostile({"/x": handler}) as (url, _):  # type: ignore[dict-item]
        r = go(url, "x")
    r.to_parquet(str(tmp_path / "p"))
    kral_nb.Result.from_frames(r.chunks, r.runs).to_html(str(tmp_path / "r.html"))
    c = r.chunks
    joined = ["".join(c.loc[c["kind"] == k, "text"].dropna()) for k in ("text", "keepalive", "error")]
    for t in [r.runs.to_string(), c.to_string(), "".join(c["tool_args"].dropna()), *joined,
              panes.plain(r.run_list, 0), panes.html_panes(r.run_list, 0), r.error or "",
              *(f.read_bytes().decode("latin-1") for f in tmp_path.rglob("*") if f.is_file())]:
        _no_key(t)


def test_the_gate_never_passes_a_model_it_did_not_see_or_more_failures(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    base = _frames(tmp_path, "base", ["ok"] * 8, [0.1] * 8)
    more_failed = _frames(tmp_path, "cand", ["ok"] * 4 + ["error"] * 4, [0.1] * 8)
    assert cli(["gate", "--baseline", base, "--candidate", more_failed]) == 1
    assert "more runs failed (50% of the candidate's, 0% of the baseline's" in capsys.readouterr().err
    r = kral_nb.read_parquet(base)
    other = r.runs.assign(model=pd.Categorical(["other"] * len(r.runs)))
    elsewhere = tmp_path / "elsewhere"
    kral_nb.Result.from_frames(r.chunks, pd.concat([r.runs, other], ignore_index=True)).to_parquet(str(elsewhere))
    assert cli(["gate", "--baseline", str(elsewhere), "--candidate", base]) == 2  # 'other' not run by the candidate
    assert "the candidate has no runs of this model" in capsys.readouterr().err
    old = tmp_path / "old"
    old.mkdir()
    r.runs.drop(columns=["warmup", "request_key", "request"]).to_parquet(old / "runs.parquet")
    r.chunks.to_parquet(old / "chunks.parquet")
    assert cli(["gate", "--baseline", str(old), "--candidate", base]) == 2  # no request keys: no verdict
    assert "do not record what was asked" in capsys.readouterr().err
    assert cli(["gate", "--baseline", str(old), "--candidate", base, "--allow-different-requests"]) == 0


def test_a_folder_write_whose_rename_fails_puts_the_old_result_back(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from kral_nb.results import files

    out = str(tmp_path / "out")
    old = _result()
    old.to_csv(out)
    real = os.replace

    def flaky(src: str, dst: str) -> None:
        if str(dst).endswith("runs.csv") and str(src).endswith(".tmp"):  # as when another program holds the file
            raise PermissionError("in use")
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", flaky)
    with pytest.raises(PermissionError):
        _result().to_csv(out)
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == ["chunks.csv", "runs.csv"]
    from kral_nb.results.export import read_any

    chunks, runs = read_any(out)
    assert runs["run_id"].tolist() == old.runs["run_id"].tolist() == chunks["run_id"].unique().tolist()


def test_a_new_compare_removes_the_old_ones_plots(sim_root: str, tmp_path: Path) -> None:
    env = {**os.environ, "KRAL_SIM_URL": sim_root}
    run = [sys.executable, "-m", "kral_nb", "compare", "hi", "-m", "sim:fast+n=3", "-n", "1", "--warmup", "0",
           "--out", "res"]
    subprocess.run(run, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "res" / "ttft.png").exists()
    subprocess.run([*run, "--no-plots", "--format", "csv"], cwd=tmp_path, env=env, check=True, capture_output=True,
                   timeout=120)
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == [
        "chunks.csv", "pairs.csv", "report.html", "runs.csv", "summary.csv"]


def test_a_mistyped_credential_url_is_masked_in_the_error() -> None:
    with pytest.raises(kral_nb.ConfigError) as info:
        kral_nb.run("hi", model="llamacpp:m", base_url="http:/bob:hunter2pw@host/v1")
    assert "hunter2pw" not in str(info.value)
