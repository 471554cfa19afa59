"""What dbsynth writes where it models nothing, and the refusal, before any row is read, of what
it could not write.

- `fallback_value(column, kind)`: the one data-independent value a NOT NULL column of an
  `unsupported` kind (`fallback: default_value`) gets, valid for the column's type on the target
  engine: `point '(0,0)'`, `inet '0.0.0.0'`, `interval '0'`, `'{}'` for an array, `B'00000000'`
  for a bit(8), `'empty'` for a range, `{}` for JSON, `''` for a tsvector, a POINT(0 0) for a
  MariaDB geometry, 0 for a BIT(n), ... or NO_VALUE when dbsynth knows none (a user-defined base
  type, a composite type).
- `resolve_fallbacks(metadata, table, kind)`: the writer puts those values where the sampler left
  FALLBACK in a table.
- `check_writable(schema, spec, kind)`: run by `plan` (on the source engine) and by `run` (on the
  target engine) before any row is read: raises UnsupportedSchema (exit 6) naming table.column,
  its type and the fix, for a column that could only fail at write time (or a partitioned table
  whose rows it cannot keep inside its partitions), and SpecError for a spec that would write a
  generated column or call a stored one generated.

Values are what the engine writers pass on: COPY text on PostgreSQL (the type's input syntax),
driver parameters on MariaDB and SQLite.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from dbsynth.columns import ColumnValues, ConstantValues
from dbsynth.errors import SpecError, UnsupportedSchema
from dbsynth.synthetic import FALLBACK, SyntheticTable


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()

# PostgreSQL types SQLAlchemy does not know (reflected as their catalog spelling), by base name:
# each value is the type's input text, which COPY hands to the type's input function.
_PG_TEXT = {
    "point": "(0,0)",
    "line": "{1,-1,0}",  # the line y = x: a line needs A and B not both zero
    "lseg": "[(0,0),(0,0)]",
    "box": "(0,0),(0,0)",
    "path": "((0,0))",
    "polygon": "((0,0))",
    "circle": "<(0,0),0>",
    "xml": "",
    "pg_lsn": "0/0",
    "txid_snapshot": "1:1:",
    "pg_snapshot": "1:1:",
    "jsonpath": "$",
    "tid": "(0,0)",
    "xid": "0",
    "xid8": "0",
    "cid": "0",
    "int2vector": "",
    "oidvector": "",
    '"char"': "",
    "inet": "0.0.0.0",
    "cidr": "0.0.0.0/0",
    "macaddr": "00:00:00:00:00:00",
    "macaddr8": "00:00:00:00:00:00:00:00",
    "money": "0",
    "oid": "0",
    "tsvector": "",
    "tsquery": "",
    "hstore": "",
    "interval": "00:00:00",
    "bit varying": "",
    "varbit": "",
}
_PG_REG = re.compile(r"^reg[a-z]*$")  # regclass, regtype, regproc, ...: 0 is the invalid OID, shown as -
_PG_RANGES = {"int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange"}
_PG_MULTIRANGES = {r.replace("range", "multirange") for r in _PG_RANGES}

# MariaDB/MySQL geometries, as the server stores them: a 4-byte SRID (0) then WKB (little endian).
_WKB_POINT = struct.pack("<BIdd", 1, 1, 0.0, 0.0)
_WKB_LINE = struct.pack("<BII", 1, 2, 2) + struct.pack("<dd", 0.0, 0.0) * 2
_WKB_POLYGON = struct.pack("<BIII", 1, 3, 1, 4) + struct.pack("<dd", 0.0, 0.0) * 4
_MYSQL_GEOMETRY = {
    "geometry": _WKB_POINT,
    "point": _WKB_POINT,
    "linestring": _WKB_LINE,
    "polygon": _WKB_POLYGON,
    "multipoint": struct.pack("<BII", 1, 4, 1) + _WKB_POINT,
    "multilinestring": struct.pack("<BII", 1, 5, 1) + _WKB_LINE,
    "multipolygon": struct.pack("<BII", 1, 6, 1) + _WKB_POLYGON,
    "geometrycollection": struct.pack("<BII", 1, 7, 0),  # GEOMETRYCOLLECTION EMPTY
    "geomcollection": struct.pack("<BII", 1, 7, 0),
}
_MYSQL_TEXT = {"inet6": "::", "inet4": "0.0.0.0", "uuid": "00000000-0000-0000-0000-000000000000"}


def fallback_value(column: sa.Column, kind: str) -> Any:
    """The data-independent value of `column` (as created on a `kind` engine), or NO_VALUE."""
    return _value(column.type, kind)


def _value(t: sa.types.TypeEngine, kind: str) -> Any:
    if isinstance(t, postgresql.DOMAIN):
        return _value(t.data_type, kind)  # its CHECK, if any, is the user's to satisfy (spec values)
    spelled = getattr(t, "spelled", None)  # introspect.SourceType: a type SQLAlchemy does not know
    if spelled is not None:
        return _spelled_value(str(spelled), kind)
    if isinstance(t, sa.ARRAY):
        return "{}" if kind == "postgresql" else NO_VALUE
    if isinstance(t, sa.Enum):
        return t.enums[0] if t.enums else NO_VALUE
    if isinstance(t, sa.JSON):
        return {}
    if kind == "postgresql":
        found = _postgres_value(t)
        if found is not NO_VALUE:
            return found
    if kind == "mysql":
        if isinstance(t, mysql.BIT):
            return 0
        if isinstance(t, mysql.SET):
            return ""  # the empty set
        if isinstance(t, mysql.YEAR):
            return 1970
        if isinstance(t, mysql.TIMESTAMP):
            return dt.datetime(1970, 1, 1, 0, 0, 1)  # its first second (UTC sessions): 00:00:00 is out of range
    return _generic_value(t)


def _postgres_value(t: sa.types.TypeEngine) -> Any:
    if isinstance(t, postgresql.BIT):
        return "" if t.varying else "0" * (t.length or 1)
    if isinstance(t, postgresql.ranges.AbstractMultiRange):
        return "{}"
    if isinstance(t, postgresql.ranges.AbstractRange):
        return "empty"
    if isinstance(t, postgresql.HSTORE):
        return ""
    for cls, text in ((postgresql.INET, "0.0.0.0"), (postgresql.CIDR, "0.0.0.0/0"),
                      (postgresql.MACADDR8, "00:00:00:00:00:00:00:00"), (postgresql.MACADDR, "00:00:00:00:00:00"),
                      (postgresql.MONEY, "0"), (postgresql.OID, "0"), (postgresql.REGCLASS, "0"),
                      (postgresql.REGCONFIG, "simple"), (postgresql.TSVECTOR, ""), (postgresql.TSQUERY, "")):
        if isinstance(t, cls):
            return text
    return NO_VALUE


def _generic_value(t: sa.types.TypeEngine) -> Any:
    if isinstance(t, sa.Boolean):
        return False
    if isinstance(t, sa.Integer):
        return 0
    if isinstance(t, sa.Float):
        return 0.0
    if isinstance(t, sa.Numeric):
        return Decimal(0)
    if isinstance(t, sa.DateTime):
        return dt.datetime(1970, 1, 1)
    if isinstance(t, sa.Date):
        return dt.date(1970, 1, 1)
    if isinstance(t, sa.Time):
        return dt.time(0, 0)
    if isinstance(t, sa.sql.sqltypes._AbstractInterval):  # sa.Interval, PostgreSQL's INTERVAL
        return dt.timedelta(0)
    if isinstance(t, sa.sql.sqltypes._Binary):  # BLOB, BYTEA, VARBINARY, ...
        return b""
    if isinstance(t, sa.Uuid):
        return uuid.UUID(int=0)
    if isinstance(t, sa.String):
        return ""
    return NO_VALUE


def _spelled_value(spelled: str, kind: str) -> Any:
    """By the type's name as its engine spells it (`point`, `bit(8)`, `integer[]`, `inet6`)."""
    name = spelled.strip().lower()
    if kind == "postgresql":
        if name.endswith("]"):
            return "{}"
        bit = re.fullmatch(r"bit(?:\((\d+)\))?", name)
        if bit:
            return "0" * int(bit.group(1) or 1)
        base = re.sub(r"\s*\(.*\)$", "", name)  # bit varying(5), interval(3), ...
        if base in _PG_TEXT:
            return _PG_TEXT[base]
        if _PG_REG.match(base):
            return "0"
        if base in _PG_RANGES:
            return "empty"
        if base in _PG_MULTIRANGES:
            return "{}"
        return NO_VALUE
    if kind == "mysql":
        base = re.sub(r"\s*\(.*\)$", "", name).split()[0] if name else name
        if base in _MYSQL_GEOMETRY:
            return b"\0\0\0\0" + _MYSQL_GEOMETRY[base]
        return _MYSQL_TEXT.get(base, NO_VALUE)
    return NO_VALUE


def resolve_fallbacks(metadata: sa.MetaData, table: SyntheticTable, kind: str) -> None:
    """Put each column's data-independent value where the sampler left FALLBACK (in place).
    `check_writable` has made sure, before any row was read, that every such column has one."""
    name = table.name
    for column, values in table.columns.items():
        if not _holds_fallback(values):
            continue
        value = fallback_value(metadata.tables[name].c[column], kind)
        if value is NO_VALUE:  # check_writable refuses this before reading: a bug if it gets here
            raise UnsupportedSchema(_no_value(name, column, metadata.tables[name].c[column]))
        if isinstance(values, ConstantValues):
            table.columns[column] = ConstantValues(value, len(values))
        else:
            table.columns[column] = [value if v is FALLBACK else v for v in values]


def _holds_fallback(values) -> bool:
    """Whether FALLBACK is among the values. The sampler makes it only as a constant column; a
    compact column of any other kind (codes, keys, links) never holds it, and is not decoded
    here to find out."""
    if isinstance(values, ConstantValues):
        return values.value is FALLBACK
    return not isinstance(values, ColumnValues) and any(v is FALLBACK for v in values)


def check_writable(schema: Any, spec: Any, kind: str, target: sa.Engine | None = None) -> sa.MetaData:
    """Refuse, before any row is read, what the write could only fail on: a column the spec would
    fill with a fallback that has no value of its type, a spec that would write a generated
    column, a generated column dbsynth would have to write (a key), one data-independent value in
    a unique set, (through `translate_metadata`) a type with no equivalent on a `kind` target, a
    foreign-key cycle between tables on DuckDB (which cannot create one),
    and, given the `target`, a PostgreSQL type it lacks (an extension's, a user-defined one: the
    writer creates enums, domains and sequences, not those). Returns the target's DDL."""
    from dbsynth.write.ddl import translate_metadata

    metadata = translate_metadata(schema, kind)
    if target is not None and kind == "postgresql":
        _types_exist(target, metadata)
    if kind == "duckdb":  # a foreign-key cycle between tables cannot be created there
        from dbsynth.write.duckdb import creation_order

        creation_order(metadata)
    for tname, ts in spec.tables.items():
        table = schema.tables[tname]
        target = metadata.tables[tname]
        keys = set(table.primary_key) | table.fk_columns()
        for col in table.columns:
            cs = ts.columns.get(col.name)
            if cs is None:
                continue
            where = f"{tname}.{col.name}"
            if col.computed is not None:
                if cs.kind != "generated":
                    raise SpecError(f"spec: {where} is GENERATED ALWAYS AS ({col.computed}) in the source: the "
                                    f"target computes it, so its kind must be generated, not {cs.kind}")
                if col.name in keys:
                    raise UnsupportedSchema(
                        f"{where} is GENERATED ALWAYS AS ({col.computed}) and part of a "
                        f"{'primary' if col.name in table.primary_key else 'foreign'} key, which dbsynth writes "
                        "itself; make it an ordinary column or leave it out of the key")
                continue
            if cs.kind == "generated":
                raise SpecError(f"spec: {where} is not a generated column in the source; kind generated is for "
                                "columns declared GENERATED ALWAYS AS (...)")
            if cs.kind != "unsupported":
                continue
            if cs.fallback == "set_null":
                if not target.c[col.name].nullable:
                    raise UnsupportedSchema(f"{where} ({col.type}) is NOT NULL, so fallback set_null cannot be "
                                            "written; use fallback default_value or set its kind/values in the spec")
                continue
            if not cs.values and fallback_value(target.c[col.name], kind) is NO_VALUE:
                raise UnsupportedSchema(_no_value(tname, col.name, target.c[col.name], col.type))
            for uset in table.unique_sets():
                if col.name in uset:
                    cols = ", ".join(uset)
                    raise UnsupportedSchema(
                        f"{where} ({col.type}) is unsupported and part of UNIQUE ({cols}): one data-independent "
                        "value in every row cannot keep it unique; set its kind and values in the spec")
    if kind == "sqlite":
        _create_in_memory(metadata)
    if kind == "postgresql" and schema.dialect == "postgresql":
        _partitions_fit(schema, spec)
    return metadata


def _partitions_fit(schema: Any, spec: Any) -> None:
    """A partitioned table whose rows dbsynth cannot keep inside its partitions (an expression or
    multi-column key, a key the linker assigns) and no DEFAULT partition to take the rest."""
    from dbsynth.relational.partition_keys import unfit_levels

    for tname, ts in spec.tables.items():
        table = schema.tables[tname]
        for level in unfit_levels(table, ts) if ts.private else ():
            by = table.partitioning.by if level.of == tname else next(
                p.partitioning.by for p in table.partitions if p.name == level.of)
            raise UnsupportedSchema(
                f"{tname}: dbsynth cannot keep synthetic rows inside the partitions of {level.of} (PARTITION BY {by}: "
                "its key is not one column dbsynth models) and it has no DEFAULT partition; add a DEFAULT partition "
                "to the source, or write to a target of another engine (one table holds every row)")


def _types_exist(target: sa.Engine, metadata: sa.MetaData) -> None:
    """Every type the tables use that the writer does not create (a type SQLAlchemy does not know,
    hstore, citext) exists on the PostgreSQL target."""
    wanted: dict[str, str] = {}
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        for col in table.columns:
            t = col.type
            if getattr(t, "spelled", None) or isinstance(t, (postgresql.HSTORE, postgresql.CITEXT)):
                wanted.setdefault(_spelled(t), f"{table.name}.{col.name}")
    if not wanted:
        return
    with target.connect() as conn:
        for spelled, where in wanted.items():
            try:
                found = conn.execute(sa.text("SELECT to_regtype(:t) IS NOT NULL"), {"t": spelled}).scalar()
            except sa.exc.DBAPIError:  # a name to_regtype cannot even parse
                conn.rollback()
                found = False
            if not found:
                raise UnsupportedSchema(
                    f"{where}: type {spelled} does not exist on the target; create it there first (CREATE EXTENSION "
                    "or CREATE TYPE, as in the source), or drop the column from the source")


def _create_in_memory(metadata: sa.MetaData) -> None:
    """A SQLite target's tables, created first in an in-memory database of the same SQLite
    library: a generated column or CHECK whose expression SQLite lacks (MariaDB's concat(), on
    SQLite before 3.44) is refused now rather than after the budget is spent."""
    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            for table in sorted(metadata.tables.values(), key=lambda t: t.name):  # SQLite: any order
                try:
                    table.create(conn, checkfirst=False)
                except sa.exc.DBAPIError as exc:
                    raise UnsupportedSchema(
                        f"{table.name}: a SQLite target cannot create this table ({str(exc.orig).strip()}); "
                        "write to a target of the source's engine") from None
    finally:
        engine.dispose()


def _no_value(table: str, column: str, target: sa.Column, spelled: str | None = None) -> str:
    type_name = spelled or _spelled(target.type)
    return (f"{table}.{column}: type {type_name} cannot be modelled and dbsynth knows no value of it to write in a "
            f"NOT NULL column; give the values to write in the spec (kind: unsupported, fallback: default_value, "
            f"values: ['<a {type_name} literal>']), set another kind there, or make the column nullable")


def _spelled(t: sa.types.TypeEngine) -> str:
    spelled = getattr(t, "spelled", None)
    if spelled:
        return str(spelled)
    try:
        return str(t.compile())
    except Exception:
        return type(t).__name__
