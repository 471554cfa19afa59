"""The whole path through the CLI on real databases: run, then verify with zero hard failures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa


def dbsynth(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True, timeout=timeout)


def run_and_verify(source: str, target: str, tmp_path, epsilon: str = "2") -> dict:
    ledger = tmp_path / "ledger.json"
    res = dbsynth("run", source, target, "--epsilon", epsilon, "--seed", "7", "--ledger", str(ledger), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["ledger"]["epsilon"] <= float(epsilon)
    assert json.loads(ledger.read_text())["epsilon"] == summary["ledger"]["epsilon"]
    ver = dbsynth("verify", source, target, "--json")
    report = json.loads(ver.stdout)
    assert ver.returncode == 0, [f for f in report["findings"]]
    assert [f for f in report["findings"] if f["check"] == "schema_diff"] == []
    assert report["ledger"]["epsilon"] <= float(epsilon)
    return summary


@pytest.mark.parametrize("engine", ["pg", "maria", "sqlite"])
def test_chinook_shadow_passes_verify(engine, chinook_pg, chinook_maria, chinook_sqlite, new_pg_db, new_maria_db,
                                      new_sqlite_path, tmp_path):
    source, target = {
        "pg": (chinook_pg, new_pg_db),
        "maria": (chinook_maria, new_maria_db),
        "sqlite": (chinook_sqlite, new_sqlite_path),
    }[engine]
    target = target()
    summary = run_and_verify(source, target, tmp_path)
    tables = {t.lower() for t in summary["rows"]}
    assert {"invoiceline", "invoice_line"} & tables
    # every FK resolves and self references are acyclic: walk employee.reports_to to a root
    eng = sa.create_engine(target)
    with eng.connect() as conn:
        names = {t.lower(): t for t in sa.inspect(eng).get_table_names()}
        emp = names["employee"]
        insp = sa.inspect(eng)
        pk = insp.get_pk_constraint(emp)["constrained_columns"][0]
        ref = next(fk for fk in insp.get_foreign_keys(emp) if fk["referred_table"] == emp)["constrained_columns"][0]
        rows = dict(conn.execute(sa.text(f"SELECT {pk}, {ref} FROM {emp}")).fetchall())
    for start in rows:
        seen, node = set(), start
        while rows.get(node) is not None:
            assert node not in seen, "cycle in employee.reports_to"
            seen.add(node)
            node = rows[node]


@pytest.mark.parametrize("engine", ["pg", "maria", "sqlite"])
def test_northwind_shadow_passes_verify(engine, northwind_pg, new_pg_db, new_maria_db, new_sqlite_path, tmp_path):
    """Northwind ships as a PostgreSQL script only: its shadow is written into each engine."""
    target = {"pg": new_pg_db, "maria": new_maria_db, "sqlite": new_sqlite_path}[engine]()
    run_and_verify(northwind_pg, target, tmp_path)


def test_postgres_to_sqlite_works_for_common_types(chinook_pg, new_sqlite_path, tmp_path):
    run_and_verify(chinook_pg, new_sqlite_path(), tmp_path)


def test_cycles_enums_identities_and_checks_survive_a_run(pg_server, new_pg_db, tmp_path):
    """dept ↔ emp FK cycle, a self reference, an enum type, identity and serial keys, CHECKs."""
    from tests.test_introspect import DDL

    src = new_pg_db()
    db = src.rsplit("/", 1)[1]
    rows = ["INSERT INTO dept (name, budget) SELECT 'd' || g, g * 10 FROM generate_series(1, 30) g;",
            "INSERT INTO emp (dept_id, boss_id, feeling, email) SELECT 1 + g % 30, NULL, "
            "(ARRAY['sad','ok','happy'])[1 + g % 3]::mood, 'e' || g || '@x.org' FROM generate_series(1, 400) g;",
            "UPDATE emp SET boss_id = id - 1 WHERE id > 1 AND id % 4 <> 0;",
            "UPDATE dept SET head_id = id * 3;",
            "INSERT INTO badge SELECT id, CASE WHEN id % 2 = 0 THEN 'gold' ELSE 'silver' END FROM emp WHERE id % 3 = 0;"]
    pg_server.psql(db, DDL + "\n".join(rows))
    target = new_pg_db()
    run_and_verify(src, target, tmp_path, epsilon="4")
    eng = sa.create_engine(target)
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM dept WHERE head_id IS NOT NULL")).scalar() > 0
        assert conn.execute(sa.text("SELECT COUNT(*) FROM emp")).scalar() > 100
        # identity and serial continue past the synthetic keys
        conn.execute(sa.text("INSERT INTO dept (name) VALUES ('brand-new')"))
        conn.execute(sa.text("INSERT INTO emp (dept_id, email) VALUES (1, 'new@x.org')"))
        labels = conn.execute(sa.text("SELECT enum_range(NULL::mood)::text")).scalar()
    assert labels == "{sad,ok,happy}"
