"""Recognisable fake keys for every provider must appear nowhere: results, frames, reprs,
errors (including 401 bodies that echo the key), exports, the CLI, the magic, the widget,
log output."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import kral_nb
from kral_nb.providers import PRESETS
from kral_nb.request import RequestSpec

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
                 chat.panes.value, chat.get_state())


def test_cli_output(sim_root: str, tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "kral_nb", "compare", "hi", "-m", "kral:fast+status=401",
                           "-n", "1", "--warmup", "0", "--out", str(tmp_path), "--no-plots"],
                          capture_output=True, text=True, env={**env, "KRAL_SIM_URL": sim_root}, timeout=120)
    # kral:... goes to api.kral.ai, which this machine cannot reach: an error, and no key in it
    assert_clean(proc.stdout, proc.stderr, *[p.read_bytes() for p in tmp_path.iterdir()])


def test_executed_notebook_json_and_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # KRAL_API_KEY would switch the notebooks to the real gateway (no network here): every
    # other provider's fake key stays set, and the kernel inherits them.
    monkeypatch.delenv("KRAL_API_KEY")
    monkeypatch.delenv("KRAL_SIM_URL", raising=False)
    from kral_nb.notebook import execute

    written = execute(str(Path(__file__).parent.parent / "notebooks" / "01-quickstart.ipynb"), str(tmp_path))
    assert any(p.endswith(".ipynb") for p in written) and any(p.endswith(".html") for p in written)
    assert_clean(*[Path(p).read_bytes() for p in written if os.path.isfile(p)])
