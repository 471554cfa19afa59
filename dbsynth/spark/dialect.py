"""The SQLAlchemy dialect `spark://` that compiles Core statements to Spark SQL.

Only what Spark spells differently from the standard compiler is here: backtick identifiers,
its type names in CAST, values returned as the DB-API adapter gives them. Reading only: it
has no DDL and no reflection (the schema comes from `dbsynth.spark.schema`).

URL: ``spark://local/DATABASE?warehouse=DIR&master=local[4]&hive=true&driver_memory=2g``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import default
from sqlalchemy.sql import compiler


class SparkIdentifierPreparer(compiler.IdentifierPreparer):
    def __init__(self, dialect):
        super().__init__(dialect, initial_quote="`", escape_quote="`")


class SparkTypeCompiler(compiler.GenericTypeCompiler):
    """Spark's names for the types dbsynth casts to (CAST(x AS TEXT) is no Spark type)."""

    def visit_VARCHAR(self, type_, **kw):
        return "STRING"

    visit_CHAR = visit_NVARCHAR = visit_NCHAR = visit_TEXT = visit_CLOB = visit_NCLOB = visit_VARCHAR

    def visit_FLOAT(self, type_, **kw):
        return "DOUBLE"

    visit_REAL = visit_DOUBLE = visit_DOUBLE_PRECISION = visit_FLOAT

    def visit_INTEGER(self, type_, **kw):
        return "INT"

    def visit_NUMERIC(self, type_, **kw):
        if type_.precision is None:
            return "DECIMAL(38, 10)"
        return f"DECIMAL({type_.precision}, {type_.scale or 0})"

    visit_DECIMAL = visit_NUMERIC

    def visit_DATETIME(self, type_, **kw):
        return "TIMESTAMP"

    visit_TIMESTAMP = visit_DATETIME

    def visit_BLOB(self, type_, **kw):
        return "BINARY"

    visit_VARBINARY = visit_BINARY = visit_BLOB


class _AsReturned(sa.types.TypeDecorator):
    """A date, time or number as the adapter returns it: no string parsing (the schema's types
    may be another engine's, e.g. SQLite's DATETIME, whose processors parse text)."""

    impl = sa.types.NullType
    cache_ok = True

    def bind_processor(self, dialect):
        return None

    def result_processor(self, dialect, coltype):
        return None


class SparkDialect(default.DefaultDialect):
    name = "spark"
    driver = "local"
    supports_statement_cache = True
    paramstyle = "named"
    default_paramstyle = "named"
    supports_native_boolean = True
    supports_native_decimal = True
    supports_server_side_cursors = False
    supports_sane_rowcount = False
    supports_multivalues_insert = False
    postfetch_lastrowid = False
    preparer = SparkIdentifierPreparer
    type_compiler_cls = SparkTypeCompiler
    statement_compiler = compiler.SQLCompiler
    colspecs = {sa.types.DateTime: _AsReturned, sa.types.Date: _AsReturned, sa.types.Time: _AsReturned}

    @classmethod
    def import_dbapi(cls):
        from dbsynth.spark import dbapi

        return dbapi

    def create_connect_args(self, url) -> tuple[list, dict[str, Any]]:
        if url.host not in (None, "", "local"):
            raise sa.exc.ArgumentError(f"spark://{url.host}: only a local session (spark://local/DATABASE) is supported")
        q = url.query
        opts: dict[str, Any] = {"database": url.database or "default", "master": q.get("master", "local[*]")}
        if "warehouse" in q:
            opts["warehouse"] = q["warehouse"]
        if "driver_memory" in q:
            opts["driver_memory"] = q["driver_memory"]
        opts["hive"] = str(q.get("hive", "")).lower() in ("1", "true", "yes")
        return [], opts

    def _get_server_version_info(self, connection):
        version = connection.connection.dbapi_connection.spark.version
        return tuple(int(p) for p in version.split(".")[:3] if p.isdigit())

    def _get_default_schema_name(self, connection):
        return connection.connection.dbapi_connection.database

    def get_isolation_level(self, dbapi_connection):
        return "AUTOCOMMIT"

    def get_default_isolation_level(self, dbapi_conn):
        return "AUTOCOMMIT"

    def set_isolation_level(self, dbapi_connection, level):
        pass

    def do_rollback(self, dbapi_connection) -> None:
        pass

    def do_commit(self, dbapi_connection) -> None:
        pass

    def do_ping(self, dbapi_connection) -> bool:
        return True

    def has_table(self, connection, table_name, schema=None, **kw) -> bool:
        spark = connection.connection.dbapi_connection.spark
        return spark.catalog.tableExists(table_name, schema or connection.connection.dbapi_connection.database)
