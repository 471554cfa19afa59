"""A DuckDB target file: opened under DuckDB's own file lock, and removed again when this
process created it and never wrote it.

DuckDB creates its file on the first read-write connection, so merely looking at a target that
does not exist yet (a run that stops before writing, a verify of a wrong path) would leave an
empty database behind; the file is removed at exit unless the writer committed into it.

A read-write connection holds an exclusive lock on the file for as long as it is open (the
engine's pool keeps it open), which is the target's write lock: a second dbsynth process cannot
open it and waits (`acquire_target_lock`), as it does for the other engines.
"""

from __future__ import annotations

import atexit
import contextlib
import os

import sqlalchemy as sa
from sqlalchemy.engine import URL

_CREATED: set[str] = set()


def file_path(url: URL) -> str | None:
    path = url.database or ""
    return None if not path or path == ":memory:" else path


def target_engine(url: URL) -> sa.Engine:
    """An engine on `url`, its file locked by this process; a file it creates is removed at exit
    unless `mark_written`."""
    from dbsynth.write.transaction import acquire_target_lock

    path = file_path(url)
    if path is not None and not os.path.exists(path):
        if not _CREATED:
            atexit.register(remove_unwritten)
        _CREATED.add(os.path.abspath(path))
    engine = sa.create_engine(url)
    acquire_target_lock(lambda: _opened(engine), url)
    return engine


def _opened(engine: sa.Engine) -> bool:
    """Open (and keep in the pool) a connection, or False while another process holds the file."""
    try:
        with engine.connect():
            return True
    except sa.exc.DBAPIError as exc:
        if "lock" in str(exc.orig).lower():
            return False
        raise


def mark_written(engine: sa.Engine) -> None:
    """The writer committed into this file: keep it."""
    path = file_path(engine.url)
    if path is not None:
        _CREATED.discard(os.path.abspath(path))


def remove_unwritten() -> None:
    """Remove the target files this process created and never wrote (and their write-ahead logs)."""
    for path in sorted(_CREATED):
        for name in (path, path + ".wal"):
            with contextlib.suppress(OSError):
                os.unlink(name)
    _CREATED.clear()
