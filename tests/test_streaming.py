"""Sampling and writing overlap (issue 17): the writer loads each table as the sampler hands it
over, the sampler's error fails the write with the target as it was, and a run's write starts
before its last table is sampled.

Each overlap is forced, not timed: the sampler holds its last table back until the writer has
loaded an earlier one (or a minute has passed, which a writer that waits for every table needs),
so the test fails, rather than hangs, when the writer does not load early.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from dbsynth.connect import engine_kind
from dbsynth.errors import UnsupportedSchema
from dbsynth.schema.introspect import introspect
from dbsynth.synthetic import SamplingStopped, StreamedDatabase, SyntheticTable
from dbsynth.write import translate_metadata, write_database
from test_write import (LEDGER, assert_rows_equal, copy_rows, engines, open_source, open_target,  # noqa: F401 - engines: a fixture
                        snapshot)

WAIT = 60.0  # seconds the held-back table waits for the writer; a writer that loads early needs < 1

SOURCES = [("chinook_pg", "new_pg_db"), ("chinook_maria", "new_maria_db"), ("chinook_sqlite", "new_sqlite_path")]


def _hand_over(stream: StreamedDatabase, tables: list[SyntheticTable], loaded: threading.Event, seen: dict) -> None:
    """The sampler's side: every table but the last, then the last once the writer has loaded one."""
    try:
        for table in tables[:-1]:
            stream.put(table)
        seen["early"] = loaded.wait(WAIT)
        stream.put(tables[-1])
    except BaseException as exc:  # noqa: BLE001 - reaches the writer as the sampler's error
        stream.end(exc)
    else:
        stream.end()


@pytest.mark.parametrize("source_fixture, new_db", SOURCES)
def test_the_writer_loads_each_table_as_it_arrives(source_fixture, new_db, request, engines):
    source = open_source(engines, request.getfixturevalue(source_fixture))
    schema = introspect(source)
    data = copy_rows(source, schema)
    order = [data.tables[n] for n in schema.topological_order()]
    target = open_target(engines, request.getfixturevalue(new_db)())
    stream, loaded, seen = StreamedDatabase(), threading.Event(), {}
    last = order[-1].name

    def progress(table: str, done: int, total: int) -> None:
        if table != last and done == total > 0:
            loaded.set()

    sampler = threading.Thread(target=_hand_over, args=(stream, order, loaded, seen))
    sampler.start()
    write_database(target, schema, stream, ledger=LEDGER, progress=progress)
    sampler.join()

    assert seen["early"], f"the writer loaded no table before {last} arrived"
    assert_rows_equal(target, translate_metadata(schema, engine_kind(target)), data)


@pytest.mark.parametrize("source_fixture, new_db", SOURCES)
def test_a_sampler_error_fails_the_write_and_leaves_the_target_as_it_was(source_fixture, new_db, request, engines):
    source = open_source(engines, request.getfixturevalue(source_fixture))
    schema = introspect(source)
    data = copy_rows(source, schema)
    target = open_target(engines, request.getfixturevalue(new_db)())
    write_database(target, schema, data, ledger=LEDGER)  # the target holds a shadow already
    before = snapshot(target)
    order = [data.tables[n] for n in schema.topological_order()]
    stream, loaded = StreamedDatabase(), threading.Event()

    def sample() -> None:
        for table in order[:-1]:
            stream.put(table)
        loaded.wait(WAIT)  # the writer is inside its transaction, rows loaded
        stream.end(UnsupportedSchema(f"{order[-1].name}.x cannot hold the rows"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    with pytest.raises(UnsupportedSchema, match="cannot hold the rows"):
        write_database(target, schema, stream, ledger={**LEDGER, "epsilon": 2.0}, replace=True,
                       progress=lambda t, done, total: loaded.set() if done == total > 0 else None)
    sampler.join()
    assert loaded.is_set()
    assert snapshot(target) == before


def test_a_stopped_stream_stops_its_sampler_at_the_next_table():
    stream = StreamedDatabase()
    stream.put(SyntheticTable("a", {"id": [1]}))
    stream.stop()
    with pytest.raises(SamplingStopped):
        stream.put(SyntheticTable("b", {"id": [1]}))


def test_a_table_is_prepared_once_whether_it_arrived_before_or_after_the_writer_asked():
    stream, prepared = StreamedDatabase(), []
    stream.put(SyntheticTable("early", {"id": [1]}))
    stream.each_table(lambda t: prepared.append(t.name))
    stream.put(SyntheticTable("late", {"id": [2]}))
    stream.end()
    assert list(stream.arriving(["late", "early", "never"])) == ["early", "late", "never"]
    assert prepared == ["early", "late"]


def test_a_run_writes_its_parents_before_its_last_table_is_sampled(chinook_pg, new_pg_db, monkeypatch):
    """Through `pipeline.run` on PostgreSQL: the last table's hand-over waits until the writer's
    progress has shown up in the sample stage (the write of an earlier table); the run still
    makes a complete shadow."""
    import dbsynth.pipeline as pipeline

    real = pipeline.assemble
    writing, seen = threading.Event(), {}

    def assemble(*args, ready, **kwargs):
        schema = args[0]
        last = schema.topological_order()[-1]

        def hand(table):
            if table.name == last:
                seen["early"] = writing.wait(WAIT)
            ready(table)

        return real(*args, ready=hand, **kwargs)

    def progress(stage: str, detail: str) -> None:
        if stage == "sample" and "writing" in detail:
            writing.set()

    monkeypatch.setattr(pipeline, "assemble", assemble)
    target = new_pg_db()
    result = pipeline.run(pipeline.RunOptions(chinook_pg, target, 4.0, seed=3), progress=progress)
    assert seen["early"], "nothing was written before the last table was sampled"
    engine = sa.create_engine(target)
    try:
        with engine.connect() as conn:
            for name, n in result.rows.items():
                assert conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar() == n
    finally:
        engine.dispose()
    assert set(result.rows) == set(introspect_names(chinook_pg))
    assert set(result.seconds) >= {"sample", "write"}


def introspect_names(dsn: str) -> list[str]:
    engine = sa.create_engine(dsn)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
