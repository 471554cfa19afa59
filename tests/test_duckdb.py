"""DuckDB as a source and as a target (issue 17), on real DuckDB files.

- the measure stage's pushed-down SQL counts in DuckDB exactly what in-memory counting counts
  (Chinook, caps that bite), and spells every key as `units.key_text` does;
- removing one unit changes every pushed-down statistic by at most its declared Δ;
- a Chinook run from a DuckDB source into DuckDB, SQLite into DuckDB, and DuckDB with enums,
  CHECKs, an index and a sequence into DuckDB pass `verify`; a filled target is refused, a FK
  cycle is refused before reading, a run killed before its commit leaves the target as it was;
- the source is opened read-only (DuckDB itself refuses writes) and is never the target,
  however its path is spelt.

Chinook is copied from the SQLite file with SQLAlchemy (DuckDB's sqlite extension would be
downloaded, and these machines have no network).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa

pytest.importorskip("duckdb_engine")

from dbsynth.connect import refuse_same_database, source_engine  # noqa: E402
from dbsynth.errors import TargetIsSource  # noqa: E402
from dbsynth.privacy.units import Units  # noqa: E402
from dbsynth.schema.introspect import introspect  # noqa: E402
from tests.conftest import dataset  # noqa: E402
from tests.test_pushdown import check_chinook, check_key_text, setup, sum_where  # noqa: E402

# Chinook's SQLite types as DuckDB spells them (VARCHAR has no length in DuckDB's catalog).
_DUCK_TYPE = {"Integer": "INTEGER", "String": "VARCHAR", "Unicode": "VARCHAR", "Numeric": "DECIMAL({p},{s})",
              "DateTime": "TIMESTAMP",
              "Date": "DATE", "LargeBinary": "BLOB", "Float": "DOUBLE"}


def copy_into_duckdb(sqlite_path: str, duck_path: str) -> None:
    """Every table of a SQLite file, with its keys, NOT NULLs and rows, into a new DuckDB file."""
    src = sa.create_engine(f"sqlite:///{sqlite_path}")
    md = sa.MetaData()
    md.reflect(src)
    duck = sa.create_engine(f"duckdb:///{duck_path}")
    with src.connect() as read, duck.begin() as write:
        for table in md.sorted_tables:  # parents first: DuckDB checks FKs row by row
            parts = []
            for col in table.columns:
                generic = type(col.type.as_generic()).__name__
                spelled = _DUCK_TYPE[generic].format(p=getattr(col.type, "precision", None),
                                                     s=getattr(col.type, "scale", None))
                parts.append(f'"{col.name}" {spelled}{"" if col.nullable else " NOT NULL"}')
            parts.append("PRIMARY KEY (" + ", ".join(f'"{c.name}"' for c in table.primary_key.columns) + ")")
            for fk in table.foreign_key_constraints:
                cols = ", ".join(f'"{c.name}"' for c in fk.columns)
                refs = ", ".join(f'"{e.column.name}"' for e in fk.elements)
                parts.append(f'FOREIGN KEY ({cols}) REFERENCES "{fk.referred_table.name}" ({refs})')
            write.exec_driver_sql(f'CREATE TABLE "{table.name}" ({", ".join(parts)})')
            rows = [dict(r._mapping) for r in read.execute(table.select())]
            target = sa.Table(table.name, sa.MetaData(), *[sa.Column(c.name) for c in table.columns])
            # A self-reference (Employee.ReportsTo) is checked against earlier statements only.
            self_ref = [fk for fk in table.foreign_key_constraints if fk.referred_table is table]
            batches = [[r] for r in rows] if self_ref else [rows]
            for batch in batches:
                if batch:
                    write.execute(target.insert(), batch)
    duck.dispose()


@pytest.fixture(scope="session")
def chinook_duckdb(tmp_path_factory) -> str:
    """DSN of Chinook copied into a DuckDB file (built once per session)."""
    path = tmp_path_factory.mktemp("chinook_duckdb") / "chinook.duckdb"
    copy_into_duckdb(str(dataset("chinook", "Chinook_Sqlite.sqlite")), str(path))
    return f"duckdb:///{path}"


def dbsynth(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


# -- source: the catalog, pushdown equals memory, key text --------------------------------------

def test_duckdb_schema_is_read_from_its_catalog_with_keys_and_constraints(tmp_path):
    """duckdb-engine's own reflection fails under SQLAlchemy 2.1 (pg_catalog queries DuckDB cannot
    answer): every PK, FK, UNIQUE, CHECK, NOT NULL and enum must come from DuckDB's catalog."""
    path = tmp_path / "s.duckdb"
    writer = sa.create_engine(f"duckdb:///{path}")
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        conn.exec_driver_sql("CREATE TABLE p (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, m mood, "
                             "price DECIMAL(10,2) CHECK (price >= 0))")
        conn.exec_driver_sql("CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id), d DATE, "
                             "ts TIMESTAMP, UNIQUE (pid, d))")
    writer.dispose()
    schema = introspect(source_engine(f"duckdb:///{path}"))
    p, c = schema.tables["p"], schema.tables["c"]
    assert schema.dialect == "duckdb" and p.primary_key == ("id",) and c.primary_key == ("id",)
    assert [(fk.columns, fk.ref_table, fk.ref_columns) for fk in c.foreign_keys] == [(("pid",), "p", ("id",))]
    assert [u.columns for u in p.uniques] == [("name",)] and [u.columns for u in c.uniques] == [("pid", "d")]
    assert [ch.sqltext for ch in p.checks] == ["price >= 0"]
    assert not p.column("name").nullable and p.column("m").nullable
    assert p.column("m").enum == "mood" and p.column("m").enum_labels == ("sad", "ok", "happy")
    assert [(e.name, e.labels) for e in schema.enums] == [("mood", ("sad", "ok", "happy"))]
    assert (p.column("price").generic, p.column("price").precision, p.column("price").scale) == ("Numeric", 10, 2)
    assert c.column("ts").generic == "DateTime" and c.column("d").generic == "Date"


def test_pushdown_equals_memory_on_chinook_duckdb(chinook_duckdb, monkeypatch):
    """Marginals summed inside DuckDB (GROUPING SETS over the joint cells, the DuckDB-specific
    path); the tricky-values test below sums them from the joint cells in numpy."""
    sum_where("sql", monkeypatch)
    check_chinook(chinook_duckdb, 3)


KEY_TYPES = {"i": "BIGINT", "s": "VARCHAR", "d": "DECIMAL(10,3)", "day": "DATE", "ts": "TIMESTAMP",
             "t": "TIME", "flag": "BOOLEAN", "raw": "BLOB"}
KEY_ROWS = [
    {"i": -7, "s": "Zoë ", "d": Decimal("-1.500"), "day": dt.date(1969, 7, 20),
     "ts": dt.datetime(2020, 2, 29, 23, 59, 59, 999999), "t": dt.time(0, 0, 0, 120000), "flag": True,
     "raw": b"\x00\xff"},
    {"i": 2**40, "s": "", "d": Decimal("0.001"), "day": dt.date(2000, 1, 1), "ts": dt.datetime(1999, 12, 31),
     "t": dt.time(23, 59, 59), "flag": False, "raw": b""},
]


def test_duckdb_writes_the_key_text_python_writes(tmp_path):
    """The bounding's ranks agree only if DuckDB spells each key as `units.key_text` does."""
    path = tmp_path / "k.duckdb"
    writer = sa.create_engine(f"duckdb:///{path}")
    with writer.begin() as conn:
        cols = ", ".join(f"{c} {t}" for c, t in KEY_TYPES.items())
        conn.exec_driver_sql(f"CREATE TABLE k (n INTEGER NOT NULL PRIMARY KEY, {cols})")
        k = sa.Table("k", sa.MetaData(), sa.Column("n"), *[sa.Column(c) for c in KEY_TYPES])
        conn.execute(k.insert(), [{"n": i, **r} for i, r in enumerate(KEY_ROWS)])
    writer.dispose()
    check_key_text(f"duckdb:///{path}", list(KEY_TYPES), "duckdb")


# -- source: removing one unit changes each statistic by at most its Δ ---------------------------

class DuckDatabase:
    """D or D' in a DuckDB file, read through a read-only engine as `run` reads.

    DuckDB cannot switch foreign-key checks off, and D' has dangling references (rows outside
    the removed unit that pointed into it): the data file is made without FOREIGN KEY clauses,
    and the schema (with them) is introspected from a second, empty file. The statistics SQL is
    built from that schema, never from live constraints. One process cannot hold a file both
    read-only and read-write, so the read-only engine is reopened after each change."""

    def __init__(self, directory, tables, rows):
        from tests.test_removal import ddl

        self.tables, self.rows = tables, rows
        self.path = str(directory / "data.duckdb")
        shape = sa.create_engine(f"duckdb:///{directory / 'schema.duckdb'}")
        with shape.begin() as conn:
            for stmt in ddl(tables, "duckdb"):
                conn.exec_driver_sql(stmt)
        shape.dispose()
        self.schema = introspect(source_engine(f"duckdb:///{directory / 'schema.duckdb'}"))
        writer = sa.create_engine(f"duckdb:///{self.path}")
        with writer.begin() as conn:
            for stmt in ddl([type(t)(t.name, t.pk, t.columns, []) for t in tables], "duckdb"):
                conn.exec_driver_sql(stmt)
        writer.dispose()
        self.md = sa.MetaData()
        for t in self.schema.tables.values():
            sa.Table(t.name, self.md, *[sa.Column(c) for c in t.column_names])
        self.source: sa.Engine | None = None
        self._replace({t.name: rows[t.name] for t in tables})

    def _replace(self, contents) -> None:
        if self.source is not None:
            self.source.dispose()
        writer = sa.create_engine(f"duckdb:///{self.path}")
        with writer.begin() as conn:
            for name, rows in contents.items():
                conn.execute(self.md.tables[name].delete())
                if rows:
                    conn.execute(self.md.tables[name].insert(), rows)
        writer.dispose()
        self.source = source_engine(f"duckdb:///{self.path}")

    def without(self, doomed) -> None:
        self._replace({t: [r for i, r in enumerate(self.rows[t]) if i not in gone] for t, gone in doomed.items()})

    def restore(self, doomed) -> None:
        self._replace({t: self.rows[t] for t in doomed})


def test_removing_one_unit_changes_every_duckdb_statistic_by_at_most_its_declared_delta(tmp_path):
    from tests.test_removal import (CROSS, PER_TABLE, Worst, random_rows, random_schema, remove_and_compare, report,
                                    statistics, trial_encoders, trial_spec)

    rng = np.random.default_rng(20240617)
    worst: dict[str, Worst] = {}
    violations: list[str] = []
    for trial in range(2):
        tables = random_schema(rng)
        rows = random_rows(rng, tables)
        (tmp_path / str(trial)).mkdir()
        db = DuckDatabase(tmp_path / str(trial), tables, rows)
        schema = db.schema
        spec = trial_spec(schema, rng, tmp_path, trial)
        units = Units.from_spec(schema, spec)
        encoders = trial_encoders(db, schema, spec, units, rows)
        secret = bytes(rng.integers(0, 256, 32, dtype=np.uint8))
        before = statistics(db, schema, spec, units, encoders, secret)
        removals = [(t, int(i)) for t in sorted(units.private) for i in rng.permutation(len(rows[t]))[:1]]
        for table, index in removals:
            remove_and_compare(db, schema, spec, units, encoders, secret, rows, before, table, index,
                               f"trial {trial}", worst, violations)
    summary = f"duckdb: worst change / declared Δ per family\n{report(worst)}"
    print(summary)
    assert not violations, "\n  ".join(violations[:10]) + "\n" + summary
    # The bound is approached, so the test can fail (a Δ too small would show here).
    assert max(worst.get(f, Worst()).ratio for f in PER_TABLE) >= 0.5, summary
    assert max(worst.get(f, Worst()).ratio for f in CROSS) >= 0.5, summary


# -- runs: DuckDB source, DuckDB target, verify --------------------------------------------------
# One run goes through the command line; the others call the same pipeline and verify stage in
# this process, which spares each a second start-up (imports, JAX compilation) of ~5-10 s.

def run_in_process(source: str, target: str, epsilon: float = 2.0, **options):
    from dbsynth.pipeline import RunOptions, run

    return run(RunOptions(source, target, epsilon=epsilon, seed=7, **options))


def verify_in_process(source: str, target: str):
    from dbsynth.connect import target_engine
    from dbsynth.verify import VerifyOptions, verify

    src = source_engine(source)
    report = verify(src, target_engine(target), introspect(src), options=VerifyOptions(workload_queries=0))
    assert report.passed() and not report.hard_findings(), report.hard_findings()
    assert report.checks_run > 20  # orphans, keys, NULLs per table and column: really checked
    return report


def test_chinook_from_a_duckdb_source_into_duckdb_passes_verify(chinook_duckdb, tmp_path):
    target = tmp_path / "shadow.duckdb"
    res = dbsynth("run", chinook_duckdb, f"duckdb:///{target}", "--epsilon", "2", "--seed", "7", "--scale", "0.2",
                  "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["rows"]["InvoiceLine"] > 0
    ver = dbsynth("verify", chinook_duckdb, f"duckdb:///{target}", "--json", "--workload", "0")
    report = json.loads(ver.stdout)
    assert ver.returncode == 0 and report["hard_failures"] == 0, report["findings"]
    assert report["checks_run"] > 50
    eng = sa.create_engine(f"duckdb:///{target}")
    with eng.connect() as conn:
        kinds = set(conn.exec_driver_sql("SELECT constraint_type FROM duckdb_constraints() "
                                          "WHERE table_name = 'Employee'").scalars())
        ledger = conn.exec_driver_sql("SELECT epsilon FROM _dbsynth_ledger").scalar()
    eng.dispose()
    assert {"PRIMARY KEY", "FOREIGN KEY", "NOT NULL"} <= kinds and ledger <= 2


SQLITE_SOURCE = """
CREATE TABLE team (id INTEGER PRIMARY KEY, code VARCHAR(8) NOT NULL UNIQUE,
                   tier VARCHAR(4) NOT NULL CHECK (tier IN ('gold', 'tin')));
CREATE TABLE person (id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES team (id),
                     boss_id INTEGER REFERENCES person (id), born DATE, score NUMERIC(6,2) CHECK (score >= 0));
"""


def small_sqlite_source(tmp_path) -> str:
    """Teams and people: a UNIQUE, a CHECK ... IN, NOT NULLs, a self-reference (boss_id)."""
    import sqlite3

    src = tmp_path / "src.sqlite"
    rng = np.random.default_rng(11)
    with sqlite3.connect(src) as db:
        db.executescript(SQLITE_SOURCE)
        db.executemany("INSERT INTO team VALUES (?, ?, ?)", [(i, f"t{i}", ["gold", "tin"][i % 2]) for i in range(30)])
        db.executemany("INSERT INTO person VALUES (?, ?, ?, ?, ?)",
                       [(i, int(rng.integers(0, 30)), None if i < 10 else int(rng.integers(0, i)),
                         str(dt.date(1980, 1, 1) + dt.timedelta(days=int(rng.integers(0, 9000)))),
                         round(float(rng.uniform(0, 100)), 2)) for i in range(400)])
    return f"sqlite:///{src}"


def test_sqlite_into_a_duckdb_target_passes_verify_and_a_filled_target_is_refused(tmp_path):
    from dbsynth.errors import TargetNotEmpty

    source, target = small_sqlite_source(tmp_path), f"duckdb:///{tmp_path / 'shadow.duckdb'}"
    run_in_process(source, target, epsilon=4.0)
    verify_in_process(source, target)
    eng = sa.create_engine(target)
    with eng.connect() as conn:
        kinds = sorted(conn.exec_driver_sql("SELECT constraint_type FROM duckdb_constraints() "
                                            "WHERE table_name = 'team'").scalars())
        selfref = conn.exec_driver_sql("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'person' "
                                       "AND referenced_table = 'person'").scalar()
        tables = conn.exec_driver_sql("SELECT count(*) FROM duckdb_tables()").scalar()
    assert {"CHECK", "UNIQUE", "PRIMARY KEY", "NOT NULL"} <= set(kinds) and selfref == 1
    # filled now: refused (exit 5) before anything is read, and left as it was
    with pytest.raises(TargetNotEmpty) as err:
        run_in_process(source, target)
    assert err.value.exit_code == 5 and "not empty" in str(err.value)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM duckdb_tables()").scalar() == tables
    eng.dispose()
    # --replace: every table dropped (children before their parents) and written again
    run_in_process(source, target, epsilon=4.0, replace=True)
    verify_in_process(source, target)


def test_enums_and_checks_are_cloned_into_a_duckdb_target(tmp_path):
    """A DuckDB source with an enum type, a CHECK and UNIQUE: the shadow has them too."""
    src = tmp_path / "src.duckdb"
    writer = sa.create_engine(f"duckdb:///{src}")
    rng = np.random.default_rng(3)
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        conn.exec_driver_sql("CREATE SEQUENCE person_ids START 1")
        conn.exec_driver_sql("CREATE TABLE person (id INTEGER PRIMARY KEY DEFAULT nextval('person_ids'), "
                             "code VARCHAR NOT NULL UNIQUE, m mood "
                             "NOT NULL, score INTEGER CHECK (score BETWEEN 0 AND 100))")
        conn.exec_driver_sql("CREATE TABLE visit (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL "
                             "REFERENCES person (id), \"at\" DATE)")
        conn.exec_driver_sql('CREATE INDEX "visit at" ON visit ("at", person_id)')
        person = sa.Table("person", sa.MetaData(), *[sa.Column(c) for c in ("id", "code", "m", "score")])
        visit = sa.Table("visit", sa.MetaData(), *[sa.Column(c) for c in ("id", "person_id", "at")])
        conn.execute(person.insert(), [{"id": i, "code": f"c{i}", "m": ["sad", "ok", "happy"][i % 3],
                                        "score": int(rng.integers(0, 101))} for i in range(300)])
        conn.execute(visit.insert(), [{"id": i, "person_id": int(rng.integers(0, 300)),
                                       "at": dt.date(2020, 1, 1) + dt.timedelta(days=int(rng.integers(0, 400)))}
                                      for i in range(900)])
    writer.dispose()
    target = tmp_path / "shadow.duckdb"
    run_in_process(f"duckdb:///{src}", f"duckdb:///{target}", epsilon=4.0)
    verify_in_process(f"duckdb:///{src}", f"duckdb:///{target}")
    eng = sa.create_engine(f"duckdb:///{target}")
    with eng.connect() as conn:
        kinds = sorted(conn.exec_driver_sql("SELECT constraint_type FROM duckdb_constraints() "
                                            "WHERE table_name = 'person'").scalars())
        labels = conn.exec_driver_sql("SELECT labels FROM duckdb_types() WHERE type_name = 'mood'").scalar()
        bad = conn.exec_driver_sql("SELECT count(*) FROM person WHERE score NOT BETWEEN 0 AND 100").scalar()
        index = conn.exec_driver_sql("SELECT sql FROM duckdb_indexes() WHERE table_name = 'visit'").scalar()
    assert {"CHECK", "UNIQUE", "PRIMARY KEY", "NOT NULL"} <= set(kinds)
    assert list(labels) == ["sad", "ok", "happy"] and bad == 0
    assert index is not None and '"visit at"' in index and '"at", person_id' in index
    # the key's sequence numbers past the synthetic keys
    with eng.begin() as conn:
        top = conn.exec_driver_sql("SELECT max(id) FROM person").scalar()
        conn.exec_driver_sql("INSERT INTO person (code, m) VALUES ('brand-new', 'ok')")
        assert conn.exec_driver_sql("SELECT id FROM person WHERE code = 'brand-new'").scalar() > top
    eng.dispose()


def cycle_source(tmp_path) -> str:
    import sqlite3

    src = tmp_path / "cycle.sqlite"
    with sqlite3.connect(src) as db:
        db.executescript(
            "CREATE TABLE dept (id INTEGER PRIMARY KEY, head_id INTEGER REFERENCES emp (id), name VARCHAR(10));"
            "CREATE TABLE emp (id INTEGER PRIMARY KEY, dept_id INTEGER REFERENCES dept (id), n INTEGER);"
            + "".join(f"INSERT INTO dept VALUES ({i}, NULL, 'd{i % 3}');" for i in range(40))
            + "".join(f"INSERT INTO emp VALUES ({i}, {i % 40}, {i % 7});" for i in range(200)))
    return f"sqlite:///{src}"


def test_a_foreign_key_cycle_is_refused_for_a_duckdb_target_and_leaves_no_file(tmp_path):
    """DuckDB cannot create a FK cycle between tables: refused (exit 6) before any row is read,
    and the file the run's look at the target created is removed (what happens at exit)."""
    from dbsynth.errors import UnsupportedSchema
    from dbsynth.write import duckdb_file

    target = tmp_path / "never.duckdb"
    with pytest.raises(UnsupportedSchema) as err:
        run_in_process(cycle_source(tmp_path), f"duckdb:///{target}", epsilon=4.0)
    assert err.value.exit_code == 6 and "cycle" in str(err.value)
    assert str(target) in duckdb_file._CREATED
    duckdb_file.remove_unwritten()
    assert not target.exists() and not (tmp_path / "never.duckdb.wal").exists()


def test_a_duckdb_target_killed_before_commit_is_left_as_it_was(tmp_path):
    """Killed at the last moment before COMMIT (everything created and loaded), the target file
    opens again exactly as it was: empty."""
    import signal

    target = tmp_path / "kill.duckdb"
    made = sa.create_engine(f"duckdb:///{target}")
    made.connect().close()
    made.dispose()  # a pooled connection would hold DuckDB's file lock: the run would wait for it
    env = {**os.environ, "DBSYNTH_PAUSE_BEFORE_COMMIT": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "dbsynth.cli", "run", small_sqlite_source(tmp_path),
                             f"duckdb:///{target}", "--epsilon", "4"], stderr=subprocess.PIPE, text=True, env=env)
    paused = False
    try:
        for line in proc.stderr:  # the pause lasts 120 s: the marker comes well before it ends
            if "paused before commit" in line:
                paused = True
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert paused, "the run ended before it reached its commit"
    eng = sa.create_engine(f"duckdb:///{target}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM duckdb_tables()").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM duckdb_types() WHERE NOT internal "
                                    "AND len(labels) > 0").scalar() == 0
    eng.dispose()


# -- the source is read-only and never the target ----------------------------------------------

def test_the_duckdb_source_refuses_writes_during_a_run(chinook_duckdb, tmp_path, monkeypatch):
    """The engine a run reads through is opened read_only: DuckDB itself refuses a write."""
    import dbsynth.pipeline as pipeline

    refused: list[str] = []
    real_introspect = pipeline.introspect

    def introspect_and_try_to_write(engine):
        for stmt in ('INSERT INTO "Genre" ("GenreId", "Name") VALUES (999, \'x\')', "CREATE TABLE sneaky (a INTEGER)",
                     'DELETE FROM "InvoiceLine"'):
            with engine.connect() as conn:
                try:
                    conn.exec_driver_sql(stmt)
                    conn.commit()
                except sa.exc.DBAPIError as exc:
                    refused.append(str(exc.orig))
        return real_introspect(engine)

    monkeypatch.setattr(pipeline, "introspect", introspect_and_try_to_write)
    with pytest.raises(Exception):  # stop right after: an epsilon too small to certify anything
        pipeline.run(pipeline.RunOptions(chinook_duckdb, f"duckdb:///{tmp_path / 't.duckdb'}", epsilon=1e-12))
    assert len(refused) == 3 and all("read-only" in m for m in refused), refused
    check = sa.create_engine(chinook_duckdb, connect_args={"read_only": True})
    with check.connect() as conn:
        assert conn.exec_driver_sql('SELECT count(*) FROM "InvoiceLine"').scalar() == 2240
        assert conn.exec_driver_sql("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sneaky'").scalar() == 0
    check.dispose()


def test_the_same_duckdb_file_as_source_and_target_is_refused_however_spelt(chinook_duckdb, tmp_path):
    path = chinook_duckdb.removeprefix("duckdb:///")
    link = tmp_path / "alias.duckdb"
    link.symlink_to(path)
    directory, name = os.path.split(path)
    for target in (f"duckdb:///{link}", f"duckdb:///./{name}"):
        with pytest.raises(TargetIsSource):
            cwd = os.getcwd()
            os.chdir(directory)
            try:
                refuse_same_database(chinook_duckdb, target)
            finally:
                os.chdir(cwd)
    refuse_same_database(chinook_duckdb, f"duckdb:///{tmp_path / 'other.duckdb'}")  # another file: fine
    size = os.path.getsize(path)
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        with pytest.raises(TargetIsSource) as err:
            run_in_process(f"duckdb:///{name}", f"duckdb:///{link}", replace=True)
    finally:
        os.chdir(cwd)
    assert err.value.exit_code == 9 and "is the source database" in str(err.value)
    assert os.path.getsize(path) == size


def test_pushdown_equals_memory_on_tricky_duckdb_values(tmp_path, monkeypatch):
    """Case, trailing spaces and non-ASCII keys, microseconds and dates before 1970 in a
    TIMESTAMPTZ (wall time in the UTC session), NULL owners, a keyless owned table, booleans."""
    import tests.test_pushdown as pushdown_tests

    monkeypatch.setitem(pushdown_tests.TIMESTAMP, "duckdb", "TIMESTAMPTZ")
    # `at` is a DuckDB keyword (SQLAlchemy's statements quote it, the hand-written DDL must too)
    monkeypatch.setattr(pushdown_tests, "DDL", pushdown_tests.DDL.replace(" at {ts}", ' "at" {ts}'))
    dsn = f"duckdb:///{tmp_path / 'tricky.duckdb'}"
    pushdown_tests.build_tricky(dsn)
    # its writer engine, unreferenced now, still holds the file read-write until collected (one
    # process cannot also open it read-only)
    import gc

    gc.collect()
    engine, schema, spec, units = setup(dsn, 2, {("visit",): ("person",), ("note",): ("visit",)})
    assert schema.tables["visit"].column("at").generic == "DateTime"
    kept = pushdown_tests.assert_pushdown_matches_memory(engine, schema, spec, units)
    assert 0 < kept["visit"] < 120 and 0 < kept["note"] < 400 and kept["visit"] >= 13
