"""write: the target gets exactly the source's DDL and the given rows, all or nothing.

Each test copies real source rows into a SyntheticDatabase (a writer test needs rows that fit the
schema, not synthetic ones), writes them into a fresh database on a real server, and inspects
the result with SQL. Failures are provoked with bad data and with SIGKILL before the commit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from dbsynth.connect import engine_kind, source_engine, target_engine
from dbsynth.errors import TargetNotEmpty, UnsupportedSchema, WriteFailed
from dbsynth.schema.introspect import introspect
from dbsynth.schema.model import Schema
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable
from dbsynth.write import PAUSE_ENV, PAUSE_MARKER, schema_diff, translate_metadata, write_database
from dbsynth.write.mysql import STAGE_SUFFIX, TRASH_SUFFIX, is_aux_database

REPO = Path(__file__).resolve().parents[1]
LEDGER = {"epsilon": 1.0, "delta": 1e-9, "events": [{"mechanism": "gaussian", "rho": 0.01}]}
PASSWORD = "s3cret-pw"  # the fixtures' servers use it: it must never reach a message

# A PostgreSQL schema with what chinook and northwind lack: identity ALWAYS, serial, enums (one
# unused), a domain, a standalone sequence, casts in CHECKs, comments, defaults, partial, expression and
# DESC indexes, ON DELETE actions, an FK cycle (dept <-> person) and a self-reference.
RICH_PG = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE unused_kind AS ENUM ('x', 'y');
CREATE SEQUENCE standalone_seq START 100;
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE dept (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name varchar(40) NOT NULL UNIQUE,
  rank posint,
  head_id integer,
  budget numeric(12,2) DEFAULT 0 CHECK (budget >= 0::numeric),
  created timestamp with time zone NOT NULL DEFAULT now()
);
COMMENT ON TABLE dept IS 'departments';
COMMENT ON COLUMN dept.name IS 'the name';
CREATE TABLE person (
  id serial PRIMARY KEY,
  dept_id integer NOT NULL REFERENCES dept(id) ON DELETE CASCADE,
  manager_id integer REFERENCES person(id) ON DELETE SET NULL,
  email varchar(80) NOT NULL,
  status varchar(10) NOT NULL DEFAULT 'active'::character varying
    CONSTRAINT person_status_check CHECK (status::text = ANY (ARRAY['active'::varchar, 'left'::varchar]::text[])),
  feeling mood DEFAULT 'ok',
  salary double precision CONSTRAINT person_salary_check CHECK (salary > 0),
  is_admin boolean NOT NULL DEFAULT false,
  born date,
  notes text,
  CONSTRAINT person_email_dept UNIQUE (dept_id, email)
);
ALTER TABLE dept ADD CONSTRAINT dept_head_fk FOREIGN KEY (head_id) REFERENCES person(id) ON DELETE SET NULL;
CREATE INDEX person_lower_email ON person (lower(email));
CREATE INDEX person_born_idx ON person (born DESC);
CREATE UNIQUE INDEX person_admin_one ON person (dept_id) WHERE is_admin;
CREATE TABLE tag (
  person_id integer REFERENCES person(id),
  label varchar(20),
  weight smallint DEFAULT 1,
  PRIMARY KEY (person_id, label)
);
"""

# a -> b (nullable), b -> a, a -> a: no insertion order satisfies these rows with FKs enforced.
CYCLE_DDL = [
    "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER, parent_id INTEGER, note VARCHAR(20))",
    "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL)",
    "ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b (id)",
    "ALTER TABLE a ADD CONSTRAINT a_parent_fk FOREIGN KEY (parent_id) REFERENCES a (id)",
    "ALTER TABLE b ADD CONSTRAINT b_a_fk FOREIGN KEY (a_id) REFERENCES a (id)",
]
CYCLE_DDL_SQLITE = [
    "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER, parent_id INTEGER, note VARCHAR(20),"
    " CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b (id),"
    " CONSTRAINT a_parent_fk FOREIGN KEY (parent_id) REFERENCES a (id))",
    "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL,"
    " CONSTRAINT b_a_fk FOREIGN KEY (a_id) REFERENCES a (id))",
]
CYCLE_DATA = {
    "a": {"id": [1, 2, 3], "b_id": [2, None, 1], "parent_id": [3, 1, None], "note": ["x", None, "z"]},
    "b": {"id": [1, 2], "a_id": [3, 1]},
}


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def engines() -> Iterator[list[sa.Engine]]:
    """Engines a test opens, disposed at its end (open connections would block the servers' DROPs)."""
    opened: list[sa.Engine] = []
    yield opened
    for engine in opened:
        engine.dispose()


def open_target(engines: list[sa.Engine], dsn: str) -> sa.Engine:
    engine = target_engine(dsn)
    engines.append(engine)
    return engine


def open_source(engines: list[sa.Engine], dsn: str) -> sa.Engine:
    engine = source_engine(dsn)
    engines.append(engine)
    return engine


def copy_rows(source: sa.Engine, schema: Schema) -> SyntheticDatabase:
    """The source's rows as a SyntheticDatabase (column-major, Python values)."""
    data = SyntheticDatabase()
    with source.connect() as conn:
        for name in schema.tables:
            table = schema.metadata.tables[name]
            rows = conn.execute(sa.select(table)).all()
            columns = {c.name: [r[i] for r in rows] for i, c in enumerate(table.columns)}
            data.tables[name] = SyntheticTable(name, columns)
    return data


def _norm(value: Any) -> Any:
    """Values as comparable across engines (NUMERIC comes back as float from SQLite, etc.)."""
    if isinstance(value, (Decimal, float)):
        return round(float(value), 4)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(value, bool):
        return int(value)
    return value


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the target (its default schema / database) with all its rows, sorted."""
    insp = sa.inspect(engine)
    out: dict[str, list[tuple[Any, ...]]] = {}
    md = sa.MetaData()
    with engine.connect() as conn:
        for name in sorted(insp.get_table_names()):
            table = sa.Table(name, md, autoload_with=conn)
            rows = conn.execute(sa.select(table)).all()
            out[name] = sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)
    return out


def assert_rows_equal(target: sa.Engine, metadata: sa.MetaData, data: SyntheticDatabase) -> None:
    with target.connect() as conn:
        for name, table in data.tables.items():
            cols = list(table.columns)
            got = conn.execute(sa.select(*(metadata.tables[name].c[c] for c in cols))).all()
            want = table.rows(cols)
            assert sorted((tuple(map(_norm, r)) for r in got), key=repr) == sorted(
                (tuple(map(_norm, r)) for r in want), key=repr
            ), name


def ledger_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT id, created_at, epsilon, delta, ledger FROM _dbsynth_ledger").all()


def execute_script(engine: sa.Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def maria_databases(maria_server, engines: list[sa.Engine]) -> set[str]:
    engine = sa.create_engine(maria_server.dsn(""))
    engines.append(engine)
    with engine.connect() as conn:
        return set(conn.exec_driver_sql("SHOW DATABASES").scalars())


def aux_databases(db: str, names: set[str]) -> list[str]:
    """The stage and trash databases of any run into `db` among `names`."""
    return sorted(n for n in names if is_aux_database(n, db, STAGE_SUFFIX) or is_aux_database(n, db, TRASH_SUFFIX))


def duplicate_first_row(data: SyntheticDatabase, table: str) -> SyntheticDatabase:
    """The same data with `table`'s first row twice: a primary key violation."""
    bad = SyntheticDatabase(dict(data.tables))
    cols = data.tables[table].columns
    bad.tables[table] = SyntheticTable(table, {c: v + v[:1] for c, v in cols.items()})
    return bad


def drop_last_rows(data: SyntheticDatabase, table: str, n: int) -> SyntheticDatabase:
    """Different but valid data: `table` (a leaf: nothing refers to it) without its last n rows."""
    out = SyntheticDatabase(dict(data.tables))
    out.tables[table] = SyntheticTable(table, {c: v[:-n] for c, v in data.tables[table].columns.items()})
    return out


def assert_one_clean_line(message: str, *fragments: str) -> None:
    assert "\n" not in message
    assert PASSWORD not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# Chinook's leaf table (nothing refers to it) and its primary key's name, per engine.
CHINOOK = {
    "chinook_pg": ("invoice_line", "invoice_line_pkey", "new_pg_db"),
    "chinook_maria": ("InvoiceLine", "PRIMARY", "new_maria_db"),
    "chinook_sqlite": ("InvoiceLine", "InvoiceLine.InvoiceLineId", "new_sqlite_path"),
}


# -- same-engine copies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source_fixture, new_db",
    [
        ("chinook_pg", "new_pg_db"),
        ("chinook_maria", "new_maria_db"),
        ("chinook_sqlite", "new_sqlite_path"),
        ("northwind_pg", "new_pg_db"),
    ],
)
def test_copy_has_the_same_tables_rows_and_ddl(source_fixture, new_db, request, engines):
    source = open_source(engines, request.getfixturevalue(source_fixture))
    schema = introspect(source)
    data = copy_rows(source, schema)
    target = open_target(engines, request.getfixturevalue(new_db)())
    calls: list[tuple[str, int, int]] = []

    write_database(target, schema, data, ledger=LEDGER, progress=lambda *a: calls.append(a))

    kind = engine_kind(target)
    metadata = translate_metadata(schema, kind)
    assert set(sa.inspect(target).get_table_names()) == set(schema.tables) | {"_dbsynth_ledger"}
    assert_rows_equal(target, metadata, data)
    assert schema_diff(target, metadata) == []
    [(row_id, created, eps, delta, text)] = ledger_rows(target)
    assert (row_id, eps, delta) == (1, 1.0, 1e-9) and json.loads(text) == LEDGER and created.startswith("20")
    finals = {t: (done, total) for t, done, total in calls}
    assert finals == {n: (t.n_rows, t.n_rows) for n, t in data.tables.items()}


def test_schema_diff_sees_a_missing_index(chinook_pg, new_pg_db, engines):
    """schema_diff == [] above means something: a dropped index is reported."""
    source = open_source(engines, chinook_pg)
    schema = introspect(source)
    target = open_target(engines, new_pg_db())
    write_database(target, schema, SyntheticDatabase(), ledger=LEDGER)
    execute_script(target, ["DROP INDEX track_genre_id_idx"])
    diffs = schema_diff(target, translate_metadata(schema, "postgresql"))
    assert [d[0] for d in diffs] == ["add_index"] and diffs[0][1].name == "track_genre_id_idx"


def test_postgres_objects_beyond_tables_are_copied_exactly(new_pg_db, engines):
    source_dsn = new_pg_db()
    execute_script(open_target(engines, source_dsn), [RICH_PG])
    source = open_source(engines, source_dsn)
    schema = introspect(source)
    target = open_target(engines, new_pg_db())
    data = _rich_rows()

    write_database(target, schema, data, ledger=LEDGER)

    metadata = translate_metadata(schema, "postgresql")
    assert metadata.info["dropped"] == []
    assert schema_diff(target, metadata) == []
    assert_rows_equal(target, metadata, data)
    with target.connect() as conn:
        types = conn.exec_driver_sql("SELECT typname FROM pg_type WHERE typtype = 'e' ORDER BY 1").scalars().all()
        domains = conn.exec_driver_sql(
            "SELECT typname FROM pg_type WHERE typtype = 'd' AND typnamespace = 'public'::regnamespace"
        ).scalars().all()
        seqs = conn.exec_driver_sql("SELECT relname FROM pg_class WHERE relkind = 'S' ORDER BY 1").scalars().all()
        indexes = dict(
            conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'person'").all()
        )
        comment = conn.exec_driver_sql("SELECT obj_description('dept'::regclass)").scalar()
        owner = conn.exec_driver_sql("SELECT pg_get_serial_sequence('person', 'id')").scalar()
    assert types == ["mood", "unused_kind"]
    assert domains == ["posint"]
    assert seqs == ["dept_id_seq", "person_id_seq", "standalone_seq"]
    assert "WHERE is_admin" in indexes["person_admin_one"] and "lower" in indexes["person_lower_email"]
    assert comment == "departments" and owner == "public.person_id_seq"

    # Replacing drops the old enums, domain and sequences with the tables, or recreating them would fail.
    write_database(target, schema, data, ledger=LEDGER, replace=True)
    assert schema_diff(target, metadata) == []


def _rich_rows() -> SyntheticDatabase:
    # +02:00: a column without time zone on the target must get the UTC time, 01:04:05.
    # Microseconds: MySQL's DATETIME keeps them only when declared DATETIME(6).
    created = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    return SyntheticDatabase(
        {
            "dept": SyntheticTable(
                "dept",
                {"id": [1, 7], "name": ["eng", "ops"], "rank": [1, None], "head_id": [3, 2],
                 "budget": [Decimal("10.50"), Decimal(0)],
                 "created": [created, created]},
            ),
            "person": SyntheticTable(
                "person",
                {"id": [2, 3, 11], "dept_id": [1, 7, 7], "manager_id": [3, None, 2], "email": ["a@x", "b@x", "c@x"],
                 "status": ["active", "left", "active"], "feeling": ["happy", None, "sad"],
                 "salary": [10.5, None, 3.0], "is_admin": [True, False, False],
                 "born": [dt.date(1990, 1, 1), None, None], "notes": ["n", None, "é"]},
            ),
            "tag": SyntheticTable("tag", {"person_id": [2, 11], "label": ["x", "y"], "weight": [2, 1]}),
        }
    )


# -- refusing, replacing, failing -----------------------------------------------------------------


@pytest.mark.parametrize("source_fixture", list(CHINOOK))
def test_non_empty_target_is_refused_replaced_and_never_half_written(source_fixture, request, engines):
    leaf, pk_name, new_db = CHINOOK[source_fixture]
    source = open_source(engines, request.getfixturevalue(source_fixture))
    schema = introspect(source)
    data = copy_rows(source, schema)
    target = open_target(engines, request.getfixturevalue(new_db)())
    write_database(target, schema, data, ledger=LEDGER)
    first = snapshot(target)

    with pytest.raises(TargetNotEmpty) as refused:
        write_database(target, schema, data, ledger=LEDGER)
    assert_one_clean_line(refused.value.message, "is not empty (12 tables", "--replace")
    assert snapshot(target) == first

    smaller = drop_last_rows(data, leaf, 5)
    write_database(target, schema, smaller, ledger={**LEDGER, "epsilon": 2.0}, replace=True)
    second = snapshot(target)
    assert len(second[leaf]) == len(first[leaf]) - 5
    assert [r[2] for r in ledger_rows(target)] == [2.0]

    with pytest.raises(WriteFailed) as failed:
        write_database(target, schema, duplicate_first_row(data, leaf), ledger=LEDGER, replace=True)
    assert_one_clean_line(failed.value.message, leaf, pk_name, "left as it was")
    assert snapshot(target) == second

    empty = open_target(engines, request.getfixturevalue(new_db)())
    with pytest.raises(WriteFailed):
        write_database(empty, schema, duplicate_first_row(data, leaf), ledger=LEDGER)
    assert snapshot(empty) == {}


def test_check_violation_names_table_and_constraint(new_pg_db, new_maria_db, new_sqlite_path, engines):
    source_dsn = new_pg_db()
    execute_script(open_target(engines, source_dsn), [RICH_PG])
    schema = introspect(open_source(engines, source_dsn))
    bad = _rich_rows()
    bad.tables["person"].columns["salary"][0] = -1.0
    for dsn in (new_pg_db(), new_maria_db(), new_sqlite_path()):
        target = open_target(engines, dsn)
        with pytest.raises(WriteFailed) as failed:
            write_database(target, schema, bad, ledger=LEDGER)
        assert_one_clean_line(failed.value.message, "person", "person_salary_check")
        assert snapshot(target) == {}


def test_dangling_foreign_key_is_a_write_failure(new_pg_db, new_maria_db, new_sqlite_path, engines):
    """Rows load with foreign keys off (MariaDB, SQLite) or absent (PostgreSQL): checked after."""
    for dsn, ddl in ((new_pg_db(), CYCLE_DDL), (new_maria_db(), CYCLE_DDL), (new_sqlite_path(), CYCLE_DDL_SQLITE)):
        execute_script(open_target(engines, dsn), ddl)
        schema = introspect(open_source(engines, dsn))
        data = SyntheticDatabase(
            {n: SyntheticTable(n, {c: list(v) for c, v in cols.items()}) for n, cols in CYCLE_DATA.items()}
        )
        data.tables["b"].columns["a_id"][0] = 99
        target = open_target(engines, new_db_like(dsn, new_pg_db, new_maria_db, new_sqlite_path))
        with pytest.raises(WriteFailed) as failed:
            write_database(target, schema, data, ledger=LEDGER)
        assert_one_clean_line(failed.value.message, "table b", "b_a_fk")
        assert snapshot(target) == {}


def new_db_like(dsn: str, new_pg_db, new_maria_db, new_sqlite_path) -> str:
    kind = engine_kind(make_url(dsn))
    return {"postgresql": new_pg_db, "mysql": new_maria_db, "sqlite": new_sqlite_path}[kind]()


# -- cycles, sequences, cross-engine ---------------------------------------------------------------


@pytest.mark.parametrize("new_db", ["new_pg_db", "new_maria_db", "new_sqlite_path"])
def test_fk_cycle_and_self_reference_load_and_are_enforced_after(new_db, request, engines):
    factory = request.getfixturevalue(new_db)
    source_dsn = factory()
    execute_script(open_target(engines, source_dsn), CYCLE_DDL_SQLITE if new_db == "new_sqlite_path" else CYCLE_DDL)
    schema = introspect(open_source(engines, source_dsn))
    assert schema.cycles() == [["a", "b"]]
    data = SyntheticDatabase({n: SyntheticTable(n, dict(cols)) for n, cols in CYCLE_DATA.items()})
    target = open_target(engines, factory())

    write_database(target, schema, data, ledger=LEDGER)

    metadata = translate_metadata(schema, engine_kind(target))
    assert_rows_equal(target, metadata, data)
    assert schema_diff(target, metadata) == []
    with target.connect() as conn:
        if new_db == "new_sqlite_path":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        if new_db == "new_maria_db":
            # Built in the stage and renamed in: InnoDB must have re-pointed the keys at the target.
            elsewhere = conn.exec_driver_sql(
                "SELECT CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE "
                "WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_SCHEMA <> DATABASE()"
            ).all()
            assert elsewhere == []
        with pytest.raises(sa.exc.IntegrityError):
            conn.exec_driver_sql("INSERT INTO a (id, parent_id) VALUES (50, 49)")
            conn.commit()


@pytest.mark.parametrize("new_db", ["new_pg_db", "new_maria_db"])
def test_sqlite_rowid_keys_become_identities_elsewhere(new_db, new_sqlite_path, request, engines):
    """`id INTEGER PRIMARY KEY` (no NOT NULL: SQLite allows it) numbers itself; so must the copy."""
    source_dsn = new_sqlite_path()
    execute_script(open_target(engines, source_dsn), CYCLE_DDL_SQLITE)
    schema = introspect(open_source(engines, source_dsn))
    data = SyntheticDatabase({n: SyntheticTable(n, dict(cols)) for n, cols in CYCLE_DATA.items()})
    target = open_target(engines, request.getfixturevalue(new_db)())

    write_database(target, schema, data, ledger=LEDGER)

    metadata = translate_metadata(schema, engine_kind(target))
    assert_rows_equal(target, metadata, data)
    assert schema_diff(target, metadata) == []
    with target.begin() as conn:
        conn.execute(metadata.tables["b"].insert(), {"a_id": 1})
        assert conn.execute(sa.select(sa.func.max(metadata.tables["b"].c.id))).scalar() == 3


def test_sequences_and_identities_continue_past_the_max_key_postgres(new_pg_db, engines):
    source_dsn = new_pg_db()
    execute_script(open_target(engines, source_dsn), [
        "CREATE TABLE s_always (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)",
        "CREATE TABLE s_default (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text)",
        'CREATE TABLE "S_serial" ("Id" serial PRIMARY KEY, v text)',
        "CREATE TABLE s_empty (id serial PRIMARY KEY, v text)",
        "CREATE TABLE s_zero (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text)",
    ])
    schema = introspect(open_source(engines, source_dsn))
    keys = {"id": [5, 9, 2], "v": ["a", "b", "c"]}
    data = SyntheticDatabase({
        "s_always": SyntheticTable("s_always", dict(keys)),
        "s_default": SyntheticTable("s_default", dict(keys)),
        "S_serial": SyntheticTable("S_serial", {"Id": keys["id"], "v": keys["v"]}),
        # Below the identity's MINVALUE 1: setval would refuse 0; the sequence starts above it anyway.
        "s_zero": SyntheticTable("s_zero", {"id": [0], "v": ["a"]}),
    })
    target = open_target(engines, new_pg_db())
    write_database(target, schema, data, ledger=LEDGER)
    with target.begin() as conn:
        got = [conn.exec_driver_sql(f"INSERT INTO {t} (v) VALUES ('new') RETURNING {k}").scalar()
               for t, k in (("s_always", "id"), ("s_default", "id"), ('"S_serial"', '"Id"'), ("s_empty", "id"),
                            ("s_zero", "id"))]
    assert got == [10, 10, 10, 1, 1]


def test_auto_increment_continues_past_the_max_key_mariadb(new_maria_db, engines):
    source_dsn = new_maria_db()
    execute_script(open_target(engines, source_dsn), [
        "CREATE TABLE s (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))",
        "CREATE TABLE zero (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))",
    ])
    schema = introspect(open_source(engines, source_dsn))
    data = SyntheticDatabase({
        "s": SyntheticTable("s", {"id": [5, 9, 2], "v": ["a", "b", "c"]}),
        # An explicit 0 key must stay 0, not be replaced by the next counter value.
        "zero": SyntheticTable("zero", {"id": [0, 1], "v": ["a", "b"]}),
    })
    target = open_target(engines, new_maria_db())
    write_database(target, schema, data, ledger=LEDGER)
    with target.begin() as conn:
        conn.exec_driver_sql("INSERT INTO s (v) VALUES ('new')")
        assert conn.exec_driver_sql("SELECT max(id) FROM s").scalar() == 10
        assert conn.exec_driver_sql("SELECT id FROM zero ORDER BY id").scalars().all() == [0, 1]
    assert schema_diff(target, translate_metadata(schema, "mysql")) == []


def test_sqlite_autoincrement_counter_continues_past_the_max_key(new_sqlite_path, engines):
    md = sa.MetaData()
    sa.Table("s", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.String(10)),
             sqlite_autoincrement=True)
    schema = Schema(dialect="sqlite", tables={}, metadata=md)
    data = SyntheticDatabase({"s": SyntheticTable("s", {"id": [5, 9, 2], "v": ["a", "b", "c"]})})
    target = open_target(engines, new_sqlite_path())
    write_database(target, schema, data, ledger=LEDGER)
    with target.begin() as conn:
        assert conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 's'").scalar() == 9
        conn.exec_driver_sql("DELETE FROM s WHERE id = 9")  # AUTOINCREMENT never reuses a key
        conn.exec_driver_sql("INSERT INTO s (v) VALUES ('new')")
        assert conn.exec_driver_sql("SELECT max(id) FROM s").scalar() == 10


@pytest.mark.parametrize(
    "source_fixture, new_db",
    [
        ("chinook_pg", "new_sqlite_path"),
        ("chinook_pg", "new_maria_db"),
        ("chinook_maria", "new_pg_db"),
        ("chinook_sqlite", "new_pg_db"),
        ("chinook_sqlite", "new_maria_db"),
    ],
)
def test_chinook_moves_to_another_engine(source_fixture, new_db, request, engines):
    source = open_source(engines, request.getfixturevalue(source_fixture))
    schema = introspect(source)
    data = copy_rows(source, schema)
    target = open_target(engines, request.getfixturevalue(new_db)())

    write_database(target, schema, data, ledger=LEDGER)

    metadata = translate_metadata(schema, engine_kind(target))
    assert metadata.info["dropped"] == []
    assert_rows_equal(target, metadata, data)
    assert schema_diff(target, metadata) == []
    if source_fixture == "chinook_sqlite":
        # SQLite's INTEGER PRIMARY KEY numbers itself; the target's identity / AUTO_INCREMENT must too.
        with target.begin() as conn:
            conn.execute(metadata.tables["Genre"].insert(), {"Name": "new"})
            genre = metadata.tables["Genre"]
            count, top = conn.execute(sa.select(sa.func.count(), sa.func.max(genre.c.GenreId))).one()
        assert (count, top) == (26, 26)


@pytest.mark.parametrize("new_db, kind", [("new_sqlite_path", "sqlite"), ("new_maria_db", "mysql")])
def test_postgres_specifics_are_translated_or_listed_when_moving_engines(new_db, kind, new_pg_db, request, engines):
    source_dsn = new_pg_db()
    execute_script(open_target(engines, source_dsn), [RICH_PG])
    schema = introspect(open_source(engines, source_dsn))
    target = open_target(engines, request.getfixturevalue(new_db)())
    data = _rich_rows()

    write_database(target, schema, data, ledger=LEDGER)

    metadata = translate_metadata(schema, kind)
    assert sorted(metadata.info["dropped"]) == [
        "dept.rank: CHECK of domain posint (VALUE > 0)",
        "person: index person_admin_one (expression or partial index)",
        "person: index person_lower_email (expression or partial index)",
    ]
    assert_rows_equal(target, metadata, data)
    assert schema_diff(target, metadata) == []
    checks = [
        str(c.sqltext) for t in metadata.tables.values() for c in t.constraints if isinstance(c, sa.CheckConstraint)
    ]
    assert checks and not any("::" in c or "ANY" in c for c in checks)
    with target.begin() as conn:  # the translated CHECK still bites, and the enum's labels are kept
        # (pymysql raises MariaDB's CHECK failure, error 4025, as OperationalError)
        with pytest.raises(sa.exc.DBAPIError, match="person_status_check|CHECK constraint failed"):
            conn.exec_driver_sql("INSERT INTO person (id, dept_id, email, status) VALUES (99, 1, 'q', 'gone')")
    with target.begin() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.exec_driver_sql("INSERT INTO person (id, dept_id, email, feeling) VALUES (98, 1, 'q', 'angry')")


MARIA_SPECIFICS = [
    "CREATE TABLE dept (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE COMMENT 'the name',"
    " created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),"
    " kind ENUM('a', 'b') DEFAULT 'a', flag TINYINT(1) DEFAULT 1, big BIGINT UNSIGNED, body LONGTEXT,"
    " CONSTRAINT name_len CHECK (char_length(`name`) > 1)) COMMENT 'departments'",
    "CREATE TABLE person (id INT AUTO_INCREMENT PRIMARY KEY, dept_id INT NOT NULL, email VARCHAR(80) NOT NULL,"
    " CONSTRAINT person_dept FOREIGN KEY (dept_id) REFERENCES dept (id) ON DELETE CASCADE,"
    " KEY person_email (email(10)))",
]


@pytest.mark.parametrize("new_db", ["new_pg_db", "new_sqlite_path"])
def test_mariadb_specifics_are_translated_or_listed_when_moving_engines(new_db, new_maria_db, request, engines):
    source_dsn = new_maria_db()
    execute_script(open_target(engines, source_dsn), MARIA_SPECIFICS)
    schema = introspect(open_source(engines, source_dsn))
    now = dt.datetime(2024, 5, 6, 7, 8, 9, 250000)
    data = SyntheticDatabase({
        "dept": SyntheticTable("dept", {"id": [1, 2], "name": ["eng", "ops"], "created": [now, now], "kind": ["a", "b"],
                                        "flag": [1, 0], "big": [2**40, None], "body": ["x" * 70000, None]}),
        "person": SyntheticTable("person", {"id": [4], "dept_id": [2], "email": ["a@x"]}),
    })
    target = open_target(engines, request.getfixturevalue(new_db)())

    write_database(target, schema, data, ledger=LEDGER)

    metadata = translate_metadata(schema, engine_kind(target))
    assert metadata.info["dropped"] == ["dept.created: ON UPDATE current_timestamp(6)"]
    assert_rows_equal(target, metadata, data)
    assert schema_diff(target, metadata) == []
    with target.begin() as conn, pytest.raises(sa.exc.IntegrityError, match="name_len"):
        conn.execute(metadata.tables["dept"].insert(), {"id": 3, "name": "x"})  # char_length -> length on SQLite


def test_a_type_with_no_equivalent_is_refused_naming_the_column():
    md = sa.MetaData()
    sa.Table("host", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("addr", postgresql.INET))
    schema = Schema(dialect="postgresql", tables={}, metadata=md)
    with pytest.raises(UnsupportedSchema, match=r"host\.addr: type INET"):
        translate_metadata(schema, "sqlite")
    assert "addr" in translate_metadata(schema, "postgresql").tables["host"].c


# -- kill -9 before the commit ----------------------------------------------------------------------

_KILLED_WRITER = """
import sys
from dbsynth.connect import source_engine, target_engine
from dbsynth.schema.introspect import introspect
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable
from dbsynth.write import write_database
import sqlalchemy as sa
source, target, replace = source_engine(sys.argv[1]), target_engine(sys.argv[2]), sys.argv[3] == "1"
schema = introspect(source)
data = SyntheticDatabase()
with source.connect() as conn:
    for name in schema.tables:
        t = schema.metadata.tables[name]
        rows = conn.execute(sa.select(t)).all()
        data.tables[name] = SyntheticTable(name, {c.name: [r[i] for r in rows] for i, c in enumerate(t.columns)})
write_database(target, schema, data, ledger={"epsilon": 1.0, "delta": 1e-9}, replace=replace)
print("committed")
"""


def write_and_kill_before_commit(source_dsn: str, target_dsn: str, replace: bool = False) -> None:
    """Run a writer in a subprocess, SIGKILL it once it says it is about to commit."""
    env = {**os.environ, PAUSE_ENV: "60", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, source_dsn, target_dsn, "1" if replace else "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )
    lines: list[str] = []
    paused = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.strip() == PAUSE_MARKER:
                paused.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert paused.wait(120), "writer never paused:\n" + "".join(lines)[-3000:]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(10)
        proc.stderr.close()


def pg_leftovers(engine: sa.Engine) -> list[str]:
    """Relations and types (tables, sequences, enums) in the public schema."""
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
            "UNION ALL SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')"
        ).scalars().all()


@pytest.mark.parametrize("source_fixture", list(CHINOOK))
def test_killed_writer_leaves_an_empty_target_empty(source_fixture, request, engines):
    new_db = CHINOOK[source_fixture][2]
    target_dsn = request.getfixturevalue(new_db)()
    write_and_kill_before_commit(request.getfixturevalue(source_fixture), target_dsn)
    target = open_target(engines, target_dsn)
    assert snapshot(target) == {}
    if new_db == "new_pg_db":
        assert pg_leftovers(target) == []


def test_killed_writer_leaves_no_postgres_types_or_sequences(new_pg_db, engines):
    source_dsn = new_pg_db()
    execute_script(open_target(engines, source_dsn), [RICH_PG])
    target_dsn = new_pg_db()
    write_and_kill_before_commit(source_dsn, target_dsn)
    assert pg_leftovers(open_target(engines, target_dsn)) == []


def test_killed_mariadb_writer_leaves_its_stage_which_the_next_run_removes(
    chinook_maria, new_maria_db, maria_server, engines
):
    target_dsn = new_maria_db()
    db = make_url(target_dsn).database
    write_and_kill_before_commit(chinook_maria, target_dsn)
    # killed at the right moment: its own stage, named for its run, is there
    assert [n for n in maria_databases(maria_server, engines) if is_aux_database(n, db, STAGE_SUFFIX)]
    target = open_target(engines, target_dsn)
    assert snapshot(target) == {}

    source = open_source(engines, chinook_maria)
    schema = introspect(source)
    write_database(target, schema, copy_rows(source, schema), ledger=LEDGER)
    assert len(snapshot(target)) == 12
    assert aux_databases(db, maria_databases(maria_server, engines)) == []


@pytest.mark.parametrize("source_fixture", ["chinook_pg", "chinook_maria"])
def test_killed_replace_keeps_the_old_target(source_fixture, request, engines):
    leaf, _pk, new_db = CHINOOK[source_fixture]
    source = open_source(engines, request.getfixturevalue(source_fixture))
    schema = introspect(source)
    target_dsn = request.getfixturevalue(new_db)()
    target = open_target(engines, target_dsn)
    write_database(target, schema, drop_last_rows(copy_rows(source, schema), leaf, 100), ledger=LEDGER)
    before = snapshot(target)
    target.dispose()  # the killed writer's DROPs must not wait on our idle connections

    write_and_kill_before_commit(request.getfixturevalue(source_fixture), target_dsn, replace=True)
    assert snapshot(target) == before

    write_database(target, schema, copy_rows(source, schema), ledger=LEDGER, replace=True)
    assert len(snapshot(target)[leaf]) == len(before[leaf]) + 100
    if source_fixture == "chinook_maria":
        db = make_url(target_dsn).database
        left = maria_databases(request.getfixturevalue("maria_server"), engines)
        assert aux_databases(db, left) == []
