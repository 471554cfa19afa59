"""A run reads one snapshot of a PostgreSQL, MariaDB or SQLite (WAL) source, and asks it each count once.

Sizes, domains and marginals must describe one database: a commit that lands while dbsynth
measures is not in any of them. And the bounded counts sizing made are not asked again by
measuring under the same caps (each is a scan of the table and its owners)."""

from __future__ import annotations

import collections

import pytest
import sqlalchemy as sa

import dbsynth.pipeline as pipeline
import shop
from dbsynth.connect import one_snapshot, source_engine

CUSTOMERS = 300
CUSTOMERS_ADDED = 3_000  # against 300: no noise at ε = 50 hides the difference


class SqliteFiles:
    """SQLite's stand-in for a server: a new database is a new file, in WAL mode (a rollback
    journal is read without a snapshot: see `test_a_sqlite_file_in_a_rollback_journal_is_never_locked`)."""

    def __init__(self, directory):
        self.directory = directory

    def create_database(self, name: str) -> str:
        return f"sqlite:///{self.directory / (name + '.db')}"


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def server(request, tmp_path):
    if request.param == "sqlite":
        return SqliteFiles(tmp_path)
    return request.getfixturevalue("pg_server" if request.param == "postgresql" else "maria_server")


@pytest.fixture()
def shop_source(server, request) -> str:
    dsn = server.create_database(f"snap_{request.node.name[:30].lower().replace('[', '_').rstrip(']')}")
    shop.build(dsn, customers=CUSTOMERS)
    if dsn.startswith("sqlite"):
        _journal(dsn, "wal")
    return dsn


def _journal(dsn: str, mode: str) -> None:
    engine = sa.create_engine(dsn)
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"PRAGMA journal_mode={mode}").scalar().lower() == mode
    engine.dispose()


def _add_customers(dsn: str, n: int) -> None:
    engine = sa.create_engine(dsn)
    rows = [{"id": 100_000 + i, "email": f"late{i}@example.org", "segment": "retail", "country_id": 1}
            for i in range(n)]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO customer (id, email, segment, country_id) "
                             "VALUES (:id, :email, :segment, :country_id)"), rows)
    engine.dispose()


def _customers(conn: sa.Connection) -> int:
    return conn.execute(sa.text("SELECT count(*) FROM customer")).scalar_one()


def test_one_snapshot_hides_what_commits_while_inside(shop_source):
    engine = source_engine(shop_source)
    try:
        with one_snapshot(engine) as reader:
            with reader.connect() as conn:
                before = _customers(conn)
            _add_customers(shop_source, 10)
            with reader.connect() as a, reader.connect() as b:  # every connection, each block
                assert _customers(a) == before, "a commit made after the snapshot was seen"
                assert _customers(b) == before
            with reader.connect() as conn:
                assert _customers(conn) == before
        with engine.connect() as conn:
            assert _customers(conn) == before + 10, "outside, the source is read as it is"
    finally:
        engine.dispose()


def test_a_run_measures_the_source_as_it_began_and_asks_each_count_once(shop_source, server, monkeypatch):
    statements: collections.Counter = collections.Counter()

    def watch(engine: sa.Engine) -> sa.Engine:
        @sa.event.listens_for(engine, "before_cursor_execute")
        def _seen(conn, cursor, statement, parameters, context, executemany):
            if "count(" in statement:  # the bounded aggregates; not the catalog's reflection
                statements[(statement, repr(parameters))] += 1

        return engine

    opened, snapshot = pipeline.source_engine, pipeline.one_snapshot
    monkeypatch.setattr(pipeline, "source_engine", lambda dsn, snap=None: watch(opened(dsn, snap)))

    def watched_snapshot(engine):  # MariaDB and SQLite read through an engine of their own: watch that one
        class Watched:
            def __enter__(self):
                self.inner = snapshot(engine)
                pinned = engine.dialect.name in ("mysql", "sqlite")  # read through an engine of their own
                return watch(self.inner.__enter__()) if pinned else self.inner.__enter__()

            def __exit__(self, *exc):
                return self.inner.__exit__(*exc)

        return Watched()

    monkeypatch.setattr(pipeline, "one_snapshot", watched_snapshot)
    added = []

    def progress(stage: str, detail: str) -> None:
        if stage == "measure" and not added:  # the schema is read; no row has been counted yet
            _add_customers(shop_source, CUSTOMERS_ADDED)
            added.append(True)

    target = server.create_database(f"snap_target_{server.__class__.__name__.lower()}")
    result = pipeline.run(pipeline.RunOptions(source=shop_source, target=target, epsilon=50.0, seed=1),
                          progress=progress)
    assert added
    assert result.rows["customer"] < CUSTOMERS + CUSTOMERS_ADDED / 2, (
        f"{result.rows['customer']} customers: the run counted rows committed after it began")
    twice = [s[:120] for (s, _), n in statements.items() if n > 1]
    assert statements and not twice, f"the same count asked again: {twice}"


def test_a_sqlite_file_in_a_rollback_journal_is_never_locked(tmp_path):
    """Its snapshot would be a read lock held through the measurement, every writer of a live
    application's file refused meanwhile: such a file is read as it is."""
    dsn = f"sqlite:///{tmp_path / 'live.db'}"
    shop.build(dsn, customers=20)
    _journal(dsn, "delete")
    engine = source_engine(dsn)
    try:
        with one_snapshot(engine) as reader:
            with reader.connect() as conn:
                before = _customers(conn)
            _add_customers(dsn, 1)  # "database is locked" under a held read transaction
            with reader.connect() as conn:
                assert _customers(conn) == before + 1
    finally:
        engine.dispose()
