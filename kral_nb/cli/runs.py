"""``kral-nb compare`` and ``kral-nb load``: run from a terminal, show the tables people read,
write the frames, plots and the report. The output folder is checked before any (billed)
request; an interrupt writes what arrived."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..errors import Cancelled, ConfigError, KralError
from ..options import LoadOptions, Options, OptionSet, SweepOptions
from ..results.files import atomic_write, remove_stale, writable
from . import args as cli_args
from . import term

DEFAULT_MODELS = ["sim:fast", "sim:steady", "sim:slow", "sim:bursty@anthropic", "sim:reasoning@gemini"]
DEFAULT_PROMPT = "Explain in two sentences why streaming latency matters for chat interfaces."
#: a terminal comparison's defaults where they differ from compare()'s
COMPARE_DEFAULTS = {"repeat": 3, "warmup": 1}
MAX_RUN_ROWS = 40  # runs listed one by one (more: the summary alone)


def add_common(p: argparse.ArgumentParser, *, load: bool) -> None:
    p.add_argument("prompt", nargs="*", help=f"prompt(s) (default: {DEFAULT_PROMPT!r})")
    p.add_argument("-m", "--model", action="append", dest="models",
                   help="provider:model[@protocol], repeatable (default: the keyless sim profiles)")
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="frames as (default: parquet)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout (the tables' numbers)")
    if load:
        cli_args.add_arguments(p.add_argument_group("load options (as for kral_nb.load)"), LoadOptions)
    else:
        cli_args.add_arguments(p.add_argument_group("comparison options (as for kral_nb.compare)"), SweepOptions,
                               defaults=COMPARE_DEFAULTS)
    cli_args.add_arguments(p.add_argument_group("request options (as for kral_nb.run)"), Options)


def _runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    from .. import fmt

    return pd.DataFrame({
        "model": [fmt.model_label(p, m, pr) for p, m, pr in zip(runs["provider"], runs["model"], runs["protocol"],
                                                                 strict=True)],
        "run": ["warmup" if w else str(r) for r, w in zip(runs["repeat"], runs["warmup"], strict=True)],
        "status": runs["status"].astype(str),
        "TTFT (ms)": runs["ttft_s"].map(lambda v: fmt.ms(v, unit=False)),
        "e2e (ms)": runs["e2e_s"].map(lambda v: fmt.ms(v, unit=False)),
        "tokens": [fmt.tokens(n, s) for n, s in zip(runs["output_tokens"], runs["tokens_source"].astype(str),
                                                    strict=True)],
        "tok/s": runs["output_tokens_per_s"].map(fmt.number),
        "error": runs["error"].map(lambda v: "" if fmt.missing(v) else str(v)),
    })


def _write(result: Any, args: argparse.Namespace, *, traces: bool = False) -> list[str]:
    """Frames, plots and the report into ``--out``."""
    from ..report.html import write as write_report

    if args.format == "parquet":
        result.to_parquet(args.out, traces=traces)
    else:
        result.to_csv(args.out, traces=traces)
    written = [os.path.join(args.out, f"{k}.{args.format}") for k in ("chunks", "runs")]
    if not args.no_plots:
        written += result.plot.save_all(args.out)
    written.append(write_report(result, os.path.join(args.out, "report.html"), title=f"kral_nb {args.command}"))
    return written


def _shown(path: str) -> str:
    """A path as people want to read it: relative under the current folder, else absolute."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel


def _known() -> list[str]:
    """Every file a ``compare`` or ``load`` writes besides the frames."""
    from ..report.plots import Plots

    plots = [f"{n}.png" for n in Plots.NAMES] + [f"load_{n}.png" for n in ("ttft", "tpot", "goodput", "ttft_by_input",
                                                                         "timeline", "server")]
    return [*plots, "summary.csv", "pairs.csv", "levels.csv", "report.html", "capacity.json", "capacity.png"]


def _warn_model_like(prompts: list[str]) -> None:
    """A prompt such as ``sim:fast+n=5`` was almost surely meant as a model: say so (it is
    still sent as typed; models go after ``-m``)."""
    from ..providers import PRESETS

    for p in prompts:
        prefix, colon, rest = p.partition(":")
        if colon and rest and prefix in PRESETS and not any(ch.isspace() for ch in p):
            term.say(f"the prompt {p!r} looks like a model; models are given with -m (e.g. -m {p}). "
                     "It is sent as a prompt to the models below.")


def compare(args: argparse.Namespace) -> int:
    """Exit 0: every run ok; 1: some run was not; 2: bad options or an output folder that
    cannot be written (nothing sent); 130: interrupted (what arrived is written)."""
    import kral_nb

    from ..report.tables import pairs_table, summary_table

    prompts, models = args.prompt or [DEFAULT_PROMPT], args.models or DEFAULT_MODELS
    _warn_model_like(prompts)
    try:
        writable(args.out)  # before any (billed) request
        sweep = cli_args.values(args, SweepOptions, defaults=COMPARE_DEFAULTS)
        options = cli_args.values(args, Options)
        planned = len(prompts) * len(models) * (sweep["repeat"] + sweep["warmup"])
        term.say(f"{len(models)} model(s) × {len(prompts)} prompt(s) × ({sweep['warmup']} warmup + "
                 f"{sweep['repeat']}) runs; 'sim' is the simulated gateway")
        code = 0
        with term.RunBar(planned, enabled=not args.json and sweep.get("cluster") is None) as bar:
            try:
                result = kral_nb.compare(prompts, models, on_done=bar.done, **{**sweep, "progress": False},
                                         **options)
            except Cancelled as exc:
                result, code = exc.result, 130
                term.say("interrupted: writing what arrived")
    except KralError as exc:
        term.say(f"[red]{exc}[/red]")
        return 2
    runs = result.runs
    summary, pairs = result.summary(), result.compare_pairs("ttft_s")
    written = _write(result, args, traces=bool(options.get("trace")))  # --trace: raw reads, for sim replay
    written += [atomic_write(os.path.join(args.out, "summary.csv"), lambda p: summary.to_csv(p, index=False)),
                atomic_write(os.path.join(args.out, "pairs.csv"), lambda p: pairs.to_csv(p, index=False))]
    remove_stale(args.out, _known(), written)
    if args.json:
        term.emit_json({"runs": term.records(runs.drop(columns=["text", "request"], errors="ignore")),
                        "summary": term.records(pd.DataFrame(summary)), "pairs": term.records(pd.DataFrame(pairs)),
                        "written": written})
    else:
        if len(runs) <= MAX_RUN_ROWS:
            term.show(_runs_table(runs), "Runs")
        term.show(summary_table(summary), "Summary", caption="ok, non-warmup runs; medians with a bootstrap 95% CI")
        if len(pairs):
            term.show(pairs_table(pairs).drop(columns=["verdict"]), "TTFT, pair by pair")
            for v in pairs["verdict"]:  # the verdicts as sentences, whole
                term.out.print(f"  • {v}")
    term.say("wrote " + ", ".join(_shown(p) for p in written))
    if code:
        return code
    return 0 if (runs["status"].astype(str) == "ok").all() else 1


def with_bars(args: argparse.Namespace, options_set: type[OptionSet], call: Callable[[dict[str, Any]], Any], *,
              interrupted: str) -> tuple[Any, int]:
    """Run ``call(options)`` (a load or a capacity search) with a live bar per level: the
    output folder checked first, an interrupt keeping what arrived (code 130), a failure that
    carries a partial result keeping it (code 2). (None, 2): nothing to write."""
    bars = term.LevelBars()
    try:
        writable(args.out)
        options = {**cli_args.values(args, options_set), **cli_args.values(args, Options)}
        with bars.shown(enabled=not args.json):
            try:
                return call({**options, "progress": bars if not args.json else False}), 0
            except Cancelled as exc:
                term.say(interrupted)
                return exc.result, 130
    except KralError as exc:
        term.say(f"[red]{exc}[/red]")
        if isinstance(exc, ConfigError) or exc.result is None:
            return None, 2
        return exc.result, 2  # e.g. a level's shards all died: write the levels before it


def load(args: argparse.Namespace) -> int:
    """Exit 0: the sweep ran (failed requests are data in its frames); 2: bad options, an
    output folder that cannot be written, or a level whose every shard died; 130: interrupted."""
    import kral_nb

    _warn_model_like(args.prompt or [])
    prompt = " ".join(args.prompt) or DEFAULT_PROMPT
    models = args.models or ["sim:fast"]
    result, code = with_bars(args, LoadOptions, lambda options: kral_nb.load(prompt, models, **options),
                             interrupted="interrupted: writing what arrived")
    if result is None:
        return code
    written = _write(result, args)
    written.append(atomic_write(os.path.join(args.out, "levels.csv"), lambda p: result.levels.to_csv(p, index=False)))
    remove_stale(args.out, _known(), written)
    if args.json:
        term.emit_json({"title": result.title(), "levels": term.records(result.levels), "written": written})
    else:
        term.show(result.table(), f"Load · {result.title()}",
                  caption="rates over each level's measurement window (after warmup, to its last response)")
        if result.levels["client_saturated"].any():
            term.say("[yellow]client saturated at some levels: those numbers measured the client, not the "
                     "server — add shards or machines[/yellow]")
    term.say("wrote " + ", ".join(_shown(p) for p in written))
    return code
