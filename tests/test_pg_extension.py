"""The PostgreSQL extension: `CREATE EXTENSION dbsynth` in a real server, then plan, synthesize
and verify from SQL.

Installs the extension into the machine's PostgreSQL 15 (`dbsynth install-extension`: root or
the owner of its extension directory), creates it at 1.0 and updates it to 1.1, runs Chinook and
Northwind through `dbsynth.synthesize` and `dbsynth.verify`, checks that the run reads the
caller's snapshot, that progress arrives as NOTICEs, that bad calls raise errors with the command
line's one-line text and an SQLSTATE per exit code, that a cancelled call stops its run, and that
DROP EXTENSION leaves nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from conftest import dataset, strip_create_database
from servers import PG_BINDIR

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed():
    """Through `make install` (which runs `dbsynth install-extension`), then the command itself."""
    made = subprocess.run(["make", "-C", str(ROOT / "connectors" / "postgres"), "install",
                           f"PG_CONFIG={PG_BINDIR / 'pg_config'}", f"PYTHON={sys.executable}"],
                          capture_output=True, text=True)
    assert made.returncode == 0, f"make install failed (the tests must run as root or own the server's " \
                                 f"extension directory): {made.stdout}{made.stderr}"
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "install-extension", "--pg-config",
                          str(PG_BINDIR / "pg_config"), "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    done = json.loads(res.stdout)
    share = subprocess.run([str(PG_BINDIR / "pg_config"), "--sharedir"], capture_output=True, text=True).stdout.strip()
    assert done["extension_dir"] == f"{share}/extension" and done["default_version"] == "1.1"
    control = (Path(done["extension_dir"]) / "dbsynth.control").read_text()
    assert f"module_pathname = '{done['extension_dir']}/dbsynth-cli'" in control
    return done


def _conn(server, db: str, notices: list | None = None) -> psycopg.Connection:
    conn = psycopg.connect(host=str(server.root), port=server.port, user=server.user, dbname=db, autocommit=True)
    if notices is not None:
        conn.add_notice_handler(lambda d: notices.append((d.severity, d.message_primary)))
    return conn


@pytest.fixture(scope="module")
def chinook_ext(pg_server, installed):
    """Chinook in its own database with the extension at 1.0 (the update is a test)."""
    pg_server.create_database("chinook_ext")
    script = dataset("chinook", "Chinook_PostgreSql.sql").read_text(encoding="utf-8")
    pg_server.psql("chinook_ext", strip_create_database(script))
    # A table whose rows another session deletes while the caller's snapshot still holds them.
    pg_server.psql("chinook_ext", "CREATE TABLE memo (id int PRIMARY KEY, body text NOT NULL);"
                                  "INSERT INTO memo SELECT g, 'memo ' || g FROM generate_series(1, 50) g;"
                                  "CREATE EXTENSION plpython3u; CREATE EXTENSION dbsynth VERSION '1.0';")
    return "chinook_ext"


def _functions(conn) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'dbsynth'")}


def test_the_extension_updates_from_1_0_to_1_1(pg_server, chinook_ext):
    with _conn(pg_server, chinook_ext) as conn:
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'dbsynth'").fetchone()[0] == "1.0"
        assert _functions(conn) == {"_call", "_result", "plan", "synthesize", "verify"}
        conn.execute("ALTER EXTENSION dbsynth UPDATE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'dbsynth'").fetchone()[0] == "1.1"
        assert "introspect" in _functions(conn)
        schema = conn.execute("SELECT dbsynth.introspect()").fetchone()[0]
        assert {"artist", "invoice_line", "memo"} <= set(schema["tables"])
        # no one but a superuser may call them until granted
        conn.execute("CREATE ROLE ext_nobody")
        for signature in ("plan(jsonb,jsonb)", "synthesize(text,float8,float8,jsonb,jsonb)", "verify(text,jsonb)",
                          "introspect(jsonb)", "_call(text,jsonb,text[])"):
            assert conn.execute("SELECT has_function_privilege('ext_nobody', %s, 'EXECUTE')",
                                (f"dbsynth.{signature}",)).fetchone()[0] is False, signature


def test_plan_returns_the_spec_the_command_line_writes(pg_server, chinook_ext):
    cli = subprocess.run([sys.executable, "-m", "dbsynth.cli", "plan", pg_server.dsn(chinook_ext), "--json"],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    with _conn(pg_server, chinook_ext) as conn:
        spec = conn.execute("SELECT dbsynth.plan()").fetchone()[0]
        assert spec["tables"] == json.loads(cli.stdout)["tables"]
        suggested = conn.execute("""SELECT dbsynth.plan(options => '{"public": "suggested"}')""").fetchone()[0]
        assert not suggested["tables"]["genre"]["private"] and spec["tables"]["genre"]["private"]
        # a spec given is checked against the schema and returned with its units and split
        given = {k: v for k, v in spec.items() if k not in ("sensitivity", "units", "suggested_public", "budget_split")}
        given["tables"]["genre"]["private"] = False
        again = conn.execute("SELECT dbsynth.plan(%s::jsonb)", (json.dumps(given),)).fetchone()[0]
        assert again["tables"] == given["tables"] and "genre" not in again["budget_split"]
        given["tables"]["no_such_table"] = given["tables"]["genre"]
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT dbsynth.plan(%s::jsonb)", (json.dumps(given),))
        assert info.value.sqlstate == "22023" and "no_such_table" in info.value.diag.message_primary


def test_synthesize_reads_the_callers_snapshot_and_verify_passes(pg_server, chinook_ext, new_pg_db):
    target = new_pg_db()
    notices: list = []
    with _conn(pg_server, chinook_ext, notices) as caller, _conn(pg_server, chinook_ext) as other:
        caller.autocommit = False
        caller.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert caller.execute("SELECT count(*) FROM memo").fetchone()[0] == 50
        other.execute("DELETE FROM memo")  # committed: a fresh read sees no memo
        result = caller.execute("SELECT dbsynth.synthesize(%s, 4.0, options => '{\"seed\": 1, \"public\": \"memo\"}')",
                                (target,)).fetchone()[0]
        caller.commit()
        other.execute("INSERT INTO memo SELECT g, 'memo ' || g FROM generate_series(1, 50) g")
    assert result["ledger"]["epsilon"] <= 4.0 and result["rows"]["invoice_line"] > 0
    assert result["rows"]["memo"] == 50  # the rows the caller saw, not the ones committed since
    stages = " ".join(m for s, m in notices if s == "NOTICE")
    for stage in ("introspect", "measure", "fit", "sample", "write"):
        assert f"dbsynth {stage}:" in stages
    with _conn(pg_server, chinook_ext) as conn:
        report = conn.execute("SELECT dbsynth.verify(%s, '{\"workload\": 0}')", (target,)).fetchone()[0]
    assert report["passed"] is True and report["hard_failures"] == 0 and report["checks_run"] > 50


def test_northwind_through_the_extension(pg_server, installed, new_pg_db):
    pg_server.create_database("northwind_ext")
    pg_server.run_sql_file("northwind_ext", dataset("northwind", "northwind.sql"))
    pg_server.psql("northwind_ext", "CREATE EXTENSION plpython3u; CREATE EXTENSION dbsynth;")
    target = new_pg_db()
    with _conn(pg_server, "northwind_ext") as conn:
        result = conn.execute("SELECT dbsynth.synthesize(%s, 4.0, 1e-9)", (target,)).fetchone()[0]
        assert result["rows"]["orders"] > 0
        report = conn.execute("SELECT dbsynth.verify(%s, '{\"workload\": 0}')", (target,)).fetchone()[0]
        assert report["passed"] is True and report["hard_failures"] == 0
        # a broken shadow: the same function says so in its JSON
        eng = sa.create_engine(target)
        with eng.begin() as t:
            t.exec_driver_sql("SET session_replication_role = replica")  # the FK triggers do not fire
            # Three rows of different products: (32000, product) is the key, so two rows of one
            # product would collide (the shadow's rows are fresh noise each run).
            t.exec_driver_sql("UPDATE order_details SET order_id = 32000 WHERE ctid IN "
                              "(SELECT DISTINCT ON (product_id) ctid FROM order_details LIMIT 3)")
        eng.dispose()
        broken = conn.execute("SELECT dbsynth.verify(%s, '{\"workload\": 0, \"hard_only\": true}')",
                              (target,)).fetchone()[0]
        assert broken["passed"] is False and broken["hard_failures"] >= 1
        assert any(f["check"] == "orphan_fk" for f in broken["findings"])


@pytest.mark.parametrize("call, sqlstate, text", [
    ("SELECT dbsynth.synthesize(%s, 0)", "22023", "epsilon must be a positive number"),
    ("SELECT dbsynth.synthesize('postgresql+psycopg://someone:pa55-w0rd@127.0.0.1:1/nowhere', 1)", "08001",
     "cannot connect"),
    ("SELECT dbsynth.synthesize(%s, 1, options => '{\"colour\": \"red\"}')", "22023", "unknown option(s) colour"),
    ("SELECT dbsynth.synthesize('sqlite:////tmp/x.db', 1)", "22023", "must be a postgresql:// or mysql:// URL"),
], ids=["epsilon 0", "unreachable target", "unknown option", "file target"])
def test_a_bad_call_raises_the_command_lines_one_line_error(pg_server, chinook_ext, new_pg_db, call, sqlstate, text):
    args = (new_pg_db(),) if "%s" in call else ()
    with _conn(pg_server, chinook_ext) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(call, args)
    err = info.value
    assert err.sqlstate == sqlstate, (err.sqlstate, str(err))
    message = err.diag.message_primary
    assert text in message and "\n" not in message and "pa55-w0rd" not in str(err)


def test_a_cancelled_call_stops_its_run_and_leaves_the_target_empty(pg_server, chinook_ext, new_pg_db):
    target = new_pg_db()
    notices: list = []
    with _conn(pg_server, chinook_ext, notices) as conn:
        pid = conn.info.backend_pid
        outcome = {}

        def call():
            try:
                conn.execute("SELECT dbsynth.synthesize(%s, 4.0)", (target,))
            except psycopg.Error as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=call)
        worker.start()
        deadline = time.monotonic() + 120
        while not any("dbsynth measure" in m for _, m in notices) and time.monotonic() < deadline:
            time.sleep(0.2)
        with _conn(pg_server, "postgres") as admin:
            children = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                     (chinook_ext,)).fetchone()[0]
            assert children >= 2  # the caller and its child's connection
            admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
        worker.join(60)
    assert not worker.is_alive() and outcome["error"].sqlstate == "57014"
    eng = sa.create_engine(target)
    assert sa.inspect(eng).get_table_names() == []
    eng.dispose()
    ps = subprocess.run(["pgrep", "-f", f"dbsynth.cli run .*{target.rsplit('/', 1)[1]}"], capture_output=True)
    assert ps.returncode == 1  # no dbsynth process left


def test_drop_extension_leaves_nothing(pg_server, installed):
    pg_server.create_database("drop_ext")
    pg_server.psql("drop_ext", "CREATE EXTENSION plpython3u; CREATE EXTENSION dbsynth;")
    with _conn(pg_server, "drop_ext") as conn:
        assert _functions(conn)
        conn.execute("DROP EXTENSION dbsynth")
        assert _functions(conn) == set()
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'dbsynth'").fetchone()[0] == 0


@pytest.mark.parametrize("args, code, text", [
    (["--pg-config", "/nonexistent/pg_config"], 2, "not an executable"),
    (["--python", "/bin/true"], 2, "cannot import dbsynth"),
    (["--python", "/nonexistent/python3"], 2, "cannot import dbsynth"),
], ids=["no pg_config", "python without dbsynth", "no python"])
def test_install_extension_refuses_bad_input_in_one_line(args, code, text):
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "install-extension", *args],
                         capture_output=True, text=True)
    assert res.returncode == code and text in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
