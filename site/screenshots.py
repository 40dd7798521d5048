"""Terminal screenshots for the docs, recorded by rich itself (SVG): ``python docs/screenshots.py``
runs ``kral-nb compare`` and ``kral-nb load`` against the keyless sim and writes
``docs/img/cli-compare.svg`` and ``docs/img/cli-load.svg``."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console

from kral_nb.cli import main, term

IMG = Path(__file__).parent / "img"


def shoot(name: str, argv: list[str], title: str) -> None:
    rec = Console(record=True, width=150, force_terminal=True, highlight=False)
    term.out, term.err = rec, rec  # the tables and the messages, as a terminal shows them
    with tempfile.TemporaryDirectory() as out:
        main([*argv, "--out", out, "--no-plots"])
    rec.save_svg(str(IMG / f"{name}.svg"), title=title)


shoot("cli-compare", ["compare", "Explain streaming in one sentence.", "-m", "sim:fast", "-m", "sim:steady",
                      "-m", "sim:slow+n=20", "-n", "5"], "kral-nb compare")
shoot("cli-load", ["load", "hi", "-m", "sim:steady+n=30+slots=4", "--concurrency", "1,4,12", "--duration", "3",
                   "--slo", "ttft_s=0.5"], "kral-nb load")
