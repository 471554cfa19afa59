"""Reading a live database's schema into a `Schema` (no rows are read).

SQLAlchemy's inspector gives the dialect-neutral view; the few things it leaves out
(PostgreSQL enum labels, sequences behind serial columns) are asked of the catalog here.
"""

from __future__ import annotations

import re
import warnings

import sqlalchemy as sa

from dbsynth.connect import engine_kind, translate_errors
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

# Tables dbsynth itself writes into a target; never part of a user's schema.
INTERNAL_TABLES = ("_dbsynth_ledger",)

_SEQ_DEFAULT = re.compile(r"nextval\('([^']+)'(::regclass)?\)")


def introspect(engine: sa.Engine) -> Schema:
    kind = engine_kind(engine)
    with translate_errors(engine, "reading the schema"):
        metadata = sa.MetaData()
        insp = sa.inspect(engine)
        names = [n for n in insp.get_table_names() if n not in INTERNAL_TABLES and not n.startswith("sqlite_")]
        with warnings.catch_warnings():
            # Types SQLAlchemy does not know (point, tsvector) reflect as NullType; plan says so.
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            metadata.reflect(bind=engine, only=names, resolve_fks=False)
        _name_unknown_types(engine, metadata, kind)
        enums: tuple[EnumType, ...] = ()
        sequences: tuple[str, ...] = ()
        if kind == "postgresql":
            enums = tuple(EnumType(e["name"], tuple(e["labels"])) for e in insp.get_enums())
            sequences = tuple(insp.get_sequence_names())
        tables = {}
        for name in names:
            tables[name] = _table(insp, metadata.tables[name], name, kind)
    return Schema(dialect=kind, tables=tables, enums=enums, sequences=sequences, metadata=metadata)


def _table(insp, sa_table: sa.Table, name: str, kind: str) -> Table:
    pk = tuple(insp.get_pk_constraint(name).get("constrained_columns") or ())
    columns = tuple(_column(c, kind, pk) for c in sa_table.columns)
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


def _column(col: sa.Column, kind: str, pk: tuple[str, ...]) -> Column:
    t = col.type
    try:
        spelled = t.compile(dialect=_dialect(kind))
    except Exception:
        spelled = type(t).__name__.upper()
    try:
        generic = type(t.as_generic()).__name__
    except NotImplementedError:
        generic = type(t).__name__
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
    return Column(
        name=col.name,
        type=str(spelled),
        generic=generic,
        nullable=bool(col.nullable),
        default=default,
        identity=identity,
        sequence=sequence,
        length=getattr(t, "length", None),
        precision=getattr(t, "precision", None),
        scale=getattr(t, "scale", None),
        enum=enum_name,
        enum_labels=labels,
        comment=col.comment,
    )


def _dialect(kind: str):
    from sqlalchemy.dialects import mysql, postgresql, sqlite

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
