"""Spark SQL: md5 of UTF-8 strings, unix_micros and unix_date, UTF8_BINARY comparison, GROUPING SETS.

The session runs in UTC (`dbsynth.spark.dbapi`), so a TIMESTAMP's wall time as dbsynth reads it
and as these expressions see it are the same. Spark has no read-only transactions: the adapter
refuses any statement that is not a query.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.dialects.base import Dialect
from dbsynth.dialects.grouping_sets import GroupingSets
from dbsynth.dialects.kinds import value_kind
from dbsynth.privacy.units import is_fixed_char
from dbsynth.schema import Column


class SparkDialect(GroupingSets, Dialect):
    name = "spark"
    # Spark runs GROUPING SETS as an Expand: every row is copied once per set before the
    # aggregation, so a batch of 256 sets multiplies the shuffled rows by 256; 32 keeps the
    # copies near what one scan per set would read, in a handful of statements.
    max_sets = 32

    def concat(self, *parts: ColumnElement) -> ColumnElement:
        return sa.func.concat(*parts, type_=sa.String)

    def text(self, expr: ColumnElement) -> ColumnElement:
        return sa.cast(expr, sa.String)  # CAST(x AS STRING)

    def _key_text(self, expr: ColumnElement, col: Column) -> ColumnElement:
        kind = value_kind(col)
        if kind == "bool":
            return sa.case((expr.is_(None), None), (expr.is_(sa.true()), "1"), else_="0")
        if kind == "date":
            return sa.func.date_format(expr, "yyyy-MM-dd", type_=sa.String)
        if kind == "datetime":
            # Python's isoformat writes ".ffffff" only when there are microseconds.
            micros = sa.func.date_format(expr, "SSSSSS", type_=sa.String)
            return self.concat(sa.func.date_format(expr, "yyyy-MM-dd HH:mm:ss", type_=sa.String),
                               sa.case((micros == "000000", ""), else_=self.concat(sa.literal("."), micros)))
        if kind == "bytes":
            return sa.func.lower(sa.func.hex(expr, type_=sa.String))
        if kind == "string" and is_fixed_char(col):
            return sa.func.rtrim(self.text(expr))  # CHAR(n) as the driver returns it, unpadded
        return self.text(expr)  # a DECIMAL's text keeps its scale, as Python's Decimal does

    def keyed_hash(self, text: ColumnElement) -> ColumnElement:
        # md5 of the string's UTF-8 bytes as lowercase hex; strings compare bytewise (UTF8_BINARY).
        return sa.func.md5(text, type_=sa.String)

    def exact(self, expr: ColumnElement, col: Column) -> ColumnElement:
        # The default UTF8_BINARY collation compares bytewise; a column declared with another
        # (UTF8_LCASE, a locale's) would call 'a' and 'A' equal.
        if value_kind(col) in ("string", "enum"):
            return sa.func.collate(expr, sa.literal_column("'UTF8_BINARY'"), type_=expr.type)
        return expr

    def number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        if as_type in ("date", "datetime"):
            # Exact microseconds since the epoch of the UTC wall time, divided once, as Python's
            # timedelta division does.
            micros = sa.func.unix_micros(sa.cast(expr, sa.DateTime), type_=sa.BigInteger)
            return sa.type_coerce(micros / sa.literal(1e6, sa.Float), sa.Float)
        return sa.cast(expr, sa.Float)  # CAST(x AS DOUBLE)

    def day_number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        return sa.func.unix_date(sa.cast(expr, sa.Date), type_=sa.Integer)

    def is_true(self, expr: ColumnElement) -> ColumnElement:
        return sa.cast(expr, sa.Integer) != 0

    def searchsorted(self, x: ColumnElement, edges: Sequence[float]) -> ColumnElement:
        """Two levels of flat CASEs (√n blocks of √n edges): Spark's parser takes time
        exponential-like in the nesting of CASEs (the base's binary tree of 1,000 edges: 7 s
        to parse, and the analyser ran out of a 1 GB heap), while a flat CASE parses in linear
        time; a row costs about 2√n comparisons instead of log2(n)."""
        edges = [float(e) for e in edges]
        n = len(edges)
        code = lambda i: sa.literal_column(str(i), sa.Integer)  # noqa: E731
        below = lambda i: x < sa.literal(edges[i], sa.Float)  # noqa: E731

        def flat(lo: int, hi: int) -> ColumnElement:
            """Given edges[lo-1] ≤ x < edges[hi]: the first i in [lo, hi) with x < edges[i], else hi."""
            if lo == hi:
                return code(lo)
            return sa.case(*[(below(i), code(i)) for i in range(lo, hi)], else_=code(hi))

        size = max(1, math.isqrt(n))
        starts = list(range(0, n, size))
        if len(starts) <= 1:
            tree = flat(0, n)
        else:
            # Block k holds edges[starts[k]:starts[k+1]]; x < its first edge sends x to the block before.
            tree = sa.case(*[(below(starts[k + 1]), flat(starts[k], starts[k + 1])) for k in range(len(starts) - 1)],
                           else_=flat(starts[-1], n))
        return sa.case((x.is_(None), sa.null()), else_=tree)

    def any_order(self, partition: ColumnElement) -> ColumnElement | None:
        return partition  # Spark refuses ROW_NUMBER() without ORDER BY; every row of it ties

    def grouping_id(self, *keys: ColumnElement) -> ColumnElement:
        return sa.func.grouping_id(*keys, type_=sa.Integer)  # Spark's GROUPING takes one column
