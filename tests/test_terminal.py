"""``kral-nb`` as people meet it in a terminal: tables in ms with no ``<NA>`` or ``nan``, the
verdicts as sentences, ``--json`` alone on stdout, documented exit codes, ``load`` in closed
and open loop writing frames and a report, options spelled once for the CLI and the magic."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kral_nb
from kral_nb.cli import build_parser
from kral_nb.options import LoadOptions, Options


def cli(args: list[str], sim_root: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KRAL_SIM_URL": sim_root, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "kral_nb", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_compare_prints_tables_people_read_and_writes_everything(sim_root: str, tmp_path: Path) -> None:
    out = cli(["compare", "Say hi", "-m", "sim:fast+n=6", "-m", "sim:slow+n=6", "-n", "3", "--out", "res"],
              sim_root, tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "<NA>" not in text and "nan" not in text.lower() and "NaT" not in text
    assert "TTFT p50 [95% CI] (ms)" in text and "sim:fast+n=6 (simulated)" in text
    assert "faster by" in text and "than sim:slow+n=6 (simulated), 95% CI [" in text  # a whole sentence
    assert "runs" in out.stderr and "wrote" in out.stderr  # progress and messages on stderr
    names = {p.name for p in (tmp_path / "res").iterdir()}
    assert {"runs.parquet", "chunks.parquet", "summary.csv", "pairs.csv", "report.html", "ttft.png"} <= names


def test_a_prompt_that_looks_like_a_model_gets_a_hint(sim_root: str, tmp_path: Path) -> None:
    out = cli(["compare", "sim:fast+n=4", "-m", "sim:fast+n=3", "-n", "1", "--warmup", "0", "--no-plots",
               "--out", "res"], sim_root, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "the prompt 'sim:fast+n=4' looks like a model; models are given with -m" in out.stderr
    plain = cli(["compare", "Say: hi", "-m", "sim:fast+n=3", "-n", "1", "--warmup", "0", "--no-plots",
                 "--out", "res2"], sim_root, tmp_path)
    assert plain.returncode == 0 and "looks like a model" not in plain.stderr


def test_compare_json_is_the_only_thing_on_stdout(sim_root: str, tmp_path: Path) -> None:
    out = cli(["compare", "hi", "-m", "sim:fast+n=4", "-n", "2", "--json", "--no-plots", "--out", "res"],
              sim_root, tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # one document, nothing else
    assert len(doc["runs"]) == 3 and doc["summary"][0]["ok"] == 2 and doc["pairs"] == []
    assert doc["runs"][0]["ttft_s"] > 0 and "written" in doc


def test_exit_codes_say_what_happened(sim_root: str, tmp_path: Path) -> None:
    failed = cli(["compare", "hi", "-m", "sim:fast+n=4+status=500", "-n", "1", "--warmup", "0", "--retries", "0",
                  "--no-plots", "--out", "r1"], sim_root, tmp_path)
    assert failed.returncode == 1 and "http_error" in failed.stdout
    bad = cli(["compare", "hi", "-m", "sim:fast", "--temperature", "9", "--out", "r2"], sim_root, tmp_path)
    assert bad.returncode == 2 and "temperature must be a number from 0 to 2" in bad.stderr
    assert "Traceback" not in bad.stderr + failed.stderr
    assert "exit codes:" in build_parser().format_help()


@pytest.mark.parametrize("form", [["--concurrency", "1,3", "--requests", "6"],
                                  ["--rate", "5,20", "--requests", "10", "--arrival", "constant"]])
def test_load_runs_from_a_terminal_and_writes_frames_and_a_report(sim_root: str, tmp_path: Path,
                                                                  form: list[str]) -> None:
    out = cli(["load", "hi", "-m", "sim:fast+n=4", *form, "--slo", "ttft_s=0.5", "--shards", "2", "--out", "lr"],
              sim_root, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "TTFT ≤ 500 ms" in out.stdout and "<NA>" not in out.stdout and "nan" not in out.stdout.lower()
    names = {p.name for p in (tmp_path / "lr").iterdir()}
    assert {"runs.parquet", "chunks.parquet", "levels.csv", "report.html", "load_goodput.png"} <= names
    back = kral_nb.read_parquet(str(tmp_path / "lr"))
    assert {"level", "cell", "scheduled_s"} <= set(back.runs.columns)  # the load columns are written too
    doc = cli(["load", "hi", "-m", "sim:fast+n=4", *form, "--json", "--no-plots", "--out", "lj"], sim_root, tmp_path)
    levels = json.loads(doc.stdout)["levels"]
    assert len(levels) == 2 and all(lv["achieved_rps"] > 0 for lv in levels)


def test_the_load_options_are_spelled_once_for_the_cli_and_the_magic() -> None:
    pytest.importorskip("IPython", reason="the notebook extra is not installed")
    from kral_nb.views.magic import KralMagics

    load_help = build_parser()._subparsers._group_actions[0].choices["load"].format_help()  # type: ignore[union-attr]
    magic_doc = KralMagics.kral.__doc__ or ""
    from kral_nb.cli.args import specs

    for options in (LoadOptions, Options):
        for name, flags, _ in specs(options):
            for flag in flags:
                assert flag in load_help and flag in magic_doc, (name, flag)
    names = {f.name for f in dataclasses.fields(LoadOptions)} | {f.name for f in dataclasses.fields(Options)}
    doc = kral_nb.load.__doc__ or ""
    assert all(f"{n}:" in doc for n in names)  # and the function's own help


def test_notebooks_are_copied_out_and_version_agrees(sim_root: str, tmp_path: Path) -> None:
    out = cli(["notebooks", "nbs"], sim_root, tmp_path)
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in (tmp_path / "nbs").iterdir())
    assert "02-side-by-side.ipynb" in names and all(n.endswith(".ipynb") for n in names) and len(names) >= 7
    again = cli(["notebooks", "nbs"], sim_root, tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert cli(["notebooks", "nbs", "--force"], sim_root, tmp_path).returncode == 0
    version = cli(["--version"], sim_root, tmp_path)
    assert version.stdout.strip() == f"kral-nb {kral_nb.__version__}"
