"""MySQL/MariaDB writer: DDL is not transactional there, so nothing is built in the target itself.

Everything (tables, rows, indexes, AUTO_INCREMENT counters, the ledger) is built in a staging
database `<db>__dbsynth_stage_<run>` with FOREIGN_KEY_CHECKS=0 while rows load (so cycles and
self-references load in any order; every foreign key is then checked with one anti-join), and
swapped into the target with ONE atomic `RENAME TABLE` statement. When replacing, the same
statement first moves the old tables out to `<db>__dbsynth_trash_<run>`, then the new ones in;
trash and stage are dropped afterwards. InnoDB rewrites foreign keys to follow a renamed parent
table, so the moved tables reference each other in the target, not the stage. `<run>` is random
per run: a run only ever builds in and drops its own stage and trash.

One writer per target: the whole write holds `GET_LOCK('dbsynth:<db>')` on its connection (the
server releases it if the run dies), so a second run waits for the first to finish, then finds
the target filled. A run killed before the swap leaves only its stage (and an empty trash)
behind, never a half-written target; the next run, holding the lock (so no live run owns them),
drops such leftovers first. Needs CREATE and DROP on `<db>__dbsynth_*`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from dbsynth.connect import redact
from dbsynth.errors import UsageError
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable
from dbsynth.write.ledger import LEDGER_TABLE, ledger_row, ledger_table
from dbsynth.write.rows import Progress, arriving, chunks, columns_to_write, report, value_adapters
from dbsynth.write.transaction import (
    Step,
    acquire_target_lock,
    all_or_nothing,
    pause_before_commit,
    target_not_empty,
    write_failed,
)

STAGE_SUFFIX = "__dbsynth_stage"
TRASH_SUFFIX = "__dbsynth_trash"
_MAX_NAME = 64
_RUN_HEX = 8  # hex digits of the per-run suffix
_MAX_LOCK_NAME = 64  # MySQL refuses longer GET_LOCK names


def aux_database(database: str, suffix: str, run: str = "") -> str:
    """`<db><suffix>_<run>` (`<db><suffix>` without a run), shortened with a hash when it would
    pass MySQL's 64-character limit."""
    tail = suffix + (f"_{run}" if run else "")
    name = database + tail
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha1(database.encode()).hexdigest()[:8]
    return f"{database[: _MAX_NAME - len(tail) - 9]}_{digest}{tail}"


def is_aux_database(name: str, database: str, suffix: str) -> bool:
    """Whether `name` is a stage or trash (per `suffix`) of some run into `database`."""
    if name == aux_database(database, suffix):  # the name runs before per-run names used
        return True
    prefix = aux_database(database, suffix, "0" * _RUN_HEX)[:-_RUN_HEX]
    return name.startswith(prefix) and re.fullmatch(f"[0-9a-f]{{{_RUN_HEX}}}", name[len(prefix):]) is not None


def lock_name(database: str) -> str:
    name = f"dbsynth:{database}"
    return name if len(name) <= _MAX_LOCK_NAME else f"dbsynth:{hashlib.sha1(database.encode()).hexdigest()}"


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
    db = engine.url.database
    if not db:
        raise UsageError(
            f"a MySQL/MariaDB target must name its database, e.g. mysql://user@host/shadow (got {redact(engine.url)})"
        )
    run = secrets.token_hex(_RUN_HEX // 2)
    stage, trash = aux_database(db, STAGE_SUFFIX, run), aux_database(db, TRASH_SUFFIX, run)
    tables = [metadata.tables[n] for n in sorted(metadata.tables)]
    with all_or_nothing(engine.url) as step, engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        with _target_lock(conn, db, engine), _loading_session(conn):
            q = conn.dialect.identifier_preparer.quote
            # Runs killed before their swap leave these behind; they hold nothing of value, and
            # with the lock held no live run owns any of them.
            _drop_leftovers(conn, db)
            existing = _tables(conn, db)
            if existing and not replace:
                raise target_not_empty(engine.url, existing)
            charset, collation = conn.execute(
                sa.text(
                    "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME = :db"
                ),
                {"db": db},
            ).one()
            conn.exec_driver_sql(f"CREATE DATABASE {q(stage)} CHARACTER SET {charset} COLLATE {collation}")
            try:
                staged = conn.execution_options(schema_translate_map={None: stage})
                _build(staged, tables, data, row, progress, step, engine)
                renames = [f"{q(db)}.{q(t)} TO {q(trash)}.{q(t)}" for t in existing]
                if renames:
                    conn.exec_driver_sql(f"CREATE DATABASE {q(trash)}")
                renames += [f"{q(stage)}.{q(t.name)} TO {q(db)}.{q(t.name)}" for t in tables]
                renames.append(f"{q(stage)}.{q(LEDGER_TABLE)} TO {q(db)}.{q(LEDGER_TABLE)}")
                pause_before_commit()
                step.at(None)
                # The one atomic statement that makes the new tables the target's.
                conn.exec_driver_sql(f"RENAME TABLE {', '.join(renames)}")
            finally:
                with contextlib.suppress(sa.exc.DBAPIError):
                    _drop_database(conn, stage)
                    _drop_database(conn, trash)


@contextlib.contextmanager
def _target_lock(conn: sa.Connection, db: str, engine: sa.Engine):
    """GET_LOCK('dbsynth:<db>') on this connection for the whole write (see the module docstring)."""
    name = lock_name(db)
    get = sa.text("SELECT GET_LOCK(:name, 0)")
    acquire_target_lock(lambda: conn.execute(get, {"name": name}).scalar() == 1, engine.url)
    try:
        yield
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})


def _drop_leftovers(conn: sa.Connection, db: str) -> None:
    """Stages and trashes of earlier runs into `db` that were killed before their cleanup."""
    names = conn.execute(sa.text("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")).scalars().all()
    for name in names:
        if is_aux_database(name, db, STAGE_SUFFIX) or is_aux_database(name, db, TRASH_SUFFIX):
            _drop_database(conn, name)


@contextlib.contextmanager
def _loading_session(conn: sa.Connection):
    """FOREIGN_KEY_CHECKS off (rows load in any order) and a strict sql_mode (a value that does not
    fit fails instead of being truncated with a warning; an explicit 0 key stays 0), restored
    after because the connection goes back to the pool."""
    fk_checks, sql_mode = conn.exec_driver_sql("SELECT @@SESSION.foreign_key_checks, @@SESSION.sql_mode").one()
    conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
    conn.exec_driver_sql(
        "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), "
        "'STRICT_ALL_TABLES', 'NO_AUTO_VALUE_ON_ZERO')"
    )
    try:
        yield
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            restore = sa.text("SET SESSION foreign_key_checks = :f, sql_mode = :m")
            conn.execute(restore, {"f": fk_checks, "m": sql_mode})


def _tables(conn: sa.Connection, db: str) -> list[str]:
    rows = conn.execute(
        sa.text(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db AND TABLE_TYPE <> 'VIEW' "
            "ORDER BY TABLE_NAME"
        ),
        {"db": db},
    )
    return list(rows.scalars())


def _drop_database(conn: sa.Connection, name: str) -> None:
    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {conn.dialect.identifier_preparer.quote(name)}")


def _build(
    conn: sa.Connection,
    tables: list[sa.Table],
    data: SyntheticDatabase,
    row: dict[str, Any],
    progress: Progress | None,
    step: Step,
    engine: sa.Engine,
) -> None:
    """Tables, rows, checked foreign keys, indexes, counters and ledger, all in the stage
    (`conn` maps the unqualified tables there)."""
    for table in tables:
        step.at(table.name)
        conn.execute(CreateTable(table))
    for table in arriving(data, tables):
        step.at(table.name)
        _insert(conn, table, data.tables.get(table.name), progress)
    for table in tables:
        for fk in sorted(table.foreign_key_constraints, key=lambda c: c.name or ""):
            _check_foreign_key(conn, fk, engine)
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            step.at(table.name, index.name)
            conn.execute(CreateIndex(index))
        step.at(table.name)
        _auto_increment_past_max(conn, table)
    ledger_sa = ledger_table()
    conn.execute(CreateTable(ledger_sa))
    conn.execute(ledger_sa.insert(), row)


def _insert(conn: sa.Connection, table: sa.Table, data: SyntheticTable | None, progress: Progress | None) -> None:
    # pymysql turns executemany of one INSERT into multi-row INSERTs of up to ~1 MB each.
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


def _check_foreign_key(conn: sa.Connection, fk: sa.ForeignKeyConstraint, engine: sa.Engine) -> None:
    """Rows were loaded with FOREIGN_KEY_CHECKS=0: prove this key now (MATCH SIMPLE: a row with a
    NULL in the key refers to nothing)."""
    child, parent = fk.table, fk.elements[0].column.table
    c, p = sa.alias(child, "c"), sa.alias(parent, "p")
    pairs = [(c.c[e.parent.name], p.c[e.column.name]) for e in fk.elements]
    orphan = (
        sa.select(sa.literal(1))
        .select_from(c)
        .where(*(cc.is_not(None) for cc, _ in pairs))
        .where(~sa.exists().where(*(pc == cc for cc, pc in pairs)))
        .limit(1)
    )
    if conn.execute(orphan).first() is not None:
        cols = ", ".join(e.parent.name for e in fk.elements)
        constraint = fk.name or f"FOREIGN KEY ({cols}) REFERENCES {parent.name}"
        raise write_failed(
            engine.url,
            _Dangling(f"a row of {child.name} refers to a {parent.name} row that does not exist"),
            Step(child.name, constraint),
        )


class _Dangling(Exception):
    """A foreign key the anti-join found broken (no driver exception: checks were off)."""


def _auto_increment_past_max(conn: sa.Connection, table: sa.Table) -> None:
    col = table.autoincrement_column
    if col is None:
        return
    top = conn.execute(sa.select(sa.func.max(col))).scalar()
    if top is not None:
        # ALTER TABLE has no parameters: the value is an int from the server, safe to inline.
        conn.exec_driver_sql(f"ALTER TABLE {_qualified(conn, table)} AUTO_INCREMENT = {int(top) + 1}")


def _qualified(conn: sa.Connection, table: sa.Table) -> str:
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    q = conn.dialect.identifier_preparer.quote
    return f"{q(schema)}.{q(table.name)}" if schema else q(table.name)
