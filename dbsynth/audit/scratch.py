"""The audit's scratch databases: the source's rows (read through a read-only engine) plus the
canaries drawn in for one run, written with dbsynth's own writer into a file nobody else uses.

The audit is the data owner's tool: it reads real rows, but it never writes to the source. The
pipeline then reads the scratch as its source, exactly as it would read the real database.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from dbsynth.measure.read import read_table
from dbsynth.schema import Schema
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable

# The scratch is not a shadow: its ledger row says so, for whoever opens the file by mistake.
SCRATCH_LEDGER = {"epsilon": float("inf"), "delta": 1.0, "guarantee_void": True,
                  "created_by": "dbsynth audit: scratch copy of the source with canaries, real rows, NOT PRIVATE"}


@dataclass(frozen=True)
class SourceRows:
    """Every row of every table of the source, as the driver returned them."""

    frames: dict[str, pd.DataFrame]


def read_source(engine: sa.Engine, schema: Schema) -> SourceRows:
    """All rows of every table in `schema` (the engine is the read-only source engine), read as
    `run` reads a public table."""
    return SourceRows({name: read_table(engine, schema, name) for name in schema.tables})


def read_tables(engine: sa.Engine, schema: Schema, names: list[str]) -> dict[str, pd.DataFrame]:
    """All rows of the tables `names` of a shadow (columns as in `schema`), values as the driver
    returns them. Each table is reflected from the shadow itself: the source's column types
    (PostgreSQL's, MariaDB's) are not the ones a SQLite shadow's values come back as."""
    frames: dict[str, pd.DataFrame] = {}
    with engine.connect() as conn:
        for name in names:
            table = schema.tables[name]
            reflected = sa.Table(name, sa.MetaData(), autoload_with=conn)
            rows = conn.execute(sa.select(*(reflected.c[c] for c in table.column_names))).all()
            # object columns: a nullable integer column stays integers and None, not floats and NaN.
            frames[name] = pd.DataFrame({c: pd.Series([r[i] for r in rows], dtype=object)
                                         for i, c in enumerate(table.column_names)})
    return frames


def write_scratch(engine: sa.Engine, schema: Schema, source: SourceRows, extra: dict[str, list[dict]]) -> None:
    """Replace `engine`'s database with the source's rows plus `extra` rows (table -> row dicts)."""
    from dbsynth.write import write_database

    tables = {}
    for name, table in schema.tables.items():
        frame = source.frames[name]
        columns = {c: [_plain(v) for v in frame[c].tolist()] for c in table.column_names}
        for row in extra.get(name, []):
            for c in table.column_names:
                columns[c].append(row[c])
        tables[name] = SyntheticTable(name, columns)
    write_database(engine, schema, SyntheticDatabase(tables), ledger=SCRATCH_LEDGER, replace=True)


def _plain(value):
    """pandas turns NULLs of numeric columns into NaN; the writer wants None."""
    return None if value is None or (isinstance(value, float) and value != value) else value
