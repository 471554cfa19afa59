"""The hard row-level checks of one schema, as SQL for one target dialect.

`plan_checks` turns the schema into a list of `CheckQuery`: the filled-in `sql/` template, what it
checks, and how to phrase a violation. The verify stage runs the list; `emit` writes the same
list out as a .sql file. One list for both is the point: what the report says was checked is,
character for character, what a user can run by hand.

Every query returns one row whose first column, `violations`, is 0 on a sound target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dbsynth.schema.introspect import INTERNAL_TABLES
from dbsynth.schema.model import ForeignKey, Schema, Table
from dbsynth.verify.templates import Quoter, fill

Describe = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class CheckQuery:
    """One hard check: `sql` returns a row with `violations` (0 = sound) and maybe details."""

    check: str
    table: str | None
    subject: str  # what is checked, for humans: "invoice_line(track_id) -> track(track_id)"
    sql: str
    describe: Describe = field(compare=False, repr=False)


def dialect_kind(dialect: sa.Dialect) -> str:
    return "mysql" if dialect.name in ("mysql", "mariadb") else dialect.name


def check_conditions(metadata: sa.MetaData, dialect: sa.Dialect) -> dict[str, list[tuple[str | None, str]]]:
    """Per table, its expected CHECK constraints as (name, SQL condition) in `dialect`."""
    out: dict[str, list[tuple[str | None, str]]] = {}
    for table in metadata.tables.values():
        for c in table.constraints:
            if isinstance(c, sa.CheckConstraint):
                sql = str(c.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                name = c.name if isinstance(c.name, str) else None
                out.setdefault(table.name, []).append((name, sql))
    return out


def plan_checks(
    schema: Schema,
    metadata: sa.MetaData,
    dialect: sa.Dialect,
    present: dict[str, set[str]] | None = None,
    *,
    ledger_bound: float | None = None,
    include_ledger: bool = False,
    quoter: Quoter | None = None,
) -> list[CheckQuery]:
    """Every hard row-level check of `schema` on a target speaking `dialect`.

    `metadata` is the DDL the writer meant to create there (CHECK texts and sequences come from
    it). `present` maps the target's tables to their columns: a check on a table or column the
    target lacks is left out, since the schema diff reports the absence once. None means the
    target is assumed complete (emitting a file). `include_ledger` adds the ledger presence and
    epsilon-bound query, which the verify stage does in Python (it also parses the JSON).
    `quoter` spells table names (default: as they are, in the connected database)."""
    q = quoter or Quoter(dialect)
    kind = dialect_kind(dialect)
    conditions = check_conditions(metadata, dialect)
    out: list[CheckQuery] = []
    for name, table in schema.tables.items():
        have = set(table.column_names) if present is None else present.get(name)
        if have is None:
            continue
        for fk in table.foreign_keys:
            parent = set(schema.tables[fk.ref_table].column_names) if present is None else present.get(fk.ref_table, set())
            if set(fk.columns) <= have and set(fk.ref_columns) <= parent:
                out.append(orphan_fk(q, fk))
        for columns in table.unique_sets():
            if set(columns) <= have:
                out.append(duplicate_key(q, name, columns))
        nn = not_null(q, table, have)
        if nn is not None:
            out.append(nn)
        for cname, condition in conditions.get(name, []):
            out.append(check_constraint(q, name, cname, condition))
        for col in table.columns:
            if col.enum_labels and col.name in have:
                out.append(enum_membership(q, kind, name, col.name, col.enum_labels))
        if name in metadata.tables:
            for column, sequence in sequenced_columns(metadata.tables[name], kind):
                if column in have:
                    out.append(sequence_position(q, kind, name, column, sequence))
    if include_ledger:
        out.append(ledger_presence(q, ledger_bound))
    return out


def orphan_fk(q: Quoter, fk: ForeignKey) -> CheckQuery:
    pairs = list(zip(fk.columns, fk.ref_columns))
    sql = fill(
        "orphan_fk",
        child=q.table(fk.table),
        parent=q.table(fk.ref_table),
        join_on=" AND ".join(f"{q.qualified('c', a)} = {q.qualified('p', b)}" for a, b in pairs),
        child_not_null=" AND ".join(f"{q.qualified('c', a)} IS NOT NULL" for a in fk.columns),
        parent_key=q.qualified("p", fk.ref_columns[0]),
    )
    subject = f"{fk.table}({', '.join(fk.columns)}) -> {fk.ref_table}({', '.join(fk.ref_columns)})"
    suffix = f" [{fk.name}]" if fk.name else ""

    def describe(row: Mapping[str, Any]) -> str:
        return (f"{_rows(row['violations'])} of {fk.table}({', '.join(fk.columns)}) reference no row of "
                f"{fk.ref_table}({', '.join(fk.ref_columns)}){suffix}")

    return CheckQuery("orphan_fk", fk.table, subject + suffix, sql, describe)


def duplicate_key(q: Quoter, table: str, columns: tuple[str, ...]) -> CheckQuery:
    sql = fill(
        "duplicate_key",
        table=q.table(table),
        columns=q.join(columns),
        not_null=" AND ".join(f"{q(c)} IS NOT NULL" for c in columns),
    )

    def describe(row: Mapping[str, Any]) -> str:
        return (f"{int(row['n_groups'])} values of ({', '.join(columns)}) occur more than once, "
                f"in {_rows(row['violations'])}")

    return CheckQuery("duplicate_key", table, f"{table}({', '.join(columns)}) unique", sql, describe)


def not_null(q: Quoter, table: Table, have: set[str]) -> CheckQuery | None:
    # Key columns included: a PK column is NOT NULL even where the engine did not say so.
    cols = [c.name for c in table.columns if (not c.nullable or c.name in table.primary_key) and c.name in have]
    if not cols:
        return None
    sql = fill(
        "not_null",
        table=q.table(table.name),
        null_counts=", ".join(f"SUM(CASE WHEN {q(c)} IS NULL THEN 1 ELSE 0 END) AS n_{i}" for i, c in enumerate(cols)),
        any_null=" OR ".join(f"{q(c)} IS NULL" for c in cols),
    )

    def describe(row: Mapping[str, Any]) -> str:
        per_column = [f"{c} ({int(row[f'n_{i}'] or 0)})" for i, c in enumerate(cols) if row[f"n_{i}"]]
        return f"{_rows(row['violations'])} with NULLs in NOT NULL columns: {', '.join(per_column)}"

    return CheckQuery("not_null", table.name, f"{table.name}({', '.join(cols)}) NOT NULL", sql, describe)


def check_constraint(q: Quoter, table: str, name: str | None, condition: str) -> CheckQuery:
    sql = fill("check_constraint", table=q.table(table), condition=condition)
    label = f"{name} " if name else ""

    def describe(row: Mapping[str, Any]) -> str:
        return f"{_rows(row['violations'])} violate CHECK {label}({condition})"

    return CheckQuery("check_constraint", table, f"CHECK {label}on {table}".replace("  ", " "), sql, describe)


def enum_membership(q: Quoter, kind: str, table: str, column: str, labels: tuple[str, ...]) -> CheckQuery:
    as_text = {"postgresql": "CAST({} AS TEXT)", "mysql": "CAST({} AS CHAR)"}.get(kind, "{}")
    sql = fill(
        "enum",
        table=q.table(table),
        column=q(column),
        column_text=as_text.format(q(column)),
        labels=", ".join(q.literal(v) for v in labels),
    )

    def describe(row: Mapping[str, Any]) -> str:
        return f"{int(row['violations'])} values of {column} outside its labels {list(labels)}"

    return CheckQuery("enum", table, f"{table}.{column} in {list(labels)}", sql, describe)


def sequenced_columns(table: sa.Table, kind: str) -> list[tuple[str, str | None]]:
    """(column, sequence) for each column the database numbers itself on the target.

    PostgreSQL: identity columns (their sequence found by pg_get_serial_sequence) and serial
    defaults (the sequence named in nextval). MySQL: the AUTO_INCREMENT column. SQLite: none,
    because its rowid and AUTOINCREMENT both pick max(key) + 1 and cannot collide."""
    from dbsynth.write.ddl import serial_sequence  # lazy: verify must import without the writer

    out: list[tuple[str, str | None]] = []
    for col in table.columns:
        if kind == "postgresql":
            seq = serial_sequence(col)
            if seq is not None:
                out.append((col.name, seq))
            elif col.identity is not None:
                out.append((col.name, None))
        elif kind == "mysql" and col.autoincrement is True:
            out.append((col.name, None))
    return out


def sequence_position(q: Quoter, kind: str, table: str, column: str, sequence: str | None) -> CheckQuery:
    if kind == "postgresql":
        regclass = (q.literal(sequence) if sequence is not None
                    else f"pg_get_serial_sequence({q.literal(q(table))}, {q.literal(column)})")
        sql = fill("sequence_position_postgresql", table=q.table(table), column=q(column), sequence=regclass)
        what = f"sequence {sequence}" if sequence else "identity sequence"
    else:
        sql = fill("sequence_position_mysql", table=q.table(table), column=q(column), table_name=q.literal(table),
                   database=q.database())
        what = "AUTO_INCREMENT counter"

    def describe(row: Mapping[str, Any]) -> str:
        nxt = row.get("next_value")
        if nxt is None:
            return f"no {what} numbers {table}.{column} (max key {row.get('max_key')}): the next INSERT without a key fails"
        return (f"{what} of {table}.{column} hands out {nxt} next, not above the max key {row.get('max_key')}: "
                "the next INSERT without a key collides")

    return CheckQuery("sequence", table, f"{what} of {table}.{column} past max key", sql, describe)


def ledger_presence(q: Quoter, bound: float | None) -> CheckQuery:
    name = INTERNAL_TABLES[0]
    over = f"{q('epsilon')} > {float(bound)!r}" if bound is not None else "1 = 0"
    sql = fill("ledger_bound", ledger=q.table(name), over_bound=over)
    subject = f"{name} present" + (f", epsilon <= {bound}" if bound is not None else "")

    def describe(row: Mapping[str, Any]) -> str:
        return f"{name} is missing an entry or exceeds the epsilon bound"

    return CheckQuery("ledger", name, subject, sql, describe)


def _rows(n: Any) -> str:
    n = int(n)
    return f"{n} row" + ("" if n == 1 else "s")
