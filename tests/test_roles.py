"""The least-privilege role scripts (connectors/postgres/roles.sql, connectors/mysql/roles.sql):
`run` and `verify` work under them, and the server itself refuses what they must not do (a write
to the source through the reader; the writer reading the source)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from dbsynth.pipeline import RunOptions, run
from servers import _clean_env

ROOT = Path(__file__).resolve().parent.parent
READER_PW, WRITER_PW = "r3ader-pw", "wr1ter-pw"


def _run_and_verify(reader: str, writer: str, lines: str) -> None:
    """`run` then `verify` (as the command line) with the reader's and the writer's URLs."""
    result = run(RunOptions(reader, writer, 4.0, seed=1))
    assert result.rows[lines] > 0
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "verify", reader, writer, "--json", "--workload", "0"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["passed"] and report["hard_failures"] == 0


def _refused(dsn: str, statement: str) -> str:
    engine = sa.create_engine(dsn)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError as exc:
        return str(exc.orig).lower()
    finally:
        engine.dispose()
    raise AssertionError(f"the server accepted {statement!r}")


def test_postgres_roles_run_verify_and_refuse_writes_to_the_source(pg_server, chinook_pg):
    subprocess.run([str(pg_server.bindir / "psql"), "-X", "-q", "-h", str(pg_server.root), "-p", str(pg_server.port),
                    "-U", pg_server.user, "-d", "postgres", "-v", "source_db=chinook", "-v", "target_db=chinook_roles",
                    "-v", f"reader_password='{READER_PW}'", "-v", f"writer_password='{WRITER_PW}'",
                    "-f", str(ROOT / "connectors" / "postgres" / "roles.sql")],
                   check=True, capture_output=True, env=_clean_env())
    reader = pg_server.dsn("chinook", "dbsynth_reader", READER_PW)
    writer = pg_server.dsn("chinook_roles", "dbsynth_writer", WRITER_PW)
    _run_and_verify(reader, writer, "invoice_line")
    # the server, not dbsynth, refuses: a read-only transaction, and no INSERT privilege beneath it
    assert "read-only transaction" in _refused(reader, "INSERT INTO genre (genre_id, name) VALUES (999, 'x')")
    assert "permission denied" in _refused(reader, "SET TRANSACTION READ WRITE; "
                                                   "INSERT INTO genre (genre_id, name) VALUES (999, 'x')")
    assert "permission denied" in _refused(pg_server.dsn("chinook", "dbsynth_writer", WRITER_PW),
                                           "SELECT count(*) FROM invoice")
    # and the reader cannot touch the target
    assert "permission denied" in _refused(pg_server.dsn("chinook_roles", "dbsynth_reader", READER_PW), "SELECT 1")


def test_mysql_roles_run_verify_and_refuse_writes_to_the_source(maria_server, chinook_maria):
    maria_server.sql(f"SET @source_db = 'Chinook', @target_db = 'chinook_roles', @reader_password = '{READER_PW}', "
                     f"@writer_password = '{WRITER_PW}';\nSOURCE {ROOT / 'connectors' / 'mysql' / 'roles.sql'}")
    reader = maria_server.dsn("Chinook", "dbsynth_reader", READER_PW)
    writer = maria_server.dsn("chinook_roles", "dbsynth_writer", WRITER_PW)
    _run_and_verify(reader, writer, "InvoiceLine")
    # a second run replaces the shadow: the writer drops and creates its stage and trash databases
    run(RunOptions(reader, writer, 4.0, seed=2, replace=True))
    assert "command denied" in _refused(reader, "INSERT INTO Genre (GenreId, Name) VALUES (999, 'x')")
    assert "command denied" in _refused(reader, "CREATE TABLE sneaky (id INT)")
    assert "denied" in _refused(maria_server.dsn("Chinook", "dbsynth_writer", WRITER_PW), "SELECT COUNT(*) FROM Invoice")
    assert "denied" in _refused(maria_server.dsn("mysql", "dbsynth_writer", WRITER_PW), "SELECT COUNT(*) FROM user")
