"""Every value of a DOMAIN-typed column held to the domain's CHECKs before the PostgreSQL load.

The plan models what it understands of a domain's CHECKs (bounds, listed values, a LIKE or
regular-expression pattern made-up strings follow); a CHECK of any other shape (`char_length(VALUE)
<= 8`, `VALUE % 5 = 0`) could still refuse a made-up value and with it the whole write. So the
target, which holds the cloned domains, evaluates each column's distinct values against its own
CHECKs, and a value it refuses is replaced by one of the column's values it accepts (NULL where the
column allows it and none is accepted): post-processing of synthetic values, data-independent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from dbsynth.columns import as_list
from dbsynth.errors import WriteFailed
from dbsynth.schema.checks import substitute
from dbsynth.synthetic import SyntheticTable

_DOMAIN = sa.text("""
WITH RECURSIVE chain(oid, depth) AS (
    SELECT to_regtype(:name)::oid, 0
    UNION ALL
    SELECT t.typbasetype, c.depth + 1 FROM chain c JOIN pg_type t ON t.oid = c.oid WHERE t.typtype = 'd'
)
SELECT (SELECT format_type(t.oid, NULL) FROM chain c JOIN pg_type t ON t.oid = c.oid
        WHERE t.typtype <> 'd' ORDER BY c.depth DESC LIMIT 1) AS base,
       ARRAY(SELECT pg_get_constraintdef(k.oid) FROM chain c JOIN pg_constraint k ON k.contypid = c.oid
             WHERE k.contype = 'c' ORDER BY c.depth, k.conname) AS checks
""")


_CHUNK = 50_000  # distinct values evaluated per statement


def hold_domain_checks(conn: sa.Connection, table: sa.Table, data: SyntheticTable | None) -> None:
    """Replace, in place, every value of `data` a domain CHECK of its column refuses."""
    if data is None:
        return
    for col in table.columns:
        if isinstance(col.type, postgresql.DOMAIN) and col.name in data.columns:
            # Changed value by value below: a compact column (dbsynth.columns) becomes a list first.
            values = data.columns[col.name] = as_list(data.columns[col.name])
            _hold(conn, table, col, values)


def _hold(conn: sa.Connection, table: sa.Table, col: sa.Column, values: list[Any]) -> None:
    row = conn.execute(_DOMAIN, {"name": conn.dialect.identifier_preparer.quote(col.type.name)}).one()
    if not row.checks or row.base is None or row.base.endswith("]"):
        return  # a domain over an array: unnest would flatten its values (its CHECK is the target's)
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    if not distinct:
        return
    refused: set[Any] = set()
    for start in range(0, len(distinct), _CHUNK):
        refused |= _refused(conn, row.base, list(row.checks), distinct[start:start + _CHUNK])
    if not refused:
        return
    accepted = [v for v in values if v is not None and v not in refused]
    where = f"{table.name}.{col.name}"
    if accepted and _in_unique_set(table, col.name):
        raise WriteFailed(f"{where}: synthetic values {_shown(refused)} break a CHECK of domain {col.type.name} and "
                          "the column must stay unique; set its values in the spec; nothing was written")
    nullable = col.nullable and not col.type.not_null
    if not accepted and not nullable:
        raise WriteFailed(f"{where}: no synthetic value meets the CHECKs of domain {col.type.name} "
                          f"({'; '.join(row.checks)}); give its values in the spec; nothing was written")
    rng = np.random.default_rng(len(values))  # post-processing of synthetic values only
    for i, v in enumerate(values):
        if v is not None and v in refused:
            values[i] = accepted[int(rng.integers(len(accepted)))] if accepted else None


def _refused(conn: sa.Connection, base: str, checks: list[str], values: list[Any]) -> set[Any]:
    """The values one of the domain's CHECKs (over VALUE) evaluates to false for; NULL passes,
    as it does in a CHECK."""
    conditions = " AND ".join(f"({_over(c)}) IS NOT FALSE" for c in checks)
    sql = (f"SELECT t.i FROM unnest(CAST(:v AS {base}[])) WITH ORDINALITY AS t(dbsynth_value, i) "
           f"WHERE NOT ({conditions})")
    bad = conn.execute(sa.text(sql).bindparams(sa.bindparam("v", [_plain(v) for v in values],
                                                            type_=postgresql.ARRAY(sa.Text)))).scalars()
    return {values[int(i) - 1] for i in bad}


def _over(check: str) -> str:
    """`CHECK (<expr over VALUE>)` as an expression over the unnested column."""
    text = check.strip()
    if text.upper().startswith("CHECK"):
        text = text[5:].strip()
    return substitute(text, "VALUE", "t.dbsynth_value")


def _plain(v: Any) -> str:
    """A value as the text its base type's input reads (the array is cast to the base type)."""
    return "\\x" + v.hex() if isinstance(v, (bytes, bytearray, memoryview)) else str(v)


def _in_unique_set(table: sa.Table, column: str) -> bool:
    if column in table.primary_key.columns:
        return True
    for con in table.constraints:
        if isinstance(con, sa.UniqueConstraint) and column in con.columns:
            return True
    return any(ix.unique and column in ix.columns for ix in table.indexes)


def _shown(values: set[Any], limit: int = 3) -> str:
    shown = sorted(map(repr, values))[:limit]
    return ", ".join(shown) + (", ..." if len(values) > limit else "")
