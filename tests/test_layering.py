"""The data flow is the architecture (docs/architecture.md): the folders are its layers and
these rules hold between them. The import reader sees every form — ``import a.b``,
``from . import x`` (x a module), relative and absolute, inside functions and under
``TYPE_CHECKING`` — and each rule is shown to catch a planted violation of itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PKG = Path(__file__).parent.parent / "kral_nb"

#: modules a pure stage may not import (I/O, UI, threads, the clock)
IMPURE = {"httpx", "httpcore", "IPython", "ipywidgets", "anywidget", "asyncio", "socket", "ssl", "selectors",
          "subprocess", "threading", "multiprocessing", "time", "urllib.request", "http.client", "matplotlib"}
CLOCKS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns", "now", "utcnow"}
#: kral_nb's own names for the clock (``clock.now_ns``, ``clock.wall_ns``), called bare
CLOCK_ALIASES = {"now_ns", "wall_ns", *CLOCKS}
IO_CALLS = {"open", "print", "input"}


@dataclass(frozen=True)
class Rule:
    """What modules under ``folder`` may import. ``pure``: no I/O, UI, thread or clock module
    and no clock read or ``open``/``print`` call; ``only``: kral_nb modules they may import
    (prefixes), else anything but ``never``."""

    folder: str
    why: str
    pure: bool = False
    only: frozenset[str] | None = None
    never: frozenset[str] = field(default_factory=frozenset)


RULES = [
    Rule("kral_nb.protocols", "wire formats: bytes and events in, chunks out", pure=True,
         only=frozenset({"kral_nb.protocols", "kral_nb.errors", "kral_nb.redact"})),
    Rule("kral_nb.record", "a run's records and the row derived from them", pure=True,
         only=frozenset({"kral_nb.record", "kral_nb.protocols", "kral_nb.errors", "kral_nb.redact"})),
    Rule("kral_nb.net", "the network and the clock serve everything above them, and know nothing of it",
         never=frozenset({"kral_nb.views", "kral_nb.report", "kral_nb.results", "kral_nb.loadgen", "kral_nb.cli",
                          "kral_nb.plan", "kral_nb.api", "kral_nb.sweeps", "kral_nb.workloads"})),
    Rule("kral_nb.servers", "helper processes know nothing of what runs on them",
         never=frozenset({"kral_nb.views", "kral_nb.report", "kral_nb.results", "kral_nb.loadgen", "kral_nb.cli",
                          "kral_nb.plan", "kral_nb.api", "kral_nb.sweeps"})),
    Rule("kral_nb.results", "frames and files never reach the network",
         never=frozenset({"kral_nb.net", "kral_nb.loadgen", "kral_nb.cli", "kral_nb.api", "kral_nb.sweeps"})),
    Rule("kral_nb.report", "statistics, plots and reports work on frames alone",
         never=frozenset({"kral_nb.net", "kral_nb.views", "kral_nb.loadgen", "kral_nb.cli", "kral_nb.api",
                          "kral_nb.sweeps"})),
    Rule("kral_nb.views", "views render snapshots; they never touch the network",
         never=frozenset({"kral_nb.net"})),
    Rule("kral_nb.loadgen", "the load generator runs anywhere (a shard, a Ray actor): no notebook views",
         never=frozenset({"kral_nb.views", "kral_nb.cli"})),
    Rule("kral_nb.workloads", "what a load sends: plain data every shard rebuilds the same; it reads its own "
         "files and knows nothing of how requests are built or sent",
         never=frozenset({"kral_nb.net", "kral_nb.views", "kral_nb.report", "kral_nb.loadgen", "kral_nb.cli",
                          "kral_nb.api", "kral_nb.sweeps", "kral_nb.plan", "kral_nb.servers"})),
]
#: the rules' stated exceptions, each with its reason
ALLOWED = {
    ("kral_nb.record.columnar", "threading"): "a lock between the engine thread that appends and the readers' "
                                              "snapshots; it starts no thread and does no I/O",
}
#: only this module builds an httpx client (pooled, stamped, proxies honoured)
CLIENT_BUILDER = "net/client.py"
#: where the clock may be read, and why
CLOCK_READERS = {
    "clock.py": "the one clock and the wall clock, named once",
    "net/": "arrival stamps, request start and end, deadlines, retry waits, loop lag",
    "sim/": "the simulated server's own schedule and send log",
    "servers/": "waiting for a helper server to answer; stopping one that outlived its parent",
    "loadgen/shard.py": "a load level's duration and the shard's own loop lag and CPU",
    "loadgen/driver.py": "a cell's due times, the closed loop's send times, a session's think time",
    "loadgen/pool.py": "the common start instant of a level's shards; waiting for shards",
    "loadgen/worker.py": "a shard process's journal of what it sent",
    "loadgen/raypool.py": "a level's common wall-clock start across hosts",
    "loadgen/rayactor.py": "each host's clock offset (its wall clock read beside the driver's)",
    "loadgen/view.py": "the live view's elapsed time and time left (shown, never recorded)",
    "loadgen/scrape.py": "when a server-metrics scrape happened, on the load's clock",
    "loadgen/capacity.py": "a capacity probe's time budget",
    "views/": "elapsed time on live panes (shown, never recorded)",
    "report/html.py": "the date a report was written (a label, never a measurement)",
    "results/store.py": "when a result was stored (stored_at, a label, never a measurement)",
    "results/files.py": "a unique temporary name for an atomic write",
    "cli/": "a terminal progress bar's elapsed time (shown, never recorded)",
}


def module_name(path: Path, root: Path = PKG) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool, exists: set[str]) -> set[str]:
    """Every module ``module``'s source imports, by absolute name: each import statement
    anywhere in the file (functions, ``TYPE_CHECKING``), relative forms resolved, and
    ``from P import x`` counted as ``P.x`` when ``P.x`` is a module in ``exists``."""
    out: set[str] = set()
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[: len(base) - node.level + 1]
                mod = ".".join([*parent, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in exists}
    return out


def package_graph(root: Path = PKG) -> dict[str, set[str]]:
    """kral_nb module -> every module (kral_nb's and others) it imports."""
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    exists = set(paths)
    return {name: imports(p.read_text(), name, p.name == "__init__.py", exists) for name, p in paths.items()}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(graph: dict[str, set[str]], sources: dict[str, str] | None = None) -> list[str]:
    """Every broken rule, in words."""
    out = []
    for module, deps in sorted(graph.items()):
        for rule in RULES:
            if not _under(module, rule.folder):
                continue
            for dep in sorted(deps):
                if (module, dep) in ALLOWED:
                    continue
                own = _under(dep, "kral_nb")
                if rule.pure and not own and any(_under(dep, bad) for bad in IMPURE):
                    out.append(f"{module} imports {dep}: {rule.folder} is pure ({rule.why})")
                if own and dep != "kral_nb" and rule.only is not None and not any(_under(dep, ok) for ok in rule.only):
                    out.append(f"{module} imports {dep}: {rule.folder} imports only {sorted(rule.only)} ({rule.why})")
                if any(_under(dep, bad) for bad in rule.never):
                    out.append(f"{module} imports {dep}: {rule.folder} never imports it ({rule.why})")
            if rule.pure and sources is not None and module in sources:
                for call in _calls(sources[module]):
                    if call in IO_CALLS or call in CLOCK_ALIASES:
                        out.append(f"{module} calls {call}(): {rule.folder} is pure ({rule.why})")
    return out + [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]


def _calls(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else "")
    return names


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles between kral_nb modules (lazy and TYPE_CHECKING imports count: the
    arrows point one way). A package importing its own modules, and a module importing the
    package it lives in, are not cycles."""
    own = {m: {d for d in deps if d in graph and d != m and not _under(m, d) and not _under(d, m)}
           for m, deps in graph.items()}
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(node: str, stack: list[str]) -> None:
        for dep in sorted(own[node]):
            if dep in stack:
                found.append([*stack[stack.index(dep):], dep])
            elif dep not in done:
                walk(dep, [*stack, dep])
        done.add(node)

    for m in sorted(own):
        if m not in done:
            walk(m, [m])
    return found


def _sources(root: Path = PKG) -> dict[str, str]:
    return {module_name(p, root): p.read_text() for p in root.rglob("*.py")}


def test_the_rules_hold() -> None:
    graph = package_graph()
    assert len(graph) > 60 and "kral_nb.record.recorder" in graph
    assert violations(graph, _sources()) == []


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("kral_nb.record.x", "from . import recorder\n", "kral_nb.record.recorder"),
    ("kral_nb.record.x", "from .. import net\n", "kral_nb.net"),
    ("kral_nb.record.x", "from ..net import engine\n", "kral_nb.net.engine"),
    ("kral_nb.record.x", "def f():\n    from ..views import panes\n", "kral_nb.views.panes"),
    ("kral_nb.record.x", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import kral_nb.net.engine\n",
     "kral_nb.net.engine"),
    ("kral_nb.protocols", "from . import openai\n", "kral_nb.protocols.openai"),
    ("kral_nb.record.x", "import time as t\n", "time"),
])
def test_the_reader_sees_every_import_form(module: str, source: str, expected: str) -> None:
    exists = {"kral_nb.record.recorder", "kral_nb.net", "kral_nb.net.engine", "kral_nb.views.panes",
              "kral_nb.protocols.openai"}
    assert expected in imports(source, module, module == "kral_nb.protocols", exists)


@pytest.mark.parametrize(("module", "deps", "source", "broken"), [
    ("kral_nb.protocols.x", {"asyncio"}, "", "is pure"),  # an I/O module in a pure folder
    ("kral_nb.record.x", {"kral_nb.net.engine"}, "", "imports only"),  # a pure folder reaching up
    ("kral_nb.record.x", set(), "def f():\n    return now_ns()\n", "calls now_ns()"),  # a clock read
    ("kral_nb.protocols.x", set(), "print('hi')\n", "calls print()"),  # I/O in a pure stage
    ("kral_nb.views.x", {"kral_nb.net.engine"}, "", "never imports"),  # a view importing the engine
    ("kral_nb.loadgen.x", {"kral_nb.views.panes"}, "", "never imports"),  # load importing the notebook views
    ("kral_nb.net.x", {"kral_nb.results.frames"}, "", "never imports"),
    ("kral_nb.report.x", {"kral_nb.net.client"}, "", "never imports"),
    ("kral_nb.results.x", {"kral_nb.loadgen.run"}, "", "never imports"),
    ("kral_nb.servers.x", {"kral_nb.plan"}, "", "never imports"),
])
def test_each_rule_catches_a_planted_violation(module: str, deps: set[str], source: str, broken: str) -> None:
    graph = {module: deps, **{d: set() for d in deps}}
    found = violations(graph, {module: source})
    assert any(broken in v for v in found), found


def test_a_planted_cycle_is_caught() -> None:
    graph = {"kral_nb.record.recorder": {"kral_nb.record.runrow"}, "kral_nb.record.runrow": {"kral_nb.record.recorder"}}
    assert cycles(graph) and "import cycle" in violations(graph)[0]
    assert not cycles({"kral_nb.protocols": {"kral_nb.protocols.openai"},
                       "kral_nb.protocols.openai": {"kral_nb.protocols"}})


def test_only_the_client_module_constructs_an_http_client() -> None:
    for path in PKG.rglob("*.py"):
        src = path.read_text()
        if "AsyncClient(" in src or "httpx.Client(" in src:
            assert str(path.relative_to(PKG)) == CLIENT_BUILDER, path


def test_clock_is_read_only_where_allowed() -> None:
    readers = set()
    for path in PKG.rglob("*.py"):
        rel = str(path.relative_to(PKG))
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if (isinstance(f, ast.Attribute) and name in CLOCKS) or (isinstance(f, ast.Name) and name in CLOCK_ALIASES):
                assert any(rel == k or rel.startswith(k) for k in CLOCK_READERS), f"{rel}:{node.lineno} reads the clock"
                readers.add(rel)
    assert {"net/netstream.py", "net/transport.py", "net/engine.py", "views/display.py"} <= readers


def test_the_top_holds_at_most_twelve_modules_and_every_module_is_short() -> None:
    top = sorted(p.name for p in PKG.glob("*.py"))
    folders = sorted(p.name for p in PKG.iterdir() if (p / "__init__.py").exists())
    assert len(top) <= 12 and len(folders) >= 5, (top, folders)
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 330}
    assert not long, long


def test_importing_kral_nb_is_light_and_run_loads_only_the_request_path() -> None:
    code = ("import sys, kral_nb; before = {m for m in sys.modules if m.startswith('kral_nb')}; "
            "kral_nb.run; after = {m for m in sys.modules if m.startswith('kral_nb')}; "
            "heavy = sorted(m for m in ('IPython', 'ipywidgets', 'matplotlib', 'pandas', 'ray') if m in sys.modules); "
            "print(len(before), sorted(m for m in after if m.startswith(('kral_nb.loadgen', 'kral_nb.views', "
            "'kral_nb.report', 'kral_nb.cli'))), heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert int(out[0]) <= 3, out  # kral_nb and its errors
    assert out[1].strip() == "[] []", out
