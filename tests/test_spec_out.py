"""`dbsynth run --spec-out`: the released domains are written down and a rerun reuses them for free."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from dbsynth.errors import SpecError
from dbsynth.spec import ColumnSpec, Spec
from tests.test_end_to_end import dbsynth

DOMAIN_RELEASES = ("domain of ", "range of ", "bins of ")


def _domain_charges(ledger: dict) -> list[str]:
    return [c["what"] for c in ledger["charges"] if c["what"].startswith(DOMAIN_RELEASES)]


def test_released_domains_are_recorded_and_reused_at_no_cost(chinook_sqlite, new_sqlite_path, tmp_path):
    plan = tmp_path / "plan.yaml"
    assert dbsynth("plan", chinook_sqlite, "-o", str(plan)).returncode == 0
    planned = Spec.load(plan)
    paid = {(t, c) for t, ts in planned.tables.items() for c, cs in ts.columns.items()
            if cs.domain == "dp" and cs.kind in ("categorical", "numeric", "datetime")}
    assert paid, "Chinook's plan should pay for some domains"

    out, first_ledger = tmp_path / "released.yaml", tmp_path / "first.json"
    first = new_sqlite_path()
    res = dbsynth("run", chinook_sqlite, first, "-e", "2", "--seed", "3", "--spec-out", str(out),
                  "--ledger", str(first_ledger), "--json")
    assert res.returncode == 0, res.stderr
    released = Spec.load(out)
    real = sa.create_engine(chinook_sqlite)
    with real.connect() as conn:
        for table, column in paid:
            cs = released.tables[table].columns[column]
            assert cs.domain == "released", (table, column, cs)
            if cs.kind == "categorical":
                # partition selection only ever releases values that occur in the data
                present = {v for (v,) in conn.execute(sa.text(f'SELECT DISTINCT "{column}" FROM "{table}"'))}
                assert set(cs.values) <= present, (table, column)
            else:
                assert len(cs.edges) >= 2 and cs.edges == sorted(set(cs.edges))
    real.dispose()
    assert _domain_charges(json.loads(first_ledger.read_text()))

    # Rerun from the written spec: the same bins and values, and nothing charged for domains.
    second_ledger = tmp_path / "second.json"
    second = new_sqlite_path()
    res = dbsynth("run", chinook_sqlite, second, "-e", "2", "--seed", "4", "--spec", str(out),
                  "--ledger", str(second_ledger), "--json")
    assert res.returncode == 0, res.stderr
    ledger = json.loads(second_ledger.read_text())
    assert _domain_charges(ledger) == []
    assert ledger["epsilon"] <= 2
    ver = dbsynth("verify", chinook_sqlite, second, "--json", "--hard-only")
    assert ver.returncode == 0, json.loads(ver.stdout)["findings"]
    # Every synthetic value of a released numeric column lies inside the released edges (up to the
    # rounding to the column's scale: Chinook's prices have two decimals).
    synth = sa.create_engine(second)
    with synth.connect() as conn:
        for table, column in sorted(paid):
            cs = released.tables[table].columns[column]
            if cs.kind != "numeric":
                continue
            lo, hi = conn.execute(sa.text(f'SELECT MIN("{column}"), MAX("{column}") FROM "{table}"')).one()
            if lo is not None:
                assert cs.edges[0] - 0.005 <= float(lo) and float(hi) <= cs.edges[-1] + 0.005, (table, column)
    synth.dispose()


@pytest.mark.parametrize("fields, message", [
    ({"kind": "categorical", "domain": "released"}, "needs its values"),
    ({"kind": "categorical", "domain": "spec", "values": ["a"], "edges": [0, 1]}, "edges are bin edges"),
    ({"kind": "numeric", "domain": "released", "edges": [3, 1]}, "strictly increasing"),
    ({"kind": "numeric", "domain": "dp", "edges": [0, 1]}, "domain dp"),
])
def test_released_domains_are_checked(fields, message):
    spec = {"dialect": "sqlite", "tables": {"t": {"columns": {"c": fields}}}}
    with pytest.raises(SpecError, match=message):
        Spec.from_yaml(json.dumps(spec))
    assert ColumnSpec(kind="numeric", domain="released", edges=[0, 1.5, 4]).edges == [0, 1.5, 4]
