"""Hard integrity checks, run as SQL on the target: orphans, duplicates, NULLs, CHECKs, enums.

Every check is one template from `sql/` filled with identifiers quoted by the target's dialect.
A check that cannot run (a column gone, a CHECK the engine rejects) is itself a hard finding:
what verify cannot prove it does not pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from dbsynth.schema.model import ForeignKey, Schema, Table
from dbsynth.verify.report import Finding
from dbsynth.verify.templates import Quoter, render


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


def run_integrity_checks(
    runner: CheckRunner,
    schema: Schema,
    checks: dict[str, list[tuple[str | None, str]]],
    target_columns: dict[str, set[str]],
    progress: Callable[[str], None] = lambda _msg: None,
) -> None:
    """All row-level hard checks for every table of `schema`, as far as the target has it.

    `checks` maps a table to its (name, SQL condition) CHECK constraints as the target spells
    them; `target_columns` maps each target table to its columns. A check on a table or column
    the target lacks is skipped: the schema diff reports the absence once, not once per check."""
    for name, table in schema.tables.items():
        have = target_columns.get(name)
        if have is None:
            continue
        progress(f"integrity: {name}")
        for fk in table.foreign_keys:
            parent = target_columns.get(fk.ref_table, set())
            if set(fk.columns) <= have and set(fk.ref_columns) <= parent:
                orphan_fk(runner, fk)
        for columns in table.unique_sets():
            if set(columns) <= have:
                duplicate_key(runner, name, columns)
        not_null(runner, table, have)
        for cname, condition in checks.get(name, []):
            check_constraint(runner, name, cname, condition)
        for col in table.columns:
            if col.enum_labels and col.name in have:
                enum_membership(runner, name, col.name, col.enum_labels)


def orphan_fk(runner: CheckRunner, fk: ForeignKey) -> None:
    q = runner.q
    pairs = list(zip(fk.columns, fk.ref_columns))
    stmt = render(
        "orphan_fk",
        child=q(fk.table),
        parent=q(fk.ref_table),
        join_on=" AND ".join(f"{q.qualified('c', a)} = {q.qualified('p', b)}" for a, b in pairs),
        child_not_null=" AND ".join(f"{q.qualified('c', a)} IS NOT NULL" for a in fk.columns),
        parent_key=q.qualified("p", fk.ref_columns[0]),
    )
    row = runner.query("orphan_fk", fk.table, stmt)
    if row is not None and row.n:
        runner.add(
            "orphan_fk",
            fk.table,
            f"{_rows(row.n)} of {fk.table}({', '.join(fk.columns)}) reference no row of "
            f"{fk.ref_table}({', '.join(fk.ref_columns)})" + (f" [{fk.name}]" if fk.name else ""),
            row.n,
        )


def duplicate_key(runner: CheckRunner, table: str, columns: Sequence[str]) -> None:
    q = runner.q
    stmt = render(
        "duplicate_key",
        table=q(table),
        columns=q.join(columns),
        not_null=" AND ".join(f"{q(c)} IS NOT NULL" for c in columns),
    )
    row = runner.query("duplicate_key", table, stmt)
    if row is not None and row.n_groups:
        runner.add(
            "duplicate_key",
            table,
            f"{row.n_groups} values of ({', '.join(columns)}) occur more than once, in {_rows(row.n_rows)}",
            int(row.n_rows),
        )


def not_null(runner: CheckRunner, table: Table, target_columns: set[str]) -> None:
    # Key columns included: a PK column is NOT NULL even where the engine did not say so.
    cols = [
        c.name
        for c in table.columns
        if (not c.nullable or c.name in table.primary_key) and c.name in target_columns
    ]
    if not cols:
        return
    q = runner.q
    stmt = render(
        "not_null",
        table=q(table.name),
        null_counts=", ".join(f"SUM(CASE WHEN {q(c)} IS NULL THEN 1 ELSE 0 END) AS n_{i}" for i, c in enumerate(cols)),
    )
    row = runner.query("not_null", table.name, stmt)
    if row is None:
        return
    for i, c in enumerate(cols):
        n = int(row[i] or 0)  # SUM over an empty table is NULL
        if n:
            runner.add("not_null", table.name, f"{n} NULLs in NOT NULL column {c}", n)


def check_constraint(runner: CheckRunner, table: str, name: str | None, condition: str) -> None:
    stmt = render("check_constraint", table=runner.q(table), condition=condition)
    row = runner.query("check_constraint", table, stmt)
    if row is not None and row.n:
        label = f"{name} " if name else ""
        runner.add("check_constraint", table, f"{_rows(row.n)} violate CHECK {label}({condition})", row.n)


def enum_membership(runner: CheckRunner, table: str, column: str, labels: Sequence[str]) -> None:
    q = runner.q
    stmt = render("enum", table=q(table), column=q(column)).bindparams(sa.bindparam("labels", expanding=True))
    row = runner.query("enum", table, stmt, {"labels": list(labels)})
    if row is not None and row.n:
        runner.add("enum", table, f"{row.n} values of {column} outside its labels {list(labels)}", row.n)


def _rows(n: int) -> str:
    return f"{int(n)} row" + ("" if n == 1 else "s")
