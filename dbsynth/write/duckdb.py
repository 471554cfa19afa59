"""DuckDB writer: one transaction (DuckDB's DDL is transactional), foreign keys checked row by row.

DuckDB checks a foreign key when the row is inserted, cannot defer the check, and cannot add a
foreign key to an existing table (no ALTER TABLE ... ADD FOREIGN KEY): tables are created parents
first with their foreign keys declared, and rows load parents first. A self-reference loads in
generations (the rows whose parent is NULL or already loaded, then the next), since DuckDB checks
a row against the rows before its statement only. A cycle of foreign keys between tables cannot
be created at all and is refused before anything is written.

Named enum types are created before the tables (`CREATE TYPE ... AS ENUM`), and so are the
sequences behind `DEFAULT nextval('seq')` keys, started past the largest key written. The file lock that
the target engine holds is the target's write lock (`duckdb_file`); a failure rolls everything
back, and a file this run created is removed again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from dbsynth.errors import UnsupportedSchema
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable
from dbsynth.write.ddl import serial_sequence
from dbsynth.write.duckdb_file import mark_written
from dbsynth.write.ledger import ledger_row, ledger_table
from dbsynth.write.rows import Progress, chunks, columns_to_write, report, value_adapters
from dbsynth.write.transaction import all_or_nothing, pause_before_commit, target_not_empty

# Rows per executemany; DuckDB binds each row separately, so this only bounds memory.
_ROWS_PER_STATEMENT = 2_000


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
    tables = creation_order(metadata)
    with all_or_nothing(engine.url) as step, engine.connect() as conn:
        try:
            existing = _existing_tables(conn)
            if existing and not replace:
                raise target_not_empty(engine.url, existing)
            _drop(conn, existing)
            # A sequence starts past every key it numbers, known once every table is sampled:
            # DuckDB loads nothing while the rest is sampled.
            data.wait_all()
            for name, start in _sequences(metadata, data).items():
                step.at(None, f"sequence {name}")
                conn.exec_driver_sql(f"CREATE SEQUENCE {_quote(conn, name)} START WITH {int(start)}")
            for enum in _enums(metadata):
                step.at(None, f"type {enum.name}")
                labels = ", ".join(_literal(v) for v in enum.enums)
                conn.exec_driver_sql(f"CREATE TYPE {_quote(conn, enum.name)} AS ENUM ({labels})")
            for table in tables:
                step.at(table.name)
                conn.execute(CreateTable(table))
            for table in tables:
                step.at(table.name)
                _insert(conn, table, data.tables.get(table.name), progress)
            for table in tables:
                for index in sorted(table.indexes, key=lambda i: i.name or ""):
                    step.at(table.name, index.name)
                    conn.execute(CreateIndex(index))
            step.at(None)
            ledger_sa = ledger_table()
            conn.execute(CreateTable(ledger_sa))
            conn.execute(ledger_sa.insert(), row)
            pause_before_commit()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    mark_written(engine)


def creation_order(metadata: sa.MetaData) -> list[sa.Table]:
    """Parents before children; UnsupportedSchema for a foreign-key cycle between tables."""
    order: list[sa.Table] = []
    placed: set[str] = set()
    pending = sorted(metadata.tables.values(), key=lambda t: t.name)
    while pending:
        ready = [t for t in pending
                 if all(fk.referred_table.name in placed or fk.referred_table is t for fk in t.foreign_key_constraints)]
        if not ready:
            names = ", ".join(t.name for t in pending)
            raise UnsupportedSchema(
                f"tables {names} cannot be created parents first: their foreign keys form a cycle, which DuckDB "
                "cannot create (it has no deferred foreign keys and no ALTER TABLE ... ADD FOREIGN KEY); write to "
                "PostgreSQL, MySQL or SQLite")
        order += ready
        placed |= {t.name for t in ready}
        pending = [t for t in pending if t.name not in placed]
    return order


def _existing_tables(conn: sa.Connection) -> list[str]:
    return list(conn.exec_driver_sql(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND NOT internal AND NOT temporary ORDER BY table_name").scalars())


def _drop(conn: sa.Connection, names: list[str]) -> None:
    """--replace: every table (children before the parents they reference) and enum type."""
    q = conn.dialect.identifier_preparer.quote
    pending = list(names)
    while pending:
        referenced = set(conn.exec_driver_sql(
            "SELECT DISTINCT referenced_table FROM duckdb_constraints() WHERE database_name = current_database() "
            "AND constraint_type = 'FOREIGN KEY' AND table_name <> referenced_table").scalars())
        droppable = [n for n in pending if n not in referenced] or pending  # the engine says why, if not
        for name in droppable:
            conn.exec_driver_sql(f"DROP TABLE {q(name)}")
        pending = [n for n in pending if n not in droppable]
    for name in conn.exec_driver_sql(
            "SELECT type_name FROM duckdb_types() WHERE database_name = current_database() "
            "AND logical_type = 'ENUM' AND NOT internal AND len(labels) > 0").scalars():
        conn.exec_driver_sql(f"DROP TYPE {q(name)}")


def _sequences(metadata: sa.MetaData, data: SyntheticDatabase) -> dict[str, int]:
    """Sequences behind `DEFAULT nextval('seq')` (DuckDB's numbering of keys), each starting past
    the largest value written into a column it numbers: DuckDB cannot restart one afterwards."""
    starts: dict[str, int] = {}
    for table in metadata.tables.values():
        for col in table.columns:
            name = serial_sequence(col)
            if name is None:
                continue
            values = (data.tables[table.name].columns.get(col.name, []) if table.name in data.tables else [])
            top = max((int(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)), default=0)
            starts[name] = max(starts.get(name, 1), top + 1)
    return starts


def _enums(metadata: sa.MetaData) -> list[sa.Enum]:
    found: dict[str, sa.Enum] = {}
    for table in metadata.tables.values():
        for col in table.columns:
            if isinstance(col.type, sa.Enum) and col.type.name:
                found.setdefault(col.type.name, col.type)
    return [found[n] for n in sorted(found)]


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _literal(label: str) -> str:
    # Enum labels are schema (public, from the source's DDL), not data; DDL takes no parameters.
    return "'" + label.replace("'", "''") + "'"


def _insert(conn: sa.Connection, table: sa.Table, data: SyntheticTable | None, progress: Progress | None) -> None:
    columns = columns_to_write(table, data)
    total = data.n_rows if data is not None else 0
    done = 0
    insert = table.insert()
    batches = chunks(data, columns, value_adapters(table, columns))
    if any(fk.referred_table is table for fk in table.foreign_key_constraints):
        # A row may reference one in any later chunk: order the whole table (its values are in
        # memory already, column by column).
        batches = iter([[r for chunk in batches for r in chunk]])
    for chunk in batches:
        for generation in _generations(table, columns, chunk):
            for start in range(0, len(generation), _ROWS_PER_STATEMENT):
                part = generation[start:start + _ROWS_PER_STATEMENT]
                conn.execute(insert, [dict(zip(columns, r)) for r in part])
        done += len(chunk)
        report(progress, table.name, done, total)
    if done == 0:
        report(progress, table.name, 0, total)


def _generations(table: sa.Table, columns: list[str], rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """`rows` (a whole table) split so that a row referencing its own table comes after the row it
    references: generation k holds the rows k references away from a row that references none
    in `rows` (the repair stage makes self-references acyclic). Linear in the rows."""
    position = {c: i for i, c in enumerate(columns)}
    edges = []
    for fk in table.foreign_key_constraints:
        if fk.referred_table is table:
            child = [position.get(c.name) for c in fk.columns]
            parent = [position.get(e.column.name) for e in fk.elements]
            if None not in child and None not in parent:
                edges.append((child, parent))
    if not edges or not rows:
        return [rows]
    # The referenced columns are a key (dbsynth refuses FKs onto non-unique columns): one row each.
    row_of = [{tuple(r[i] for i in parent): n for n, r in enumerate(rows)} for _child, parent in edges]

    def parents(n: int) -> list[int]:
        refs = (row_of[j].get(tuple(rows[n][i] for i in child)) for j, (child, _p) in enumerate(edges))
        return [p for p in refs if p is not None and p != n]

    depth: list[int | None] = [None] * len(rows)
    for start in range(len(rows)):
        stack, on_path = [start], {start}
        while stack:  # iterative: a chain of a million employees must not hit the recursion limit
            n = stack[-1]
            todo = [p for p in parents(n) if depth[p] is None and p not in on_path]
            if todo:
                stack.append(todo[0])
                on_path.add(todo[0])
                continue
            # A parent still on the path is a cycle: the engine will name the row it refuses.
            depth[n] = 1 + max((depth[p] for p in parents(n) if depth[p] is not None), default=-1)
            stack.pop()
            on_path.discard(n)
    out: list[list[tuple[Any, ...]]] = [[] for _ in range(max(d for d in depth if d is not None) + 1)]
    for n, r in enumerate(rows):
        out[depth[n]].append(r)
    return out
