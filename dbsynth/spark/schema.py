"""A Spark source's schema: its keys and constraints from a DDL, its tables checked in Spark.

Spark's catalog records no primary or foreign keys outside Delta/Unity Catalog's informational
constraints, and those need a metastore this project cannot assume. The keys are the application's
(the OLTP database the warehouse was loaded from knows them), so the Spark URL names a DDL:
``spark://local/DB?schema=FILE``, FILE a SQL script of CREATE TABLEs (run into an in-memory
SQLite, which accepts the common DDL of PostgreSQL, MySQL and SQLite) or a SQLite database whose
schema it is (no row of it is read). That schema is the shadow's: its tables, types, keys and
CHECKs; each of its tables must be in Spark with the same columns, of types that hold the same
kind of value. Without `schema=` the tables and columns come from Spark's catalog, keyless.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from dbsynth.dialects.kinds import value_kind
from dbsynth.errors import ConnectionFailed, UnsupportedSchema
from dbsynth.schema.model import Column, Schema

# Spark type names (DataType.simpleString, parameters cut) per kind of value they hold.
_SPARK_KINDS = {
    "string": {"string", "varchar", "char"},
    "enum": {"string", "varchar", "char"},
    "bool": {"boolean"},
    "date": {"date"},
    "datetime": {"timestamp", "timestamp_ntz"},
    "bytes": {"binary"},
    "number": {"tinyint", "smallint", "int", "bigint", "float", "double", "decimal"},
}
# The SQLite type a Spark column is declared with when the schema comes from the catalog.
_AS_SQLITE = {"string": "TEXT", "varchar": "TEXT", "char": "TEXT", "boolean": "BOOLEAN", "date": "DATE",
              "timestamp": "DATETIME", "timestamp_ntz": "DATETIME", "binary": "BLOB", "tinyint": "SMALLINT",
              "smallint": "SMALLINT", "int": "INTEGER", "bigint": "BIGINT", "float": "REAL", "double": "DOUBLE",
              "decimal": "NUMERIC"}


def introspect_spark(engine: sa.Engine) -> Schema:
    """The schema of a `spark://` source (see the module docstring). Reads no rows."""
    from dbsynth.schema.introspect import introspect

    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        spark_columns = _spark_tables(raw.spark, raw.database)
    ddl = engine.url.query.get("schema")
    keys = _ddl_engine(ddl) if ddl else _catalog_ddl(spark_columns)
    schema = introspect(keys)
    _check_against_spark(schema, spark_columns, ddl)
    return schema


def _spark_tables(spark, database: str) -> dict[str, dict[str, str]]:
    """Each table or view of `database` (and each temporary view): lowercased name -> columns
    (name as Spark spells it -> simple type name)."""
    out: dict[str, dict[str, str]] = {}
    for t in spark.catalog.listTables(database):
        name = t.name if t.isTemporary else f"`{database}`.`{t.name}`"
        fields = spark.table(name).schema.fields
        out[t.name.lower()] = {f.name: f.dataType.simpleString().split("(")[0] for f in fields}
    return out


def _ddl_engine(path: str) -> sa.Engine:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ConnectionFailed(f"the Spark source's schema file {path}: {exc.strerror}") from None
    if head == b"SQLite format 3\x00":
        return sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with open(path, encoding="utf-8") as fh:
        return _memory_engine(fh.read(), path)


def _memory_engine(script: str, origin: str) -> sa.Engine:
    """An in-memory SQLite holding `script`'s tables (one connection, so it stays alive)."""
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    with engine.connect() as conn:
        try:
            conn.connection.driver_connection.executescript(script)
        except sqlite3.Error as exc:
            raise UnsupportedSchema(f"{origin}: not a DDL SQLite can read: {exc}") from None
    return engine


def _catalog_ddl(tables: dict[str, dict[str, str]]) -> sa.Engine:
    quote = lambda name: '"' + name.replace('"', '""') + '"'  # noqa: E731
    statements = []
    for name, columns in tables.items():
        unknown = {c: t for c, t in columns.items() if t not in _AS_SQLITE}
        if unknown:
            raise UnsupportedSchema(f"Spark table {name!r}: columns of types dbsynth cannot model: {unknown} "
                                    "(give the source a schema= DDL without them, over a view that leaves them out)")
        body = ", ".join(f"{quote(c)} {_AS_SQLITE[t]}" for c, t in columns.items())
        statements.append(f"CREATE TABLE {quote(name)} ({body});")
    return _memory_engine("\n".join(statements), "Spark's catalog")


def _kind(col: Column) -> str:
    kind = value_kind(col)
    return "number" if kind == "other" else kind


def _check_against_spark(schema: Schema, spark: dict[str, dict[str, str]], ddl: str | None) -> None:
    origin = f"the schema {ddl}" if ddl else "Spark's catalog"
    for name, table in schema.tables.items():
        columns = spark.get(name.lower())
        if columns is None:
            raise UnsupportedSchema(f"{origin} has table {name!r}, which the Spark database does not")
        by_lower = {c.lower(): t for c, t in columns.items()}
        wanted = {c.name.lower() for c in table.columns}
        extra = [c for c in columns if c.lower() not in wanted]
        if extra:
            raise UnsupportedSchema(f"Spark table {name!r} has columns {extra} that {origin} does not declare")
        for col in table.columns:
            spark_type = by_lower.get(col.name.lower())
            if spark_type is None:
                raise UnsupportedSchema(f"{origin} declares {name}.{col.name}, which Spark's table does not have")
            kind = _kind(col)
            if kind == "time":
                raise UnsupportedSchema(f"{name}.{col.name}: Spark has no TIME type; declare it as it is stored")
            if kind in _SPARK_KINDS and spark_type not in _SPARK_KINDS[kind]:
                raise UnsupportedSchema(f"{name}.{col.name} is {col.type} in {origin} but {spark_type} in Spark: "
                                        "they must hold the same kind of value")
