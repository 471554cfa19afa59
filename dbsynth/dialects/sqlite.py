"""SQLite: the hash and the date parsing are Python functions registered on the connection.

SQLite runs inside this process and has neither md5 nor a date type, so dbsynth registers
deterministic functions that are the very code the in-memory path runs; the database file is
still opened read-only, and rows still never reach Python as rows, only value by value inside
SQLite's own evaluation, so memory does not grow with the table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.dialects.base import Dialect
from dbsynth.dialects.kinds import value_kind
from dbsynth.measure.encoders import number
from dbsynth.privacy.units import is_fixed_char, key_text
from dbsynth.schema import Column


def _md5(text: str | None) -> str | None:
    return None if text is None else hashlib.md5(text.encode("utf-8")).hexdigest()


def _number(value: object, as_type: str) -> float | None:
    x = number(value, as_type)
    return None if math.isnan(x) else x


def _temporal_key(value: object, kind: str) -> str | None:
    # Stored as text in whatever format wrote it ('... 00:00:00' or '... 00:00:00.000000'); the
    # driver hands Python a datetime, whose key text is its isoformat: parse, then format alike.
    if not isinstance(value, str):
        return None if value is None else str(value)
    try:
        parsed = {"date": dt.date, "datetime": dt.datetime, "time": dt.time}[kind].fromisoformat(value)
    except ValueError:
        return value
    return key_text(parsed)


def _day(value: object, as_type: str) -> int | None:
    x = number(value, as_type)
    return None if math.isnan(x) else int(x // 86400)  # float floor division is exact


class SQLiteDialect(Dialect):
    name = "sqlite"

    def prepare(self, conn: sa.Connection) -> None:
        raw = conn.connection.driver_connection
        raw.create_function("dbsynth_md5", 1, _md5, deterministic=True)
        raw.create_function("dbsynth_number", 2, _number, deterministic=True)
        raw.create_function("dbsynth_day", 2, _day, deterministic=True)
        raw.create_function("dbsynth_temporal_key", 2, _temporal_key, deterministic=True)

    def _key_text(self, expr: ColumnElement, col: Column) -> ColumnElement:
        kind = value_kind(col)
        if kind == "bytes":
            return sa.func.lower(sa.func.hex(expr))
        if kind == "string" and is_fixed_char(col):  # SQLite keeps what was inserted, pad and all
            return sa.func.rtrim(self.text(expr), " ")
        if kind in ("date", "datetime", "time"):
            return sa.func.dbsynth_temporal_key(expr, kind, type_=sa.String)
        if col.generic == "Numeric":
            # Stored as a float; the driver hands Python a Decimal at the column's scale (10 when
            # unset), whose key text has exactly that many decimals.
            return sa.func.printf(f"%.{10 if col.scale is None else col.scale}f", expr)
        return self.text(expr)

    def keyed_hash(self, text: ColumnElement) -> ColumnElement:
        return sa.func.dbsynth_md5(text, type_=sa.String)

    def exact(self, expr: ColumnElement, col: Column) -> ColumnElement:
        # A column declared COLLATE NOCASE would otherwise compare and group case-insensitively.
        return expr.collate("BINARY") if value_kind(col) in ("string", "enum") else expr

    def number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        return sa.func.dbsynth_number(expr, as_type, type_=sa.Float)

    def day_number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        return sa.func.dbsynth_day(expr, as_type, type_=sa.Integer)
