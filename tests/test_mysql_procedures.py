"""`dbsynth install-procedures`: CALL dbsynth_verify('shadow_db') in a real MariaDB returns the
rows that `verify --emit-sql` returns, and catches a broken shadow."""

from __future__ import annotations

import json
import subprocess
import sys

import pymysql
import pytest
from sqlalchemy.engine import make_url

from dbsynth.pipeline import RunOptions, run


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True)


def _call(maria_server, admin_db: str, shadow_db: str) -> list[tuple]:
    conn = pymysql.connect(unix_socket=str(maria_server.socket), user="root", database=admin_db)
    try:
        with conn.cursor() as cur:
            cur.execute("CALL dbsynth_verify(%s)", (shadow_db,))
            rows = [(c, t, s, None if v is None else int(v)) for c, t, s, v in cur.fetchall()]
        return rows
    finally:
        conn.close()


def _emitted(maria_server, source: str, target: str, tmp_path, tolerant: bool = False) -> list[tuple]:
    """The rows of `verify --emit-sql`, run by the mariadb client in the shadow: the whole file, or
    (`tolerant`) statement by statement, leaving out those that fail (a dropped table's)."""
    path = tmp_path / "checks.sql"
    res = _cli("verify", source, target, "--emit-sql", str(path), "--epsilon", "4")
    assert res.returncode == 0, res.stderr
    text = path.read_text()
    statements = [st + ";" for st in text.split(";\n") if "SELECT" in st] if tolerant else [text]
    rows = []
    for statement in statements:
        try:
            out = maria_server.sql(statement, database=make_url(target).database)
        except Exception:
            if not tolerant:
                raise
            continue
        for line in out.splitlines():
            c, t, s, v = line.split("\t")
            rows.append((c, None if t == "NULL" else t, s, int(v)))
    return rows


@pytest.fixture(scope="module")
def shadow(maria_server, chinook_maria):
    target = maria_server.create_database("proc_shadow")
    run(RunOptions(chinook_maria, target, 4.0, seed=1))
    admin = maria_server.create_database("proc_admin")
    res = _cli("install-procedures", chinook_maria, admin, "--epsilon", "4", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["procedure"] == "dbsynth_verify"
    return target


def test_call_returns_the_rows_of_emit_sql_and_all_pass(maria_server, chinook_maria, shadow, tmp_path):
    called = _call(maria_server, "proc_admin", "proc_shadow")
    assert len(called) > 30 and {c for c, *_ in called} >= {"orphan_fk", "duplicate_key", "not_null", "ledger"}
    assert all(v == 0 for *_, v in called), [r for r in called if r[3] != 0]
    emitted = _emitted(maria_server, chinook_maria, shadow, tmp_path)
    assert [r[:3] for r in called] == [r[:3] for r in emitted] and called == emitted


def test_call_catches_a_broken_shadow_as_emit_sql_does(maria_server, chinook_maria, shadow, tmp_path):
    maria_server.sql("SET FOREIGN_KEY_CHECKS = 0; DELETE FROM Artist ORDER BY ArtistId LIMIT 5; "
                     "ALTER TABLE Track MODIFY Name VARCHAR(200) NULL; UPDATE Track SET Name = NULL WHERE TrackId <= 3; "
                     "DROP TABLE PlaylistTrack, Playlist;", database="proc_shadow")
    called = _call(maria_server, "proc_admin", "proc_shadow")
    broken = {(c, t) for c, t, s, v in called if v}
    assert {("orphan_fk", "Album"), ("not_null", "Track")} <= broken
    missing = [r for r in called if r[3] is None]
    assert missing and all("Playlist" in r[2] for r in missing)  # checks on the dropped table could not run
    emitted = {r[:3]: r[3] for r in _emitted(maria_server, chinook_maria, shadow, tmp_path, tolerant=True)}
    for c, t, s, v in called:
        if v is not None:
            assert emitted[(c, t, s)] == v, (c, s)


def test_install_procedures_refuses_the_source_and_postgres(maria_server, chinook_maria, pg_server):
    res = _cli("install-procedures", chinook_maria, chinook_maria)
    assert res.returncode == 9 and "Traceback" not in res.stderr
    res = _cli("install-procedures", chinook_maria, pg_server.dsn("postgres"))
    assert res.returncode == 2 and "MySQL/MariaDB" in res.stderr


def test_install_procedures_without_create_routine_says_what_to_grant(maria_server, chinook_maria):
    """A role that may use the database but not create routines in it: exit 4, one line naming
    the privilege to grant, and no procedure left behind."""
    admin = maria_server.create_database("proc_no_routine")
    maria_server.sql("CREATE USER IF NOT EXISTS 'no_routine'@'%' IDENTIFIED BY 'Nr0utine9';"
                     "GRANT SELECT, INSERT, CREATE, DROP ON proc_no_routine.* TO 'no_routine'@'%';")
    dsn = make_url(admin).set(username="no_routine", password="Nr0utine9").render_as_string(hide_password=False)
    res = _cli("install-procedures", chinook_maria, dsn)
    assert res.returncode == 4, res.stderr
    line = res.stderr.strip()
    assert "\n" not in line and "Traceback" not in line and "CREATE ROUTINE" in line and "Nr0utine9" not in line
    assert maria_server.sql("SELECT COUNT(*) FROM information_schema.ROUTINES "
                            "WHERE ROUTINE_SCHEMA = 'proc_no_routine'").strip() == "0"
