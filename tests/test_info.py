"""`dbsynth info TARGET`: the guarantee travels with the shadow. Read back from PostgreSQL,
MariaDB, SQLite and DuckDB targets, it says what the run's ledger says (ε, δ, every mechanism's ρ, the
units, the released domains) and which version made it; a database without it is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

import shop
from dbsynth import __version__
from dbsynth.pipeline import RunOptions, run


def dbsynth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def small_shop(tmp_path_factory) -> str:
    dsn = f"sqlite:///{tmp_path_factory.mktemp('info') / 'shop.db'}"
    shop.build(dsn, customers=300)
    return dsn


@pytest.mark.parametrize("engine", ["pg", "maria", "sqlite", "duckdb"])
def test_info_shows_the_guarantee_the_run_stored(engine, small_shop, new_pg_db, new_maria_db, new_sqlite_path,
                                                tmp_path):
    target = {"pg": new_pg_db, "maria": new_maria_db, "sqlite": new_sqlite_path,
              "duckdb": lambda: f"duckdb:///{tmp_path / 'shadow.duckdb'}"}[engine]()
    spec_out, ledger_path = tmp_path / "released.yaml", tmp_path / "ledger.json"
    run(RunOptions(small_shop, target, 2.0, seed=1, spec_out=str(spec_out), ledger_path=str(ledger_path)))
    ledger = json.loads(ledger_path.read_text())

    res = dbsynth("info", target, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["epsilon"] == pytest.approx(ledger["epsilon"]) and info["epsilon"] <= 2.0
    assert info["delta"] == pytest.approx(ledger["delta"])
    assert info["dbsynth_version"] == __version__ and info["run"] == ledger["run"]
    assert not info["guarantee_void"] and info["within_target"]
    # Every charge is accounted for under its mechanism.
    assert sum(m["releases"] for m in info["mechanisms"]) == len(ledger["charges"])
    assert sum(m["rho"] for m in info["mechanisms"]) == pytest.approx(sum(c["rho"] for c in ledger["charges"]))
    assert {m["name"] for m in info["mechanisms"]} == {c["mechanism"] for c in ledger["charges"]}
    # Who is protected, and the spec as run with what it released (the --spec-out file's domains).
    assert info["units"]["order_line"].startswith("part of a unit: one customer row")
    released = yaml.safe_load(spec_out.read_text())
    for table, ts in released["tables"].items():
        expected = sorted(c for c, cs in ts.get("columns", {}).items() if cs.get("domain") == "released")
        assert info["tables"][table]["released_columns"] == expected, table
    assert any(t["released_columns"] for t in info["tables"].values())
    assert info["ledger"]["spec"]["tables"].keys() == released["tables"].keys()

    text = dbsynth("info", target)
    assert text.returncode == 0, text.stderr
    password = make_url(target).password
    assert "differential privacy" in text.stdout and "one customer row" in text.stdout
    assert f"by dbsynth {__version__}" in text.stdout
    if password:
        assert password not in text.stdout + text.stderr + res.stdout


def test_info_refuses_a_database_that_carries_no_guarantee(small_shop, new_sqlite_path, tmp_path):
    """The source itself (no ledger), and a shadow whose ledger was dropped: exit 1, one line."""
    res = dbsynth("info", small_shop)
    assert res.returncode == 1 and "no privacy guarantee" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    target = new_sqlite_path()
    run(RunOptions(small_shop, target, 1.0, seed=2))
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM _dbsynth_ledger"))
    engine.dispose()
    res = dbsynth("info", target)
    assert res.returncode == 1 and "empty" in res.stderr, res.stderr
