"""Reading whole tables from the read-only source: public tables only, which are copied verbatim
by design (DESIGN §2). Private tables are never read row by row: `pushdown.py` counts them in
place. (Tests also read private tables here, to check the pushdown against counting in memory.)
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from dbsynth.connect import translate_errors
from dbsynth.schema import Schema


def check_select_privileges(engine: sa.Engine, schema: Schema) -> None:
    """Fail before any work when a table cannot be read (a query that returns no rows)."""
    with engine.connect() as conn:
        for name in schema.tables:
            table = sa.table(name)
            with translate_errors(engine, f"table {name!r}"):
                conn.execute(sa.select(sa.literal(1)).select_from(table).limit(0)).fetchall()
            conn.rollback()


def read_table(engine: sa.Engine, schema: Schema, name: str) -> pd.DataFrame:
    table = schema.metadata.tables[name] if schema.metadata is not None else sa.table(name)
    cols = [table.c[c.name] for c in schema.tables[name].columns]
    with engine.connect() as conn, translate_errors(engine, f"table {name!r}"):
        result = conn.execute(sa.select(*cols))
        frame = pd.DataFrame(result.fetchall(), columns=[c.name for c in schema.tables[name].columns], dtype=object)
    return frame
