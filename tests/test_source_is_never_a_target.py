"""The source is never a target: however the target spells the source database, `run` refuses
it with exit 9 before anything is read, with or without --replace, and the source is unchanged.
`verify` of a database against itself only reads, so it is not refused."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from dbsynth.connect import _same_server_by_lock, refuse_same_database, source_engine
from dbsynth.demo import build_shop
from dbsynth.errors import EXIT_CODES, TargetIsSource

TABLES = ("customers", "orders")
SHOP_SQL = (
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, country VARCHAR(20) NOT NULL);"
    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount INT NOT NULL,"
    " FOREIGN KEY (customer_id) REFERENCES customers (id));"
    "INSERT INTO customers VALUES " + ",".join(f"({i}, 'name {i}', '{('DE', 'FR', 'US')[i % 3]}')"
                                               for i in range(1, 41)) + ";"
    "INSERT INTO orders VALUES " + ",".join(f"({i}, {1 + i % 40}, {10 + i % 7})" for i in range(1, 81)) + ";"
)


def dbsynth(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def assert_refused(res: subprocess.CompletedProcess) -> None:
    assert res.returncode == 9, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "━" not in ln]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("dbsynth: error:") and "is the source database" in lines[0], lines[0]
    assert "Traceback" not in res.stderr
    assert "s3cret-pw" not in res.stdout + res.stderr


def counts(dsn: str) -> dict[str, int]:
    eng = sa.create_engine(dsn)
    try:
        with eng.connect() as conn:
            q = "`" if eng.dialect.name == "mysql" else '"'
            return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {q}{t}{q}")).scalar()
                    for t in sorted(sa.inspect(conn).get_table_names())}
    finally:
        eng.dispose()


def test_exit_code_9_is_documented():
    assert TargetIsSource.exit_code == 9 and 9 in EXIT_CODES


# --- PostgreSQL ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg_source(pg_server):
    db = "never_a_target_pg"
    pg_server.psql("postgres", f'CREATE DATABASE "{db}" OWNER dbsynth;')
    pg_server.psql(db, SHOP_SQL)
    # Every statement on the source is logged: the test can see that no table was touched.
    pg_server.psql("postgres", f'ALTER DATABASE "{db}" SET log_statement = \'all\';')
    return db


PG_SPELLINGS = {
    "identical": lambda s, db: s.dsn(db),
    "localhost": lambda s, db: s.dsn(db).replace("127.0.0.1", "localhost"),
    "LOCALHOST": lambda s, db: s.dsn(db).replace("127.0.0.1", "LOCALHOST"),
    "no-driver": lambda s, db: s.dsn(db).replace("postgresql+psycopg://", "postgresql://"),
    "this-machine": lambda s, db: s.dsn(db).replace("127.0.0.1", socket.gethostname()),
    "dbname-parameter": lambda s, db: s.dsn("") + f"?dbname={db}",
    "unix-socket": lambda s, db: f"postgresql://dbsynth@/{db}?host={s.root}&port={s.port}",
    "unix-socket-host-only": lambda s, db: f"postgresql+psycopg://dbsynth@:{s.port}/{db}?host={s.root}",
}


def cases(spellings: dict, without_replace: tuple[str, ...] = ("identical",)) -> list:
    """Every spelling with --replace (the dangerous case), some also without."""
    return ([pytest.param(s, True, id=f"{s}-replace") for s in spellings]
            + [pytest.param(s, False, id=f"{s}-no-replace") for s in without_replace])


@pytest.mark.parametrize("spelling, replace", cases(PG_SPELLINGS))
def test_a_target_that_is_the_source_is_refused_before_anything_is_read_pg(pg_server, pg_source, spelling,
                                                                           replace):
    source = pg_server.dsn(pg_source)
    before = counts(source)
    log_size = pg_server.log.stat().st_size
    res = dbsynth("run", source, PG_SPELLINGS[spelling](pg_server, pg_source), "--epsilon", "1",
                  *(["--replace"] if replace else []))
    assert_refused(res)
    logged = read_from(pg_server.log, log_size)
    assert not any(t in logged for t in TABLES), logged  # no statement of the run named a table
    log_size = pg_server.log.stat().st_size
    assert counts(source) == before == {"customers": 40, "orders": 80}
    assert "customers" in read_from(pg_server.log, log_size)  # the log does record statements on the source


def read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def test_the_servers_own_identity_catches_an_alias_the_urls_hide_pg(pg_server, pg_source, new_pg_db):
    source = pg_server.dsn(pg_source)
    alias = source.replace("127.0.0.1", "db-alias.invalid")  # what a DNS alias looks like from the URL
    src = source_engine(source)  # read only, as in a run
    same, other = (sa.create_engine(d) for d in (source, new_pg_db()))
    try:
        with pytest.raises(TargetIsSource):
            refuse_same_database(source, alias, src, same)
        refuse_same_database(source, alias, src, other)  # another database on the same server
    finally:
        for e in (src, same, other):
            e.dispose()


def test_another_database_on_the_same_server_is_a_fine_target_pg(pg_server, pg_source, new_pg_db):
    target = new_pg_db()
    res = dbsynth("run", pg_server.dsn(pg_source), target.replace("127.0.0.1", "localhost"), "--epsilon", "1",
                  "--seed", "1")
    assert res.returncode == 0, res.stderr
    assert counts(target)["customers"] > 0


def test_verify_of_a_database_against_itself_is_not_refused(pg_server, pg_source):
    source = pg_server.dsn(pg_source)
    res = dbsynth("verify", source, source, "--hard-only")
    assert res.returncode != 9 and "is the source" not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


# --- MariaDB ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def maria_source(maria_server):
    db = "never_a_target_my"
    maria_server.sql(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4;")
    maria_server.sql(SHOP_SQL, database=db)
    return db


MARIA_SPELLINGS = {
    "identical": lambda s, db: s.dsn(db),
    "localhost": lambda s, db: s.dsn(db).replace("127.0.0.1", "localhost"),
    "no-driver": lambda s, db: s.dsn(db).replace("mysql+pymysql://", "mysql://"),
    "mariadb-scheme": lambda s, db: s.dsn(db).replace("mysql+pymysql://", "mariadb+pymysql://"),
    "this-machine": lambda s, db: s.dsn(db).replace("127.0.0.1", socket.gethostname()),
    # a socket has no port in its URL: only the server's own identity can tell
    "unix-socket": lambda s, db: f"mysql+pymysql://root@localhost/{db}?unix_socket={s.socket}",
}


@pytest.mark.parametrize("spelling, replace", cases(MARIA_SPELLINGS, ("identical", "unix-socket")))
def test_a_target_that_is_the_source_is_refused_before_anything_is_read_mariadb(maria_server, maria_source,
                                                                                spelling, replace):
    source = maria_server.dsn(maria_source)
    before = counts(source)
    res = dbsynth("run", source, MARIA_SPELLINGS[spelling](maria_server, maria_source), "--epsilon", "1",
                  *(["--replace"] if replace else []))
    assert_refused(res)
    assert counts(source) == before == {"customers": 40, "orders": 80}


def test_the_servers_own_identity_catches_an_alias_the_urls_hide_mariadb(maria_server, maria_source,
                                                                         new_maria_db):
    source = maria_server.dsn(maria_source)
    alias = source.replace("127.0.0.1", "db-alias.invalid")
    src = source_engine(source)  # read only, as in a run
    same, other = (sa.create_engine(d) for d in (source, new_maria_db()))
    try:
        assert _same_server_by_lock(src, same) is True  # a named lock the source holds is seen from the target
        with pytest.raises(TargetIsSource):
            refuse_same_database(source, alias, src, same)
        refuse_same_database(source, alias, src, other)
    finally:
        for e in (src, same, other):
            e.dispose()


# --- SQLite -------------------------------------------------------------------------------------

def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SQLITE_SPELLINGS = {
    "identical": lambda p, d: f"sqlite:///{p}",
    "relative": lambda p, d: f"sqlite:///{p.name}",
    "dot-relative": lambda p, d: f"sqlite:///./{p.name}",
    "dot-dot": lambda p, d: f"sqlite:///{p.parent}/../{p.parent.name}/{p.name}",
    "double-slash": lambda p, d: f"sqlite:///{p.parent}//{p.name}",
    "symlink": lambda p, d: f"sqlite:///{d / 'link.db'}",
    "symlinked-dir": lambda p, d: f"sqlite:///{d / 'linkdir' / p.name}",
    "hard-link": lambda p, d: f"sqlite:///{d / 'hard.db'}",
}


@pytest.mark.parametrize("spelling, replace", cases(SQLITE_SPELLINGS, ("identical", "symlink")))
def test_a_target_that_is_the_source_is_refused_before_anything_is_read_sqlite(tmp_path, spelling, replace):
    shop = build_shop(tmp_path / "shop.db", n_customers=50)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "link.db").symlink_to(shop)
    (elsewhere / "linkdir").symlink_to(tmp_path)
    os.link(shop, elsewhere / "hard.db")
    source = f"sqlite:///{shop}"
    before, digest = counts(source), _digest(shop)
    res = dbsynth("run", source, SQLITE_SPELLINGS[spelling](shop, elsewhere), "--epsilon", "1",
                  *(["--replace"] if replace else []), cwd=str(tmp_path))
    assert_refused(res)
    assert counts(source) == before and _digest(shop) == digest


# --- from the URLs alone, before connecting -----------------------------------------------------

URL_ALIASES = [
    ("postgresql://u:pw@localhost/shop", "postgresql+psycopg://u:pw@127.0.0.1:5432/shop"),
    ("postgresql://u:pw@127.0.0.1:5432/shop", "postgresql://other:pw2@[::1]/shop"),
    ("postgresql://u:pw@localhost:5432/shop", "postgresql://u:pw@/shop"),  # the default unix socket
    ("postgresql://shop:pw@db.invalid/", "postgresql://shop:pw@DB.INVALID:5432/shop"),  # dbname = user
    ("mysql+pymysql://u:pw@localhost/shop", "mysql://u:pw@127.0.0.1:3306/shop"),
    ("mysql://u:pw@127.0.0.1/shop", "mariadb+pymysql://u:pw@localhost:3306/shop"),
    ("mysql://u@h/shop?unix_socket=/run/mysqld/../mysqld/mysqld.sock",
     "mysql://u@other/shop?unix_socket=/run/mysqld/mysqld.sock"),
]


@pytest.mark.parametrize("source, target", URL_ALIASES)
def test_a_target_spelt_like_the_source_is_refused_from_the_urls_alone(source, target):
    with pytest.raises(TargetIsSource) as info:
        refuse_same_database(source, target)
    assert "pw" not in info.value.message.replace("pw2", "")
    res = dbsynth("run", source, target, "--epsilon", "1", "--replace")
    assert_refused(res)


URL_DIFFERENT = [
    ("postgresql://u@localhost/shop", "postgresql://u@localhost/shadow"),
    ("postgresql://u@localhost/shop", "postgresql://u@localhost:5433/shop"),
    ("postgresql://u@localhost/shop", "mysql://u@localhost/shop"),
    ("mysql://u@localhost/shop", "mysql://u@localhost/Shop"),  # case: the servers decide (belt and braces)
    ("mysql://u@localhost/shop", "mysql://u@localhost:3307/shop"),
    ("sqlite:///a.db", "sqlite:///b.db"),
]


@pytest.mark.parametrize("source, target", URL_DIFFERENT)
def test_a_different_database_is_not_mistaken_for_the_source(source, target):
    refuse_same_database(source, target)
