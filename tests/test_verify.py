"""verify: an exact copy passes; each deliberate break is caught by the check meant for it.

Targets are built without the rest of dbsynth: a `pg_dump | psql` copy on PostgreSQL, a file
copy on SQLite, and `translate_metadata(...).create_all` plus the source rows elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sqlite3
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dbsynth.connect import engine_kind, source_engine, target_engine
from dbsynth.schema.introspect import introspect
from dbsynth.verify import Finding, VerifyReport, render_text, verify
from dbsynth.verify import fidelity as fidelity_module
from dbsynth.verify.fidelity import fit_binning, tvd

# -- building targets -------------------------------------------------------------------------


def add_ledger(engine: sa.Engine, epsilon: float = 1.0, delta: float = 1e-9,
               target_epsilon: float | None = None) -> None:
    """The `_dbsynth_ledger` row the writer leaves in every target (same contract)."""
    md = sa.MetaData()
    t = sa.Table(
        "_dbsynth_ledger",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime),
        sa.Column("epsilon", sa.Float),
        sa.Column("delta", sa.Float),
        sa.Column("ledger", sa.Text),
    )
    md.create_all(engine)
    payload = {"epsilon": epsilon, "delta": delta, "events": [{"mechanism": "gaussian", "rho": 0.01}]}
    if target_epsilon is not None:
        payload["target_epsilon"] = target_epsilon
    with engine.begin() as conn:
        conn.execute(
            t.insert().values(
                id=1, created_at=dt.datetime(2026, 1, 1), epsilon=epsilon, delta=delta, ledger=json.dumps(payload)
            )
        )


def pg_copy(pg_server, source_dsn: str, target_dsn: str) -> None:
    """An exact PostgreSQL copy through the server's own pg_dump."""
    dump = subprocess.run(
        [str(pg_server.bindir / "pg_dump"), "--no-owner", "-h", str(pg_server.root), "-p", str(pg_server.port),
         "-U", pg_server.user, make_url(source_dsn).database],
        capture_output=True, text=True, check=True,
    ).stdout
    pg_server.psql(make_url(target_dsn).database, dump)


def generic_copy(source: sa.Engine, target: sa.Engine, schema) -> None:
    """The writer's DDL for the target engine, then every source row (FK checks off while loading)."""
    from dbsynth.write.ddl import translate_metadata

    md = translate_metadata(schema, engine_kind(target))
    md.create_all(target)
    with source.connect() as src, target.begin() as dst:
        if engine_kind(target) == "mysql":
            dst.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        if engine_kind(target) == "postgresql":
            dst.exec_driver_sql("SET session_replication_role = replica")
        for name in schema.topological_order():
            rows = [dict(r._mapping) for r in src.execute(sa.select(schema.metadata.tables[name]))]
            if rows:
                dst.execute(md.tables[name].insert(), rows)


@pytest.fixture
def engines() -> Iterator[list[sa.Engine]]:
    """Engines opened by a test, disposed after it so no connection outlives the database."""
    opened: list[sa.Engine] = []
    yield opened
    for e in opened:
        e.dispose()


@pytest.fixture
def chinook_pg_copy(pg_server, chinook_pg, new_pg_db, engines):
    """(source, target, schema, target DSN): an exact copy of Chinook on PostgreSQL, with a ledger."""
    dsn = new_pg_db()
    pg_copy(pg_server, chinook_pg, dsn)
    src, tgt = source_engine(chinook_pg), target_engine(dsn)
    engines += [src, tgt]
    add_ledger(tgt)
    return src, tgt, introspect(src), dsn


def by_check(report: VerifyReport, check: str) -> list[Finding]:
    return [f for f in report.findings if f.check == check]


def assert_faithful(report: VerifyReport) -> None:
    assert report.findings == [], render_text(report)
    assert report.passed()
    for name, t in report.fidelity.items():
        assert t.row_count_ratio == 1.0, name
        assert all(v < 1e-9 for v in t.tvd_1way.values()), (name, t.tvd_1way)
        assert all(v < 1e-9 for v in t.tvd_2way.values()), (name, t.tvd_2way)


# -- exact copies pass ------------------------------------------------------------------------


def test_exact_postgres_copy_has_no_findings_zero_tvd_and_ratio_one(chinook_pg_copy):
    src, tgt, schema, _ = chinook_pg_copy
    steps: list[str] = []
    report = verify(src, tgt, schema, progress=steps.append)
    assert_faithful(report)
    assert set(report.fidelity) == set(schema.tables)
    assert report.fidelity["track"].tvd_1way  # non-key columns were compared
    assert "track|name" not in report.fidelity["track"].tvd_2way  # keys are not columns of the marginals
    assert report.checks_run > len(schema.tables)
    assert report.ledger is not None and report.ledger["epsilon"] == 1.0
    assert report.ledger["ledger"]["events"][0]["mechanism"] == "gaussian"
    assert any(s.startswith("fidelity:") for s in steps)


def test_exact_copy_of_northwind_with_composite_keys_blobs_and_empty_tables_passes(
    pg_server, northwind_pg, new_pg_db, engines
):
    dsn = new_pg_db()
    pg_copy(pg_server, northwind_pg, dsn)
    src, tgt = source_engine(northwind_pg), target_engine(dsn)
    engines += [src, tgt]
    add_ledger(tgt)
    report = verify(src, tgt, introspect(src))
    assert_faithful(report)
    assert "picture" not in report.fidelity["categories"].tvd_1way  # bytea is not binned
    empty = [n for n, t in report.fidelity.items() if t.row_count_source == 0]
    assert empty and all(report.fidelity[n].row_count_ratio == 1.0 for n in empty)


def test_exact_sqlite_copy_passes(chinook_sqlite, new_sqlite_path, engines):
    dsn = new_sqlite_path()
    shutil.copyfile(make_url(chinook_sqlite).database, make_url(dsn).database)
    src, tgt = source_engine(chinook_sqlite), target_engine(dsn)
    engines += [src, tgt]
    add_ledger(tgt)
    assert_faithful(verify(src, tgt, introspect(src)))


def test_exact_mariadb_copy_passes(chinook_maria, new_maria_db, engines):
    src, tgt = source_engine(chinook_maria), target_engine(new_maria_db())
    engines += [src, tgt]
    schema = introspect(src)
    generic_copy(src, tgt, schema)
    add_ledger(tgt)
    assert_faithful(verify(src, tgt, schema))


def test_postgres_to_sqlite_copy_compares_values_not_driver_types(chinook_pg, new_sqlite_path, engines):
    # PostgreSQL hands back Decimal and datetime, SQLite strings and floats: the same rows must
    # still land in the same bins.
    src, tgt = source_engine(chinook_pg), target_engine(new_sqlite_path())
    engines += [src, tgt]
    schema = introspect(src)
    generic_copy(src, tgt, schema)
    add_ledger(tgt)
    report = verify(src, tgt, schema)
    assert by_check(report, "orphan_fk") == by_check(report, "duplicate_key") == []
    for name, t in report.fidelity.items():
        assert t.row_count_ratio == 1.0
        assert max(t.tvd_1way.values(), default=0.0) < 1e-9, (name, t.tvd_1way)


# -- each break is caught by its check --------------------------------------------------------


def test_child_row_with_a_dangling_parent_is_an_orphan_fk(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    pg_server.psql(
        make_url(dsn).database,
        "ALTER TABLE invoice_line DISABLE TRIGGER ALL;"
        "INSERT INTO invoice_line VALUES (99999, 1, 999999, 0.99, 1);"
        "ALTER TABLE invoice_line ENABLE TRIGGER ALL;",
    )
    report = verify(src, tgt, schema)
    assert not report.passed()
    [orphan] = by_check(report, "orphan_fk")
    assert orphan.table == "invoice_line" and orphan.count == 1 and orphan.hard
    assert "track" in orphan.detail
    assert by_check(report, "schema_diff") == []  # the constraint itself is still there


def test_dropped_primary_key_and_duplicated_row_is_a_duplicate_key_and_a_schema_diff(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    pg_server.psql(
        make_url(dsn).database,
        "ALTER TABLE genre DROP CONSTRAINT genre_pkey CASCADE;"
        "INSERT INTO genre SELECT * FROM genre WHERE genre_id = 1;",
    )
    report = verify(src, tgt, schema)
    [dup] = by_check(report, "duplicate_key")
    assert dup.table == "genre" and dup.count == 2  # both rows carrying genre_id 1
    diffs = by_check(report, "schema_diff")
    assert any(f.table == "genre" and "primary key" in f.detail for f in diffs), diffs
    assert report.fidelity["genre"].row_count_target == 26


def test_null_in_a_not_null_column_is_reported(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    pg_server.psql(
        make_url(dsn).database,
        "ALTER TABLE customer ALTER COLUMN email DROP NOT NULL;"
        "UPDATE customer SET email = NULL WHERE customer_id <= 3;",
    )
    report = verify(src, tgt, schema)
    [nulls] = by_check(report, "not_null")
    assert nulls.table == "customer" and nulls.count == 3 and "email" in nulls.detail
    assert any("email" in f.detail and "NULL allowed" in f.detail for f in by_check(report, "schema_diff"))
    # email is generated by Faker (pii), so it is left out of fidelity on purpose
    assert "email" not in report.fidelity["customer"].tvd_1way
    assert "country" in report.fidelity["customer"].tvd_1way


def test_dropped_index_is_a_schema_diff(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    pg_server.psql(make_url(dsn).database, "DROP INDEX track_genre_id_idx;")
    report = verify(src, tgt, schema)
    [diff] = report.findings
    assert diff.check == "schema_diff" and diff.table == "track" and diff.hard
    assert "track_genre_id_idx" in diff.detail and diff.detail.startswith("missing in target")


def test_missing_ledger_is_a_hard_finding(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    pg_server.psql(make_url(dsn).database, "DROP TABLE _dbsynth_ledger;")
    report = verify(src, tgt, schema)
    [missing] = report.findings
    assert missing.check == "ledger" and missing.hard
    assert report.ledger is None and not report.passed()


def test_empty_ledger_is_a_hard_finding(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    pg_server.psql(make_url(dsn).database, "DELETE FROM _dbsynth_ledger;")
    report = verify(src, tgt, schema, fidelity=False)
    assert [f.check for f in report.findings] == ["ledger"] and report.fidelity == {}


SHOP = """
CREATE TABLE product (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    price NUMERIC NOT NULL CONSTRAINT price_not_negative CHECK (price >= 0)
);
CREATE TABLE warehouse (
    region TEXT NOT NULL,
    code INTEGER NOT NULL,
    city TEXT,
    PRIMARY KEY (region, code)
);
CREATE TABLE stock (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES product (id),
    region TEXT,
    code INTEGER,
    qty INTEGER NOT NULL,
    CONSTRAINT stock_at_most_once UNIQUE (product_id, region, code),
    FOREIGN KEY (region, code) REFERENCES warehouse (region, code)
);
INSERT INTO product VALUES (1, 'tea', 3.5), (2, 'coffee', 7.25), (3, 'cocoa', 0);
INSERT INTO warehouse VALUES ('north', 1, 'Oslo'), ('north', 2, 'Bergen'), ('south', 1, 'Rome');
INSERT INTO stock VALUES (1, 1, 'north', 1, 10), (2, 2, 'north', 2, 5), (3, 3, 'south', 1, 0),
                         (4, 1, NULL, NULL, 2);
"""


@pytest.fixture
def shop_sqlite(new_sqlite_path, engines):
    """(source, target, schema, target path): a tiny SQLite shop with a CHECK and a composite FK."""
    src_dsn, tgt_dsn = new_sqlite_path(), new_sqlite_path()
    with sqlite3.connect(make_url(src_dsn).database) as conn:
        conn.executescript(SHOP)
    shutil.copyfile(make_url(src_dsn).database, make_url(tgt_dsn).database)
    src, tgt = source_engine(src_dsn), target_engine(tgt_dsn)
    engines += [src, tgt]
    add_ledger(tgt)
    return src, tgt, introspect(src), make_url(tgt_dsn).database


def test_tiny_shop_copy_passes(shop_sqlite):
    src, tgt, schema, _ = shop_sqlite
    assert schema.tables["product"].checks  # the fixture really has a CHECK to verify
    assert_faithful(verify(src, tgt, schema))


def test_violated_check_constraint_is_reported(shop_sqlite):
    src, tgt, schema, path = shop_sqlite
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute("INSERT INTO product VALUES (4, 'debt', -1), (5, 'loan', -2)")
    report = verify(src, tgt, schema)
    [check] = report.findings
    assert check.check == "check_constraint" and check.table == "product" and check.count == 2
    assert "price_not_negative" in check.detail


def test_composite_orphan_is_found_and_partly_null_keys_are_not(shop_sqlite):
    src, tgt, schema, path = shop_sqlite
    with sqlite3.connect(path) as conn:  # SQLite leaves foreign keys unenforced by default
        conn.execute("INSERT INTO stock VALUES (5, 2, 'north', 99, 1)")  # no warehouse (north, 99)
        conn.execute("INSERT INTO stock VALUES (6, 3, 'east', NULL, 1)")  # MATCH SIMPLE: not checked
        conn.execute("INSERT INTO stock VALUES (7, 42, NULL, NULL, 1)")  # product 42 does not exist
    report = verify(src, tgt, schema)
    orphans = sorted(by_check(report, "orphan_fk"), key=lambda f: f.detail)
    assert [(f.table, f.count) for f in orphans] == [("stock", 1), ("stock", 1)]
    assert "warehouse" in orphans[1].detail and "region, code" in orphans[1].detail
    assert "product" in orphans[0].detail


def test_duplicates_with_a_null_key_column_are_not_duplicate_keys(shop_sqlite):
    src, tgt, schema, path = shop_sqlite
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO stock VALUES (8, 1, NULL, NULL, 3)")  # same as row 4, NULLs differ
    assert by_check(verify(src, tgt, schema, fidelity=False), "duplicate_key") == []


def test_enum_value_outside_its_labels_is_reported_on_mariadb(maria_server, new_maria_db, engines):
    src_dsn, tgt_dsn = new_maria_db(), new_maria_db()
    maria_server.sql(
        "CREATE TABLE shirt (id INT PRIMARY KEY, size ENUM('S','M','L') NOT NULL, color VARCHAR(10));"
        "INSERT INTO shirt VALUES (1, 'S', 'red'), (2, 'M', 'blue'), (3, 'L', NULL);",
        database=make_url(src_dsn).database,
    )
    src, tgt = source_engine(src_dsn), target_engine(tgt_dsn)
    engines += [src, tgt]
    schema = introspect(src)
    assert schema.tables["shirt"].column("size").enum_labels == ("S", "M", "L")
    generic_copy(src, tgt, schema)
    add_ledger(tgt)
    assert_faithful(verify(src, tgt, schema))
    # Without strict mode MariaDB stores '' (with a warning) for a label it does not know.
    maria_server.sql("SET SESSION sql_mode = ''; INSERT INTO shirt VALUES (4, 'XXL', 'red');",
                     database=make_url(tgt_dsn).database)
    report = verify(src, tgt, schema)
    [bad] = report.findings
    assert bad.check == "enum" and bad.table == "shirt" and bad.count == 1 and "size" in bad.detail


MOODS = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE diary (id INTEGER PRIMARY KEY, day DATE NOT NULL, feeling mood NOT NULL, note TEXT);
INSERT INTO diary SELECT g, DATE '2024-01-01' + g, (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::mood, 'n' || (g % 7)
FROM generate_series(1, 60) g;
"""


def test_postgres_enum_column_is_checked_against_its_labels(pg_server, new_pg_db, new_sqlite_path, engines):
    src_dsn, pg_dsn = new_pg_db(), new_pg_db()
    pg_server.psql(make_url(src_dsn).database, MOODS)
    pg_copy(pg_server, src_dsn, pg_dsn)
    src, pg_tgt, sqlite_tgt = source_engine(src_dsn), target_engine(pg_dsn), target_engine(new_sqlite_path())
    engines += [src, pg_tgt, sqlite_tgt]
    schema = introspect(src)
    add_ledger(pg_tgt)
    assert_faithful(verify(src, pg_tgt, schema))  # the native enum compares with text labels

    # On SQLite the enum is a VARCHAR guarded by a CHECK; with CHECKs off a bad label gets in.
    generic_copy(src, sqlite_tgt, schema)
    add_ledger(sqlite_tgt)
    assert_faithful(verify(src, sqlite_tgt, schema))
    with sqlite3.connect(make_url(sqlite_tgt.url).database) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute("INSERT INTO diary VALUES (100, '2024-06-01', 'furious', NULL)")
    report = verify(src, sqlite_tgt, schema)
    [bad] = by_check(report, "enum")
    assert bad.table == "diary" and bad.count == 1 and "feeling" in bad.detail
    assert [f.count for f in by_check(report, "check_constraint")] == [1]


def test_a_column_missing_from_the_target_is_one_schema_diff_not_a_failed_check(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    pg_server.psql(make_url(dsn).database, "ALTER TABLE customer DROP COLUMN email;")
    report = verify(src, tgt, schema)
    [diff] = report.findings
    assert diff.check == "schema_diff" and "customer.email" in diff.detail
    assert "email" not in report.fidelity["customer"].tvd_1way


# -- fidelity ---------------------------------------------------------------------------------


def test_skewed_target_has_positive_tvd_and_a_row_count_ratio_below_one(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    # Keep only the rock tracks' invoice lines and drop half the invoices' totals to zero.
    pg_server.psql(
        make_url(dsn).database,
        "DELETE FROM invoice_line WHERE track_id IN (SELECT track_id FROM track WHERE genre_id <> 1);"
        "UPDATE invoice SET total = 0 WHERE invoice_id % 2 = 0;",
    )
    report = verify(src, tgt, schema)
    assert report.passed(), render_text(report)
    lines = report.fidelity["invoice_line"]
    assert 0 < lines.row_count_ratio < 1
    inv = report.fidelity["invoice"]
    assert inv.tvd_1way["total"] > 0.3
    assert inv.tvd_1way["billing_country"] < 1e-9
    assert inv.tvd_2way["billing_country|total"] >= inv.tvd_1way["total"] - 1e-9
    assert inv.mean_tvd_1way > 0


def test_big_tables_are_read_through_a_sample(chinook_pg_copy, monkeypatch):
    src, tgt, schema, _ = chinook_pg_copy
    monkeypatch.setattr(fidelity_module, "SAMPLE_ROWS", 1000)
    report = verify(src, tgt, schema)
    track = report.fidelity["track"]
    assert track.sampled and track.row_count_source == track.row_count_target == 3503  # counts stay exact
    assert 0 < max(track.tvd_1way.values()) < 0.2  # two independent samples of the same table
    assert not report.fidelity["genre"].sampled


def test_two_way_marginals_are_capped_at_45_pairs_in_column_order(pg_server, new_pg_db, engines):
    src_dsn, tgt_dsn = new_pg_db(), new_pg_db()
    cols = ", ".join(f"c{i} INTEGER" for i in range(12))  # 66 pairs
    for dsn in (src_dsn, tgt_dsn):
        pg_server.psql(make_url(dsn).database,
                       f"CREATE TABLE wide (id INTEGER PRIMARY KEY, {cols});"
                       "INSERT INTO wide SELECT g, " + ", ".join(f"g % {i + 2}" for i in range(12))
                       + " FROM generate_series(1, 200) g;")
    src, tgt = source_engine(src_dsn), target_engine(tgt_dsn)
    engines += [src, tgt]
    add_ledger(tgt)
    report = verify(src, tgt, introspect(src))
    pairs = list(report.fidelity["wide"].tvd_2way)
    assert len(pairs) == 45 and pairs[0] == "c0|c1" and pairs[10] == "c0|c11" and pairs[11] == "c1|c2"
    assert "id" not in report.fidelity["wide"].tvd_1way


def test_bins_come_from_the_source_only():
    source = pd.Series(np.arange(100, dtype=float))
    binning = fit_binning("x", "ordered", source)
    assert len(binning.edges) == 9 and binning.n_bins == 11  # ten deciles + NULL
    shifted = pd.Series(np.arange(100, dtype=float) + 1000)  # all above the source's top decile
    assert set(binning.codes(shifted)) == {9}
    assert tvd(binning.codes(source), binning.codes(shifted), binning.n_bins) == pytest.approx(0.9)

    words = pd.Series([f"w{i % 30}" for i in range(300)] + [None] * 10, dtype=object)
    cat = fit_binning("w", "categorical", words)
    assert len(cat.values) == 20 and cat.n_bins == 22  # top 20 + other + NULL
    codes = cat.codes(pd.Series(["never-seen", None], dtype=object))
    assert list(codes) == [20, 21]


# -- rendering --------------------------------------------------------------------------------


def test_report_is_json_safe_and_says_it_reads_real_data(chinook_pg_copy, pg_server):
    src, tgt, schema, dsn = chinook_pg_copy
    pg_server.psql(make_url(dsn).database, "DROP INDEX track_genre_id_idx;")
    report = verify(src, tgt, schema)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["reads_real_data"] is True and "real" in data["note"]
    assert data["passed"] is False and data["findings"][0]["check"] == "schema_diff"
    assert data["fidelity"]["track"]["row_count_ratio"] == 1.0
    assert data["ledger"]["epsilon"] == 1.0
    text = render_text(report)
    assert "FAILED" in text and "track_genre_id_idx" in text and "real rows" in text
