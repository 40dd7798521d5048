"""The data flow is the architecture: pure stages import no I/O, UI or clock; only the
transport builds an httpx client; only transport/engine/sim read the clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).parent.parent / "kral_nb"
PURE = ["sse.py", "records.py", "recorder.py", "metrics.py", "replay.py", "request.py", "columns.py",
        "protocols/__init__.py", "protocols/openai.py", "protocols/anthropic.py", "protocols/gemini.py"]
FORBIDDEN = {"httpx", "IPython", "ipywidgets", "asyncio", "socket", "kral_nb.transport",
             "kral_nb.engine", "time", "threading"}


CLOCKS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns", "now",
          "utcnow"}


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


def test_only_the_transport_constructs_an_http_client() -> None:
    for path in PKG.rglob("*.py"):
        src = path.read_text()
        if "AsyncClient(" in src or "httpx.Client(" in src:
            assert path.name == "transport.py", path


def test_clock_is_read_only_in_transport_engine_and_sim() -> None:
    for path in PKG.rglob("*.py"):
        rel = str(path.relative_to(PKG))
        if any(k in rel for k in ("transport", "engine", "sim", "local")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in CLOCKS, f"{rel}:{node.lineno} reads the clock"


def test_importing_kral_nb_imports_no_ui() -> None:
    code = "import sys, kral_nb; print(sorted(m for m in ('IPython','ipywidgets','matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
