"""Concurrent runs into one target, and runs that stop before writing.

Two `dbsynth run` processes into the same target (PostgreSQL, MariaDB, SQLite): one writes, the
other waits for it and is then refused in one line (exit 5), or with --replace writes after it;
the target ends with exactly one complete shadow that passes `verify`, and no run's staging
database is left or dropped by another run while it lives. A run that stops before writing leaves
no SQLite target file where there was none.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dbsynth.connect import source_engine, target_engine
from dbsynth.errors import WriteFailed
from dbsynth.schema.introspect import introspect
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable
from dbsynth.write import PAUSE_ENV, PAUSE_MARKER, write_database
from dbsynth.write.mysql import STAGE_SUFFIX, TRASH_SUFFIX, is_aux_database
from dbsynth.write.transaction import LOCK_TIMEOUT_ENV, WAITING_MARKER

REPO = Path(__file__).resolve().parents[1]
TABLES = {"customer", "purchase", "_dbsynth_ledger"}
TARGETS = {"pg": "new_pg_db", "maria": "new_maria_db", "sqlite": "new_sqlite_path"}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> str:
    """A tiny SQLite source: customers and their purchases."""
    path = tmp_path_factory.mktemp("concurrency") / "source.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customer (id INTEGER PRIMARY KEY, region TEXT NOT NULL "
                   "CHECK (region IN ('north', 'south')), age INTEGER NOT NULL CHECK (age BETWEEN 18 AND 90))")
        db.execute("CREATE TABLE purchase (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL "
                   "REFERENCES customer (id), amount INTEGER NOT NULL CHECK (amount BETWEEN 1 AND 100))")
        db.executemany("INSERT INTO customer VALUES (?, ?, ?)",
                       [(i, "north" if i % 3 else "south", 18 + i * 7 % 70) for i in range(1, 31)])
        db.executemany("INSERT INTO purchase VALUES (?, ?, ?)",
                       [(i, 1 + i * 7 % 30, 1 + i * 13 % 100) for i in range(1, 61)])
    return f"sqlite:///{path}"


class Run:
    """A `dbsynth` subprocess whose stderr is read as it comes."""

    def __init__(self, *args: str, **env: str):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dbsynth.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONPATH": str(REPO), **env},
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def said(self, marker: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not any(line.startswith(marker) for line in self.lines):
            assert self.proc.poll() is None or self.reader.is_alive(), f"exited without {marker!r}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"never said {marker!r}:\n{self.stderr}"
            time.sleep(0.1)

    def finish(self, timeout: float = 300) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.reader.join(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.finish(30)

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def error_line(self) -> str:
        """Its stderr is one error line (besides the waiting notice and the pause marker)."""
        lines = [ln for ln in self.lines if ln.strip() and "━" not in ln
                 and not ln.startswith((WAITING_MARKER, PAUSE_MARKER))]
        assert len(lines) == 1 and lines[0].startswith("dbsynth: error:"), self.stderr
        return lines[0]


def run_args(source: str, target: str, *extra: str) -> list[str]:
    return ["run", source, target, "--epsilon", "1", *extra]


def assert_one_verified_shadow(source: str, target: str, maria_server=None) -> None:
    """The target holds the shadow's tables and one ledger row, passes verify, and no stage or
    trash database of any run into it is left."""
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "verify", source, target, "--hard-only"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    engine = sa.create_engine(target)
    try:
        assert set(sa.inspect(engine).get_table_names()) == TABLES
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM _dbsynth_ledger").scalar() == 1
    finally:
        engine.dispose()
    if maria_server is not None:
        db = make_url(target).database
        left = maria_server.sql("SHOW DATABASES").split()
        assert [n for n in left if is_aux_database(n, db, STAGE_SUFFIX) or is_aux_database(n, db, TRASH_SUFFIX)] == []


def stages(maria_server, target: str) -> list[str]:
    db = make_url(target).database
    return [n for n in maria_server.sql("SHOW DATABASES").split() if is_aux_database(n, db, STAGE_SUFFIX)]


@pytest.mark.parametrize("engine", list(TARGETS))
def test_two_runs_into_one_target_one_writes_and_the_other_is_refused_in_one_line(engine, source, request):
    target = request.getfixturevalue(TARGETS[engine])()
    # Both pause before their commit: the one that takes the target first holds it while the
    # other arrives and waits (or, arriving later, finds it filled); either way it is refused.
    env = {PAUSE_ENV: "4", LOCK_TIMEOUT_ENV: "300"}
    runs = [Run(*run_args(source, target), **env), Run(*run_args(source, target), **env)]
    codes = [r.finish() for r in runs]
    assert sorted(codes) == [0, 5], [r.stderr for r in runs]
    loser = runs[codes.index(5)]
    assert "is not empty" in loser.error_line()
    assert_one_verified_shadow(source, target, request.getfixturevalue("maria_server") if engine == "maria" else None)


@pytest.mark.parametrize("engine", list(TARGETS))
def test_concurrent_replace_runs_both_succeed_one_after_the_other(engine, source, request):
    target = request.getfixturevalue(TARGETS[engine])()
    env = {PAUSE_ENV: "4", LOCK_TIMEOUT_ENV: "300"}
    runs = [Run(*run_args(source, target, "--replace"), **env), Run(*run_args(source, target, "--replace"), **env)]
    assert [r.finish() for r in runs] == [0, 0], [r.stderr for r in runs]
    assert_one_verified_shadow(source, target, request.getfixturevalue("maria_server") if engine == "maria" else None)


@pytest.mark.parametrize("engine", list(TARGETS))
def test_a_run_waits_for_the_writer_of_its_target_and_never_touches_its_stage(engine, source, request):
    """A holds the target (paused before its commit). B, allowed to wait 2 s, stops with one line;
    C waits. While A lives, its stage is untouched; once A is killed, C takes the target over,
    removes A's leftover stage and writes the one shadow."""
    target = request.getfixturevalue(TARGETS[engine])()
    maria = request.getfixturevalue("maria_server") if engine == "maria" else None
    holder = Run(*run_args(source, target), **{PAUSE_ENV: "600"})
    try:
        holder.said(PAUSE_MARKER)
        held = stages(maria, target) if maria else []
        impatient = Run(*run_args(source, target), **{LOCK_TIMEOUT_ENV: "2"})
        patient = Run(*run_args(source, target), **{LOCK_TIMEOUT_ENV: "600"})
        assert impatient.finish() == 5, impatient.stderr
        assert "is being written by another dbsynth run" in impatient.error_line()
        assert any(ln.startswith(WAITING_MARKER) for ln in impatient.lines), impatient.stderr
        patient.said(WAITING_MARKER)
        assert holder.proc.poll() is None, holder.stderr
        if maria:
            assert len(held) == 1 and stages(maria, target) == held  # nobody dropped the live run's stage
    finally:
        holder.kill()
    assert patient.finish() == 0, patient.stderr
    assert_one_verified_shadow(source, target, maria)


@pytest.mark.parametrize(
    "args, code",
    [
        (["--epsilon", "-1"], 2),
        (["--epsilon", "1", "--spec", "/nonexistent/spec.yaml"], 2),
        (["--epsilon", "0.00001"], 7),
        (["--epsilon", "1", "--unreachable"], 3),
    ],
    ids=["bad-epsilon", "missing-spec", "budget-too-small", "unreachable-source"],
)
def test_a_run_that_stops_before_writing_leaves_no_sqlite_target_file(args, code, source, tmp_path):
    target = tmp_path / "shadow.db"
    src = source
    if "--unreachable" in args:
        args = [a for a in args if a != "--unreachable"]
        src = "postgresql://nobody@127.0.0.1:1/none"
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "run", src, f"sqlite:///{target}", *args],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == code, res.stderr
    assert sorted(os.listdir(tmp_path)) == []


def test_verify_of_a_missing_sqlite_target_does_not_create_it(source, tmp_path):
    target = tmp_path / "missing.db"
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "verify", source, f"sqlite:///{target}", "--hard-only"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert sorted(os.listdir(tmp_path)) == []


def test_a_failed_write_into_a_new_sqlite_file_removes_the_file(source, tmp_path):
    target = tmp_path / "shadow.db"
    src = source_engine(source)
    tgt = target_engine(f"sqlite:///{target}")
    try:
        schema = introspect(src)
        data = SyntheticDatabase()
        data.tables["customer"] = SyntheticTable("customer", {"id": [1], "region": ["north"], "age": [30]})
        # a purchase of a customer that does not exist: the foreign key check fails the write
        data.tables["purchase"] = SyntheticTable("purchase", {"id": [1], "customer_id": [2], "amount": [5]})
        with pytest.raises(WriteFailed, match="purchase"):
            write_database(tgt, schema, data, ledger={"epsilon": 1.0, "delta": 1e-9})
        assert sorted(os.listdir(tmp_path)) == []
        # and the same write with the reference fixed creates it
        write_database(tgt, schema, _valid(data), ledger={"epsilon": 1.0, "delta": 1e-9})
        assert target.stat().st_size > 0
    finally:
        src.dispose()
        tgt.dispose()


def _valid(data: SyntheticDatabase) -> SyntheticDatabase:
    out = SyntheticDatabase()
    out.tables["customer"] = data.tables["customer"]
    out.tables["purchase"] = SyntheticTable("purchase", {"id": [1], "customer_id": [1], "amount": [5]})
    return out
