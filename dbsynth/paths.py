"""Output paths, checked before any work: a file dbsynth will write must be writable before the
first private row is read, so a run never spends its budget and then fails to save its ledger."""

from __future__ import annotations

import os
from pathlib import Path

from dbsynth.errors import UsageError


def check_writable_file(path: str | os.PathLike, option: str) -> None:
    """`path` can be created or overwritten as a file (tried, then left as it was)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {p} is a directory; give a file name")
    existed = p.exists()
    try:
        with open(p, "a"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {p} cannot be written: {exc.strerror or exc}") from None
    if not existed:
        p.unlink()


def check_writable_dir(path: str | os.PathLike, option: str) -> None:
    """`path` is, or can be made, a directory in which files can be written."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{option} {p} is a file; give a directory")
    probe_dir = p if p.exists() else next((q for q in p.parents if q.exists()), Path("."))
    if not probe_dir.is_dir():
        raise UsageError(f"{option} {p} cannot be created: {probe_dir} is not a directory")
    if not os.access(probe_dir, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {p} cannot be written: permission denied on {probe_dir}")
