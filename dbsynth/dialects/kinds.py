"""What a column's values are, as far as their text or number forms go (engine-neutral)."""

from __future__ import annotations

from dbsynth.schema import Column

_DATE = {"Date", "DATE"}
_DATETIME = {"DateTime", "TIMESTAMP", "DATETIME"}
_TIME = {"Time", "TIME"}
_BYTES = {"LargeBinary", "BLOB", "BYTEA", "VARBINARY", "BINARY", "_Binary"}
_STRING = {"String", "Unicode", "Text", "UnicodeText", "CLOB", "VARCHAR", "CHAR", "NVARCHAR", "NCHAR"}


def value_kind(col: Column) -> str:
    """bool, date, datetime, time, bytes, string, enum or other."""
    g = col.generic
    if g == "Enum" or col.enum_labels:
        return "enum"
    if g == "Boolean":
        return "bool"
    if g in _DATE:
        return "date"
    if g in _DATETIME:
        return "datetime"
    if g in _TIME:
        return "time"
    if g in _BYTES:
        return "bytes"
    if g in _STRING:
        return "string"
    return "other"
