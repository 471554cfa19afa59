"""PostgreSQL: md5 over UTF-8 bytes, EXTRACT(EPOCH ...), width_bucket, GROUPING SETS."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.dialects.base import Dialect
from dbsynth.dialects.grouping_sets import GroupingSets
from dbsynth.dialects.kinds import value_kind
from dbsynth.schema import Column


class PostgresDialect(GroupingSets, Dialect):
    name = "postgresql"

    def prepare(self, conn: sa.Connection) -> None:
        # All for this transaction only. work_mem: the planner hashes a grouping set only if its
        # (badly over-)estimated group count fits, and the bounding's window sort spills less;
        # the real hash tables hold a few thousand cells. Incremental sort: with an index on the
        # owner FK the planner walks a 10M-row table in FK order to feed the window, trusting a
        # warm cache: measured 2-3x slower than a sequential scan and one sort when the FK order
        # does not follow the table's physical order.
        conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        conn.execute(sa.text("SET LOCAL enable_incremental_sort = off"))
        # Nested loops: the planner guesses a fifth of a bounded child's rows pass its rank filter
        # and then joins it to the parent by a nested loop, every parent against every kept child:
        # 178 s for 159k order lines, quadratic in the size (hours at 4M). Every statement here
        # reads whole tables, which hash joins do in one pass each: 4 s.
        conn.execute(sa.text("SET LOCAL enable_nestloop = off"))
        # JIT: the bounding's nested EXISTS give cost estimates near 1e12, so every statement was
        # compiled with inlining and optimisation: 0.27 s of a 2.5 s count of 800k order lines,
        # for expressions (md5 of key text) that run once per row anyway.
        conn.execute(sa.text("SET LOCAL jit = off"))

    def value_type(self, type_: sa.types.TypeEngine) -> sa.types.TypeEngine:
        if not isinstance(type_, pg.DOMAIN):
            return type_
        while isinstance(type_, pg.DOMAIN):
            type_ = type_.data_type
        # The reflected base type carries the database's collation as COLLATE "default", which
        # would clash with the "C" that `exact` compares strings in.
        if getattr(type_, "collation", None):
            type_ = type_.copy()
            type_.collation = None
        return type_

    def _key_text(self, expr: ColumnElement, col: Column) -> ColumnElement:
        kind = value_kind(col)
        if kind == "bool":
            return sa.case((expr.is_(None), None), (expr.is_(sa.true()), "1"), else_="0")
        if kind == "date":
            return sa.func.to_char(expr, "YYYY-MM-DD")
        if kind == "datetime":
            ts = sa.cast(expr, pg.TIMESTAMP)  # timestamptz: the session's wall time, as psycopg's
            return self.concat(sa.func.to_char(ts, "YYYY-MM-DD HH24:MI:SS"), self._micros(ts))
        if kind == "time":
            t = sa.cast(sa.cast(expr, pg.TIME), pg.INTERVAL)
            return self.concat(sa.func.to_char(t, "HH24:MI:SS"), self._micros(t))
        if kind == "bytes":
            return sa.func.encode(expr, "hex")
        return self.text(expr)  # a CHAR(n)'s cast to text drops its pad, as units.key_text does

    @staticmethod
    def _micros(value: ColumnElement) -> ColumnElement:
        # Python's isoformat writes ".ffffff" only when there are microseconds.
        micros = sa.cast(sa.extract("microseconds", value), sa.BigInteger) % 1_000_000
        return sa.case((micros == 0, ""), else_=sa.func.to_char(value, ".US"))

    def keyed_hash(self, text: ColumnElement) -> ColumnElement:
        # md5 of the UTF-8 bytes whatever the database encoding; "C": bytewise order of the hex.
        return sa.func.md5(sa.func.convert_to(text, sa.literal_column("'UTF8'"))).collate("C")

    def exact(self, expr: ColumnElement, col: Column) -> ColumnElement:
        # Deterministic collations already compare bytewise; "C" also covers nondeterministic
        # (ICU, case-insensitive) ones. Enums have no collation.
        return expr.collate("C") if value_kind(col) == "string" else expr

    def number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        if as_type in ("date", "datetime"):
            expr = sa.extract("epoch", sa.cast(expr, pg.TIMESTAMP))
        elif as_type == "time":
            expr = sa.extract("epoch", sa.cast(expr, pg.TIME))
        elif isinstance(expr.type, pg.BIT):
            expr = sa.cast(expr, sa.BigInteger)  # bit(n) to the number its digits spell (n ≤ 63)
        elif isinstance(expr.type, sa.REAL):
            # The driver parses real's shortest text ('32.38'), not its binary value widened to
            # double (32.380001068115234); parse the same text here.
            expr = sa.cast(expr, sa.Text)
        # EXTRACT is exact numeric; the cast rounds once, as Python's timedelta division does.
        return sa.cast(expr, pg.DOUBLE_PRECISION)

    def day_number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        days = sa.cast(expr, sa.Date).op("-")(sa.cast(sa.literal("1970-01-01"), sa.Date))
        return sa.type_coerce(days, sa.Integer)

    def is_true(self, expr: ColumnElement) -> ColumnElement:
        return sa.cast(expr, sa.Integer) != 0

    def searchsorted(self, x: ColumnElement, edges: Sequence[float]) -> ColumnElement:
        if not len(edges):
            return sa.literal_column("0", sa.Integer)
        # width_bucket(x, thresholds) = how many thresholds are ≤ x, by binary search.
        array = sa.cast(sa.bindparam(None, [float(e) for e in edges], type_=pg.ARRAY(pg.DOUBLE_PRECISION)),
                        pg.ARRAY(pg.DOUBLE_PRECISION))
        return sa.func.width_bucket(sa.cast(x, pg.DOUBLE_PRECISION), array, type_=sa.Integer)

    def grouping_id(self, *keys: ColumnElement) -> ColumnElement:
        return sa.func.grouping(*keys)  # PostgreSQL's GROUPING takes several columns
