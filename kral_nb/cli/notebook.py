"""Execute a notebook headlessly (nbclient) and write it, an HTML copy (nbconvert) and
whatever the notebook itself saves (plots, frames: it reads ``$KRAL_NB_OUT``)."""

from __future__ import annotations

import os
import sys

from ..errors import ConfigError
from ..results.files import atomic_write, write_text


def execute(path: str, out_dir: str, *, timeout_s: int = 900) -> list[str]:
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbconvert import HTMLExporter
    except ImportError:
        raise ConfigError("running notebooks needs: pip install 'kral-nb[notebook]'") from None
    if not os.path.isfile(path):
        raise ConfigError(f"no notebook at {path}; `kral-nb notebooks DIR` copies out the ones kral_nb ships")
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    before = set(os.listdir(out_dir))
    os.environ["KRAL_NB_OUT"] = out_dir
    nb = nbformat.read(path, as_version=4)
    name = os.path.basename(path)
    print(f"kral_nb: executing {name} (cell by cell; the first local-model cell loads the model)",
          file=sys.stderr)
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": out_dir}})  # the kernel works in the output folder
    try:
        client.execute()
    finally:
        executed = os.path.join(out_dir, name)
        atomic_write(executed, lambda tmp: nbformat.write(nb, tmp))
        html, _ = HTMLExporter().from_notebook_node(nb)
        write_text(executed.removesuffix(".ipynb") + ".html", html)
    if os.path.exists(os.path.join(out_dir, "runs.parquet")):  # the frames the notebook saved
        from ..report.html import write
        from ..results.export import read_any
        from ..results.result import Result

        write(Result.from_frames(*read_any(out_dir)), os.path.join(out_dir, "report.html"),
              title=f"kral_nb report: {name}")
    made = sorted(set(os.listdir(out_dir)) - before) or sorted(os.listdir(out_dir))
    return [os.path.join(out_dir, f) for f in made]


def shipped(name: str = "") -> str:
    """The notebooks kral_nb ships (package data ``kral_nb.notebooks``: the repository's
    ``notebooks/`` folder), or one of them by file name."""
    from importlib.resources import files

    folder = files("kral_nb.notebooks")
    return str(folder / name) if name else str(folder)
