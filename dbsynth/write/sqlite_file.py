"""No empty SQLite target file is left where there was none.

SQLite creates a database file on first connect, so merely connecting to a target that does not
exist (the connection check, "is it empty?", `verify`) used to leave a 0-byte file behind whenever
a run stopped before writing. `target_engine` notes each target file this process brings into
being; when the process exits, those still empty (nothing was ever committed into them) and not
in use by another process are removed. The writer also removes a file it created when its write
fails, and makes sure the file it locked is still the one at the path (another process's cleanup
may have removed an empty file it had open).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import URL

from dbsynth.errors import WriteFailed

_CREATED: set[str] = set()  # target files this process brought into being (absolute paths)


def file_path(url: URL) -> str | None:
    """The target's file, or None for an in-memory database or a `file:` URI (left to SQLite)."""
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:") or str(url.query.get("uri", "")).lower() in ("true", "1"):
        return None
    return db


def target_engine(url: URL) -> sa.Engine:
    """An engine on `url`; if its file does not exist yet, it is removed at exit unless written."""
    path = file_path(url)
    if path is not None and not os.path.exists(path):
        if not _CREATED:
            atexit.register(remove_unwritten)
        _CREATED.add(os.path.abspath(path))
    return sa.create_engine(url)


def remove_unwritten() -> None:
    """Remove the target files this process created and nothing was ever written into."""
    for path in sorted(_CREATED):
        remove_if_empty(path)
    _CREATED.clear()


def remove_if_empty(path: str) -> None:
    """Remove `path` if it is an empty file no other connection is using (an exclusive lock,
    not waited for, proves that)."""
    with contextlib.suppress(Exception):
        if os.path.getsize(path) != 0:
            return
        db = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            db.execute("BEGIN EXCLUSIVE")
            try:
                if os.path.getsize(path) == 0:
                    os.unlink(path)
            finally:
                db.execute("ROLLBACK")
        finally:
            db.close()


def same_file(conn: sa.Connection, path: str, opened: os.stat_result) -> bool:
    """Whether `conn` is on the file now at `path`, which was `opened` when it connected (another
    run's cleanup may have removed that file meanwhile; writing into it would write into nothing)."""
    files = {row[1]: row[2] for row in conn.exec_driver_sql("PRAGMA database_list")}
    if not files.get("main"):
        return False  # not on a file at all
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


def create(path: str) -> bool:
    """Create `path` empty unless it exists; True if this call created it."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    except OSError as exc:  # a directory that does not let us create it
        raise WriteFailed(f"cannot create the SQLite target {path}: {exc.strerror}; nothing was written") from None
    return True


@contextlib.contextmanager
def open_for_write(
    engine: sa.Engine, begin: Callable[[sa.Connection], None], restore: Callable[[sa.Connection], None]
) -> Iterator[sa.Connection]:
    """A connection on the target file, `begin(conn)` done (the writer's settings and its BEGIN
    IMMEDIATE), creating the file if it does not exist; `restore(conn)` is called before the
    connection goes back. If the body fails, a file this run created and left empty is removed."""
    path = file_path(engine.url)
    created = path is not None and os.path.abspath(path) in _CREATED
    while True:
        opened = None
        if path is not None:
            created = create(path) or created
            opened = os.stat(path)
            # A pooled connection may be on a file removed since it opened: open the path afresh.
            engine.dispose()
        conn = engine.connect()
        try:
            begin(conn)
            if path is None or same_file(conn, path, opened):
                break
            # Another process removed the (empty) file between our look and our lock: again.
            conn.rollback()
            restore(conn)
            conn.invalidate()
        except BaseException:
            _close(conn, restore)
            raise
        conn.close()
    try:
        yield conn
    except BaseException:
        if created:
            with contextlib.suppress(Exception):
                conn.rollback()
                restore(conn)
            conn.invalidate()  # the pool must not keep a connection to a file about to go
            remove_if_empty(path)
        raise
    finally:
        _close(conn, restore)


def _close(conn: sa.Connection, restore: Callable[[sa.Connection], None]) -> None:
    if conn.closed:
        return
    try:
        if not conn.invalidated:
            restore(conn)
    finally:
        conn.close()
