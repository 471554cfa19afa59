"""Hard integrity checks, run as SQL on the target: orphans, duplicates, NULLs, CHECKs, enums,
sequence positions.

The queries come from `queries.plan_checks` (the `sql/` templates filled in for this schema).
A check that cannot run (a column gone, a CHECK the engine rejects) is itself a hard finding:
what verify cannot prove it does not pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from dbsynth.verify.queries import CheckQuery
from dbsynth.verify.results import Finding
from dbsynth.verify.templates import Quoter, executable


@dataclass
class CheckRunner:
    """Runs check queries on the target, one short transaction each, and keeps the tally."""

    engine: sa.Engine
    findings: list[Finding] = field(default_factory=list)
    checks_run: int = 0

    def __post_init__(self) -> None:
        self.q = Quoter(self.engine)

    def query(self, check: str, table: str | None, stmt: sa.TextClause, params: dict | None = None) -> sa.Row | None:
        """The first row of `stmt`, or None after recording why it failed.

        Each query gets its own connection: on PostgreSQL a failed statement aborts the whole
        transaction, and one broken check must not hide the others."""
        self.checks_run += 1
        try:
            with self.engine.connect() as conn:
                return conn.execute(stmt, params or {}).first()
        except sa.exc.DBAPIError as exc:
            message = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            self.add(check, table, f"check could not run: {message}", 0)
            return None

    def add(self, check: str, table: str | None, detail: str, count: int, hard: bool = True) -> None:
        self.findings.append(Finding(check, table, detail, int(count), hard))


def run_checks(
    runner: CheckRunner,
    checks: Iterable[CheckQuery],
    progress: Callable[[str], None] = lambda _msg: None,
) -> None:
    """Run each planned check; a non-zero `violations` becomes one hard finding."""
    last_table: str | None = None
    for check in checks:
        if check.table != last_table:
            progress(f"integrity: {check.table}")
            last_table = check.table
        row = runner.query(check.check, check.table, executable(check.sql))
        if row is None:
            continue
        values = row._mapping
        n = int(values["violations"] or 0)
        if n:
            runner.add(check.check, check.table, check.describe(values), n)
