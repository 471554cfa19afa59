"""DuckDB's schema read from its own catalog (`duckdb_tables()`, `duckdb_columns()`,
`duckdb_constraints()`, `duckdb_types()`, `duckdb_indexes()`), behind SQLAlchemy's inspector.

duckdb-engine reflects through PostgreSQL's `pg_catalog` queries, which DuckDB only partly
emulates: under SQLAlchemy 2.1 every column, key and constraint lookup fails (no
`pg_collation`, no `REGCLASS`). `CatalogDialect` is duckdb-engine's dialect with those lookups
answered from DuckDB's own catalog functions instead, so that `inspect()`, `MetaData.reflect()`,
alembic's schema comparison and verify all see one consistent schema. `dbsynth.connect` registers
it as the dialect of every `duckdb://` URL; this module (and duckdb-engine) is imported only when
such a URL is used.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import sqlalchemy as sa
from duckdb_engine import Dialect as _DuckDBEngineDialect
from duckdb_engine import DuckDBIdentifierPreparer
from sqlalchemy.engine import reflection
from sqlalchemy.engine.default import DefaultDialect

_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_ENUM = re.compile(r"ENUM\((.*)\)\Z", re.S)
_LABEL = re.compile(r"'((?:[^']|'')*)'")

_SIMPLE_TYPES: dict[str, Any] = {
    "BOOLEAN": sa.Boolean, "TINYINT": sa.SmallInteger, "SMALLINT": sa.SmallInteger, "INTEGER": sa.Integer,
    "BIGINT": sa.BigInteger,
    # Unsigned integers as the next signed width that holds them; UBIGINT above 2**63 - 1 has none
    # (a BIGINT clone of it is narrower).
    "UTINYINT": sa.SmallInteger, "USMALLINT": sa.Integer, "UINTEGER": sa.BigInteger, "UBIGINT": sa.BigInteger,
    "FLOAT": sa.REAL, "DOUBLE": sa.Double, "VARCHAR": sa.String, "BLOB": sa.LargeBinary,
    "DATE": sa.Date, "TIME": sa.Time, "TIMESTAMP": sa.DateTime, "TIMESTAMP_NS": sa.DateTime,
    "TIMESTAMP_MS": sa.DateTime, "TIMESTAMP_S": sa.DateTime, "UUID": sa.Uuid, "INTERVAL": sa.Interval,
}


def column_type(spelled: str, named_enums: dict[tuple[str, ...], str]) -> sa.types.TypeEngine:
    """The SQLAlchemy type of a DuckDB column type as `duckdb_columns().data_type` spells it.

    DuckDB writes a column of a named ENUM type as the inline `ENUM('a', 'b')`; the name is
    taken back from `duckdb_types()` when exactly those labels make one named enum."""
    text = spelled.strip()
    upper = text.upper()
    m = _ENUM.match(text)
    if m:
        labels = tuple(v.replace("''", "'") for v in _LABEL.findall(m.group(1)))
        return sa.Enum(*labels, name=named_enums.get(labels))
    m = _DECIMAL.fullmatch(upper)
    if m:
        return sa.Numeric(int(m.group(1)), int(m.group(2)))
    if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return sa.DateTime(timezone=True)
    if upper in ("TIME WITH TIME ZONE", "TIMETZ"):
        return sa.Time(timezone=True)
    if upper == "HUGEINT":
        return sa.Numeric(38, 0)
    if upper in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[upper]()
    from dbsynth.schema.introspect import SourceType  # lists, structs, maps: kept as spelled

    return SourceType(text)


class KeywordQuotingPreparer(DuckDBIdentifierPreparer):
    """Quotes every name DuckDB cannot take bare. duckdb-engine quotes only the `reserved`
    keywords; a column named `at` (a `type_function` keyword) then breaks CREATE TABLE, INSERT
    and every measuring SELECT."""

    def __init__(self, dialect, **kwargs) -> None:
        super().__init__(dialect, **kwargs)
        self.reserved_words = set(self.reserved_words) | _keywords()  # a copy: never widen PostgreSQL's set


@functools.cache
def _keywords() -> frozenset[str]:
    """Every keyword DuckDB does not take as a bare name, from the engine itself (in memory)."""
    import duckdb

    with duckdb.connect() as db:
        return frozenset(w for (w,) in db.execute(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'").fetchall())


class CatalogDialect(_DuckDBEngineDialect):
    """duckdb-engine's dialect with reflection read from DuckDB's catalog functions."""

    preparer = KeywordQuotingPreparer

    # The PostgreSQL dialect answers these in one pg_catalog query each (broken on DuckDB); the
    # default ones ask the per-table methods below, table by table.
    get_multi_columns = DefaultDialect.get_multi_columns
    get_multi_pk_constraint = DefaultDialect.get_multi_pk_constraint
    get_multi_foreign_keys = DefaultDialect.get_multi_foreign_keys
    get_multi_unique_constraints = DefaultDialect.get_multi_unique_constraints
    get_multi_check_constraints = DefaultDialect.get_multi_check_constraints
    get_multi_indexes = DefaultDialect.get_multi_indexes
    get_multi_table_comment = DefaultDialect.get_multi_table_comment
    get_multi_table_options = DefaultDialect.get_multi_table_options
    get_table_options = DefaultDialect.get_table_options
    # Set here (as duckdb-engine does) so SQLAlchemy does not warn about it on every engine.
    supports_statement_cache = False

    @staticmethod
    def _scope(schema: str | None) -> tuple[str, dict[str, Any]]:
        clause = "database_name = current_database() AND schema_name = coalesce(:schema, current_schema())"
        return clause, {"schema": schema}

    @reflection.cache
    def get_table_names(self, connection, schema=None, **kw) -> list[str]:
        where, params = self._scope(schema)
        sql = (f"SELECT table_name FROM duckdb_tables() WHERE {where} AND NOT internal AND NOT temporary "
               "ORDER BY table_name")
        return [r[0] for r in connection.execute(sa.text(sql), params)]

    def has_table(self, connection, table_name, schema=None, **kw) -> bool:
        where, params = self._scope(schema)
        sql = f"SELECT count(*) FROM duckdb_tables() WHERE {where} AND table_name = :t"
        return bool(connection.execute(sa.text(sql), {**params, "t": table_name}).scalar())

    @reflection.cache
    def _named_enums(self, connection, schema=None, **kw) -> dict[tuple[str, ...], str]:
        where, params = self._scope(schema)
        # len(labels) > 0: the built-in ENUM type itself is listed too, with no labels.
        sql = (f"SELECT type_name, labels FROM duckdb_types() WHERE {where} AND logical_type = 'ENUM' "
               "AND NOT internal AND len(labels) > 0")
        found: dict[tuple[str, ...], list[str]] = {}
        for name, labels in connection.execute(sa.text(sql), params):
            found.setdefault(tuple(labels), []).append(name)
        return {labels: names[0] for labels, names in found.items() if len(names) == 1}

    def _load_enums(self, connection, schema=None, **kw) -> list[dict[str, Any]]:
        """What the PostgreSQL inspector's get_enums() asks for: the named ENUM types."""
        return [{"name": name, "labels": list(labels), "schema": schema, "visible": True}
                for labels, name in self._named_enums(connection, schema, **kw).items()]

    def _require(self, connection, table_name: str, schema: str | None) -> None:
        if not self.has_table(connection, table_name, schema):
            raise sa.exc.NoSuchTableError(table_name)

    @reflection.cache
    def get_columns(self, connection, table_name, schema=None, **kw) -> list[dict[str, Any]]:
        self._require(connection, table_name, schema)
        where, params = self._scope(schema)
        sql = (f"SELECT column_name, data_type, is_nullable, column_default, comment FROM duckdb_columns() "
               f"WHERE {where} AND table_name = :t ORDER BY column_index")
        enums = self._named_enums(connection, schema, **kw)
        out = []
        for name, spelled, nullable, default, comment in connection.execute(sa.text(sql), {**params, "t": table_name}):
            out.append({"name": name, "type": column_type(spelled, enums), "nullable": bool(nullable),
                        "default": default, "autoincrement": False, "comment": comment})
        return out

    def _constraints(self, connection, table_name: str, schema: str | None, kind: str) -> list[Any]:
        self._require(connection, table_name, schema)
        where, params = self._scope(schema)
        sql = (f"SELECT constraint_name, constraint_column_names, expression, referenced_table, "
               f"referenced_column_names, constraint_text FROM duckdb_constraints() "
               f"WHERE {where} AND table_name = :t AND constraint_type = :kind ORDER BY constraint_index")
        return list(connection.execute(sa.text(sql), {**params, "t": table_name, "kind": kind}))

    @reflection.cache
    def get_pk_constraint(self, connection, table_name, schema=None, **kw) -> dict[str, Any]:
        rows = self._constraints(connection, table_name, schema, "PRIMARY KEY")
        if not rows:
            return {"constrained_columns": [], "name": None}
        return {"constrained_columns": list(rows[0][1]), "name": rows[0][0]}

    @reflection.cache
    def get_foreign_keys(self, connection, table_name, schema=None, **kw) -> list[dict[str, Any]]:
        return [{"name": name, "constrained_columns": list(cols), "referred_schema": None,
                 "referred_table": ref_table, "referred_columns": list(ref_cols), "options": {}}
                for name, cols, _expr, ref_table, ref_cols, _text
                in self._constraints(connection, table_name, schema, "FOREIGN KEY")]

    @reflection.cache
    def get_unique_constraints(self, connection, table_name, schema=None, **kw) -> list[dict[str, Any]]:
        return [{"name": name, "column_names": list(cols)}
                for name, cols, *_ in self._constraints(connection, table_name, schema, "UNIQUE")]

    @reflection.cache
    def get_check_constraints(self, connection, table_name, schema=None, **kw) -> list[dict[str, Any]]:
        # `expression` is the CHECK's condition as DuckDB prints it back (parenthesised).
        return [{"name": name, "sqltext": _strip_parens(expr or text)}
                for name, _cols, expr, _r, _rc, text in self._constraints(connection, table_name, schema, "CHECK")]

    @reflection.cache
    def get_indexes(self, connection, table_name, schema=None, **kw) -> list[dict[str, Any]]:
        # Indexes behind PRIMARY KEY/UNIQUE are not listed by duckdb_indexes(); CREATE INDEX ones
        # are, with their columns only in `expressions` (a list's text: '[a, "b c"]').
        self._require(connection, table_name, schema)
        where, params = self._scope(schema)
        sql = (f"SELECT index_name, is_unique, expressions FROM duckdb_indexes() "
               f"WHERE {where} AND table_name = :t ORDER BY index_name")
        out = []
        for name, unique, expressions in connection.execute(sa.text(sql), {**params, "t": table_name}):
            columns = _index_columns(expressions)
            if None not in columns:  # an expression index is left out (not cloned on any engine pair)
                out.append({"name": name, "unique": bool(unique), "column_names": columns})
        return out

    @reflection.cache
    def get_table_comment(self, connection, table_name, schema=None, **kw) -> dict[str, Any]:
        where, params = self._scope(schema)
        sql = f"SELECT comment FROM duckdb_tables() WHERE {where} AND table_name = :t"
        return {"text": connection.execute(sa.text(sql), {**params, "t": table_name}).scalar()}

    def get_view_names(self, connection, schema=None, **kw) -> list[str]:
        where, params = self._scope(schema)
        sql = f"SELECT view_name FROM duckdb_views() WHERE {where} AND NOT internal ORDER BY view_name"
        return [r[0] for r in connection.execute(sa.text(sql), params)]

    def get_sequence_names(self, connection, schema=None, **kw) -> list[str]:
        where, params = self._scope(schema)
        sql = f"SELECT sequence_name FROM duckdb_sequences() WHERE {where} ORDER BY sequence_name"
        return [r[0] for r in connection.execute(sa.text(sql), params)]


def _strip_parens(text: str) -> str:
    """`(a > 0)` → `a > 0` when the outer parentheses enclose the whole text."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += (ch == "(") - (ch == ")")
            if depth == 0 and i < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


_INDEX_ITEM = re.compile(r"'((?:[^']|'')*)'|([^,\s\[\]]+)")


def _index_columns(expressions: Any) -> list[str | None]:
    """Column names of an index's `expressions` (None for anything that is not a plain column).

    DuckDB prints them as a list's text: `['"Odd Name"', id]`, an item in single quotes where the
    column needs double quotes."""
    items = [str(e) for e in expressions] if isinstance(expressions, list) else [
        m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2)
        for m in _INDEX_ITEM.finditer(str(expressions or ""))]
    out: list[str | None] = []
    for item in items:
        item = item.strip()
        if re.fullmatch(r'"(?:[^"]|"")*"', item):
            out.append(item[1:-1].replace('""', '"'))
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", item):
            out.append(item)
        else:
            out.append(None)
    return out
