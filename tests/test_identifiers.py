"""Identifiers and CHECK texts round-trip on every engine pair.

One tiny schema whose table, column, constraint and index names hold spaces, both quote
characters, backticks, mixed case and non-ASCII letters, and a CHECK with an escaped quote, is
built on each engine; `dbsynth run` then `dbsynth verify` go from each engine to each engine
(ε = 1, a few rows): both exit 0, and the target's constraint and index names are the source's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
import sqlalchemy as sa

PARENT = 'Kunden "Ä" list'
CHILD = "order's"
ID, NAME, SIZE, LABEL = "K`Id", "Na'me", "Grö`ße", "Label"
KUNDE, AMOUNT = "Kunde Id", "Betrag €"
UNIQUE = 'uq "odd"'
CHECK_SIZE = 'chk "größe"'
CHECK_LABEL = "it's check"
INDEX = "ix `tick` Ä"
FOREIGN_KEY = 'fk "kunde"'
CHILD_INDEX = "Ix Betrag"


def _quote(kind: str) -> Callable[[str], str]:
    if kind == "mysql":
        return lambda name: "`" + name.replace("`", "``") + "`"
    return lambda name: '"' + name.replace('"', '""') + '"'


def weird_schema(kind: str) -> list[str]:
    """The DDL and rows, spelled for `kind` ('postgresql' | 'mysql' | 'sqlite')."""
    q = _quote(kind)
    integer = "INTEGER" if kind != "mysql" else "INT"
    suffix = " ENGINE=InnoDB" if kind == "mysql" else ""
    parent = (
        f"CREATE TABLE {q(PARENT)} ("
        f"{q(ID)} {integer} PRIMARY KEY, "
        f"{q(NAME)} VARCHAR(40) NOT NULL, "
        f"{q(SIZE)} {integer} NOT NULL, "
        f"{q(LABEL)} VARCHAR(20) NOT NULL DEFAULT 'it''s ok', "
        f"CONSTRAINT {q(UNIQUE)} UNIQUE ({q(NAME)}), "
        f"CONSTRAINT {q(CHECK_SIZE)} CHECK ({q(SIZE)} >= 0), "
        f"CONSTRAINT {q(CHECK_LABEL)} CHECK ({q(LABEL)} <> 'it''s')"
        f"){suffix}"
    )
    child = (
        f"CREATE TABLE {q(CHILD)} ("
        f"{q('id')} {integer} PRIMARY KEY, "
        f"{q(KUNDE)} {integer} NOT NULL, "
        f"{q(AMOUNT)} NUMERIC(8, 2) NOT NULL, "
        f"CONSTRAINT {q(FOREIGN_KEY)} FOREIGN KEY ({q(KUNDE)}) REFERENCES {q(PARENT)} ({q(ID)})"
        f"){suffix}"
    )
    labels = ["a", "b", "it is", "a", "b", "a", "b", "a"]
    parents = ", ".join(f"({i}, 'n''{i}', {i % 3}, '{labels[i - 1]}')" for i in range(1, 9))
    children = ", ".join(f"({i}, {1 + i % 8}, {i}.50)" for i in range(1, 16))
    return [
        parent,
        child,
        f"CREATE INDEX {q(INDEX)} ON {q(PARENT)} ({q(SIZE)})",
        f"CREATE INDEX {q(CHILD_INDEX)} ON {q(CHILD)} ({q(AMOUNT)})",
        f"INSERT INTO {q(PARENT)} VALUES {parents}",
        f"INSERT INTO {q(CHILD)} VALUES {children}",
    ]


def build(dsn: str) -> str:
    engine = sa.create_engine(dsn)
    kind = "mysql" if engine.dialect.name in ("mysql", "mariadb") else engine.dialect.name
    try:
        with engine.begin() as conn:
            for statement in weird_schema(kind):
                conn.exec_driver_sql(statement.replace("%", "%%") if kind != "sqlite" else statement)
    finally:
        engine.dispose()
    return dsn


def dbsynth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ})


def names(dsn: str) -> dict[str, set[str]]:
    """Every table's named UNIQUE (constraint or index), CHECK and FOREIGN KEY constraints and its
    other indexes, read from the engine's own catalog (not through SQLAlchemy's reflection, which
    is under test)."""
    engine = sa.create_engine(dsn)
    kind = "mysql" if engine.dialect.name in ("mysql", "mariadb") else engine.dialect.name
    found: dict[str, set[str]] = {}
    try:
        with engine.connect() as conn:
            if kind == "postgresql":
                rows = conn.exec_driver_sql(
                    "SELECT c.relname, CASE o.contype WHEN 'u' THEN 'unique' WHEN 'c' THEN 'check' "
                    "WHEN 'f' THEN 'fk' END, o.conname FROM pg_constraint o JOIN pg_class c ON c.oid = o.conrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND o.contype IN ('u', 'c', 'f') "
                    "UNION ALL SELECT t.relname, CASE WHEN x.indisunique THEN 'unique' ELSE 'index' END, i.relname "
                    "FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                    "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() "
                    "AND NOT EXISTS (SELECT 1 FROM pg_constraint o WHERE o.conindid = x.indexrelid)"
                ).all()
            elif kind == "mysql":
                rows = conn.exec_driver_sql(
                    "SELECT TABLE_NAME, CASE CONSTRAINT_TYPE WHEN 'UNIQUE' THEN 'unique' WHEN 'CHECK' THEN 'check' "
                    "ELSE 'fk' END, CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_TYPE IN ('UNIQUE', 'CHECK', 'FOREIGN KEY') "
                    "UNION ALL SELECT DISTINCT s.TABLE_NAME, 'index', s.INDEX_NAME "
                    "FROM information_schema.STATISTICS s "
                    "WHERE s.TABLE_SCHEMA = DATABASE() AND s.INDEX_NAME <> 'PRIMARY' AND NOT EXISTS ("
                    "SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c WHERE c.TABLE_SCHEMA = s.TABLE_SCHEMA "
                    "AND c.TABLE_NAME = s.TABLE_NAME AND c.CONSTRAINT_NAME = s.INDEX_NAME)"
                ).all()
            else:
                rows = []
                q = _quote("sqlite")
                for table, sql in conn.exec_driver_sql(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'table'").all():
                    # SQLite keeps constraint names only in the CREATE TABLE text, as they were quoted.
                    for kind_, name in (("unique", UNIQUE), ("check", CHECK_SIZE), ("check", CHECK_LABEL),
                                        ("fk", FOREIGN_KEY)):
                        if f"CONSTRAINT {q(name)} " in sql:
                            rows.append((table, kind_, name))
                    for index in conn.exec_driver_sql(f"PRAGMA index_list({q(table)})").all():
                        if index[3] == "c":  # made by CREATE INDEX, not by a constraint
                            rows.append((table, "unique" if index[2] else "index", index[1]))
        for table, kind_, name in rows:
            if not table.startswith("_dbsynth"):
                found.setdefault(table, set()).add(f"{kind_}:{name}")
        # A UNIQUE index is MySQL's UNIQUE constraint (and carried as one); the index InnoDB makes
        # for a foreign key is named after it.
        return {t: {n for n in got if not (n.startswith("index:") and "fk:" + n[6:] in got)}
                for t, got in found.items()}
    finally:
        engine.dispose()


EXPECTED = {
    PARENT: {f"unique:{UNIQUE}", f"check:{CHECK_SIZE}", f"check:{CHECK_LABEL}", f"index:{INDEX}"},
    CHILD: {f"fk:{FOREIGN_KEY}", f"index:{CHILD_INDEX}"},
}

SOURCES = {"pg": "new_pg_db", "maria": "new_maria_db", "sqlite": "new_sqlite_path"}


@pytest.fixture(scope="module")
def weird_sources(pg_server, maria_server, tmp_path_factory) -> dict[str, str]:
    """The weird schema on each engine, built once for the module."""
    path = tmp_path_factory.mktemp("identifiers") / "source.db"
    return {
        "pg": build(pg_server.create_database("ident_source")),
        "maria": build(maria_server.create_database("ident_source")),
        "sqlite": build(f"sqlite:///{path}"),
    }


def test_odd_names_are_introspected_as_the_engine_spells_them(weird_sources):
    for engine, dsn in weird_sources.items():
        assert names(dsn) == EXPECTED, engine


@pytest.mark.parametrize("target", list(SOURCES))
@pytest.mark.parametrize("source", list(SOURCES))
def test_odd_identifiers_and_escaped_check_quotes_round_trip(source, target, weird_sources, request):
    source_dsn = weird_sources[source]
    target_dsn = request.getfixturevalue(SOURCES[target])()
    res = dbsynth("run", source_dsn, target_dsn, "--epsilon", "1", "--seed", "3", "--json")
    assert res.returncode == 0, res.stderr
    ver = dbsynth("verify", source_dsn, target_dsn, "--workload", "20", "--json")
    findings = json.loads(ver.stdout)["findings"] if ver.stdout.strip() else ver.stderr
    assert ver.returncode == 0, findings
    assert [f for f in findings if f["check"] == "schema_diff"] == []
    assert names(target_dsn) == EXPECTED


def test_sqlite_constraint_names_are_read_unescaped_in_every_quoting_style(tmp_path):
    """SQLite keeps constraint names only in its CREATE TABLE text: every quoting style SQLite
    accepts, doubled quote characters, column constraints and a parent whose name has a quote."""
    import dbsynth.schema  # noqa: F401  (installs the reflection fixes)

    path = tmp_path / "q.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql('CREATE TABLE "pa""rent" ("k`" INTEGER CONSTRAINT "pk ""p""" PRIMARY KEY, a TEXT)')
            conn.exec_driver_sql(
                'CREATE TABLE child (id INTEGER PRIMARY KEY, '
                "p INTEGER CONSTRAINT 'fk ''one''' REFERENCES \"pa\"\"rent\" (\"k`\") ON DELETE CASCADE, "
                "q INTEGER, b TEXT CONSTRAINT [ck (b)] CHECK (b <> 'it''s, (no)') CONSTRAINT `u``b` UNIQUE, "
                'c INT CHECK (c > 0), '
                'CONSTRAINT "fk ""two""" FOREIGN KEY (q) REFERENCES "pa""rent" ("k`") DEFERRABLE INITIALLY DEFERRED, '
                'CONSTRAINT "uq ""pq""" UNIQUE (p, q))'
            )
        insp = sa.inspect(engine)
        assert insp.get_pk_constraint('pa"rent') == {"constrained_columns": ["k`"], "name": 'pk "p"'}
        fks = {fk["name"]: fk for fk in insp.get_foreign_keys("child")}
        assert set(fks) == {"fk 'one'", 'fk "two"'}
        assert fks["fk 'one'"]["referred_table"] == 'pa"rent' and fks["fk 'one'"]["options"] == {"ondelete": "CASCADE"}
        assert fks['fk "two"']["options"] == {"deferrable": True, "initially": "DEFERRED"}
        uniques = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("child")}
        assert uniques == {"u`b": ["b"], 'uq "pq"': ["p", "q"]}
        checks = {c["name"]: c["sqltext"] for c in insp.get_check_constraints("child")}
        assert checks == {"ck (b)": "b <> 'it''s, (no)'", None: "c > 0"}
    finally:
        engine.dispose()


def test_check_texts_move_between_engines_with_their_names_and_literals_respelled():
    from dbsynth.write.portable import portable_check

    pg = "((\"Grö`ße\" >= 0) AND ((\"Label\")::text <> 'it''s \\ ok'::text))"
    assert portable_check(pg, "postgresql", "mysql") == "((`Grö``ße` >= 0) AND ((`Label`) <> 'it''s \\\\ ok'))"
    assert portable_check(pg, "postgresql", "sqlite") == "((\"Grö`ße\" >= 0) AND ((\"Label\") <> 'it''s \\ ok'))"
    maria = "`Grö``ße` >= 0 and `Label` <> 'it\\'s \\\\ ok'"
    assert portable_check(maria, "mysql", "postgresql") == "\"Grö`ße\" >= 0 and \"Label\" <> 'it''s \\ ok'"
    assert portable_check("[a b] <> 'x' AND `c\"d` > 1", "sqlite", "mysql") == "`a b` <> 'x' AND `c\"d` > 1"


def test_check_texts_compare_equal_however_each_engine_quotes_and_escapes():
    from dbsynth.verify.catalog import canonical_check

    same = canonical_check("`Label` <> 'it\\'s'", "mysql")
    assert same == canonical_check("`Label` <> 'it''s'", "mysql")
    assert same == canonical_check("(\"Label\" <> 'it''s')", "postgresql")
    assert same == canonical_check("[Label] <> 'it''s'", "sqlite")
    assert same != canonical_check("`Label` <> 'its'", "mysql")
    assert canonical_check("`a``b` > 0", "mysql") == canonical_check('"a`b" > 0', "postgresql")
