"""Every documented mistake has its exit code and one line in the user's terms; 70 is for bugs.

One row per case: how the mistake is made, the code it must give and words the line must hold.
Nothing is read from the source and no target file appears where a check could come first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dbsynth.demo import build_shop
from test_bad_input import assert_one_clear_line, dbsynth


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> str:
    return f"sqlite:///{build_shop(tmp_path_factory.mktemp('shop') / 'shop.db', n_customers=30)}"


def _target(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shadow.db'}"


CASES = {
    # name: (argv builder (shop DSN, tmp dir) -> args, exit code, words in the line)
    "uninstalled driver": (lambda s, d: ["run", "postgresql+asyncpg://me@127.0.0.1:1/db", _target(d), "-e", "1"],
                           2, ["asyncpg", "postgresql+psycopg"]),
    "mariadb url without a database": (lambda s, d: ["run", "mysql+pymysql://me@127.0.0.1:1", _target(d), "-e", "1"],
                                       2, ["names no database"]),
    "spec that is a directory": (lambda s, d: ["run", s, _target(d), "-e", "1", "--spec", str(d)], 2,
                                 ["is not a file"]),
    "source file that is not a database": (lambda s, d: ["run", f"sqlite:///{_text_file(d)}", _target(d), "-e", "1"],
                                           3, ["not a SQLite database"]),
    "negative seed": (lambda s, d: ["run", s, _target(d), "-e", "1", "--seed", "-5"], 2, ["--seed"]),
    "unwritable ledger": (lambda s, d: ["run", s, _target(d), "-e", "1", "--ledger", str(d / "no" / "l.json")], 2,
                          ["--ledger"]),
    "ledger that is a directory": (lambda s, d: ["run", s, _target(d), "-e", "1", "--ledger", str(d)], 2,
                                   ["--ledger", "directory"]),
    "unwritable spec-out": (lambda s, d: ["run", s, _target(d), "-e", "1", "--spec-out", str(d / "no" / "s.yaml")],
                            2, ["--spec-out"]),
    "unwritable plan output": (lambda s, d: ["plan", s, "-o", str(d / "no" / "s.yaml")], 2, ["-o"]),
    "report dir that is a file": (lambda s, d: ["verify", s, s, "--report", _text_file(d)], 2, ["--report"]),
    "unwritable emit-sql": (lambda s, d: ["verify", s, s, "--emit-sql", str(d / "no" / "c.sql")], 2, ["--emit-sql"]),
    "epsilon too small to certify": (lambda s, d: ["run", s, _target(d), "-e", "1e-7"], 7, ["too small", "--epsilon"]),
    "epsilon zero": (lambda s, d: ["run", s, _target(d), "-e", "0"], 2, ["epsilon"]),
}


def _text_file(d: Path) -> str:
    path = d / "notes.txt"
    path.write_text("not a database\n")
    return str(path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_documented_mistake_gives_its_exit_code_and_one_clear_line(case, shop, tmp_path):
    argv, code, words = CASES[case]
    res = dbsynth(*argv(shop, tmp_path))
    assert_one_clear_line(res, code, *words)
    assert not (tmp_path / "shadow.db").exists()  # refused before a target was touched


@pytest.mark.parametrize("epsilon", ["0.01", "1e12"])
def test_extreme_but_valid_epsilons_run(shop, tmp_path, epsilon):
    res = dbsynth("run", shop, _target(tmp_path), "-e", epsilon, "--json")
    assert res.returncode == 0, res.stderr


def test_verify_with_a_role_that_cannot_read_the_source_exits_4(pg_server, new_pg_db, tmp_path):
    dsn = new_pg_db()
    db = dsn.rsplit("/", 1)[1]
    pg_server.psql(db, "CREATE TABLE person (id int primary key, age int); INSERT INTO person VALUES (1, 30);")
    pg_server.create_role("noselect", "noselect-pw")
    pg_server.psql(db, "REVOKE ALL ON person FROM noselect;")
    blind = dsn.replace("dbsynth:s3cret-pw", "noselect:noselect-pw")
    target = _target(tmp_path)
    assert dbsynth("run", dsn, target, "-e", "1").returncode == 0
    res = dbsynth("verify", blind, target)
    assert_one_clear_line(res, 4, "person")


def test_a_mariadb_table_the_role_cannot_see_stops_the_run_with_exit_4(maria_server, new_maria_db, tmp_path):
    dsn = new_maria_db()
    db = dsn.rsplit("/", 1)[1].split("?")[0]
    maria_server.sql(f"CREATE TABLE `{db}`.account (id INT PRIMARY KEY, plan VARCHAR(4)) ENGINE=InnoDB;"
                     f"CREATE TABLE `{db}`.visit (id INT PRIMARY KEY, account_id INT NOT NULL, "
                     f"FOREIGN KEY (account_id) REFERENCES account(id)) ENGINE=InnoDB;"
                     f"INSERT INTO `{db}`.account VALUES (1, 'a'); INSERT INTO `{db}`.visit VALUES (1, 1);"
                     "CREATE USER IF NOT EXISTS 'partial'@'%' IDENTIFIED BY 'partial-pw';"
                     f"GRANT SELECT ON `{db}`.visit TO 'partial'@'%';")
    partial = dsn.replace("dbsynth:s3cret-pw", "partial:partial-pw")
    res = dbsynth("run", partial, _target(tmp_path), "-e", "1")
    assert_one_clear_line(res, 4, "account")
    assert not (tmp_path / "shadow.db").exists()


def test_verify_reports_a_table_missing_from_the_target_as_a_hard_failure(shop, tmp_path):
    target = _target(tmp_path)
    assert dbsynth("run", shop, target, "-e", "1").returncode == 0
    con = sqlite3.connect(tmp_path / "shadow.db")
    con.execute("PRAGMA foreign_keys = OFF")
    con.execute("DROP TABLE order_items")
    con.commit()
    con.close()
    res = dbsynth("verify", shop, target, "--hard-only", "--json")
    assert res.returncode == 1
    assert "order_items" in res.stdout
