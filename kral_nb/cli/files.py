"""The CLI's commands on files: ``demo`` (the main job: the side-by-side notebook, executed),
``notebooks`` (copy the shipped notebooks out), ``report`` and ``gate`` (on saved frames)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

import pandas as pd

from ..errors import ConfigError
from . import term


def demo(args: argparse.Namespace) -> int:
    """Exit 0: written; 2: the notebook is missing or a cell failed to run."""
    from .notebook import execute, shipped

    try:
        written = execute(args.notebook or shipped("02-side-by-side.ipynb"), args.out, timeout_s=args.timeout)
    except ConfigError as exc:
        term.say(f"[red]{exc}[/red]")
        return 2
    print("kral_nb: wrote\n  " + "\n  ".join(written), file=sys.stderr)
    return 0


def notebooks(args: argparse.Namespace) -> int:
    """Copy the notebooks kral_nb ships into ``DIR`` (never over an existing file without
    ``--force``). Exit 0: copied; 2: a file is in the way."""
    from .notebook import shipped

    folder = shipped()
    names = sorted(n for n in os.listdir(folder) if n.endswith(".ipynb"))
    os.makedirs(args.dir, exist_ok=True)
    clash = [n for n in names if os.path.exists(os.path.join(args.dir, n))]
    if clash and not args.force:
        term.say(f"[red]{args.dir} already holds {', '.join(clash)}: pass --force to overwrite them[/red]")
        return 2
    for n in names:
        shutil.copyfile(os.path.join(folder, n), os.path.join(args.dir, n))
    term.say(f"copied {len(names)} notebooks to {os.path.abspath(args.dir)} "
             f"(open them with `jupyter lab {args.dir}`)")
    return 0


def report(args: argparse.Namespace) -> int:
    """Exit 0: written; 2: the folder holds no readable frames."""
    from ..report.html import write
    from ..results.export import read_any
    from ..results.result import Result

    try:
        frames = read_any(args.source)
    except ConfigError as exc:
        term.say(f"[red]report: {exc}[/red]")
        return 2
    path = write(Result.from_frames(*frames), args.output or os.path.join(args.source, "report.html"),
                 title=args.title)
    term.say(f"wrote {os.path.abspath(path)}")
    return 0


def gate(args: argparse.Namespace) -> int:
    """Exit 0: no metric regressed beyond the threshold with 95% confidence; 1: one did, or
    the candidate measured nothing (every run failed); 2: no verdict (a folder missing or
    unreadable, different requests, no common model, a baseline that measured nothing)."""
    from ..report.regress import compare_runs, no_verdict, parse_fraction
    from ..report.regress import gate as regressed

    metrics = args.metrics or ["ttft_s"]
    try:
        limit = parse_fraction(args.max_regression)
        table = compare_runs(args.baseline, args.candidate, metrics=metrics, seed=args.seed,
                             allow_different_requests=args.allow_different_requests)
    except (ConfigError, KeyError, ValueError, TypeError) as exc:  # never a traceback (exit 1 means "regressed")
        term.say(f"[red]gate: {exc}[/red]")
        if args.json:
            term.emit_json({"verdict": "no verdict", "reason": str(exc), "rows": []})
        return 2
    failed = pd.concat([regressed(table, m, limit) for m in metrics])
    nothing, unknown = no_verdict(table, limit)
    verdict = "fail" if nothing or len(failed) else "no verdict" if unknown else "pass"
    if args.json:
        term.emit_json({"verdict": verdict, "max_regression": limit, "failures": nothing + [
            f"{r.model} {r.metric}" for r in failed.itertuples(index=False)], "no_verdict": unknown,
            "rows": term.records(table)})
    else:
        term.show(_gate_table(table), f"Baseline vs candidate (allowed: {limit:.0%} worse)")
    for line in nothing:
        term.say(f"[red]FAIL {line}[/red]")
    for row in failed.itertuples(index=False):
        term.say(f"[red]FAIL {row.model} {row.metric}: at least {row.regression_ci_low:.1%} worse (95% CI), "
                 f"allowed {limit:.0%}[/red]")
    if verdict == "fail":
        return 1
    for line in unknown:
        term.say(f"[yellow]no verdict: {line}[/yellow]")
    if verdict == "no verdict":
        return 2
    term.say(f"[green]pass[/green]: no regression beyond {limit:.0%} with 95% confidence")
    return 0


def _gate_table(table: pd.DataFrame) -> pd.DataFrame:
    def pct(v: Any) -> str:
        return "—" if v != v else f"{v:+.1%}"

    return pd.DataFrame({
        "model": table["model"], "metric": table["metric"],
        "runs ok (base / cand)": [f"{a} / {b}" for a, b in zip(table["ok_baseline"], table["ok_candidate"], strict=True)],
        "change [95% CI]": [f"{pct(c)} [{pct(lo)}, {pct(hi)}]" for c, lo, hi in zip(
            table["change"], table["change_ci_low"], table["change_ci_high"], strict=True)],
        "verdict": table["verdict"],
    })
