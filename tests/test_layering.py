"""The data flow is the architecture: pure stages import no I/O, UI or clock; only the
client module builds an httpx client; the clock is read only where listed, for a reason."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).parent.parent / "kral_nb"
PURE = ["arrivals.py", "levels.py", "loadgather.py", "sse.py", "records.py", "recorder.py", "runrow.py", "resultview.py", "pipeline.py", "metrics.py", "replay.py", "request.py", "columns.py",
        "encoding.py", "messages.py", "redact.py", "frames.py", "panes.py",
        "protocols/__init__.py", "protocols/shape.py", "protocols/openai.py", "protocols/anthropic.py",
        "protocols/gemini.py"]
FORBIDDEN = {"httpx", "IPython", "ipywidgets", "asyncio", "socket", "kral_nb.transport", "kral_nb.client",
             "kral_nb.engine", "time", "threading"}


CLOCKS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns", "now",
          "utcnow"}
#: kral_nb's own names for the clock (``now_ns = time.perf_counter_ns``), called bare
CLOCK_ALIASES = {"now_ns", "perf_ns", *CLOCKS}
#: where the clock may be read, and why
CLOCK_READERS = {
    "netstream.py": "arrival stamps as the loop delivers received bytes, the one measurement clock",
    "kernelstamp.py": "the kernel's receive time moved onto that clock (the two clocks' offset)",
    "transport.py": "request start and end of a run (and, from the reads, how late the loop was)",
    "engine.py": "deadlines, retry waits, loop lag",
    "sim/": "the simulated server's own schedule and send log",
    "startup.py": "waiting for a helper server (sim, llama.cpp) to answer before a run starts",
    "helpers.py": "stopping a helper that outlived its parent",
    "shard.py": "a load level's schedule (due times, duration) and the shard's own loop lag and CPU",
    "shardpool.py": "the common start instant of a level's shards",
    "raypool.py": "a level's common wall-clock start across hosts",
    "rayactor.py": "each host's clock offset (its wall clock read beside the driver's)",
    "loadview.py": "the live view's elapsed time (shown, never recorded)",
    "display.py": "elapsed time on a live pane (shown, never recorded)",
    "widgets.py": "elapsed time on a live pane (shown, never recorded)",
    "report.py": "the date a report was written (a label, never a measurement)",
    "store.py": "when a result was stored (stored_at, a label, never a measurement)",
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = "kral_nb" if path.parent == PKG else "kral_nb." + path.parent.name
                parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                mod = ".".join([*parts, mod]) if mod else ".".join(parts)
            out.add(mod)
    return out


def test_pure_stages_import_no_io_ui_or_clock() -> None:
    for rel in PURE:
        bad = {m for m in imports(PKG / rel) if m.split(".")[0] in FORBIDDEN or m in FORBIDDEN}
        assert not bad, f"{rel} imports {bad}"


def test_only_the_client_module_constructs_an_http_client() -> None:
    for path in PKG.rglob("*.py"):
        src = path.read_text()
        if "AsyncClient(" in src or "httpx.Client(" in src:
            assert path.name == "client.py", path


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
                allowed = any(rel == k or rel.startswith(k) for k in CLOCK_READERS)
                assert allowed, f"{rel}:{node.lineno} reads the clock ({name})"
                readers.add(rel)
    assert {"netstream.py", "transport.py", "engine.py", "display.py"} <= readers  # the check sees bare now_ns() calls


def test_importing_kral_nb_imports_no_ui() -> None:
    """Nor pandas: a script that only streams starts fast; frames import it on first use."""
    code = ("import sys, kral_nb; "
            "print(sorted(m for m in ('IPython','ipywidgets','matplotlib','pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def test_no_import_cycles_between_modules() -> None:
    """Every import, lazy and TYPE_CHECKING ones included, points one way (a package's own
    ``__init__`` re-exporting its modules aside): result -> plots/export, never back."""
    graph: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        name = module_name(path)
        graph[name] = set()
        for imp in imports(path):
            target = next((m for m in (imp, imp.rsplit(".", 1)[0]) if m.startswith("kral_nb")), None)
            if target and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    graph = {m: {d for d in deps if d in graph and d != "kral_nb"} for m, deps in graph.items()}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str], done: set[str]) -> None:
        for dep in sorted(graph[node]):
            if dep in stack:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in done:
                walk(dep, [*stack, dep], done)
        done.add(node)

    done: set[str] = set()
    for m in sorted(graph):
        if m not in done:
            walk(m, [m], done)
    assert "kral_nb.result" in graph and graph["kral_nb.result"] and not cycles, cycles
