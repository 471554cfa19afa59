"""MySQL/MariaDB: CONCAT and MD5, TIMESTAMPDIFF, binary no-pad string comparison, no GROUPING SETS."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.dialects.base import Dialect
from dbsynth.dialects.kinds import value_kind
from dbsynth.schema import Column

_EPOCH = "1970-01-01 00:00:00"


def _double(expr: ColumnElement) -> ColumnElement:
    # SQLAlchemy drops CAST(... AS DOUBLE) on MySQL; times a double literal (PyMySQL writes floats
    # as 1.0e0) the arithmetic is in double, exact for integers below 2**53.
    return sa.type_coerce(_numeric(expr) * sa.literal(1.0, sa.Float), sa.Float)


def _numeric(expr: ColumnElement) -> ColumnElement:
    # BIT and YEAR are numbers to the server; SQLAlchemy's types for them know no arithmetic.
    return sa.type_coerce(expr, sa.Integer) if isinstance(expr.type, (mysql.BIT, mysql.YEAR)) else expr


class MySQLDialect(Dialect):
    name = "mysql"

    def concat(self, *parts: ColumnElement) -> ColumnElement:
        return sa.func.concat(*parts, type_=sa.String)

    def text(self, expr: ColumnElement) -> ColumnElement:
        return sa.cast(expr, sa.String)  # CAST(x AS CHAR): the connection's utf8mb4

    def _key_text(self, expr: ColumnElement, col: Column) -> ColumnElement:
        kind = value_kind(col)
        if kind == "bool":  # BOOLEAN is TINYINT(1); the driver may hand back 2 as True
            return sa.case((expr.is_(None), None), (expr != 0, "1"), else_="0")
        if kind == "date":
            return sa.func.date_format(expr, "%Y-%m-%d")
        if kind == "datetime":
            return self.concat(sa.func.date_format(expr, "%Y-%m-%d %H:%i:%s"),
                               sa.case((sa.func.microsecond(expr) == 0, ""), else_=sa.func.date_format(expr, ".%f")))
        if kind == "bytes":
            return sa.func.lower(sa.func.hex(expr))
        # CHAR(n) comes back without its pad (PAD_CHAR_TO_FULL_LENGTH is off), as units.key_text wants.
        return self.text(expr)

    def keyed_hash(self, text: ColumnElement) -> ColumnElement:
        # MD5 hashes the string's bytes in its character set: utf8mb4, i.e. UTF-8, as Python does.
        return sa.cast(sa.func.md5(text), sa.LargeBinary)

    def exact(self, expr: ColumnElement, col: Column) -> ColumnElement:
        # The default collations ignore case and trailing spaces ('a' = 'A ' is true); Python's ==
        # does not. Convert to utf8mb4 (any column charset) and compare bytewise without padding.
        if col.generic == "BIT":
            # Grouped in a derived table, MariaDB hands a BIT back as an integer, not the bytes
            # every BIT reader (SQLAlchemy's included) expects; as BINARY it stays bytes.
            return sa.cast(expr, sa.LargeBinary)
        if value_kind(col) not in ("string", "enum"):
            return expr
        converted = sa.func.convert(expr.op("USING")(sa.literal_column("utf8mb4")), type_=sa.String)
        return converted.collate("utf8mb4_nopad_bin")

    def number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        if as_type in ("date", "datetime"):
            # UNIX_TIMESTAMP would apply the session time zone and stop at 2038; the driver gives
            # naive wall times, so count microseconds from the naive epoch, then divide once.
            micros = sa.func.timestampdiff(sa.literal_column("MICROSECOND"), sa.literal(_EPOCH), expr)
            return sa.type_coerce(micros / sa.literal(1e6, sa.Float), sa.Float)
        if as_type == "time":  # TIME comes back as a timedelta: its total seconds
            return _double(sa.func.time_to_sec(expr))
        if isinstance(expr.type, mysql.FLOAT):
            # The driver parses FLOAT's text ('32.38'), not its single-precision binary value
            # widened to double (32.380001068115234); parse the same text here.
            return _double(sa.cast(expr, sa.String))
        return _double(expr)

    def day_number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        return sa.func.datediff(expr, sa.literal("1970-01-01"), type_=sa.Integer)

    def is_true(self, expr: ColumnElement) -> ColumnElement:
        return _numeric(expr) != 0
