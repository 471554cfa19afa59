"""SQLite writer: one transaction (SQLite DDL is transactional too), foreign keys checked at the end.

The tables are created with their foreign keys declared, but with `PRAGMA foreign_keys=OFF`
while rows load (the pragma cannot change inside a transaction, so it is set before BEGIN and
restored after), so cycles and self-references load in any order; `PRAGMA foreign_key_check`
then proves every reference resolves before COMMIT. A kill leaves a hot journal that SQLite
rolls back on the next open: the target is as it was.

BEGIN IMMEDIATE is also the target's write lock: a second dbsynth run into the same file waits
for it (`acquire_target_lock`), then finds the target filled. A target file that did not exist
before is removed again if the write fails (see `sqlite_file`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from dbsynth.synthetic import SyntheticDatabase, SyntheticTable
from dbsynth.write.ledger import ledger_row, ledger_table
from dbsynth.write.rows import Progress, arriving, chunks, columns_to_write, report, value_adapters
from dbsynth.write.sqlite_file import open_for_write
from dbsynth.write.transaction import (
    Step,
    acquire_target_lock,
    all_or_nothing,
    pause_before_commit,
    target_not_empty,
    write_failed,
)


def write(
    engine: sa.Engine,
    metadata: sa.MetaData,
    data: SyntheticDatabase,
    *,
    ledger: dict[str, Any],
    replace: bool,
    progress: Progress | None,
) -> None:
    row = ledger_row(ledger)
    tables = [metadata.tables[n] for n in sorted(metadata.tables)]
    saved: dict[str, Any] = {}

    def begin(conn: sa.Connection) -> None:
        raw = conn.connection.driver_connection
        saved.update(
            isolation=raw.isolation_level,
            fk=conn.exec_driver_sql("PRAGMA foreign_keys").scalar(),
            busy=conn.exec_driver_sql("PRAGMA busy_timeout").scalar(),
        )
        conn.commit()
        # Python's sqlite3 only opens transactions before DML, so DDL would autocommit: take
        # transaction control ourselves and BEGIN explicitly.
        raw.isolation_level = None
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")  # the lock is waited for below, not here
        acquire_target_lock(lambda: _begin_immediate(conn), engine.url)
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(saved['busy'] or 0)}")

    def restore(conn: sa.Connection) -> None:
        if not saved:
            return
        conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if saved['fk'] else 'OFF'}")
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(saved['busy'] or 0)}")
        conn.commit()
        conn.connection.driver_connection.isolation_level = saved["isolation"]

    with all_or_nothing(engine.url) as step, open_for_write(engine, begin, restore) as conn:
        try:
            _write(conn, tables, data, row, replace, progress, step, engine)
            pause_before_commit()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def _begin_immediate(conn: sa.Connection) -> bool:
    """BEGIN IMMEDIATE (the write lock), or False if another connection holds it."""
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return True
    except sa.exc.OperationalError as exc:
        if "locked" not in str(exc.orig) and "busy" not in str(exc.orig):
            raise
        conn.rollback()
        return False


def _write(
    conn: sa.Connection,
    tables: list[sa.Table],
    data: SyntheticDatabase,
    row: dict[str, Any],
    replace: bool,
    progress: Progress | None,
    step: Step,
    engine: sa.Engine,
) -> None:
    q = conn.dialect.identifier_preparer.quote
    existing = list(
        conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        ).scalars()
    )
    if existing and not replace:
        raise target_not_empty(engine.url, existing)
    for name in existing:
        conn.exec_driver_sql(f"DROP TABLE {q(name)}")
    for table in tables:
        step.at(table.name)
        conn.execute(CreateTable(table))
    for table in arriving(data, tables):
        step.at(table.name)
        _insert(conn, table, data.tables.get(table.name), progress)
    step.at(None)
    _check_foreign_keys(conn, tables, engine)
    for table in tables:
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            step.at(table.name, index.name)
            conn.execute(CreateIndex(index))
    step.at(None)
    _autoincrement_past_max(conn, tables)
    ledger_sa = ledger_table()
    conn.execute(CreateTable(ledger_sa))
    conn.execute(ledger_sa.insert(), row)


def _insert(conn: sa.Connection, table: sa.Table, data: SyntheticTable | None, progress: Progress | None) -> None:
    columns = columns_to_write(table, data)
    total = data.n_rows if data is not None else 0
    done = 0
    insert = table.insert()
    for chunk in chunks(data, columns, value_adapters(table, columns)):
        conn.execute(insert, [dict(zip(columns, r)) for r in chunk])
        done += len(chunk)
        report(progress, table.name, done, total)
    if done == 0:
        report(progress, table.name, 0, total)


def _check_foreign_keys(conn: sa.Connection, tables: list[sa.Table], engine: sa.Engine) -> None:
    """The first dangling reference, as WriteFailed naming table and foreign key."""
    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
    if bad is None:
        return
    child, _rowid, parent, fkid = bad
    q = conn.dialect.identifier_preparer.quote
    cols = [r[3] for r in conn.exec_driver_sql(f"PRAGMA foreign_key_list({q(child)})") if r[0] == fkid]
    name = None
    for table in tables:
        if table.name == child:
            for fk in table.foreign_key_constraints:
                if [c.name for c in fk.columns] == cols:
                    name = fk.name
    constraint = name or f"FOREIGN KEY ({', '.join(cols)}) REFERENCES {parent}"
    raise write_failed(
        engine.url, _Dangling(f"a row of {child} refers to a {parent} row that does not exist"), Step(child, constraint)
    )


class _Dangling(Exception):
    """A foreign key check failure found by PRAGMA foreign_key_check (no driver exception)."""


def _autoincrement_past_max(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """AUTOINCREMENT tables keep their counter in sqlite_sequence; set it to the max key."""
    q = conn.dialect.identifier_preparer.quote
    for table in tables:
        if not table.dialect_options["sqlite"].get("autoincrement"):
            continue
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            continue
        top = conn.exec_driver_sql(f"SELECT max({q(pk[0].name)}) FROM {q(table.name)}").scalar()
        if top is None:
            continue
        conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table.name})
        conn.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :m)"), {"t": table.name, "m": top})

