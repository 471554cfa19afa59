"""Plan reads no rows; specs round-trip; the run's ledger stays within ε and lives in the target."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from dbsynth.demo import build_shop
from dbsynth.pipeline import RunOptions, run
from dbsynth.plan import make_spec
from dbsynth.connect import source_engine
from dbsynth.schema.introspect import introspect
from dbsynth.spec import Spec


def test_plan_needs_no_select_privilege(pg_server, new_pg_db):
    """A role that may not read a single row can still plan: plan reads the catalog only."""
    dsn = new_pg_db()
    db = dsn.rsplit("/", 1)[1]
    pg_server.psql(db, "CREATE TABLE person (id int primary key, email text, age int);"
                       "CREATE TABLE visit (id int primary key, person_id int not null references person(id), at date);")
    pg_server.create_role("blind", "blind-pw")
    pg_server.psql(db, "REVOKE ALL ON person, visit FROM blind;")
    blind = dsn.replace("dbsynth:s3cret-pw", "blind:blind-pw")
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "plan", blind, "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    spec = json.loads(res.stdout)
    assert spec["tables"]["visit"]["owner"] == "visit(person_id)->person"
    assert spec["tables"]["person"]["columns"]["email"]["kind"] == "pii"
    assert spec["sensitivity"]["visit"] == 8


def test_spec_round_trips_through_yaml(tmp_path):
    schema = introspect(source_engine(f"sqlite:///{build_shop(tmp_path / 's.db', n_customers=20)}"))
    spec = make_spec(schema)
    path = tmp_path / "spec.yaml"
    spec.save(path)
    assert Spec.load(path) == spec
    assert spec.tables["order_items"].owner == "order_items(order_id)->orders"
    assert spec.tables["orders"].columns["status"].values == ["new", "paid", "shipped", "cancelled"]
    assert spec.tables["order_items"].columns["quantity"].bounds == (1.0, 20.0)


@pytest.mark.parametrize("epsilon", [0.3, 2.0])
def test_ledger_stays_within_epsilon_and_is_stored_in_the_target(tmp_path, epsilon):
    shop = build_shop(tmp_path / "shop.db", n_customers=150)
    target = f"sqlite:///{tmp_path / 'shadow.db'}"
    result = run(RunOptions(f"sqlite:///{shop}", target, epsilon, 1e-9, seed=3))
    ledger = result.ledger
    assert ledger["epsilon"] <= epsilon
    assert ledger["epsilon"] > 0.95 * epsilon  # the budget is used, not wasted
    mechanisms = {c["mechanism"] for c in ledger["charges"]}
    assert {"gaussian", "exponential", "partition_selection"} <= mechanisms
    with sa.create_engine(target).connect() as conn:
        stored = json.loads(conn.execute(sa.text("SELECT ledger FROM _dbsynth_ledger")).scalar())
    assert stored["epsilon"] == ledger["epsilon"]
    assert len(stored["charges"]) == len(ledger["charges"])
