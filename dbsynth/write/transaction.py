"""What every engine writer shares about all-or-nothing: turning a driver error into one
`WriteFailed` line, and the fault-injection pause right before the point of no return.

DBSYNTH_PAUSE_BEFORE_COMMIT=<seconds>: right before the final COMMIT (PostgreSQL, SQLite) or the
RENAME TABLE swap (MySQL/MariaDB), print `dbsynth: paused before commit` to stderr and sleep that
long, so a test can SIGKILL the writer at the worst moment and check the target is unchanged.

One writer per target: each engine writer takes the target's write lock first (PostgreSQL: an
advisory transaction lock keyed on the target schema; MySQL/MariaDB: GET_LOCK('dbsynth:<db>');
SQLite: BEGIN IMMEDIATE) through `acquire_target_lock`. A run that finds it held says so in one
line (`dbsynth: waiting for another dbsynth run ...`) and waits up to DBSYNTH_LOCK_TIMEOUT seconds
(default 600), then stops with TargetBusy (exit 5). Once it has the lock it checks the target
again: a target the other run filled is refused as not empty (or replaced with --replace).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL

from dbsynth.connect import redact, scrub
from dbsynth.errors import DbsynthError, TargetBusy, TargetNotEmpty, UsageError, WriteFailed

PAUSE_ENV = "DBSYNTH_PAUSE_BEFORE_COMMIT"
PAUSE_MARKER = "dbsynth: paused before commit"
LOCK_TIMEOUT_ENV = "DBSYNTH_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 600.0
WAITING_MARKER = "dbsynth: waiting for another dbsynth run"
_LOCK_POLL = 0.25
_DRIVERS = ("psycopg", "pymysql", "sqlite3", "MySQLdb", "mysql")


def pause_before_commit() -> None:
    """Fault injection for the kill test (see the module docstring)."""
    value = os.environ.get(PAUSE_ENV)
    if not value:
        return
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"{PAUSE_ENV} must be a number of seconds, not {value!r}") from None
    print(PAUSE_MARKER, file=sys.stderr, flush=True)
    time.sleep(seconds)


def lock_timeout() -> float:
    """Seconds a run waits for another run's write into the same target (DBSYNTH_LOCK_TIMEOUT)."""
    value = os.environ.get(LOCK_TIMEOUT_ENV)
    if not value:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise UsageError(f"{LOCK_TIMEOUT_ENV} must be a number of seconds (0 or more), not {value!r}")
    return seconds


def acquire_target_lock(try_lock: Callable[[], bool], url: URL) -> None:
    """Take the target's write lock: `try_lock()` tries once without waiting. When another run
    holds it, say so in one line and try again until DBSYNTH_LOCK_TIMEOUT, then raise TargetBusy."""
    if try_lock():
        return
    timeout = lock_timeout()
    if timeout > 0:
        print(f"{WAITING_MARKER} to finish writing {redact(url)} (up to {timeout:g} s)", file=sys.stderr, flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(min(_LOCK_POLL, max(deadline - time.monotonic(), 0)))
        if try_lock():
            return
    raise TargetBusy(
        f"target {redact(url)} is being written by another dbsynth run (waited {timeout:g} s, "
        f"{LOCK_TIMEOUT_ENV}); run again when it has finished"
    )


@dataclass
class Step:
    """Where the writer is, so a failure can name the table and constraint it hit."""

    table: str | None = None
    constraint: str | None = None

    def at(self, table: str | None, constraint: str | None = None) -> Step:
        self.table, self.constraint = table, constraint
        return self


@contextlib.contextmanager
def all_or_nothing(url: URL) -> Iterator[Step]:
    """Run a write; any database error leaves as a one-line WriteFailed naming table and constraint.

    The callers guarantee the rollback (one transaction, or a staging database never swapped in):
    this only words the error.
    """
    step = Step()
    try:
        yield step
    except DbsynthError:
        raise
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        raise write_failed(url, exc, step) from None


def _is_database_error(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.StatementError):
        return True
    return type(exc).__module__.split(".")[0] in _DRIVERS


def write_failed(url: URL, exc: BaseException, step: Step) -> WriteFailed:
    orig = getattr(exc, "orig", None) or exc
    message = _one_line(orig, url)
    table = step.table or _diag(orig, "table_name")
    constraint = _diag(orig, "constraint_name") or step.constraint or _constraint_from_text(message)
    where = f"table {table}" if table else "the target"
    if constraint:
        where += f", constraint {constraint}"
    return WriteFailed(f"writing {redact(url)} failed at {where}: {message}; the target was left as it was")


def _one_line(exc: BaseException, url: URL) -> str:
    primary = _diag(exc, "message_primary")
    if primary is None:
        args = getattr(exc, "args", ())
        # pymysql errors are (code, message) pairs.
        primary = str(args[1]) if len(args) == 2 and isinstance(args[0], int) else str(exc)
    text = primary.strip().splitlines()[0] if primary.strip() else type(exc).__name__
    text = scrub(text, url)  # every form of every secret, not only the URL's password
    return text.rstrip(".")


def _diag(exc: BaseException, field: str) -> str | None:
    diag = getattr(exc, "diag", None)  # psycopg: the server's structured error fields
    return getattr(diag, field, None) if diag is not None else None


_CONSTRAINT_PATTERNS = (
    (re.compile(r"for key '(?:[^'.]+\.)?([^']+)'"), "{}"),  # MySQL duplicate key
    (re.compile(r"CONSTRAINT `([^`]+)`"), "{}"),  # MySQL CHECK / FOREIGN KEY
    (re.compile(r"CHECK constraint failed: (.+)$"), "{}"),  # SQLite CHECK: its name as written (spaces, quotes)
    (re.compile(r"(UNIQUE|NOT NULL) constraint failed: ([\w., ]+)"), "{} ({})"),  # SQLite
    (re.compile(r"Column '([^']+)' cannot be null"), "NOT NULL ({})"),  # MySQL
)


def _constraint_from_text(message: str) -> str | None:
    for pattern, fmt in _CONSTRAINT_PATTERNS:
        m = pattern.search(message)
        if m:
            return fmt.format(*m.groups())
    return None


def target_not_empty(url: URL, tables: list[str]) -> TargetNotEmpty:
    return TargetNotEmpty(
        f"target {redact(url)} is not empty ({len(tables)} tables, e.g. {tables[0]}); use --replace to overwrite it"
    )
