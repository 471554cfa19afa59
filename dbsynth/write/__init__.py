"""The write stage: clone the source's DDL into the target and bulk-load the synthetic rows,
all or nothing.

- `translate_metadata(schema, kind)`: the DDL as it will exist on the target engine.
- `write_database(target, schema, data, ledger=..., replace=...)`: refuse a non-empty target
  (TargetNotEmpty) unless `replace`, and a ledger above its target (BudgetTooSmall); create, load
  each table as it arrives (a `StreamedDatabase`: while later ones are still sampled; COPY on
  PostgreSQL, multi-row INSERT on MySQL/MariaDB, executemany on SQLite and DuckDB), add foreign
  keys after the rows, set sequences past the max key, store the privacy ledger in
  `_dbsynth_ledger`. Any failure, or a kill, leaves the target as it was; a database error
  surfaces as one-line WriteFailed naming table and constraint.
- `schema_diff(target, metadata)`: alembic's differences between a live target and that DDL.

How each engine makes it atomic is in `postgres`, `mysql`, `sqlite`, `duckdb`.

Fault injection: with DBSYNTH_PAUSE_BEFORE_COMMIT=<seconds> in the environment, the writer prints
`dbsynth: paused before commit` to stderr and sleeps that long right before the final COMMIT
(PostgreSQL, SQLite) or the RENAME TABLE swap (MySQL/MariaDB): the kill test's moment.
"""

from __future__ import annotations

import importlib
from typing import Any

import sqlalchemy as sa

from dbsynth.connect import engine_kind
from dbsynth.schema.model import Schema
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable
from dbsynth.write.ddl import translate_metadata
from dbsynth.write.diff import schema_diff
from dbsynth.write.fallback import resolve_fallbacks
from dbsynth.write.ledger import LEDGER_TABLE, check_within_target
from dbsynth.write.rows import Progress, check_table
from dbsynth.write.transaction import PAUSE_ENV, PAUSE_MARKER

# Imported when used: each pulls in its engine's driver (psycopg, pymysql), optional extras.
_WRITERS = {"postgresql": "dbsynth.write.postgres", "mysql": "dbsynth.write.mysql", "sqlite": "dbsynth.write.sqlite",
            "duckdb": "dbsynth.write.duckdb"}


def write_database(
    target: sa.Engine,
    schema: Schema,
    data: SyntheticDatabase,
    *,
    ledger: dict[str, Any],
    replace: bool = False,
    progress: Progress | None = None,
) -> None:
    """Create `schema` on `target` and load `data` into it, all or nothing.

    `ledger`: the run's privacy ledger (JSON-serialisable, with "epsilon" and "delta").
    `progress(table, rows_done, rows_total)` is called as chunks load.
    `data` may be a `StreamedDatabase`: each table is loaded as it arrives, the rest of the write
    (foreign keys, indexes, the ledger, the commit) after the last.
    """
    check_within_target(ledger)
    kind = engine_kind(target)
    metadata = translate_metadata(schema, kind)

    def prepare(table: SyntheticTable) -> None:
        check_table(metadata, table)
        resolve_fallbacks(metadata, table, kind)  # FALLBACK -> a value of the column's type on this engine

    # Each table as it is final: a streamed database's later tables are checked as they arrive,
    # and the writer's transaction, open by then, fails with nothing committed.
    data.each_table(prepare)
    writer = importlib.import_module(_WRITERS[kind]).write
    writer(target, metadata, data, ledger=ledger, replace=replace, progress=progress)


__all__ = [
    "LEDGER_TABLE",
    "PAUSE_ENV",
    "PAUSE_MARKER",
    "schema_diff",
    "translate_metadata",
    "write_database",
]
