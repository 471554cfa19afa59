"""DuckDB: md5 as lowercase hex, epoch_us and date arithmetic, COLLATE binary, GROUPING SETS.

DuckDB speaks PostgreSQL's SQL for most of what the measure stage pushes down (window
functions, `||`, GROUPING SETS with a PostgreSQL-style GROUPING() bitmask); the differences
are how values turn into key text and numbers, and how a string is compared bytewise.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.dialects.base import Dialect
from dbsynth.dialects.grouping_sets import GroupingSets
from dbsynth.dialects.kinds import value_kind
from dbsynth.dialects.postgres import PostgresDialect
from dbsynth.schema import Column


def _epoch_date() -> ColumnElement:
    # A typed constant: a bound '1970-01-01' is a string literal, and DuckDB will not guess
    # whether `string + TIME` means a DATE or an INTERVAL.
    return sa.literal_column("DATE '1970-01-01'", sa.Date)


class DuckDBDialect(GroupingSets, Dialect):
    """One scan of the bounded rows serves a whole batch of column sets, as on PostgreSQL:
    DuckDB's GROUPING SETS and GROUPING() bitmask are PostgreSQL's."""

    name = "duckdb"
    grouping_id = PostgresDialect.grouping_id

    def _key_text(self, expr: ColumnElement, col: Column) -> ColumnElement:
        kind = value_kind(col)
        if kind == "bool":  # the cast says 'true'/'false'; units.key_text says '1'/'0'
            return sa.case((expr.is_(None), None), (expr.is_(sa.true()), "1"), else_="0")
        if kind == "datetime":
            # The cast trims trailing zeros of the fraction ('.12'); isoformat writes '.120000',
            # and nothing when there are no microseconds. TIMESTAMPTZ: its wall time in the
            # session's zone (UTC, connect.utc_sessions), as the driver hands it to Python.
            ts = sa.cast(expr, sa.DateTime)
            return self.concat(sa.func.strftime(ts, "%Y-%m-%d %H:%M:%S"), self._micros(ts))
        if kind == "time":
            ts = sa.cast(_epoch_date().op("+")(sa.cast(expr, sa.Time)), sa.DateTime)
            return self.concat(sa.func.strftime(ts, "%H:%M:%S"), self._micros(ts))
        if kind == "bytes":
            return sa.func.lower(sa.func.hex(expr))
        return self.text(expr)  # dates as ISO text; DECIMAL at its scale ('1.00'), as Decimal's text

    @staticmethod
    def _micros(ts: ColumnElement) -> ColumnElement:
        micros = sa.func.microsecond(ts) % 1_000_000  # microsecond(): the seconds' too
        return sa.case((micros == 0, ""), else_=sa.func.strftime(ts, ".%f"))

    def keyed_hash(self, text: ColumnElement) -> ColumnElement:
        # md5 of the string's UTF-8 bytes (DuckDB strings are UTF-8) as lowercase hex; compared
        # bytewise whatever the session's default_collation.
        return sa.func.md5(text, type_=sa.String).collate("binary")

    def exact(self, expr: ColumnElement, col: Column) -> ColumnElement:
        # A column declared COLLATE NOCASE (or a session default_collation) would compare and
        # group case-insensitively; Python's == does not. Enums compare by label index.
        return expr.collate("binary") if value_kind(col) == "string" else expr

    def number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        if as_type in ("date", "datetime"):
            micros = sa.func.epoch_us(sa.cast(expr, sa.DateTime))
        elif as_type == "time":
            micros = sa.func.epoch_us(sa.cast(_epoch_date().op("+")(sa.cast(expr, sa.Time)),
                                              sa.DateTime))
        elif isinstance(expr.type, sa.Numeric) and not isinstance(expr.type, sa.Float):
            # The driver hands a DECIMAL over as a Decimal, which float() rounds once; DuckDB's
            # own DECIMAL-to-DOUBLE cast divides in binary and can miss by an ulp. Its text,
            # parsed, rounds once too.
            return sa.cast(sa.cast(expr, sa.Text), sa.Double)
        else:
            return sa.cast(expr, sa.Double)
        # Whole microseconds (exact below 2**53), divided once: rounds as Python's timedelta does.
        return sa.cast(micros, sa.Double) / sa.literal(1e6, sa.Double)

    def day_number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        days = sa.cast(expr, sa.Date).op("-")(_epoch_date())
        return sa.type_coerce(days, sa.Integer)

    def is_true(self, expr: ColumnElement) -> ColumnElement:
        return sa.cast(expr, sa.Integer) != 0
