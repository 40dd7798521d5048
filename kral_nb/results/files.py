"""Every file kral_nb writes goes through here: written beside its destination under a
temporary name, then moved into place with one atomic rename, so a failed or interrupted
write leaves the previous file whole (never half a file) and no temporary behind.

:func:`write_folder` writes a set of files as one result: each to its temporary name first,
and only when every one succeeded are they renamed into place and the files of an earlier
result that this one does not include removed (a CSV export over an older Parquet one, an
older ``traces.jsonl``) — a reader never mixes two results.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Mapping

from ..errors import ConfigError

Writer = Callable[[str], object]  # writes the file at the path it is given


def _temporary(path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def writable(folder: str) -> str:
    """Create ``folder`` and prove a file can be written there (before any billed work):
    a :class:`ConfigError` saying why not, else the folder's absolute path."""
    folder = os.path.abspath(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        probe = _temporary(os.path.join(folder, "probe"))
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise ConfigError(f"cannot write results to {folder}: {exc.strerror or exc}; pick another --out") from None
    return folder


def _sync(path: str) -> None:
    """The file's bytes on disk before its rename makes it the real one."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, write: Writer) -> str:
    """``write(tmp)``, then ``tmp`` renamed to ``path``; on any failure the temporary file is
    removed and ``path`` is as it was. Returns ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = _temporary(path)
    try:
        write(tmp)
        _sync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return path


def write_text(path: str, text: str) -> str:
    """A text file (UTF-8), atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return atomic_write(path, write)


def write_folder(folder: str, files: Mapping[str, Writer], *, replaces: Iterable[str] = ()) -> list[str]:
    """Write ``files`` (name -> writer) into ``folder`` as one result: all to temporary names;
    then each earlier file is moved aside and the new one renamed into place — a rename that
    fails puts every earlier file back — and the files named in ``replaces`` that this result
    does not include are removed. On failure nothing in the folder changed. Returns the paths."""
    os.makedirs(folder, exist_ok=True)
    staged: list[tuple[str, str]] = []
    try:
        for name, write in files.items():
            path = os.path.join(folder, name)
            tmp = _temporary(path)
            staged.append((tmp, path))
            write(tmp)
            _sync(tmp)
    except BaseException:
        _discard(t for t, _ in staged)
        raise
    moved: list[tuple[str, str]] = []  # (earlier file, where it waits)
    placed: list[str] = []
    try:
        for tmp, path in staged:
            if os.path.exists(path):
                aside = _temporary(path) + ".old"
                os.replace(path, aside)
                moved.append((path, aside))
            os.replace(tmp, path)
            placed.append(path)
    except BaseException:
        _discard(placed)
        for path, aside in moved:
            with contextlib.suppress(OSError):
                os.replace(aside, path)
        _discard(t for t, _ in staged)
        raise
    _discard(aside for _, aside in moved)
    for name in replaces:
        if name not in files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, name))
    return [path for _, path in staged]


def _discard(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.remove(path)


def remove_stale(folder: str, known: Iterable[str], written: Iterable[str]) -> None:
    """Remove the files of ``known`` (names) in ``folder`` that this run did not write: an
    earlier run's plots or tables must not sit beside the new results."""
    kept = {os.path.basename(p) for p in written}
    _discard(os.path.join(folder, n) for n in known if n not in kept and os.path.exists(os.path.join(folder, n)))
