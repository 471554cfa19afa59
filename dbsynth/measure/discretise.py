"""Released encoders as SQL: the code of every row computed by the database.

Each function is the SQL twin of an encoder's `encode` in `encoders.py` and must give the same
code for the same value, NULLs and out-of-domain values included. Released values and bin
edges are bound parameters; only codes (our own small integers) are written into the SQL.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.dialects import Dialect
from dbsynth.measure.encoders import BinEncoder, BooleanEncoder, CategoricalEncoder, NullIndicator
from dbsynth.schema import Column

Encoder = Union[CategoricalEncoder, BinEncoder, BooleanEncoder]


def _code(value: int) -> ColumnElement:
    return sa.literal_column(str(int(value)), sa.Integer)


def code_of(encoder: Encoder, expr: ColumnElement, col: Column, dialect: Dialect) -> ColumnElement:
    """The code `encoder.encode` gives the column's value, as a SQL expression."""
    if isinstance(encoder, CategoricalEncoder):
        return categorical(encoder, expr, col, dialect)
    if isinstance(encoder, BinEncoder):
        return binned(encoder, expr, dialect)
    if isinstance(encoder, BooleanEncoder):
        base = int(encoder.nullable)
        return sa.case((expr.is_(None), _code(0)), (dialect.is_true(expr), _code(base + 1)), else_=_code(base))
    raise TypeError(f"no SQL for encoder {type(encoder).__name__}")


def categorical(encoder: CategoricalEncoder, expr: ColumnElement, col: Column, dialect: Dialect) -> ColumnElement:
    # The same dictionary `encode` builds: a value listed twice takes its last code.
    index = {encoder._norm(v): i + int(encoder.nullable) for i, v in enumerate(encoder.values)}
    other = encoder.size - 1 if encoder.other else int(encoder.nullable)
    exact = dialect.exact(expr, col)
    whens = [(expr.is_(None), _code(0 if encoder.nullable else other))]
    whens += [(exact == sa.literal(v, expr.type), _code(code)) for v, code in index.items()]
    return sa.case(*whens, else_=_code(other))


def binned(encoder: BinEncoder, expr: ColumnElement, dialect: Dialect) -> ColumnElement:
    base = int(encoder.nullable)
    x = dialect.number(expr, encoder.as_type)
    if len(encoder.edges) < 2 and not encoder.points:
        return sa.case((x.is_(None), _code(0)), else_=_code(base))
    # clip(searchsorted(edges, x, 'right') - 1, 0, n_bins - 1) is exactly the number of inner
    # edges ≤ x, so the end bins take everything outside without a clip in SQL.
    inner = np.asarray(encoder.edges[1:-1], dtype=float)
    # `encode` bins a NULL of a NOT NULL column (SQLite allows one) as the number 0.
    null = 0 if encoder.nullable else int(np.searchsorted(inner, 0.0, side="right"))
    # A point is compared as the same double `encode` compares (both sides go through `number`).
    points = [(x == sa.literal(float(p), sa.Float), _code(encoder.point_code(i))) for i, p in enumerate(encoder.points)]
    return sa.case((x.is_(None), _code(null)), *points, else_=dialect.searchsorted(x, inner) + base)


def null_indicator(indicator: NullIndicator, rows: sa.FromClause) -> ColumnElement:
    return sa.case((sa.or_(*[rows.c[c].is_(None) for c in indicator.columns]), _code(1)), else_=_code(0))
