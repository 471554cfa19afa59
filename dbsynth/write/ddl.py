"""The source's DDL as it will be created on the target: `translate_metadata` (and `schema_diff`,
from `diff`, to check afterwards that the target holds exactly that DDL).

Same engine: an exact copy of the reflected MetaData. Across engines: generic types, portable
defaults and CHECKs (see `portable`); what cannot be carried over is listed in
`metadata.info["dropped"]` (one line each) instead of failing the write, except column types,
which have to map.

Besides tables, the returned MetaData carries in `info` what the engine writers create around
them: `"enums"` (PostgreSQL enum types, used or not), `"domains"` and `"sequences"` (standalone
ones, and those behind serial defaults), and `"partitions"` (the partitions of partitioned tables,
parents first, created as PARTITION OF their table).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import operators

from dbsynth.errors import UnsupportedSchema, UsageError
from dbsynth.schema.introspect import INTERNAL_TABLES
from dbsynth.schema.model import Schema
from dbsynth.write.diff import schema_diff
from dbsynth.write.portable import (
    ON_UPDATE,
    enum_check,
    portable_check,
    portable_default,
    portable_type,
    serial_sequence_text,
)

__all__ = ["schema_diff", "serial_sequence", "translate_metadata"]  # schema_diff: verify imports it here

log = logging.getLogger("dbsynth.write")

KINDS = ("postgresql", "mysql", "sqlite", "duckdb")
# Longest identifier each engine keeps (PostgreSQL truncates silently, SQLAlchemy refuses).
_MAX_NAME = {"postgresql": 63, "mysql": 64, "sqlite": 1000, "duckdb": 1000}


def _normalise_kind(kind: str) -> str:
    kind = "mysql" if kind in ("mysql", "mariadb") else kind
    if kind not in KINDS:
        raise UsageError(f"unknown target engine {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def translate_metadata(schema: Schema, target_kind: str) -> sa.MetaData:
    """The source's MetaData as it will be created on `target_kind` ('postgresql'|'mysql'|'sqlite').

    Same engine: an exact copy. Across engines: generic types, portable defaults and CHECKs, and
    what cannot be carried listed in `info["dropped"]`; a column type with no equivalent raises
    UnsupportedSchema naming table.column and the type.
    """
    if schema.metadata is None:
        raise UsageError("the schema carries no reflected MetaData; introspect the source again")
    target = _normalise_kind(target_kind)
    md = sa.MetaData()
    md.info.update(enums=[], domains=[], sequences=[], dropped=[], partitions=[])
    tables = [schema.metadata.tables[n] for n in sorted(schema.metadata.tables) if n not in INTERNAL_TABLES]
    if target == schema.dialect:
        for table in tables:
            table.to_metadata(md)
        if target == "postgresql":
            _postgres_types(schema, md)
            _partitioning(schema, md)
    else:
        names = _Names(target, [t.name for t in tables])
        for table in tables:
            _translate_table(table, md, schema, target, names)
        md.info["dropped"] += [f"{t.name}: PARTITION BY {t.partitioning.by} and its {len(t.partitions)} partitions "
                               "(one table holds every row)" for t in schema.tables.values() if t.partitioning]
        for line in md.info["dropped"]:
            log.warning("not carried over to %s: %s", target, line)
    if target == "postgresql":
        _enums_in_use(md)
    return md


def _enums_in_use(md: sa.MetaData) -> None:
    """PostgreSQL enums are types of their own, created before the tables that use them."""
    known = {e.name for e in md.info["enums"]}
    for table in md.tables.values():
        for col in table.columns:
            if isinstance(col.type, sa.Enum) and col.type.name and col.type.name not in known:
                known.add(col.type.name)
                md.info["enums"].append(postgresql.ENUM(*col.type.enums, name=col.type.name, metadata=md))


def serial_sequence(column: sa.Column) -> str | None:
    """The sequence behind a PostgreSQL `serial` default (`nextval('seq'::regclass)`), if any."""
    arg = getattr(column.server_default, "arg", None)
    return serial_sequence_text(str(getattr(arg, "text", arg))) if arg is not None else None


def _postgres_types(schema: Schema, md: sa.MetaData) -> None:
    """Enum types (used or not), domains, and sequences: PostgreSQL objects outside the tables."""
    # metadata=md: `md.create_all()` creates these too, as it would for a hand-written schema.
    md.info["enums"] = [postgresql.ENUM(*e.labels, name=e.name, metadata=md) for e in schema.enums]
    domains: dict[str, Any] = {}
    serial: dict[str, sa.Column] = {}
    identity_seqs: set[str] = set()
    for table in md.tables.values():
        for col in table.columns:
            if isinstance(col.type, postgresql.DOMAIN):
                col.type = _domain_with_bases(col.type, md, domains)
            if col.identity is not None:
                # The identity creates its own sequence, named like this unless it was renamed.
                identity_seqs.add(f"{table.name}_{col.name}_seq")
            seq = serial_sequence(col)
            if seq:
                serial.setdefault(seq, col)
                # Left "auto", SQLAlchemy would render the key as SERIAL and make a second
                # sequence; the copied nextval(...) default already says which one numbers it.
                col.autoincrement = False
    md.info["domains"] = list(domains.values())
    sequences = []
    for name in dict.fromkeys([*serial, *schema.sequences]):
        if name in identity_seqs and name not in serial:
            continue
        col = serial.get(name)
        # serial makes an INTEGER sequence for an INTEGER column; CREATE SEQUENCE defaults to BIGINT.
        data_type = type(col.type)() if col is not None and isinstance(col.type, sa.Integer) else None
        sequences.append(sa.Sequence(name, data_type=data_type, metadata=md))
    md.info["sequences"] = sequences


def _partitioning(schema: Schema, md: sa.MetaData) -> None:
    """A partitioned table's PARTITION BY, and in `info["partitions"]` its partitions (parents
    first), which the writer creates as PARTITION OF it: the rows go through the table."""
    md.info["partitions"] = []
    for name, table in sorted(schema.tables.items()):
        if table.partitioning is not None and name in md.tables:
            md.tables[name].dialect_kwargs["postgresql_partition_by"] = table.partitioning.by
            md.info["partitions"] += list(table.partitions)


def _domain_with_bases(reflected: Any, md: sa.MetaData, domains: dict[str, Any]) -> Any:
    """A domain to create, after the domains it is built on (created in the order `domains` holds)."""
    if reflected.name in domains:
        return domains[reflected.name]
    if isinstance(reflected.data_type, postgresql.DOMAIN):
        _domain_with_bases(reflected.data_type, md, domains)
    return domains.setdefault(reflected.name, _domain(reflected, md))


def _domain(reflected: Any, md: sa.MetaData) -> Any:
    """A reflected domain, fit to be created again: SQLAlchemy reflects the database's implicit
    collation as an explicit COLLATE "default" on both the domain and its base type, twice over."""
    data_type = reflected.data_type
    if getattr(data_type, "collation", None) == "default":
        data_type = type(data_type)(**{**_type_args(data_type), "collation": None})
    return postgresql.DOMAIN(
        reflected.name,
        data_type,
        collation=None if reflected.collation == "default" else reflected.collation,
        default=reflected.default,
        constraint_name=reflected.constraint_name,
        not_null=reflected.not_null,
        check=reflected.check,
        metadata=md,
    )


def _type_args(t: Any) -> dict[str, Any]:
    return {k: getattr(t, k) for k in ("length",) if getattr(t, k, None) is not None}


class _Names:
    """Constraint and index names kept unique where the target requires it.

    PostgreSQL and SQLite share one namespace between tables and indexes (and PostgreSQL puts the
    indexes behind PRIMARY KEY / UNIQUE there too); PostgreSQL wants constraint names unique per
    table; InnoDB wants foreign key names unique per database. MySQL names every primary key
    PRIMARY, so those names are dropped rather than carried.
    """

    def __init__(self, target: str, tables: list[str]):
        self.target = target
        self.used: dict[str, set[str]] = {"relation": {t.lower() for t in tables}}

    def claim(self, kind: str, name: str | None, table: str) -> str | None:
        if not name:
            return None
        space = self._space(kind, table)
        if space is None:
            return name
        used = self.used.setdefault(space, set())
        limit = _MAX_NAME[self.target]
        candidate = name[:limit]
        n = 1
        while candidate.lower() in used:
            base = f"{table}_{name}" if n == 1 else f"{table}_{name}_{n}"
            candidate = base[:limit]
            n += 1
        used.add(candidate.lower())
        return candidate

    def _space(self, kind: str, table: str) -> str | None:
        if self.target == "postgresql":
            return "relation" if kind in ("index", "unique", "primary") else f"constraint:{table}"
        if self.target in ("sqlite", "duckdb"):
            return "relation" if kind == "index" else None
        return "fk" if kind == "fk" else f"{kind}:{table}"


def _keyed_columns(table: sa.Table) -> set[str]:
    keyed = {c.name for c in table.primary_key.columns}
    for con in table.constraints:
        if isinstance(con, (sa.UniqueConstraint, sa.ForeignKeyConstraint)):
            keyed.update(c.name for c in con.columns)
    for idx in table.indexes:
        keyed.update(c.name for c in idx.columns)
    return keyed


def _translate_table(src: sa.Table, md: sa.MetaData, schema: Schema, target: str, names: _Names) -> None:
    dropped: list[str] = md.info["dropped"]
    keyed = _keyed_columns(src)
    pk_cols = [c.name for c in src.primary_key.columns]
    columns: list[sa.Column] = []
    checks: list[sa.CheckConstraint] = []
    for col in src.columns:
        column, check = _translate_column(col, src, schema, target, keyed, pk_cols, dropped)
        columns.append(column)
        if check is not None:
            checks.append(sa.CheckConstraint(check.sqltext, name=names.claim("check", check.name, src.name)))

    constraints: list[sa.schema.Constraint] = []
    if pk_cols:
        pk_name = src.primary_key.name if schema.dialect != "mysql" else None
        constraints.append(sa.PrimaryKeyConstraint(*pk_cols, name=names.claim("primary", pk_name, src.name)))
    for con in sorted(src.constraints, key=lambda c: (type(c).__name__, c.name or "")):
        if isinstance(con, sa.ForeignKeyConstraint):
            constraints.append(_foreign_key(con, src.name, target, names, dropped))
        elif isinstance(con, sa.UniqueConstraint):
            cols = [c.name for c in con.columns]
            constraints.append(sa.UniqueConstraint(*cols, name=names.claim("unique", con.name, src.name)))
        elif isinstance(con, sa.CheckConstraint):
            text = portable_check(str(con.sqltext), schema.dialect, target)
            if text is None:
                dropped.append(f"{src.name}: CHECK {con.name or '(unnamed)'} ({con.sqltext})")
            else:
                constraints.append(sa.CheckConstraint(text, name=names.claim("check", con.name, src.name)))
    comment = src.comment if target not in ("sqlite", "duckdb") else None
    table = sa.Table(src.name, md, *columns, *constraints, *checks, comment=comment)
    for idx in sorted(src.indexes, key=lambda i: i.name or ""):
        _translate_index(idx, table, names, dropped)


def _translate_column(
    col: sa.Column,
    src: sa.Table,
    schema: Schema,
    target: str,
    keyed: set[str],
    pk_cols: list[str],
    dropped: list[str],
) -> tuple[sa.Column, sa.CheckConstraint | None]:
    """The column on `target`, plus the CHECK that keeps an enum's labels where enums are not types."""
    where = f"{src.name}.{col.name}"
    src_type = col.type
    nullable = col.nullable
    if isinstance(col.type, postgresql.DOMAIN):
        # Only PostgreSQL has domains: the column takes the base type and the domain's NOT NULL.
        src_type = col.type.data_type
        nullable = nullable and not col.type.not_null
        if col.type.check is not None:
            dropped.append(f"{where}: CHECK of domain {col.type.name} ({col.type.check})")
    new_type = portable_type(src_type, target, where, keyed=col.name in keyed, enum_name=f"{src.name}_{col.name}")
    check = None
    if isinstance(src_type, sa.Enum) and target == "sqlite":
        check = enum_check(col.name, list(src_type.enums), name=f"{src.name}_{col.name}_enum")
    identity = _is_identity(col, src, schema)
    # SQLite lets a primary key column be declared NULL-able (a legacy quirk); no key or
    # identity column is anywhere else, and PostgreSQL refuses an identity declared NULL.
    nullable = nullable and not identity and col.name not in pk_cols
    args: list[Any] = []
    kwargs: dict[str, Any] = {"nullable": nullable, "autoincrement": False}
    if target not in ("sqlite", "duckdb") and col.comment:
        kwargs["comment"] = col.comment
    if col.computed is not None:
        args.append(_computed(col.computed, where, schema.dialect, target))
    elif identity:
        if target == "postgresql":
            args.append(sa.Identity())  # BY DEFAULT: explicit keys load, later INSERTs still number
            kwargs["autoincrement"] = "auto"
        elif target == "mysql" and pk_cols[:1] == [col.name]:
            kwargs["autoincrement"] = True  # AUTO_INCREMENT must lead a key: the PK's first column
        elif target == "mysql":
            dropped.append(f"{where}: identity (AUTO_INCREMENT needs the column to lead the primary key)")
        # SQLite: an INTEGER PRIMARY KEY numbers itself (the rowid); nothing to declare.
        # DuckDB: no identity columns (a sequence default would be data the source never had).
    elif col.server_default is not None and hasattr(col.server_default, "arg"):
        arg = col.server_default.arg
        text = str(getattr(arg, "text", arg))
        on_update = ON_UPDATE.search(text) if schema.dialect == "mysql" else None
        if on_update:
            dropped.append(f"{where}: {on_update.group(0).strip()}")
            text = text[: on_update.start()]
        default = portable_default(text, new_type, schema.dialect, target)
        if default is not None:
            kwargs["server_default"] = sa.text(default)
        elif text.strip().upper() != "NULL":
            dropped.append(f"{where}: server default {text}")
    return sa.Column(col.name, new_type, *args, **kwargs), check


def _computed(computed: sa.Computed, where: str, source: str, target: str) -> sa.Computed:
    """A generated column's expression on `target` (the portable CHECK rules: casts stripped,
    identifiers requoted); PostgreSQL 15 stores every generated column (it has no VIRTUAL)."""
    text = portable_check(str(computed.sqltext), source, target)
    if text is not None and target == "mysql" and source != "mysql" and "||" in re.sub(r"'(?:[^']|'')*'", "", text):
        text = None  # || is OR on MySQL/MariaDB, not concatenation
    if text is None:
        raise UnsupportedSchema(
            f"{where}: generated column expression ({computed.sqltext}) uses what {target} lacks; "
            f"write to a {source} target, or make it an ordinary column in the source")
    persisted = True if target == "postgresql" else computed.persisted
    return sa.Computed(sa.text(text), persisted=persisted)


def _is_identity(col: sa.Column, src: sa.Table, schema: Schema) -> bool:
    """Numbered by the database: identity, serial, AUTO_INCREMENT, SQLite's rowid alias. The
    typed Schema has the introspect stage's judgement; the reflected column is the fallback."""
    table = schema.tables.get(src.name)
    if table is not None and col.name in table.column_names:
        return table.column(col.name).identity
    return col.identity is not None or serial_sequence(col) is not None or col.autoincrement is True


def _foreign_key(
    con: sa.ForeignKeyConstraint, table: str, target: str, names: _Names, dropped: list[str]
) -> sa.ForeignKeyConstraint:
    ondelete, onupdate = con.ondelete, con.onupdate
    if target == "mysql":
        # InnoDB parses but rejects SET DEFAULT; falling back to NO ACTION is the honest loss.
        for label, action in (("ON DELETE", ondelete), ("ON UPDATE", onupdate)):
            if action and action.upper() == "SET DEFAULT":
                dropped.append(f"{table}: foreign key {con.name} {label} SET DEFAULT")
        ondelete = None if ondelete and ondelete.upper() == "SET DEFAULT" else ondelete
        onupdate = None if onupdate and onupdate.upper() == "SET DEFAULT" else onupdate
    deferrable = con.deferrable if target != "mysql" else None
    refs = [f"{e.column.table.name}.{e.column.name}" for e in con.elements]
    return sa.ForeignKeyConstraint(
        [c.name for c in con.columns],
        refs,
        name=names.claim("fk", con.name, table),
        ondelete=ondelete,
        onupdate=onupdate,
        deferrable=deferrable,
        initially=con.initially if deferrable else None,
    )


def _translate_index(idx: sa.Index, table: sa.Table, names: _Names, dropped: list[str]) -> None:
    opts = {k: v for k, v in idx.dialect_kwargs.items() if v not in (None, [], {}, ())}
    elements = [_index_element(e, table) for e in idx.expressions]
    if any(e is None for e in elements) or any(k.endswith("_where") for k in opts):
        dropped.append(f"{table.name}: index {idx.name} (expression or partial index)")
        return
    sa.Index(names.claim("index", idx.name, table.name), *elements, unique=bool(idx.unique))


def _index_element(expr: Any, table: sa.Table) -> Any:
    """A plain column, or a column with ASC/DESC, rebuilt on `table`; None for anything else."""
    if isinstance(expr, sa.Column):
        return table.c[expr.name]
    element = getattr(expr, "element", None)
    modifier = getattr(expr, "modifier", None)
    if isinstance(element, sa.Column) and modifier in (operators.desc_op, operators.asc_op):
        col = table.c[element.name]
        return col.desc() if modifier is operators.desc_op else col.asc()
    return None
