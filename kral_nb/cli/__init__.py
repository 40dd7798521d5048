"""``kral-nb`` / ``python -m kral_nb``: the terminal face of kral_nb. ``compare`` and ``load``
run models and write frames, plots and a report; ``demo`` runs the side-by-side notebook;
``notebooks`` copies the shipped notebooks out; ``report`` and ``gate`` work on saved frames.
Results go to stdout (``--json``: one JSON document, nothing else there); messages and progress
to stderr. The command modules are imported only when their command runs."""

from __future__ import annotations

import argparse
import sys

EXIT_CODES = """exit codes:
  0  done: every run ok (compare), the sweep ran (load), no regression (gate)
  1  compare: a run was not ok; gate: a metric regressed, or the candidate measured nothing
  2  bad options, unreadable input, an output folder that cannot be written, no verdict
  130 interrupted (what arrived is written)"""


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from . import capacity, runs

    ap = argparse.ArgumentParser(prog="kral-nb", description="Watch and measure LLM streams.",
                                 epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"kral-nb {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="command")
    c = sub.add_parser("compare", help="run models side by side; tables; frames, plots and a report",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    runs.add_common(c, load=False)
    lo = sub.add_parser("load", help="sweep load levels (concurrency or arrival rate); the levels table; "
                                     "frames, plots and a report",
                        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    runs.add_common(lo, load=True)
    capacity.add(sub, EXIT_CODES)
    d = sub.add_parser("demo", help="execute the side-by-side notebook headlessly; write notebook, HTML, plots, "
                                    "frames and a report")
    d.add_argument("--out", default="results", help="output folder (default: results)")
    d.add_argument("--notebook", default=None, help="notebook to run (default: the shipped 02-side-by-side.ipynb)")
    d.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    n = sub.add_parser("notebooks", help="copy the notebooks kral_nb ships into a folder")
    n.add_argument("dir", help="folder to copy them into (created)")
    n.add_argument("--force", action="store_true", help="overwrite notebooks already there")
    r = sub.add_parser("report", help="write one self-contained HTML report of saved frames")
    r.add_argument("source", help="folder written by to_parquet / to_csv / compare --out")
    r.add_argument("-o", "--output", default=None, help="HTML file (default: SOURCE/report.html)")
    r.add_argument("--title", default="kral_nb report")
    g = sub.add_parser("gate", help="fail (exit 1) when the candidate's runs regressed beyond a threshold, "
                                    "with 95%% confidence, against the baseline's",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("--baseline", required=True, help="folder written by to_parquet / to_csv / compare --out")
    g.add_argument("--candidate", required=True, help="folder of the runs to check")
    g.add_argument("--metric", action="append", dest="metrics",
                   help="metric to gate on, repeatable (default: ttft_s)")
    g.add_argument("--max-regression", default="10%", help="allowed worsening of the median, e.g. 10%% (default)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--allow-different-requests", action="store_true",
                   help="compare runs that asked different things (or frames that do not record it)")
    g.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "capacity":
        from . import capacity

        return int(capacity.run(args))
    if args.command in ("compare", "load"):
        from . import runs

        return int(runs.compare(args) if args.command == "compare" else runs.load(args))
    from . import files

    return int(getattr(files, args.command)(args))


if __name__ == "__main__":
    sys.exit(main())
