"""SQL dialects for pushing measurements into the source: one module per engine.

Every difference in how PostgreSQL, MySQL/MariaDB, SQLite, DuckDB and Spark SQL spell a hash, a date, an exact
string comparison or a multi-set GROUP BY lives in these modules and nowhere else.
"""

from __future__ import annotations

import sqlalchemy as sa

from dbsynth.dialects.base import Counts, Dialect
from dbsynth.dialects.duckdb import DuckDBDialect
from dbsynth.dialects.mysql import MySQLDialect
from dbsynth.dialects.postgres import PostgresDialect
from dbsynth.dialects.spark import SparkDialect
from dbsynth.dialects.sqlite import SQLiteDialect

_BY_NAME: dict[str, type[Dialect]] = {
    "postgresql": PostgresDialect,
    "mysql": MySQLDialect,
    "mariadb": MySQLDialect,
    "sqlite": SQLiteDialect,
    "duckdb": DuckDBDialect,
    "spark": SparkDialect,
}


def dialect_for(engine: sa.Engine) -> Dialect:
    """The measuring dialect of a source engine."""
    try:
        return _BY_NAME[engine.dialect.name]()
    except KeyError:
        raise ValueError(f"no measuring dialect for engine {engine.dialect.name!r}") from None


__all__ = ["Counts", "Dialect", "DuckDBDialect", "MySQLDialect", "PostgresDialect", "SQLiteDialect", "SparkDialect",
           "dialect_for"]
