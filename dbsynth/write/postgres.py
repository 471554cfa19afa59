"""PostgreSQL writer: everything in ONE transaction, since PostgreSQL DDL is transactional.

Inside it: drop the old tables, enum types, domains and sequences of the default schema
(replace), create types and sequences, create the tables without foreign keys, COPY every table,
add the foreign keys (validating the loaded rows, so FK cycles and self-references load in any
order), build the indexes, set every sequence and identity past its max key, write the ledger,
COMMIT. A failure or a kill anywhere before the COMMIT leaves the target as it was.

The transaction starts by taking an advisory transaction lock keyed on the target schema, so a
second dbsynth run into the same target waits for the first to COMMIT (then finds the target
filled) instead of racing it in the catalog; the lock goes with the transaction, kill included.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from psycopg import sql
from psycopg.types.json import Json, Jsonb
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import (
    AddConstraint,
    CreateIndex,
    CreateSequence,
    CreateTable,
    SetColumnComment,
    SetTableComment,
)

from dbsynth.synthetic import SyntheticDatabase, SyntheticTable
from dbsynth.write.ddl import serial_sequence
from dbsynth.write.domain_checks import hold_domain_checks
from dbsynth.write.ledger import ledger_row, ledger_table
from dbsynth.write.rows import Adapter, Progress, arriving, chunks, columns_to_write, report, value_adapters
from dbsynth.write.transaction import acquire_target_lock, all_or_nothing, pause_before_commit, target_not_empty


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
    with all_or_nothing(engine.url) as step, engine.connect() as conn, conn.begin():
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        acquire_target_lock(lambda: _try_lock(conn, schema), engine.url)
        existing = _tables(conn, schema)
        if existing and not replace:
            raise target_not_empty(engine.url, existing)
        if replace:
            _drop_all(conn, schema, existing)
        for enum in metadata.info.get("enums", []):
            enum.create(conn, checkfirst=False)
        for domain in metadata.info.get("domains", []):
            domain.create(conn, checkfirst=False)
        for seq in metadata.info.get("sequences", []):
            conn.execute(CreateSequence(seq))
        for table in tables:
            step.at(table.name)
            # Foreign keys come after the rows: that is what lets cycles and self-references load.
            conn.execute(CreateTable(table, include_foreign_key_constraints=[]))
            _comments(conn, table)
        for partition in metadata.info.get("partitions", []):
            step.at(partition.name)
            _create_partition(conn, partition)
        for table in arriving(data, tables):
            step.at(table.name)
            hold_domain_checks(conn, table, data.tables.get(table.name))
            # A partitioned table takes its rows itself: each lands in the partition its key selects.
            _copy(conn, table, data.tables.get(table.name), progress)
        for table in tables:
            for fk in sorted(table.foreign_key_constraints, key=lambda c: c.name or ""):
                step.at(table.name, fk.name)
                conn.execute(AddConstraint(fk))
            for index in sorted(table.indexes, key=lambda i: i.name or ""):
                step.at(table.name, index.name)
                conn.execute(CreateIndex(index))
        step.at(None)
        _sequences_past_max(conn, tables)
        ledger_sa = ledger_table()
        conn.execute(CreateTable(ledger_sa))
        conn.execute(ledger_sa.insert(), row)
        pause_before_commit()


# pg_advisory_xact_lock(key1, key2): key1 says "dbsynth", key2 names the target schema (advisory
# locks are per database already).
_LOCK_CLASS = 0x64627379  # "dbsy"


def _try_lock(conn: sa.Connection, schema: str) -> bool:
    """The target schema's write lock, held until this transaction ends; False if another run has it."""
    return bool(conn.execute(
        sa.text("SELECT pg_try_advisory_xact_lock(:k, hashtext('dbsynth:' || :s))"), {"k": _LOCK_CLASS, "s": schema}
    ).scalar())


def _comments(conn: sa.Connection, table: sa.Table) -> None:
    """PostgreSQL keeps comments outside CREATE TABLE (metadata.create_all adds these itself)."""
    if table.comment:
        conn.execute(SetTableComment(table))
    for col in table.columns:
        if col.comment:
            conn.execute(SetColumnComment(col))


def _tables(conn: sa.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"), {"s": schema}
    )
    return list(rows.scalars())


def _drop_all(conn: sa.Connection, schema: str, tables: list[str]) -> None:
    """The old tables, then the sequences, enum types and domains they leave behind."""
    q = conn.dialect.identifier_preparer.quote
    if tables:
        # CASCADE: views and other schemas' foreign keys on these tables go with them.
        conn.exec_driver_sql(f"DROP TABLE {', '.join(f'{q(schema)}.{q(t)}' for t in tables)} CASCADE")
    seqs = conn.execute(
        sa.text("SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = :s"), {"s": schema}
    ).scalars()
    for seq in seqs:
        conn.exec_driver_sql(f"DROP SEQUENCE IF EXISTS {q(schema)}.{q(seq)} CASCADE")
    types = conn.execute(
        sa.text(
            "SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = :s AND t.typtype IN ('e', 'd') "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')"
        ),
        {"s": schema},
    ).all()
    for name, typtype in types:
        kind = "DOMAIN" if typtype == "d" else "TYPE"
        conn.exec_driver_sql(f"DROP {kind} IF EXISTS {q(schema)}.{q(name)} CASCADE")


def _copy(conn: sa.Connection, table: sa.Table, data: SyntheticTable | None, progress: Progress | None) -> None:
    columns = columns_to_write(table, data)
    total = data.n_rows if data is not None else 0
    if not columns or total == 0:
        report(progress, table.name, 0, total)
        return
    adapters = [_json(table.c[c].type) or _array(table.c[c].type) or generic
                for c, generic in zip(columns, value_adapters(table, columns))]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    # The driver connection is inside the transaction SQLAlchemy began: COPY joins it.
    raw = conn.connection.driver_connection
    done = 0
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for chunk in chunks(data, columns, adapters):
            for row in chunk:
                copy.write_row(row)
            done += len(chunk)
            report(progress, table.name, done, total)


def _json(type_: sa.types.TypeEngine) -> Adapter | None:
    """psycopg dumps Python objects by their class; JSON documents need saying so (a dict is not
    otherwise adaptable). A str is taken as JSON text already."""
    if isinstance(type_, (postgresql.JSONB, sa.JSON)):
        wrap = Jsonb if isinstance(type_, postgresql.JSONB) else Json
        return lambda v: v if isinstance(v, str) else wrap(v)
    return None


def _array(type_: sa.types.TypeEngine) -> Adapter | None:
    """An array travels as a tuple (a row's whole array is one category); psycopg writes lists."""
    while isinstance(type_, postgresql.DOMAIN):
        type_ = type_.data_type
    return _as_list if isinstance(type_, sa.ARRAY) else None


def _as_list(value: Any) -> Any:
    return [_as_list(v) for v in value] if isinstance(value, (tuple, list)) else value


def _create_partition(conn: sa.Connection, partition: Any) -> None:
    """`CREATE TABLE p PARTITION OF t <bound>` (and its own PARTITION BY when it is partitioned
    further): it takes the columns, keys and indexes of `t`; the bound is the source catalog's."""
    by = f" PARTITION BY {partition.partitioning.by}" if partition.partitioning else ""
    statement = sql.SQL("CREATE TABLE {} PARTITION OF {} ").format(sql.Identifier(partition.name),
                                                                  sql.Identifier(partition.of))
    # The driver's own execute without parameters: a '%' in a bound's literal stays a '%'.
    conn.connection.driver_connection.execute(statement + sql.SQL(partition.bound + by))


def _sequences_past_max(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """Every identity and serial sequence set to its column's max, so the next INSERT numbers on."""
    q = conn.dialect.identifier_preparer.quote
    users: dict[str, list[tuple[sa.Table, sa.Column]]] = {}
    for table in tables:
        for col in table.columns:
            seq = serial_sequence(col)
            if seq:
                users.setdefault(seq, []).append((table, col))
    for seq, cols in users.items():
        if len(cols) == 1:
            # What `serial` does: the sequence belongs to its column and goes when the table goes.
            table, col = cols[0]
            conn.exec_driver_sql(f"ALTER SEQUENCE {q(seq)} OWNED BY {q(table.name)}.{q(col.name)}")
        maxes = " UNION ALL ".join(f"SELECT max({q(c.name)}) AS m FROM {q(t.name)}" for t, c in cols)
        _setval(conn, f"'{_literal(q(seq))}'::regclass", f"SELECT max(m) FROM ({maxes}) u")
    for table in tables:
        for col in table.columns:
            if col.identity is not None:
                seq = f"pg_get_serial_sequence('{_literal(q(table.name))}', '{_literal(col.name)}')::regclass"
                _setval(conn, seq, f"SELECT max({q(col.name)}) FROM {q(table.name)}")


def _setval(conn: sa.Connection, seq: str, max_query: str) -> None:
    """setval to the max key; skipped for an empty table, and for keys all below the sequence's
    MINVALUE (setval would refuse them; its first value is above them anyway)."""
    conn.exec_driver_sql(
        f"SELECT setval(s.seq, k.m) FROM (SELECT {seq} AS seq) s CROSS JOIN ({max_query}) AS k(m) "
        f"JOIN pg_sequence p ON p.seqrelid = s.seq WHERE k.m >= p.seqmin"
    )


def _literal(text: str) -> str:
    return text.replace("'", "''")
