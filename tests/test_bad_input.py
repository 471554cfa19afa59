"""Bad input: one clear line, a documented exit code, no traceback, the target unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from dbsynth.demo import build_shop


def dbsynth(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def assert_one_clear_line(res: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "━" not in ln]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("dbsynth: error:"), lines[0]
    assert "Traceback" not in res.stderr
    assert "s3cret-pw" not in res.stderr + res.stdout
    for n in needles:
        assert n in lines[0], lines[0]


def snapshot(dsn: str) -> dict:
    eng = sa.create_engine(dsn)
    with eng.connect() as conn:
        names = sorted(sa.inspect(eng).get_table_names())
        return {n: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{n}"' if eng.dialect.name != "mysql"
                                        else f"SELECT COUNT(*) FROM `{n}`")).scalar() for n in names}


@pytest.fixture
def shop(tmp_path):
    return f"sqlite:///{build_shop(tmp_path / 'shop.db', n_customers=200)}"


def test_unreachable_host(shop, new_sqlite_path):
    res = dbsynth("run", "postgresql+psycopg://u:s3cret-pw@127.0.0.1:1/db", new_sqlite_path(), "--epsilon", "1")
    assert_one_clear_line(res, 3, "cannot connect", "***")


def test_wrong_password(pg_server, chinook_pg, new_sqlite_path):
    bad = chinook_pg.replace("s3cret-pw", "wrong-pw")
    res = dbsynth("run", bad, new_sqlite_path(), "--epsilon", "1")
    assert_one_clear_line(res, 3, "cannot connect")
    assert "wrong-pw" not in res.stderr


def test_missing_select_privilege(pg_server, new_pg_db, new_sqlite_path):
    dsn = new_pg_db()
    db = dsn.rsplit("/", 1)[1]
    pg_server.psql(db, "CREATE TABLE open_t (id int primary key, v text); CREATE TABLE secret_t (id int primary key);")
    pg_server.create_role("no_secret_reader", "reader-pw")
    pg_server.psql(db, "GRANT SELECT ON open_t TO no_secret_reader; REVOKE ALL ON secret_t FROM no_secret_reader;")
    reader = dsn.replace("dbsynth:s3cret-pw", "no_secret_reader:reader-pw")
    target = new_sqlite_path()
    res = dbsynth("run", reader, target, "--epsilon", "1")
    assert_one_clear_line(res, 4, "secret_t")
    assert not os.path.exists(target.replace("sqlite:///", "")) or snapshot(target) == {}


def test_non_empty_target_is_refused_and_left_alone(shop, tmp_path):
    target = f"sqlite:///{tmp_path / 'busy.db'}"
    eng = sa.create_engine(target)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE keep_me (x int)"))
        conn.execute(sa.text("INSERT INTO keep_me VALUES (1), (2)"))
    res = dbsynth("run", shop, target, "--epsilon", "1")
    assert_one_clear_line(res, 5, "not empty", "--replace")
    assert snapshot(target) == {"keep_me": 2}


@pytest.mark.parametrize("eps", ["0", "-1", "nan"])
def test_epsilon_must_be_positive(shop, new_sqlite_path, eps):
    target = new_sqlite_path()
    res = dbsynth("run", shop, target, "--epsilon", eps)
    assert_one_clear_line(res, 2, "epsilon")
    assert not os.path.exists(target.replace("sqlite:///", ""))


def test_misspelt_spec_key_is_refused_with_a_suggestion(shop, tmp_path, new_sqlite_path):
    spec = tmp_path / "spec.yaml"
    assert dbsynth("plan", shop, "-o", str(spec)).returncode == 0
    spec.write_text(spec.read_text().replace("budget_weight:", "budget_wieght:", 1))
    res = dbsynth("run", shop, new_sqlite_path(), "--epsilon", "1", "--spec", str(spec))
    assert_one_clear_line(res, 2, "budget_wieght", "did you mean 'budget_weight'")


def test_malformed_spec_yaml_is_refused(shop, tmp_path, new_sqlite_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("tables: [unclosed\n")
    res = dbsynth("run", shop, new_sqlite_path(), "--epsilon", "1", "--spec", str(spec))
    assert_one_clear_line(res, 2, "not valid YAML")


def test_spec_naming_an_unknown_table_is_refused(shop, tmp_path, new_sqlite_path):
    spec = tmp_path / "spec.yaml"
    assert dbsynth("plan", shop, "-o", str(spec)).returncode == 0
    spec.write_text(spec.read_text().replace("  orders:\n", "  ordres:\n", 1))
    res = dbsynth("run", shop, new_sqlite_path(), "--epsilon", "1", "--spec", str(spec))
    assert_one_clear_line(res, 2, "ordres", "did you mean 'orders'")


def test_plan_shows_fallback_for_types_it_cannot_model(pg_server, new_pg_db, new_sqlite_path, tmp_path):
    dsn = new_pg_db()
    db = dsn.rsplit("/", 1)[1]
    pg_server.psql(db, "CREATE TABLE place (id int primary key, spot point, doc tsvector NOT NULL, label text);"
                       "INSERT INTO place VALUES (1, point(1,2), to_tsvector('hello world'), 'a'),"
                       "(2, NULL, to_tsvector('x'), 'b');")
    res = dbsynth("plan", dsn)
    assert res.returncode == 0, res.stderr
    assert "spot:\n        kind: unsupported" in res.stdout.replace("\r", "")
    assert "fallback: set_null" in res.stdout and "fallback: default_value" in res.stdout
    # the run keeps going: NULL where nullable, a data-independent value otherwise
    target = new_pg_db()
    run = dbsynth("run", dsn, target, "--epsilon", "1", "--seed", "1")
    assert run.returncode == 0, run.stderr
    with sa.create_engine(target).connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM place WHERE spot IS NOT NULL")).scalar() == 0


@pytest.mark.parametrize("engine", ["sqlite", "pg"])
def test_killing_a_run_mid_write_leaves_the_target_unchanged(engine, shop, new_sqlite_path, new_pg_db):
    target = new_sqlite_path() if engine == "sqlite" else new_pg_db()
    proc = subprocess.Popen([sys.executable, "-m", "dbsynth.cli", "run", shop, target, "--epsilon", "1"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "DBSYNTH_PAUSE_BEFORE_COMMIT": "60"})
    deadline = time.time() + 240
    seen = ""
    while time.time() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "paused before commit" in line:
            break
        if not line and proc.poll() is not None:
            break
    assert "paused before commit" in seen, seen
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if engine == "sqlite":
        path = target.replace("sqlite:///", "")
        assert not os.path.exists(path) or snapshot(target) == {}
    else:
        assert snapshot(target) == {}
