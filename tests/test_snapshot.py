"""A run reads one snapshot of a PostgreSQL source, and asks it each count once.

Sizes, domains and marginals must describe one database: a commit that lands while dbsynth
measures is not in any of them. And the bounded counts sizing made are not asked again by
measuring under the same caps (each is a scan of the table and its owners)."""

from __future__ import annotations

import collections

import pytest
import sqlalchemy as sa

import dbsynth.pipeline as pipeline
from conftest import dataset
from dbsynth.connect import one_snapshot, source_engine
from servers import strip_create_database

CUSTOMERS_ADDED = 3_000  # against Chinook's 59: no noise at ε = 50 hides the difference


@pytest.fixture()
def chinook_copy(pg_server, request) -> str:
    name = f"snap_{request.node.name[:40].lower()}"
    dsn = pg_server.create_database(name)
    pg_server.psql(name, strip_create_database(dataset("chinook", "Chinook_PostgreSql.sql").read_text("utf-8")))
    return dsn


def _add_customers(dsn: str, n: int) -> None:
    engine = sa.create_engine(dsn)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO customer (customer_id, first_name, last_name, email) "
            "SELECT 100000 + i, 'Late', 'Comer', 'late' || i || '@example.com' FROM generate_series(1, :n) AS i"),
            {"n": n})
    engine.dispose()


def _customers(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM customer")).scalar_one()


def test_one_snapshot_hides_what_commits_while_inside(chinook_copy):
    engine = source_engine(chinook_copy)
    try:
        with one_snapshot(engine):
            before = _customers(engine)
            _add_customers(chinook_copy, 10)
            assert _customers(engine) == before, "a commit made after the snapshot was seen"
            with engine.connect() as a, engine.connect() as b:  # every connection, not one
                assert a.execute(sa.text("SELECT count(*) FROM customer")).scalar_one() == before
                assert b.execute(sa.text("SELECT count(*) FROM invoice")).scalar_one() == 412
        assert _customers(engine) == before + 10, "outside, the source is read as it is"
    finally:
        engine.dispose()


def test_a_run_measures_the_source_as_it_began_and_asks_each_count_once(chinook_copy, pg_server, monkeypatch):
    statements: collections.Counter = collections.Counter()
    opened = pipeline.source_engine

    def watched(dsn, snapshot=None):
        engine = opened(dsn, snapshot)

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _seen(conn, cursor, statement, parameters, context, executemany):
            if "count(" in statement:  # the bounded aggregates; not the catalog's reflection
                statements[(statement, repr(parameters))] += 1

        return engine

    monkeypatch.setattr(pipeline, "source_engine", watched)
    added = []

    def progress(stage: str, detail: str) -> None:
        if stage == "measure" and not added:  # the schema is read; no row has been counted yet
            _add_customers(chinook_copy, CUSTOMERS_ADDED)
            added.append(True)

    target = pg_server.create_database("snap_target")
    result = pipeline.run(pipeline.RunOptions(source=chinook_copy, target=target, epsilon=50.0, seed=1),
                          progress=progress)
    assert added
    assert result.rows["customer"] < 59 + CUSTOMERS_ADDED / 2, (
        f"{result.rows['customer']} customers: the run counted rows committed after it began")
    twice = [s[:120] for (s, _), n in statements.items() if n > 1]
    assert statements and not twice, f"the same count asked again: {twice}"
