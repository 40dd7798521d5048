from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kral_nb import sim

GOLDEN = Path(__file__).parent / "golden"


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
