from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kral_nb import sim

GOLDEN = Path(__file__).parent / "golden"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Servers the session starts (Jupyter, Ray, the sim) inherit SIGINT as the default, not
    an ignored signal (see ``sigint_raises``)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def sigint_raises() -> Iterator[None]:
    """Every test starts with SIGINT raising KeyboardInterrupt, whatever the suite inherited
    (``nohup``, some CI runners start it ignored): the interrupt tests send SIGINT, and the
    processes they start inherit a caught signal as the default (an ignored one stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.fixture(autouse=True)
def session_keys_stay_in_their_test() -> Iterator[None]:
    """A key one test sets for the session (``%kral key``, ``set_key``) never reaches the next:
    a test's outcome does not depend on which ran before it."""
    from kral_nb import providers

    before = dict(providers._session_keys)
    yield
    providers._session_keys.clear()
    providers._session_keys.update(before)


@pytest.fixture(scope="session")
def sim_root() -> Iterator[str]:
    """One simulated gateway on loopback for the session; `sim:` models use it too."""
    with sim.serve() as url:
        old = os.environ.get("KRAL_SIM_URL")
        os.environ["KRAL_SIM_URL"] = url
        yield url
        if old is None:
            os.environ.pop("KRAL_SIM_URL", None)
        else:
            os.environ["KRAL_SIM_URL"] = old


def golden(protocol: str, name: str) -> bytes:
    return (GOLDEN / protocol / name).read_bytes()


def golden_files(protocol: str) -> list[str]:
    return sorted(p.name for p in (GOLDEN / protocol).iterdir())


#: whole files that are slow (a browser, a fresh venv, Ray, the local model, fuzzing)
SLOW_FILES = {"test_browser.py", "test_binder.py", "test_ray.py", "test_local.py", "test_fuzz.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``pytest -m "not slow"`` is the inner loop: whole slow files, the notebooks (nbval)
    and the tests marked ``slow`` one by one are left out."""
    for item in items:
        name = item.path.name
        if name in SLOW_FILES or name.endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)
