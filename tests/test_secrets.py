"""Recognisable fake keys for every provider must appear nowhere: results, frames, reprs,
errors (including 401 bodies that echo the key), exports, the CLI, the magic, the widget,
log output."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import kral_nb
from kral_nb.options import Options
from kral_nb.protocols.request import RequestSpec
from kral_nb.providers import PRESETS
from kral_nb.redact import redact_url

from .hostile import hostile

KEYS = {var: f"FAKEKEY-{var}-0123456789" for p in PRESETS.values() for var in p.key_env}


@pytest.fixture(autouse=True)
def fake_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, key in KEYS.items():
        monkeypatch.setenv(var, key)


def assert_clean(*texts: object) -> None:
    blob = "\n".join(t.decode("latin-1") if isinstance(t, bytes) else str(t) for t in texts)
    for key in KEYS.values():
        assert key not in blob
        assert key[8:] not in blob  # no partial leak either


CASES = [("kral", "openai"), ("openai", "openai"), ("openrouter", "openai"), ("anthropic", "anthropic"),
         ("gemini", "gemini"), ("kral", "anthropic"), ("kral", "gemini")]


def base(sim_root: str, protocol: str) -> str:
    return sim_root if protocol == "gemini" else sim_root + "/v1"


@pytest.mark.parametrize(("provider", "protocol"), CASES)
def test_run_compare_errors_reprs_exports(provider: str, protocol: str, sim_root: str, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = base(sim_root, protocol)
    texts: list[object] = []
    ok = kral_nb.run("hi", model=f"{provider}:fast+n=3", protocol=protocol, base_url=url)
    texts += [ok, repr(ok), ok._repr_html_(), ok.runs.to_csv(), ok.chunks.to_csv()]
    with pytest.raises(kral_nb.HTTPStatusError) as info:  # the sim's 401 echoes the credentials
        kral_nb.run("hi", model=f"{provider}:fast+status=401", protocol=protocol, base_url=url, retries=0)
    assert "invalid API key" in str(info.value)
    texts += [info.value, repr(info.value), info.value.result.runs.to_csv(), info.value.result._repr_html_()]
    both = kral_nb.compare("hi", [f"{provider}:fast+n=2", f"{provider}:fast+status=401"], protocol=protocol,
                           base_url=url, retries=0, trace=True)
    both.to_parquet(str(tmp_path), traces=True)
    both.to_csv(str(tmp_path))
    texts += [p.read_bytes() for p in tmp_path.iterdir()]
    texts += [caplog.text, both.summary().to_csv(), kral_nb.history().runs.to_csv()]
    assert_clean(*texts)


def test_request_and_provider_reprs_redact() -> None:
    spec = RequestSpec("https://x/v1", {"authorization": "Bearer " + KEYS["KRAL_API_KEY"],
                                        "x-api-key": KEYS["ANTHROPIC_API_KEY"],
                                        "x-goog-api-key": KEYS["GEMINI_API_KEY"]}, {})
    assert_clean(repr(spec), repr(PRESETS["kral"]), repr(kral_nb.PRESETS))


def test_magic_and_widget(sim_root: str) -> None:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "kral_nb")
    with capture_output() as cap:
        ip.run_cell_magic("kral", "-m openai:fast+n=3 -m openai:fast+status=401 --out r",
                          "hi")
        ip.run_line_magic("kral", "history")
    outs = [o.data for o in cap.outputs]
    chat = kral_nb.ChatWidget(["anthropic:fast+status=401", "anthropic:fast+n=2"],
                              selected=["anthropic:fast+status=401", "anthropic:fast+n=2"],
                              base_url=sim_root + "/v1", retries=0)
    chat.prompt.value = "hi"
    chat.send.click()
    chat.wait(10)
    assert chat.runs is not None and "http_error" in set(chat.runs["status"])
    assert_clean(cap.stdout, cap.stderr, outs, ip.user_ns["r"].runs.to_csv(), chat.status.value,
                 chat.panes.value, chat.get_state(), chat._repr_mimebundle_())


def test_cli_output(sim_root: str, tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "kral_nb", "compare", "hi", "-m", "kral:fast+status=401",
                           "-n", "1", "--warmup", "0", "--out", str(tmp_path), "--no-plots"],
                          capture_output=True, text=True, env={**env, "KRAL_SIM_URL": sim_root}, timeout=120)
    # kral:... goes to api.kral.ai, which this machine cannot reach: an error, and no key in it
    assert_clean(proc.stdout, proc.stderr, *[p.read_bytes() for p in tmp_path.iterdir()])


@pytest.mark.slow
def test_executed_notebook_json_and_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # KRAL_API_KEY would switch the notebooks to the real gateway (no network here): every
    # other provider's fake key stays set, and the kernel inherits them.
    monkeypatch.delenv("KRAL_API_KEY")
    monkeypatch.delenv("KRAL_SIM_URL", raising=False)
    from kral_nb.cli.notebook import execute

    written = execute(str(Path(__file__).parent.parent / "notebooks" / "01-quickstart.ipynb"), str(tmp_path))
    assert any(p.endswith(".ipynb") for p in written) and any(p.endswith(".html") for p in written)
    assert_clean(*[Path(p).read_bytes() for p in written if os.path.isfile(p)])


# -- hostile echoes (issue: scrub before truncating, in-stream errors, encoded forms) ---------

KEY = "sk-live/ab+cd=ef-0123456789SECRET"  # '/', '+', '=' change under URL encoding
PASSWORD = "pa ss:w/ord-SECRET"


def echo_401(offset: int) -> object:
    async def handler(r: object, w: object, req: bytes) -> None:
        auth = next(line.split(b":", 1)[1].strip() for line in req.split(b"\r\n")
                    if line.lower().startswith(b"authorization:"))
        token = auth.split(b" ", 1)[1]
        body = b"x" * offset + token + b" " + quote(token.decode(), safe="").encode() + b" " + b"y" * 600
        w.write(b"HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s"  # type: ignore[attr-defined]
                % (len(body), body))
        await w.drain()  # type: ignore[attr-defined]

    return handler


async def echo_in_stream(r: object, w: object, req: bytes) -> None:
    auth = next(line.split(b":", 1)[1].strip() for line in req.split(b"\r\n")
                if line.lower().startswith(b"authorization:")).split(b" ", 1)[1].decode()
    body = (b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n' + b"event: error\ndata: "
            + json.dumps({"error": {"message": f"bad key {auth} / {quote(auth, safe='')} / {quote_plus(auth)}"}}).encode()
            + b"\n\n")
    w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s"  # type: ignore[attr-defined]
            % (len(body), body))
    await w.drain()  # type: ignore[attr-defined]


SECRET_FORMS = [KEY, quote(KEY, safe=""), quote_plus(KEY), PASSWORD, quote(PASSWORD, safe=""),
                base64.b64encode(f"user:{PASSWORD}".encode()).decode()]


def assert_no_secret(*texts: object) -> None:
    blob = "\n".join(t.decode("latin-1") if isinstance(t, bytes) else str(t) for t in texts)
    for s in SECRET_FORMS:
        assert s not in blob, s
        assert s[:12] not in blob, s[:12]  # no prefix left by a cut through the key


def verbose_tb(exc: BaseException) -> str:
    """IPython's verbose traceback (each frame's values) of kral_nb's frames: the first
    frame, the test's own (which names the key it passed), is left out."""
    from IPython.core.ultratb import VerboseTB

    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    text = VerboseTB(color_scheme="NoColor").text(type(exc), exc, tb)
    assert "kral_nb" in text and ("plan" in text or "_raise_for" in text)  # frames with values were shown
    return text


@pytest.mark.parametrize("offset", [0, 480, 495, 499, 500, 510])
def test_scrub_before_truncating_and_in_stream(offset: int, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with hostile({"/401": echo_401(offset), "/stream": echo_in_stream}) as (url, _):  # type: ignore[dict-item]
        texts: list[object] = []
        with pytest.raises(kral_nb.HTTPStatusError) as info:
            kral_nb.run("hi", model="llamacpp:m", base_url=f"{url}/401", api_key=KEY, retries=0)
        assert info.value.status == 401
        texts += [info.value, repr(info.value), verbose_tb(info.value),
                  "".join(traceback.format_exception(info.value.with_traceback(info.value.__traceback__.tb_next))), info.value.result.runs.to_csv()]
        r = kral_nb.run("hi", model="llamacpp:m", base_url=f"{url}/stream", api_key=KEY, check=False)
        assert r.status == "error" and "bad key ***" in r.error and r.text == "hi"
        texts += [r.runs.to_csv(), r.chunks.to_csv(), r._repr_html_()]
        r.to_parquet(str(tmp_path))
        texts += [p.read_bytes() for p in tmp_path.iterdir()]
        texts += [caplog.text]
        assert_no_secret(*texts)


def test_credentials_in_base_url_are_never_shown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with hostile({"/401": echo_401(10)}) as (url, _):  # type: ignore[dict-item]
        base = url.replace("http://", f"http://user:{quote(PASSWORD, safe='')}@") + "/401"
        with pytest.raises(kral_nb.HTTPStatusError) as info:
            kral_nb.run("hi", model="llamacpp:m", base_url=base, retries=0)
        sw = kral_nb.start("hi", [{"model": "llamacpp:m", "base_url": base}], retries=0, api_key=KEY)
        sw.wait()
        job = sw.jobs[0]
        texts = [info.value, verbose_tb(info.value), info.value.result.runs.to_csv(), repr(sw), repr(job),
                 repr(job.spec), str(job), sw.result.runs.to_csv(), caplog.text,
                 repr(Options.from_kwargs({"api_key": KEY, "base_url": base}))]
        assert "@" not in job.spec.url and "'authorization': '***'" in repr(job.spec)  # sent as Basic
        assert redact_url(base) == url.replace("http://", "http://***@") + "/401"
        assert_no_secret(*texts)


def test_a_bad_key_in_a_verbose_traceback() -> None:
    with pytest.raises(kral_nb.ConfigError) as info:
        kral_nb.run("hi", model="llamacpp:m", base_url="http://127.0.0.1:9/v1", api_key=KEY + "\n")
    assert_no_secret(verbose_tb(info.value), "".join(traceback.format_exception(info.value.with_traceback(info.value.__traceback__.tb_next))))
