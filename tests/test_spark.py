"""Spark SQL as a source: the measurement's SQL runs in a local Spark (pyspark on Java 17), keeps
the rows the in-memory bounding keeps, counts what memory counts, keeps each statistic within
its declared Δ when a unit is removed, refuses to write, and a Chinook run from Spark passes
`verify` (against the same data in SQLite: verify reads the source's rows, Spark's are the same).

One local Spark session serves the whole file (`local[1]`, 2 shuffle partitions, no UI); the
`spark://` engine of dbsynth finds it as the process's active session.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from conftest import dataset
from dbsynth.cli import app
from dbsynth.connect import source_engine, target_engine
from dbsynth.errors import UnsupportedSchema, UsageError
from dbsynth.measure.pushdown import Pushdown
from dbsynth.measure.read import read_table
from dbsynth.schema.introspect import introspect
from test_pushdown import CHINOOK_OWNERS, SECRET, assert_pushdown_matches_memory, setup, table_named

# Not a skip when pyspark or Java is missing: a green run must mean Spark ran (conftest's rule).
from pyspark.sql import types as T  # noqa: E402 - pip install 'dbsynth[spark]', and Java 17


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (SparkSession.builder.master("local[1]").appName("dbsynth-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.default.parallelism", "1")
               # Tiny data, large expressions (a bin-edge CASE per column): whole-stage code
               # generation failed to compile them and then fell back, 45 s for one statement
               # instead of 7; adaptive execution only adds planning to queries this small.
               .config("spark.sql.codegen.wholeStage", "false")
               .config("spark.sql.adaptive.enabled", "false")
               .config("spark.driver.memory", "1g")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", str(warehouse))
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


_SPARK_TYPE = {"Integer": T.LongType(), "BigInteger": T.LongType(), "SmallInteger": T.LongType(),
               "String": T.StringType(), "Unicode": T.StringType(), "Text": T.StringType(),
               "Date": T.DateType(), "DateTime": T.TimestampNTZType(), "Boolean": T.BooleanType(),
               "Float": T.DoubleType(), "LargeBinary": T.BinaryType()}


def spark_type(col) -> T.DataType:
    if col.generic == "Numeric":
        return T.DecimalType(col.precision or 38, col.scale if col.precision else 10)
    return _SPARK_TYPE.get(col.generic, T.StringType())


def load_into_spark(spark, sqlite_dsn: str, database: str, as_views: bool = False) -> None:
    """Every table of a SQLite database copied into Spark database `database` (managed parquet
    tables, or temporary views: in memory, fast to replace)."""
    engine = sa.create_engine(sqlite_dsn)
    schema = introspect(engine)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    for name, table in schema.tables.items():
        frame = read_table(engine, schema, name)
        struct = T.StructType([T.StructField(c.name, spark_type(c), True) for c in table.columns])
        rows = [tuple(None if v != v else v for v in r) for r in frame.itertuples(index=False)]
        df = spark.createDataFrame(rows, struct)
        if as_views:
            df.createOrReplaceTempView(name)
        else:
            df.write.mode("overwrite").saveAsTable(f"{database}.{name}")


def ddl_script(sqlite_path, out) -> str:
    """The CREATE TABLEs of a SQLite file as a .sql script (what a user keeps beside the spec)."""
    con = sqlite3.connect(sqlite_path)
    statements = [r[0] for r in con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL "
                                            "AND name NOT LIKE 'sqlite_%'")]
    con.close()
    out.write_text(";\n".join(statements) + ";\n", encoding="utf-8")
    return str(out)


@pytest.fixture(scope="session")
def chinook_spark(spark, tmp_path_factory) -> str:
    """DSN of Chinook in Spark database `chinook`, its keys from the Chinook DDL as a .sql script."""
    path = dataset("chinook", "Chinook_Sqlite.sqlite")
    load_into_spark(spark, f"sqlite:///{path}", "chinook")
    script = ddl_script(path, tmp_path_factory.mktemp("ddl") / "chinook.sql")
    return f"spark://local/chinook?schema={script}"


# -- (a) the pushed-down counts are the in-memory ones -------------------------------------------


def test_pushdown_equals_memory_on_chinook_spark(chinook_spark):
    engine, schema, spec, units = setup(chinook_spark, 2, CHINOOK_OWNERS)
    assert engine.dialect.name == "spark" and Pushdown(engine, schema, units, SECRET).dialect.name == "spark"
    line, invoice = table_named(schema, "invoiceline"), table_named(schema, "invoice")
    assert units.owner[line].ref_table == invoice  # the keys came from the DDL
    kept = assert_pushdown_matches_memory(engine, schema, spec, units, max_three_ways=10)
    assert kept[invoice] <= 59 * 2 < 412 and kept[line] <= kept[invoice] * 2 < 2240


def test_the_spark_source_refuses_every_statement_that_writes(chinook_spark, spark):
    engine = source_engine(chinook_spark)
    before = spark.table("chinook.genre").count()
    for statement in ("INSERT INTO genre VALUES (99, 'x')", "DROP TABLE genre", "CREATE TABLE x (a INT)",
                      "WITH g AS (SELECT * FROM genre) INSERT INTO genre SELECT * FROM g",
                      "SET spark.sql.ansi.enabled = false", "DELETE FROM genre"):
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read only"):
            conn.exec_driver_sql(statement)
    assert spark.table("chinook.genre").count() == before
    with pytest.raises(UsageError, match="source only"):
        target_engine("spark://local/chinook")


def test_the_spark_schema_must_match_the_ddl(chinook_spark, tmp_path):
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE Genre (GenreId INTEGER PRIMARY KEY, Name NVARCHAR(120), Extra INTEGER);")
    with pytest.raises(UnsupportedSchema, match="Extra"):
        introspect(source_engine(f"spark://local/chinook?schema={bad}"))
    bad.write_text("CREATE TABLE Genre (GenreId DATE PRIMARY KEY, Name NVARCHAR(120));")
    with pytest.raises(UnsupportedSchema, match="same kind of value"):
        introspect(source_engine(f"spark://local/chinook?schema={bad}"))
    keyless = introspect(source_engine("spark://local/chinook"))  # from the catalog: no keys
    assert {t.lower() for t in keyless.tables} >= {"genre", "invoiceline"}
    assert not any(t.primary_key or t.foreign_keys for t in keyless.tables.values())


# -- (c) a Chinook run from Spark passes verify ----------------------------------------------------


def test_chinook_run_from_spark_passes_verify(chinook_spark, spark, tmp_path):
    chinook = dataset("chinook", "Chinook_Sqlite.sqlite")
    copy = tmp_path / "chinook.sqlite"
    shutil.copyfile(chinook, copy)
    # The keys from the SQLite file itself (its schema only), the rows from Spark.
    source = f"spark://local/chinook?schema={copy}"
    target = f"sqlite:///{tmp_path / 'shadow.db'}"
    res = CliRunner().invoke(app, ["run", source, target, "--epsilon", "4", "--seed", "3", "--method", "mst",
                                   "--public", "suggested", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["ledger"]["epsilon"] <= 4
    rows = {t.lower(): n for t, n in summary["rows"].items()}
    assert rows["genre"] == 25 and rows["invoiceline"] > 0
    # verify reads the source's rows; Spark's are the SQLite file's, so verify against that.
    ver = subprocess.run([sys.executable, "-m", "dbsynth.cli", "verify", f"sqlite:///{copy}", target, "--json"],
                         capture_output=True, text=True, timeout=600)
    report = json.loads(ver.stdout)
    hard = [f for f in report["findings"] if f.get("severity", "hard") == "hard"]
    assert ver.returncode == 0, hard
    assert [f for f in report["findings"] if f["check"] == "schema_diff"] == []


# -- (b) removing one unit changes every pushed-down statistic by at most its declared Δ ----------


class SparkDatabase:
    """`test_removal.Database` in Spark: each table a temporary view over in-memory rows, so D and
    D minus a unit are swapped without writing files; the keys come from the DDL (schema=)."""

    def __init__(self, spark, tables, rows, tmp_path):
        from test_removal import ddl

        self.spark = spark
        self.rows = rows
        script = tmp_path / "removal.sql"
        script.write_text(";\n".join(ddl(tables, "sqlite")) + ";\n", encoding="utf-8")
        from dbsynth.spark.schema import _memory_engine

        self.schema = introspect(_memory_engine(script.read_text(), str(script)))
        spark.sql("CREATE DATABASE IF NOT EXISTS removal")
        self._replace({t: rows[t] for t in self.schema.tables})
        self.source = source_engine(f"spark://local/removal?schema={script}")

    def _replace(self, contents: dict[str, list[dict]]) -> None:
        for name, rows in contents.items():
            table = self.schema.tables[name]
            struct = T.StructType([T.StructField(c.name, spark_type(c), True) for c in table.columns])
            data = [tuple(r[c.name] for c in table.columns) for r in rows]
            self.spark.createDataFrame(data, struct).createOrReplaceTempView(name)

    def without(self, doomed: dict[str, set[int]]) -> None:
        self._replace({t: [r for i, r in enumerate(self.rows[t]) if i not in gone] for t, gone in doomed.items()})

    def restore(self, doomed: dict[str, set[int]]) -> None:
        self._replace({t: self.rows[t] for t in doomed})


REMOVALS = 2  # each recount is ~60 Spark statements (~50 s); PostgreSQL's test removes ~24 units


def test_removing_one_unit_changes_every_spark_statistic_by_at_most_its_declared_delta(spark, tmp_path):
    from test_removal import (PER_TABLE, Worst, random_rows, random_schema, remove_and_compare, statistics,
                              trial_encoders, trial_spec)
    from dbsynth.privacy.units import Units

    rng = np.random.default_rng(20240614)
    tables = random_schema(rng)
    rows = random_rows(rng, tables)
    db = SparkDatabase(spark, tables, rows, tmp_path)
    schema = introspect(db.source)
    assert any(t.foreign_keys for t in schema.tables.values())  # keys from the DDL
    spec = trial_spec(schema, rng, tmp_path, 0)
    units = Units.from_spec(schema, spec)
    encoders = trial_encoders(db, schema, spec, units, rows)
    secret = bytes(rng.integers(0, 256, 32, dtype=np.uint8))
    before = statistics(db, schema, spec, units, encoders, secret)
    # A whole unit (a root row with all it owns: it moves the most statistics) and an owned
    # subtree at the bottom of the deepest chain (it frees a slot under its owner's cap).
    roots = [t for t in sorted(units.private) if units.owner.get(t) is None]
    deepest = max(sorted(units.private), key=lambda t: len(units.chain(t)))
    removals = [(t, int(rng.integers(len(rows[t])))) for t in (roots[0], deepest)][:REMOVALS]
    worst: dict[str, Worst] = {}
    violations = []
    for table, index in removals:
        remove_and_compare(db, schema, spec, units, encoders, secret, rows, before, table, index, "spark", worst,
                           violations)
    summary = "\n".join(f"  {f:34s} {w.ratio:5.2f}  {w.where}" for f, w in sorted(worst.items()))
    assert not violations, "declared sensitivities violated:\n  " + "\n  ".join(violations[:10]) + "\n" + summary
    assert max(worst.get(f, Worst()).ratio for f in PER_TABLE) >= 0.5, summary
