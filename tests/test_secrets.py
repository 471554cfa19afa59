"""No secret is ever printed, logged or stored: whatever way the password is given (userinfo or
query string, raw or percent-encoded, with `@`, `%`, `:` and `/` in it), no output of `run`,
`verify` or a failed connect contains it: stdout, stderr, every file written, the target's
`_dbsynth_ledger`, the PostgreSQL server log (every statement logged) and the MariaDB error log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import sqlalchemy as sa

from dbsynth.connect import parse_dsn, redact, scrub

USER = "dbsynth_secret"
PASSWORD = "Zq7Kw@ss%w:rd/x9Kv"  # raw `@` (ends a userinfo early), `%` (not an escape), `:` and `/`
WRONG = "Wr0ngPw@d%q:z/Y7"
# the password, its encodings and its pieces on either side of the `@` (an unencoded `@` used to
# print the tail as a host name)
NEEDLES = {PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD), "Zq7Kw", "ss%w:rd", "rd/x9Kv",
           WRONG, quote(WRONG, safe=""), "Wr0ngPw", "d%q:z/Y7"}
FORMS = ("userinfo-raw", "userinfo-encoded", "query-raw", "query-encoded")
from test_source_is_never_a_target import SHOP_SQL  # noqa: E402  (the same small shop on each server)


def dsn(scheme: str, port: int, db: str, form: str, password: str = PASSWORD, host: str = "127.0.0.1") -> str:
    base = f"{scheme}://{USER}"
    if form == "userinfo-raw":
        return f"{base}:{password}@{host}:{port}/{db}"
    if form == "userinfo-encoded":
        return f"{base}:{quote(password, safe='')}@{host}:{port}/{db}"
    if form == "query-raw":
        return f"{base}@{host}:{port}/{db}?password={password}"
    return f"{base}@{host}:{port}/{db}?password={quote(password, safe='')}"


def dbsynth(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DBSYNTH_DEBUG"))}
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


class Outputs:
    """Every text the commands produced, by where it came from."""

    def __init__(self):
        self.texts: dict[str, str] = {}

    def add(self, where: str, text: str) -> None:
        self.texts[where] = text

    def command(self, name: str, res: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
        self.add(f"{name}: stdout", res.stdout)
        self.add(f"{name}: stderr", res.stderr)
        return res

    def files(self, root: Path) -> None:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            self.add(f"file {path.relative_to(root)}", path.read_bytes().decode("utf-8", "replace"))

    def assert_no_secret(self) -> None:
        leaks = [(where, n) for where, text in self.texts.items() for n in NEEDLES if n in text]
        assert not leaks, leaks


def one_error_line(res: subprocess.CompletedProcess, code: int) -> None:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "━" not in ln]
    assert len(lines) == 1 and lines[0].startswith("dbsynth: error:"), res.stderr
    assert "Traceback" not in res.stderr


# --- the servers: a role with the password, a small source, every statement logged ---------------

@pytest.fixture(scope="module")
def pg(pg_server):
    s = pg_server
    s.psql("postgres", f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}';")
    s.psql("postgres", f"CREATE DATABASE secret_src OWNER dbsynth; "
                       f"ALTER DATABASE secret_src SET log_statement = 'all';")
    s.psql("secret_src", SHOP_SQL + f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {USER};")
    return s


def new_pg_target(s, name: str) -> str:
    s.psql("postgres", f'CREATE DATABASE "{name}" OWNER {USER}; ALTER DATABASE "{name}" SET log_statement = \'all\';')
    return name


@pytest.fixture(scope="module")
def maria(maria_server):
    s = maria_server
    s.sql("CREATE DATABASE secret_src CHARACTER SET utf8mb4;")
    s.sql(SHOP_SQL, database="secret_src")
    lit = PASSWORD.replace("\\", "\\\\").replace("'", "''")
    s.sql("".join(f"CREATE USER '{USER}'@'{h}' IDENTIFIED BY '{lit}'; GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'{h}';"
                  for h in ("127.0.0.1", "localhost")) + "FLUSH PRIVILEGES;")
    return s


def target_ledger(admin_dsn: str) -> str:
    eng = sa.create_engine(admin_dsn)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM _dbsynth_ledger")).all()
    finally:
        eng.dispose()
    assert rows
    return "\n".join(repr(tuple(r)) for r in rows)


# --- run and verify ---------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["userinfo-raw", "query-raw"])
@pytest.mark.parametrize("engine", ["pg", "mariadb"])
def test_no_output_of_run_verify_or_a_failed_connect_contains_the_password(engine, form, request, tmp_path):
    server = request.getfixturevalue("pg" if engine == "pg" else "maria")
    scheme = "postgresql+psycopg" if engine == "pg" else "mysql+pymysql"
    target_db = f"secret_tgt_{form.replace('-', '_')}"
    if engine == "pg":
        new_pg_target(server, target_db)
    else:
        server.sql(f"CREATE DATABASE {target_db} CHARACTER SET utf8mb4;")
    source = dsn(scheme, server.port, "secret_src", form)
    target = dsn(scheme, server.port, target_db, form)
    files = tmp_path / "out"
    (files / "report").mkdir(parents=True)
    out = Outputs()

    res = out.command("run", dbsynth("run", source, target, "--epsilon", "1", "--seed", "1", "--json",
                                     "--ledger", str(files / "ledger.json"), "--spec-out", str(files / "spec.yaml")))
    assert res.returncode == 0, res.stderr
    assert '"source":' in res.stdout and "***" in res.stdout  # the source is shown, its password is not
    res = out.command("run-text", dbsynth("run", source, target, "--epsilon", "1", "--replace"))
    assert res.returncode == 0, res.stderr
    out.add("target _dbsynth_ledger", target_ledger(server.dsn(target_db)))

    res = out.command("verify", dbsynth("verify", source, target, "--json", "--report", str(files / "report"),
                                        "--workload", "5"))
    assert res.returncode in (0, 1), res.stderr
    res = out.command("verify-text", dbsynth("verify", source, target, "--hard-only"))
    assert res.returncode in (0, 1), res.stderr
    res = out.command("emit-sql", dbsynth("verify", source, target, "--emit-sql", str(files / "checks.sql")))
    assert res.returncode == 0, res.stderr

    # failed connects (the source side's on their own below): the target's port closed, a wrong password
    res = out.command("run: target port closed",
                      dbsynth("run", source, dsn(scheme, 1, target_db, form), "--epsilon", "1", "--replace"))
    one_error_line(res, 3)
    res = out.command("run: wrong password",
                      dbsynth("run", dsn(scheme, server.port, "secret_src", form, password=WRONG),
                              f"sqlite:///{tmp_path / 'y.db'}", "--epsilon", "1"))
    one_error_line(res, 3)
    res = out.command("verify: wrong password",
                      dbsynth("verify", source, dsn(scheme, server.port, target_db, form, password=WRONG)))
    one_error_line(res, 3)

    out.files(files)
    assert {"file ledger.json", "file spec.yaml", "file checks.sql", "file report/report.json",
            "file report/report.md", "file report/report.html"} <= set(out.texts)
    out.add("server log", server.log.read_bytes().decode("utf-8", "replace"))
    if engine == "pg":
        assert "_dbsynth_ledger" in out.texts["server log"]  # the statements on the target were logged
    out.assert_no_secret()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("engine", ["pg", "mariadb"])
def test_no_failed_connect_prints_the_password(engine, form, request):
    server = request.getfixturevalue("pg" if engine == "pg" else "maria")
    scheme = "postgresql+psycopg" if engine == "pg" else "mysql+pymysql"
    out = Outputs()
    for name, url in {
        "port closed": dsn(scheme, 1, "secret_src", form),
        "unknown host": dsn(scheme, server.port, "secret_src", form, host="no-such-host.invalid"),
        "wrong password": dsn(scheme, server.port, "secret_src", form, password=WRONG),
        "missing database": dsn(scheme, server.port, "no_such_db", form),
    }.items():
        res = out.command(name, dbsynth("introspect", url))
        one_error_line(res, 3)
        assert "cannot connect" in res.stderr
    res = out.command("it works", dbsynth("introspect", dsn(scheme, server.port, "secret_src", form), "--json"))
    assert res.returncode == 0, res.stderr
    out.add("server log", server.log.read_bytes().decode("utf-8", "replace"))
    out.assert_no_secret()


# --- redact and scrub ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    *(dsn(s, 5432, "db", f) for s in ("postgresql", "postgresql+psycopg", "mysql+pymysql") for f in FORMS),
    f"postgresql://u@h/db?PassWord={PASSWORD}&sslmode=require",
    f"postgresql://u@h/db?sslpassword={quote(PASSWORD, safe='')}",
    f"mysql+pymysql://u@h/db?passwd={quote(PASSWORD, safe='')}&charset=utf8mb4",
    f"postgresql://u@h/db?options=-c%20password%3D{quote(PASSWORD, safe='')}",
    f"postgresql://u@h/db?api_key={PASSWORD}",
    f"postgresql://u@h/db?token={PASSWORD}",
    f"postgresql://u@h/db?access_key={PASSWORD}",
    f"postgresql://u@h/db?secret={PASSWORD}",
    f"host=h dbname=db password={PASSWORD}",  # a libpq conninfo string, not a URL
    f"host=h dbname=db password='{PASSWORD}'",
])
def test_redact_hides_every_credential_of_a_url(url):
    shown = redact(url)
    assert not [n for n in NEEDLES if n in shown], shown
    if "://" in url and "password=" not in url.split("?")[-1].lower():
        assert "@h" in shown or "@127.0.0.1" in shown or "?" in shown, shown  # the host is still there


def test_the_url_object_is_redacted_too():
    url = parse_dsn(dsn("postgresql", 5432, "db", "query-encoded"))
    assert url.query["password"] == PASSWORD  # parsed, not lost
    shown = redact(url)
    assert "password=***" in shown and not [n for n in NEEDLES if n in shown]


def test_a_raw_at_in_the_password_does_not_end_the_userinfo():
    url = parse_dsn(dsn("postgresql", 5432, "db", "userinfo-raw"))
    assert (url.username, url.password, url.host, url.port, url.database) == (USER, PASSWORD, "127.0.0.1", 5432, "db")


def test_scrub_hides_every_spelling_of_a_known_password_in_a_message():
    url = parse_dsn(dsn("postgresql", 5432, "db", "query-encoded"))
    for text in (PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD), f'password "{PASSWORD}" rejected',
                 f"could not connect: password={PASSWORD} is wrong"):
        cleaned = scrub(text, url)
        assert not [n for n in NEEDLES if n in cleaned], cleaned
