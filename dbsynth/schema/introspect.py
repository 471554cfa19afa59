"""Reading a live database's schema into a `Schema` (no rows are read).

SQLAlchemy's inspector gives the dialect-neutral view; the few things it leaves out
(PostgreSQL enum labels, sequences behind serial columns) are asked of the catalog here.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from dbsynth.connect import engine_kind, translate_errors
from dbsynth.errors import PermissionDenied, UnsupportedSchema
from dbsynth.schema.model import (
    CheckConstraint,
    Column,
    EnumType,
    ForeignKey,
    Index,
    Schema,
    Table,
    UniqueConstraint,
)
from dbsynth.schema.partitions import partition_names, read_partitions

# SQLAlchemy warns about every type it does not know (point, inet6, ...) each time it reads a
# table; dbsynth names those types itself (SourceType) and plan says what it does with them.
warnings.filterwarnings("ignore", message=r"Did not recognize type ", category=sa.exc.SAWarning)

# Tables dbsynth itself writes into a target; never part of a user's schema.
INTERNAL_TABLES = ("_dbsynth_ledger",)

_SEQ_DEFAULT = re.compile(r"nextval\('([^']+)'(::regclass)?\)")


def introspect(engine: sa.Engine) -> Schema:
    kind = engine_kind(engine)
    if kind == "spark":  # no keys in Spark's catalog: they come from a DDL (dbsynth.spark.schema)
        from dbsynth.spark.schema import introspect_spark

        return introspect_spark(engine)
    with translate_errors(engine, "reading the schema"):
        metadata = sa.MetaData()
        insp = sa.inspect(engine)
        partitioned = _partitioned(engine) if kind == "postgresql" else {}
        # A partition is part of its partitioned table (read through it), never a table of its own.
        hidden = partition_names(partitioned)
        names = [n for n in insp.get_table_names()
                 if n not in INTERNAL_TABLES and not n.startswith("sqlite_") and n not in hidden]
        with warnings.catch_warnings():
            # Types SQLAlchemy does not know (point, tsvector) reflect as NullType; plan says so.
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            metadata.reflect(bind=engine, only=names, resolve_fks=False)
        _name_unknown_types(engine, metadata, kind)
        if kind == "sqlite":
            _sqlite_generated_columns(engine, metadata)
        enums: tuple[EnumType, ...] = ()
        sequences: tuple[str, ...] = ()
        if kind in ("postgresql", "duckdb"):  # named enum types (DuckDB: from its catalog)
            enums = tuple(EnumType(e["name"], tuple(e["labels"])) for e in insp.get_enums())
        if kind == "postgresql":
            sequences = tuple(insp.get_sequence_names())
        domains = _domain_checks(insp, metadata) if kind == "postgresql" else {}
        tables = {}
        with warnings.catch_warnings():  # the inspector parses MySQL tables again: same unknown types
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            for name in names:
                tables[name] = _table(insp, metadata.tables[name], name, kind, domains)
                if name in partitioned:
                    by, parts = partitioned[name]
                    tables[name] = replace(tables[name], partitioning=by, partitions=parts)
    _refuse_partition_references(tables, partitioned)
    _refuse_hidden_parents(tables)
    return Schema(dialect=kind, tables=tables, enums=enums, sequences=sequences, metadata=metadata)


def _partitioned(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        return read_partitions(conn)


def _domain_checks(insp, metadata: sa.MetaData) -> dict[str, tuple[str, ...]]:
    """Every CHECK of each domain, those of the domains it is built on included. SQLAlchemy's
    reflected DOMAIN keeps only the first of its own: the rest are joined to it with AND, so the
    domain the writer clones holds all of them."""
    found = {d["name"]: d for d in insp.get_domains()}
    for table in metadata.tables.values():
        for col in table.columns:
            t = col.type
            while isinstance(t, postgresql.DOMAIN):
                own = [c["check"] for c in (found.get(t.name) or {}).get("constraints") or []]
                if len(own) > 1:
                    t.check = sa.text(" AND ".join(f"({c})" for c in own))
                t = t.data_type

    def checks(name: str, seen: tuple[str, ...] = ()) -> tuple[str, ...]:
        d = found.get(name)
        if d is None or name in seen:
            return ()
        own = tuple(c["check"] for c in d.get("constraints") or [])
        return own + checks(str(d.get("type") or ""), (*seen, name))

    return {name: checks(name) for name in found}


def _refuse_partition_references(tables: dict[str, Table], partitioned: dict) -> None:
    """A foreign key to one partition rather than to its partitioned table: dbsynth writes rows
    through the partitioned table and cannot tell which keys land in that partition."""
    owner = {p.name: root for root, (_, parts) in partitioned.items() for p in parts}
    for t in tables.values():
        for fk in t.foreign_keys:
            if fk.ref_table in owner:
                raise UnsupportedSchema(
                    f"{fk.key} references {fk.ref_table!r}, a partition of {owner[fk.ref_table]!r}: dbsynth models a "
                    f"partitioned table as one; reference {owner[fk.ref_table]!r} instead")


def _refuse_hidden_parents(tables: dict[str, Table]) -> None:
    """A referenced table the role cannot see (MySQL/MariaDB hide tables without any privilege)
    would silently vanish from the shadow: stop and name it."""
    for t in tables.values():
        for fk in t.foreign_keys:
            if fk.ref_table not in tables:
                raise PermissionDenied(
                    f"table {fk.ref_table!r} (referenced by {fk.key}) is not visible to the source role: grant SELECT on "
                    "it, or on the whole database (connectors/postgres/roles.sql and connectors/mysql/roles.sql create least-privilege roles)")


def _table(insp, sa_table: sa.Table, name: str, kind: str, domains: dict[str, tuple[str, ...]] | None = None) -> Table:
    pk = tuple(insp.get_pk_constraint(name).get("constrained_columns") or ())
    columns = tuple(_column(c, kind, pk, domains) for c in sa_table.columns)
    fks = tuple(
        ForeignKey(
            name=fk.get("name"),
            table=name,
            columns=tuple(fk["constrained_columns"]),
            ref_table=fk["referred_table"],
            ref_columns=tuple(fk["referred_columns"]),
            on_delete=(fk.get("options") or {}).get("ondelete"),
            deferrable=bool((fk.get("options") or {}).get("deferrable")),
        )
        for fk in insp.get_foreign_keys(name)
    )
    uniques = tuple(UniqueConstraint(u.get("name"), tuple(u["column_names"])) for u in insp.get_unique_constraints(name))
    try:
        checks = tuple(CheckConstraint(c.get("name"), c["sqltext"]) for c in insp.get_check_constraints(name))
    except NotImplementedError:
        checks = ()
    unique_names = {u.name for u in uniques}
    indexes = tuple(
        Index(i.get("name"), tuple(c for c in i["column_names"] if c is not None), bool(i.get("unique")))
        for i in insp.get_indexes(name)
        if i.get("name") not in unique_names and not i.get("duplicates_constraint")
    )
    try:
        comment = insp.get_table_comment(name).get("text")
    except NotImplementedError:
        comment = None
    return Table(name, columns, pk, fks, uniques, checks, indexes, comment)


def _column(col: sa.Column, kind: str, pk: tuple[str, ...], domains: dict[str, tuple[str, ...]] | None = None,
            ) -> Column:
    t = col.type
    try:
        spelled = t.compile(dialect=_dialect(kind))
    except Exception:
        spelled = type(t).__name__.upper()
    # A DOMAIN is its base type with CHECKs and maybe NOT NULL: modelled as the base type.
    domain = t if isinstance(t, postgresql.DOMAIN) else None
    not_null = False
    while isinstance(t, postgresql.DOMAIN):
        not_null = not_null or bool(t.not_null)
        t = t.data_type
    try:
        generic = type(t.as_generic()).__name__
    except NotImplementedError:
        generic = type(t).__name__
    if kind == "mysql" and type(t).__name__ == "YEAR":
        generic = "SmallInteger"  # a year number, 1901-2155 (plan bounds it)
    default = None
    sequence = None
    if col.server_default is not None and hasattr(col.server_default, "arg"):
        arg = col.server_default.arg
        default = str(arg.text if hasattr(arg, "text") else arg)
        m = _SEQ_DEFAULT.search(default)
        if m:
            sequence = m.group(1).strip('"')
    identity = col.identity is not None or sequence is not None
    if kind == "mysql" and col.autoincrement is True:
        identity = True
    if kind == "sqlite" and len(pk) == 1 and pk[0] == col.name and generic == "Integer":
        identity = True  # INTEGER PRIMARY KEY is the rowid alias
    labels = tuple(t.enums) if isinstance(t, sa.Enum) else None
    enum_name = getattr(t, "name", None) if isinstance(t, sa.Enum) else None
    computed = col.computed.sqltext.text if col.computed is not None else None
    stored = bool(col.computed.persisted) if col.computed is not None else None
    return Column(
        name=col.name,
        type=str(spelled),
        generic=generic,
        nullable=bool(col.nullable) and not not_null,
        default=default,
        identity=identity,
        sequence=sequence,
        # A MySQL SET's `length` is its longest member's, not its longest value's ('red,green').
        length=getattr(t, "length", None) if type(t).__name__ != "SET" else None,
        precision=getattr(t, "precision", None),
        scale=getattr(t, "scale", None),
        enum=enum_name,
        enum_labels=labels,
        comment=col.comment,
        computed=computed,
        computed_stored=stored,
        domain=domain.name if domain is not None else None,
        domain_checks=(domains or {}).get(domain.name, ()) if domain is not None else (),
        value_range={"mysql": _mysql_value_range, "postgresql": _postgres_value_range}.get(kind, lambda _: None)(t),
    )


def _mysql_value_range(t: sa.types.TypeEngine) -> tuple[float | None, float | None] | None:
    """What a MySQL/MariaDB type holds where its generic family says otherwise: integers by width,
    UNSIGNED ones from 0 to 2^bits - 1 (exact ints: a BIGINT UNSIGNED passes int64 and floats);
    DECIMAL/FLOAT UNSIGNED from 0; YEAR 1901-2155; BIT(n) 0..2^n-1; TIMESTAMP 1970-01-01 00:00:01
    to 2038-01-19 03:14:07 UTC, as epoch seconds (dbsynth's sessions run in UTC, connect.py)."""
    from sqlalchemy.dialects import mysql

    if isinstance(t, mysql.YEAR):
        return (1901, 2155)
    if isinstance(t, mysql.BIT):
        return (0, 2 ** (t.length or 1) - 1)
    if isinstance(t, mysql.TIMESTAMP):
        return (1, 2**31 - 1)
    unsigned = bool(getattr(t, "unsigned", False) or getattr(t, "zerofill", False))  # ZEROFILL implies UNSIGNED
    for cls, bits in ((mysql.TINYINT, 8), (mysql.SMALLINT, 16), (mysql.MEDIUMINT, 24), (mysql.BIGINT, 64),
                      (mysql.INTEGER, 32)):
        if isinstance(t, cls):
            return (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if unsigned and isinstance(t, sa.Numeric):
        return (0, None)  # the upper end is the precision's (measure/domains.py)
    return None


def _postgres_value_range(t: sa.types.TypeEngine) -> tuple[float | None, float | None] | None:
    """A PostgreSQL bit(n) as the number its digits spell, 0..2^n - 1: the server casts it to
    bigint, so up to 63 bits (wider ones stay `unsupported`, written as a valid constant)."""
    from sqlalchemy.dialects import postgresql

    if isinstance(t, postgresql.BIT) and not t.varying and 1 <= (t.length or 1) <= 63:
        return (0, 2 ** (t.length or 1) - 1)
    return None


def _dialect(kind: str):
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    if kind == "duckdb":
        from dbsynth.schema.duckdb_catalog import CatalogDialect

        return CatalogDialect()
    return {"postgresql": postgresql.dialect(), "mysql": mysql.dialect(), "sqlite": sqlite.dialect()}[kind]


class SourceType(sa.types.UserDefinedType):
    """A type SQLAlchemy does not know (point, tsvector, ...), kept as the source spells it so
    the same engine can recreate it; nothing else can be done with it."""

    cache_ok = True

    def __init__(self, spelled: str):
        self.spelled = spelled

    def get_col_spec(self, **kw) -> str:
        return self.spelled


def _name_unknown_types(engine: sa.Engine, metadata: sa.MetaData, kind: str) -> None:
    unknown = [(t, c) for t in metadata.tables.values() for c in t.columns if isinstance(c.type, sa.types.NullType)]
    if kind == "mysql":
        _name_unknown_mysql_types(engine, metadata, unknown)
    if not unknown or kind != "postgresql":
        return
    sql = sa.text(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = :t AND a.attname = :c"
    )
    with engine.connect() as conn:
        for table, col in unknown:
            spelled = conn.execute(sql, {"t": table.name, "c": col.name}).scalar()
            if spelled:
                col.type = SourceType(spelled)


def _name_unknown_mysql_types(engine: sa.Engine, metadata: sa.MetaData, unknown: list) -> None:
    """MariaDB types SQLAlchemy does not know (POINT, GEOMETRY, INET6, INET4, ...), spelled as
    information_schema.COLUMNS spells them, so a MariaDB target can create them again; and
    MariaDB's JSON, which is LONGTEXT with a column CHECK (json_valid(col)) that SQLAlchemy
    reflects as a plain LONGTEXT: JSON again (a MariaDB target creates the same CHECK)."""
    sql = sa.text(
        "SELECT COLUMN_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND COLUMN_NAME = :c"
    )
    with engine.connect() as conn:
        for table, col in unknown:
            spelled = conn.execute(sql, {"t": table.name, "c": col.name}).scalar()
            if spelled:
                col.type = SourceType(str(spelled))
        try:
            checks = conn.execute(sa.text(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                "WHERE CONSTRAINT_SCHEMA = DATABASE() AND LEVEL = 'Column'"
            )).all()
        except sa.exc.DBAPIError:  # MySQL: no column-level CHECKs listed, and JSON is a type of its own
            conn.rollback()
            return
    from sqlalchemy.dialects import mysql

    for table_name, column, clause in checks:
        table = metadata.tables.get(table_name)
        if table is None or column not in table.c:
            continue
        col = table.c[column]
        wanted = f"json_valid(`{column.replace('`', '``')}`)"
        if isinstance(col.type, mysql.LONGTEXT) and _squeeze(str(clause)) == _squeeze(wanted):
            col.type = mysql.JSON()


def _squeeze(text: str) -> str:
    return "".join(text.split()).lower()


def _sqlite_generated_columns(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """SQLite's generated columns, read again: SQLAlchemy finds them (PRAGMA table_xinfo: hidden 2
    is VIRTUAL, 3 is STORED) but cuts their expressions out of the CREATE TABLE text with a regular
    expression that runs past the closing parenthesis when a second one follows."""
    with engine.connect() as conn:
        for table in metadata.tables.values():
            q = conn.dialect.identifier_preparer.quote
            xinfo = conn.exec_driver_sql(f"PRAGMA table_xinfo({q(table.name)})").all()
            hidden = {r[1]: r[6] for r in xinfo if r[6] in (2, 3)}
            if not hidden:
                continue
            sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                               {"t": table.name}).scalar()
            found = _generated_expressions(sql or "")
            for name, how in hidden.items():
                col = table.c.get(name)
                expr = next((e for n, e in found.items() if n.lower() == name.lower()), None)
                if col is not None and expr is not None:
                    sa.Computed(sa.text(expr), persisted=how == 3)._set_parent_with_dispatch(col)


_GENERATED_AS = re.compile(r"\b(?:GENERATED\s+ALWAYS\s+)?AS\s*\(", re.IGNORECASE)


def _generated_expressions(create_sql: str) -> dict[str, str]:
    """Column name -> the text inside `[GENERATED ALWAYS] AS (...)` in a SQLite CREATE TABLE."""
    masked = _mask_quotes(create_sql)
    uncommented = _mask_quotes(create_sql, quotes=False)
    start = masked.find("(")
    if start < 0:
        return {}
    out: dict[str, str] = {}
    for a, b in _top_level_parts(masked, start + 1):
        part, mpart = create_sql[a:b], masked[a:b]
        name = _leading_name(uncommented[a:b])
        m = next((m for m in _GENERATED_AS.finditer(mpart) if _depth(mpart, m.start()) == 0), None)
        if name is None or m is None:
            continue
        close = _matching(mpart, m.end() - 1)
        if close is not None:
            out[name] = part[m.end(): close].strip()
    return out


def _mask_quotes(text: str, quotes: bool = True) -> str:
    """`text` with the inside of every string literal and quoted identifier (unless not `quotes`)
    and every comment blanked out (same length), so that parentheses and keywords are only found in
    the SQL itself."""
    out = list(text)
    i, n = 0, len(text)
    closing = {"'": "'", '"': '"', "`": "`", "[": "]"}
    while i < n:
        ch = text[i]
        if ch in closing:
            end = text.find(closing[ch], i + 1)
            while end >= 0 and ch != "[" and end + 1 < n and text[end + 1] == ch:  # doubled quote: escaped
                end = text.find(ch, end + 2)
            end = n - 1 if end < 0 else end
            for j in range(i + 1, end if quotes else i + 1):
                out[j] = "_"
            i = end + 1
        elif text.startswith("--", i) or text.startswith("/*", i):
            end = text.find("\n", i) if text.startswith("--", i) else text.find("*/", i)
            end = n if end < 0 else end + (0 if text.startswith("--", i) else 2)
            for j in range(i, end):
                out[j] = " "
            i = end
        else:
            i += 1
    return "".join(out)


def _top_level_parts(masked: str, start: int) -> list[tuple[int, int]]:
    """(start, end) of each comma-separated part of the parenthesised list that opens before `start`."""
    parts, depth, a = [], 0, start
    for i in range(start, len(masked)):
        ch = masked[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                parts.append((a, i))
                return parts
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append((a, i))
            a = i + 1
    return parts


def _depth(masked: str, pos: int) -> int:
    return masked.count("(", 0, pos) - masked.count(")", 0, pos)


def _matching(masked: str, open_at: int) -> int | None:
    depth = 0
    for i in range(open_at, len(masked)):
        depth += masked[i] == "("
        depth -= masked[i] == ")"
        if depth == 0:
            return i
    return None


def _leading_name(part: str) -> str | None:
    """The column name a column definition starts with, unquoted."""
    m = re.match(r'\s*(?:"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|\[([^\]]*)\]|([^\s(]+))', part)
    if m is None:
        return None
    if m.group(1) is not None:
        return m.group(1).replace('""', '"')
    if m.group(2) is not None:
        return m.group(2).replace("``", "`")
    return m.group(3) if m.group(3) is not None else m.group(4)
