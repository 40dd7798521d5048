"""``kral-nb`` / ``python -m kral_nb``: run a side-by-side comparison and write its results."""

from __future__ import annotations

import argparse
import os
import sys

from ..options import Options, SweepOptions
from ..results.files import atomic_write, writable
from . import args as cli_args

DEFAULT_MODELS = ["sim:fast", "sim:steady", "sim:slow", "sim:bursty@anthropic", "sim:reasoning@gemini"]
#: a terminal comparison's defaults where they differ from compare()'s
COMPARE_DEFAULTS = {"repeat": 3, "warmup": 1}
DEFAULT_PROMPT = "Explain in two sentences why streaming latency matters for chat interfaces."


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kral-nb", description="Watch and measure LLM streams.")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="run models side by side; print the runs; write frames and plots")
    c.add_argument("prompt", nargs="*", help=f"prompt(s) (default: {DEFAULT_PROMPT!r})")
    c.add_argument("-m", "--model", action="append", dest="models",
                   help="provider:model[@protocol], repeatable (default: the keyless sim profiles)")
    cli_args.add_arguments(c, SweepOptions, defaults=COMPARE_DEFAULTS)
    c.add_argument("--out", default="results", help="output folder (default: results)")
    c.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    c.add_argument("--no-plots", action="store_true")
    c.add_argument("--traces", action="store_true", help="keep raw reads and save them for sim replay")
    cli_args.add_arguments(c.add_argument_group("request options (as for kral_nb.run)"), Options, skip=("trace",))
    d = sub.add_parser("demo", help="execute the side-by-side notebook headlessly; write notebook, HTML, plots, frames")
    d.add_argument("--out", default="results", help="output folder (default: results)")
    d.add_argument("--notebook", default=None, help="notebook to run (default: notebooks/02-side-by-side.ipynb)")
    d.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    r = sub.add_parser("report", help="write one self-contained HTML report of saved frames")
    r.add_argument("source", help="folder written by to_parquet / to_csv / compare --out")
    r.add_argument("-o", "--output", default=None, help="HTML file (default: SOURCE/report.html)")
    r.add_argument("--title", default="kral_nb report")
    g = sub.add_parser("gate", help="fail (exit 1) when the candidate's runs regressed beyond a threshold, "
                                    "with 95%% confidence, against the baseline's")
    g.add_argument("--baseline", required=True, help="folder written by to_parquet / to_csv / compare --out")
    g.add_argument("--candidate", required=True, help="folder of the runs to check")
    g.add_argument("--metric", action="append", dest="metrics",
                   help="metric to gate on, repeatable (default: ttft_s)")
    g.add_argument("--max-regression", default="10%", help="allowed worsening of the median, e.g. 10%% (default)")
    g.add_argument("--seed", type=int, default=0)
    return ap


def report(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..report.html import write
    from ..results.export import read_any
    from ..results.result import Result

    try:
        frames = read_any(args.source)
    except ConfigError as exc:
        print(f"kral_nb report: {exc}", file=sys.stderr)
        return 2
    path = write(Result.from_frames(*frames), args.output or os.path.join(args.source, "report.html"),
                 title=args.title)
    print(f"kral_nb: wrote {os.path.abspath(path)}", file=sys.stderr)
    return 0


def gate(args: argparse.Namespace) -> int:
    """Exit 0: no metric regressed beyond the threshold with confidence; 1: one did, or the
    candidate measured nothing (every run failed); 2: no verdict (a folder missing or
    unreadable, different requests, no common model, a baseline that measured nothing)."""
    import pandas as pd

    from ..errors import ConfigError
    from ..report.regress import compare_runs, no_verdict, parse_fraction
    from ..report.regress import gate as regressed

    metrics = args.metrics or ["ttft_s"]
    try:
        limit = parse_fraction(args.max_regression)
        table = compare_runs(args.baseline, args.candidate, metrics=metrics, seed=args.seed)
    except ConfigError as exc:
        print(f"kral_nb gate: {exc}", file=sys.stderr)
        return 2
    failed = pd.concat([regressed(table, m, limit) for m in metrics])
    with pd.option_context("display.width", 200, "display.max_colwidth", 90):
        print(table[["model", "metric", "n_baseline", "n_candidate", "regression", "regression_ci_low",
                     "regression_ci_high", "verdict"]].to_string(index=False, float_format=lambda v: f"{v:+.1%}"))
    nothing, unknown = no_verdict(table)
    for line in nothing:
        print(f"kral_nb gate: FAIL {line}", file=sys.stderr)
    for row in failed.itertuples(index=False):
        print(f"kral_nb gate: FAIL {row.model} {row.metric}: regression at least "
              f"{row.regression_ci_low:.1%} (95% CI) > allowed {limit:.0%}", file=sys.stderr)
    if nothing or len(failed):
        return 1
    if unknown:
        for line in unknown:
            print(f"kral_nb gate: no verdict: {line}", file=sys.stderr)
        return 2
    print(f"kral_nb gate: pass (no regression beyond {limit:.0%} with 95% confidence)", file=sys.stderr)
    return 0


def demo(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .notebook import execute, shipped

    nb = args.notebook or shipped("02-side-by-side.ipynb")
    try:
        written = execute(nb, args.out, timeout_s=args.timeout)
    except ConfigError as exc:
        print(f"kral_nb: {exc}", file=sys.stderr)
        return 2
    print("kral_nb: wrote\n  " + "\n  ".join(written), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    import kral_nb

    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return demo(args)
    if args.command == "gate":
        return gate(args)
    if args.command == "report":
        return report(args)
    prompts = args.prompt or [DEFAULT_PROMPT]
    models = args.models or DEFAULT_MODELS
    try:
        writable(args.out)  # before any (billed) request: a folder it cannot write is said now
        sweep = cli_args.values(args, SweepOptions, defaults=COMPARE_DEFAULTS)
        print(f"kral_nb: {len(models)} model(s) x {len(prompts)} prompt(s) x "
              f"({sweep['warmup']} warmup + {sweep['repeat']}) runs; 'sim' is the simulated gateway", file=sys.stderr)
        result = kral_nb.compare(prompts, models, trace=args.traces, **{"progress": True, **sweep},
                                 **cli_args.values(args, Options))
    except kral_nb.Cancelled as exc:
        result = exc.result
        print("kral_nb: interrupted; writing the partial results", file=sys.stderr)
    except kral_nb.ConfigError as exc:
        print(f"kral_nb: {exc}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.4f}".format):
        runs = result.runs
        print(runs[["provider", "model", "protocol", "repeat", "warmup", "status", "ttft_s",
                    "e2e_s", "output_tokens", "output_tokens_per_s", "error"]].to_string(index=False))
        summary = result.summary()
        print("\nSummary (ok, non-warmup runs; medians with bootstrap 95% CI):")
        print(summary[["provider", "model", "protocol", "runs", "ok", "ttft_s_median", "ttft_s_ci_low",
                       "ttft_s_ci_high", "e2e_s_p50", "output_tokens_per_s_median"]].to_string(index=False))
        pairs = result.compare_pairs("ttft_s")
        if not pairs.empty:
            print("\nTTFT, pair by pair:")
            for v in pairs["verdict"]:
                print("  " + v)
    os.makedirs(args.out, exist_ok=True)
    if args.format == "parquet":
        result.to_parquet(args.out, traces=args.traces)
    else:
        result.to_csv(args.out, traces=args.traces)
    atomic_write(os.path.join(args.out, "summary.csv"), lambda p: summary.to_csv(p, index=False))
    atomic_write(os.path.join(args.out, "pairs.csv"), lambda p: pairs.to_csv(p, index=False))
    written = ["chunks", "runs", "summary.csv", "pairs.csv"]
    if not args.no_plots:
        written += [os.path.basename(p) for p in result.plot.save_all(args.out)]
    print(f"\nkral_nb: wrote {', '.join(written)} to {os.path.abspath(args.out)}", file=sys.stderr)
    return 0 if (runs["status"] == "ok").all() else 1


if __name__ == "__main__":
    sys.exit(main())
