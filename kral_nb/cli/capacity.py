"""``kral-nb capacity``: the highest rate (or concurrency) that holds an SLO, from a terminal:
a live bar per probe, then the probes table and the answer; the levels of every probe, the
attainment plot and the report written to ``--out``."""

from __future__ import annotations

import argparse
import json
import os

from ..options import CapacityOptions, Options
from ..results.files import atomic_write, remove_stale, write_text
from . import args as cli_args
from . import term

FILES = ["levels.csv", "capacity.json", "capacity.png", "report.html"]


def add(sub: argparse._SubParsersAction, epilog: str) -> None:  # type: ignore[type-arg]
    from .runs import DEFAULT_PROMPT

    p = sub.add_parser("capacity", help="find the highest load that holds an SLO (an adaptive search of load "
                                        "probes); the probes table; levels, plot and a report",
                       epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompt", nargs="*", help=f"prompt(s) (default: {DEFAULT_PROMPT!r})")
    p.add_argument("-m", "--model", default="sim:steady+n=30+slots=4",
                   help="provider:model[@protocol] (default: the sim with 4 slots, capacity ~10 requests/s)")
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG plot")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout (the answer and the probes)")
    cli_args.add_arguments(p.add_argument_group("capacity options (as for kral_nb.capacity)"), CapacityOptions)
    cli_args.add_arguments(p.add_argument_group("request options (as for kral_nb.run)"), Options)


def run(args: argparse.Namespace) -> int:
    """Exit 0: the search ran (whatever it found); 2: bad options or an output folder that
    cannot be written; 130: interrupted (the probes so far are written)."""
    import kral_nb

    from .runs import DEFAULT_PROMPT, _known, with_bars

    prompt = " ".join(args.prompt) or DEFAULT_PROMPT
    result, code = with_bars(args, CapacityOptions, lambda options: kral_nb.capacity(prompt, args.model, **options),
                             interrupted="interrupted: writing the probes so far")
    if result is None:
        return code
    lo, hi = result.bracket
    doc = {"answer": result.sentence(), "mode": result.mode, "capacity": lo, "bracket": [lo, hi],
           "slo": result.slo, "attainment": result.attainment, "why": result.why, "elapsed_s": result.elapsed_s}
    written = [atomic_write(os.path.join(args.out, "levels.csv"), lambda p: result.levels.to_csv(p, index=False)),
               write_text(os.path.join(args.out, "capacity.json"), json.dumps(doc, indent=2) + "\n")]
    if not args.no_plots:
        written.append(result.plot().save_png(os.path.join(args.out, "capacity.png")))
    written.append(result.to_html(os.path.join(args.out, "report.html"), title="kral_nb capacity"))
    remove_stale(args.out, [*FILES, *_known()], written)  # an earlier compare's or load's tables and plots
    if args.json:
        term.emit_json({**doc, "probes": term.records(result.table()), "written": written})
    else:
        term.show(result.table(), "Capacity search", caption=result.sentence())
    term.say("wrote " + ", ".join(os.path.relpath(p) for p in written))
    return code
