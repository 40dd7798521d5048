"""kral_nb's plots as things to look at: drawn in two placeholder colours, then shown as SVG
whose text, axes and legend take the reader's colours — JupyterLab's theme variables in a
notebook (light or dark, and a theme switched later), the report's ``prefers-color-scheme``
palette — or saved as PNG in the light scheme for files.

How a plot follows the theme: every kral_nb plot is drawn on its own matplotlib ``Figure``
(never pyplot's, so no backend shows a second, PNG copy) inside :func:`theme`, which makes
text, ticks, spines and markers of emphasis :data:`FG` and legend boxes :data:`BG`, on a
transparent figure. :func:`svg` replaces the two placeholders with CSS (``currentColor`` and
a background variable), so the SVG inlined in HTML inherits the colours of where it is shown.
Series colours (tab10) read on both. Tick labels are plain numbers (``400``, ``60``, ``$0.0012``)
and text is never parsed as math. Pure rendering: no I/O but :func:`save_png`'s file.
"""

from __future__ import annotations

import functools
import html
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .. import fmt
from ..results.files import atomic_write

FG = "#010203"  # text, ticks, spines, medians: replaced by the reader's foreground
BG = "#fefdfc"  # legend boxes: replaced by the reader's background
FIGSIZE = (6.4, 3.9)  # inches: ~615 px wide, text at 10 pt stays readable scaled to a phone's width
LEGEND_PT = 8.5
#: the colours a notebook gives the SVG: JupyterLab's theme (VS Code's where Lab's are absent)
NOTEBOOK_FG = "var(--jp-ui-font-color1, var(--vscode-editor-foreground, #1b1b1b))"
NOTEBOOK_BG = "var(--jp-layout-color0, var(--vscode-editor-background, #fff))"

_RC = {
    "text.color": FG, "axes.labelcolor": FG, "axes.edgecolor": FG, "xtick.color": FG, "ytick.color": FG,
    "grid.color": FG, "grid.alpha": 0.22, "figure.facecolor": "none", "axes.facecolor": "none",
    "savefig.facecolor": "none", "legend.facecolor": BG, "legend.edgecolor": FG, "legend.framealpha": 0.85,
    "legend.fontsize": LEGEND_PT, "legend.title_fontsize": LEGEND_PT, "font.size": 10, "axes.titlesize": 11,
    "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9, "svg.fonttype": "none",
    "text.parse_math": False, "axes.formatter.useoffset": False, "patch.edgecolor": FG,
}

F = TypeVar("F", bound=Callable[..., Any])


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        from ..errors import ConfigError

        raise ConfigError("plots need matplotlib: pip install 'kral-nb[notebook]'") from None
    return matplotlib


@contextmanager
def theme() -> Iterator[None]:
    """Draw in the placeholder colours (every plot method runs inside it)."""
    with _matplotlib().rc_context(_RC):
        yield


def colors(n: int) -> list[Any]:
    """``n`` series colours (tab10, repeating), readable on light and dark."""
    cmap = _matplotlib().colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def axes(ax: Any, title: str) -> Any:
    """The given Axes, or a new figure's, titled and gridded: every kral_nb plot's frame. A new
    figure is a plain ``Figure`` (pyplot never sees it, so nothing displays it twice)."""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=FIGSIZE, layout="constrained").add_subplot()
    ax.set_title(title)
    ax.grid(True)
    return ax


def plain_ticks(axis: Any) -> None:
    """Plain numbers on a log axis (``1``, ``60``, ``400``, ``2,000``; never ``4×10²``). Minor
    ticks are labelled only where labels cannot crowd: 2, 3 and 5 of each decade when the axis
    spans at most two decades, 2 and 5 up to three."""
    import math

    from matplotlib.ticker import FuncFormatter

    def number(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:g}"

    def minor(v: float, _: Any) -> str:
        lo, hi = sorted(axis.get_view_interval())
        if v <= 0 or lo <= 0:
            return ""
        decades = math.log10(hi / lo)
        lead = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6)
        shown = (2.0, 3.0, 5.0) if decades <= 2 else (2.0, 5.0) if decades <= 3 else ()
        return number(v) if lead in shown else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: number(v)))
    axis.set_minor_formatter(FuncFormatter(minor))


def dollar_ticks(axis: Any) -> None:
    """Dollars on an axis (``$0.0012``), no offset or scientific label."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt.usd(v)))


def svg(figure: Any, *, fg: str = "currentColor", bg: str = NOTEBOOK_BG) -> str:
    """The figure as inline SVG, the placeholders replaced by ``fg`` and ``bg`` (CSS)."""
    buf = io.StringIO()
    with theme():  # svg.fonttype is read when saving: text stays text, in the page's font
        figure.savefig(buf, format="svg", bbox_inches="tight", facecolor="none")
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # no XML prolog or DOCTYPE: inline SVG
    return (text.replace(FG, fg).replace(BG, bg)
            .replace("'DejaVu Sans'", "system-ui, -apple-system, 'Segoe UI', sans-serif"))


def save_png(figure: Any, path: str) -> str:
    """A figure as a PNG file in the light scheme, atomically (``results/files.py``)."""
    return atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png", facecolor="white"))


class Plot:
    """A kral_nb plot: the matplotlib Axes (every Axes method works on it; ``.ax``,
    ``.figure``), shown in a notebook as SVG in the reader's theme. ``empty``: what to say
    instead of drawing when there is nothing to show (the Axes then holds that sentence).
    Drawn into an Axes you passed (``ax=``), it shows nothing itself: your figure is shown by
    your backend."""

    def __init__(self, ax: Any, *, own: bool = True, empty: str | None = None) -> None:
        self.ax, self.own, self.empty = ax, own, empty

    @property
    def figure(self) -> Any:
        return self.ax.figure

    def __getattr__(self, name: str) -> Any:
        if name in ("ax", "own", "empty"):  # not yet set (copy, pickle)
            raise AttributeError(name)
        return getattr(self.ax, name)

    def svg(self, *, fg: str = "currentColor", bg: str = NOTEBOOK_BG) -> str:
        return svg(self.figure, fg=fg, bg=bg)

    def html(self, *, fg: str = NOTEBOOK_FG, bg: str = NOTEBOOK_BG) -> str:
        """The plot in a ``<div>`` whose colour the SVG takes; a sentence when it is empty."""
        if self.empty is not None:
            return f'<p class="kral-plot-empty" style="color:{fg}"><i>{html.escape(self.empty)}</i></p>'
        return (f'<div class="kral-plot" style="color:{fg};max-width:100%;overflow-x:auto">'
                f"{self.svg(bg=bg)}</div>")

    def save_png(self, path: str) -> str:
        return save_png(self.figure, path)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        title = self.ax.get_title()
        plain = f"<kral_nb plot: {self.empty or title}>"
        if not self.own:
            return {"text/plain": plain}
        return {"text/html": self.html(), "text/plain": plain}

    def __repr__(self) -> str:
        return f"<kral_nb plot: {self.empty or self.ax.get_title()}>"


def plot(method: F) -> F:
    """A plot method: drawn inside :func:`theme`, returned as a :class:`Plot` (``own`` when it
    made its figure)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Plot:
        own = kwargs.get("ax") is None and not any(hasattr(a, "figure") for a in args)
        with theme():
            out = method(self, *args, **kwargs)
        if isinstance(out, Plot):
            out.own = own
            return out
        return Plot(out, own=own)

    return wrapper  # type: ignore[return-value]


def nothing_to_draw(ax: Any, sentence: str) -> Plot:
    """An Axes that says ``sentence`` instead of drawing an empty frame."""
    ax.axis("off")
    ax.text(0.5, 0.5, sentence, ha="center", va="center", wrap=True, transform=ax.transAxes)
    return Plot(ax, own=True, empty=sentence)
