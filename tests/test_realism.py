"""Every column looks like the real one on the zoo of application columns (tests/zoo.py).

At ε = 4 on 10,000 rows, with the default plan: TEXT categories stay categories, prices keep
their exact values, a zero-inflated amount stays zero-inflated, a mass at one integer stays,
integers stay integers in their range, timestamps (timestamptz, MySQL TIMESTAMP) stay in the
months they span and in whole seconds, a constant audit column stays constant, free text stays
text. Written into a target of the same engine.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import zoo
from dbsynth.pipeline import RunOptions, run
from dbsynth.privacy.noise import SeededNoise


def _frame(dsn: str) -> pd.DataFrame:
    engine = sa.create_engine(dsn)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SET TIME ZONE 'UTC'"))
        frame = pd.read_sql(sa.text("SELECT * FROM purchase"), conn)
    engine.dispose()
    return frame


def _share(values: pd.Series, allowed) -> float:
    return float(values.map(lambda v: v in allowed).mean())


def _tvd(a: pd.Series, b: pd.Series) -> float:
    pa = a.fillna("<NULL>").value_counts(normalize=True)
    pb = b.fillna("<NULL>").value_counts(normalize=True)
    return 0.5 * float(pa.subtract(pb, fill_value=0).abs().sum())


def _when(v) -> dt.datetime:
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    return v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v.tzinfo else v


@pytest.fixture(params=["postgresql", "mysql", "sqlite"], scope="module")
def shadow(request, tmp_path_factory):
    kind = request.param
    if kind == "postgresql":
        server = request.getfixturevalue("pg_server")
        source, target = (server.create_database(f"zoo_{w}") for w in ("src", "dst"))
    elif kind == "mysql":
        server = request.getfixturevalue("maria_server")
        source, target = (server.create_database(f"zoo_{w}") for w in ("src", "dst"))
    else:
        d = tmp_path_factory.mktemp("zoo")
        source, target = f"sqlite:///{d / 'src.db'}", f"sqlite:///{d / 'dst.db'}"
    zoo.build(source, kind)
    # Seeded noise: the bounds below (99 % of the timestamps within a month of the real range)
    # are about a typical draw; fresh noise put 98.9 % there once in a fresh-clone suite.
    run(RunOptions(source, target, 4.0, 1e-9, seed=1, noise=SeededNoise(1)))
    return kind, _frame(source), _frame(target)


def test_text_categories_stay_categories_and_free_text_stays_text(shadow):
    kind, real, syn = shadow
    assert set(syn["status"]) <= set(zoo.STATUSES)
    assert _tvd(real["status"], syn["status"]) < 0.05
    assert set(syn["gender"].dropna()) <= {"F", "M", "X"}
    assert _tvd(real["gender"], syn["gender"]) < 0.05
    # free text: made up, never copied, and not a handful of repeated values
    assert syn["note"].nunique() > 0.5 * len(syn)
    assert not set(syn["note"]) & set(real["note"])


def test_prices_keep_their_exact_values_and_amounts_their_zeros(shadow):
    kind, real, syn = shadow
    prices = {Decimal(str(p)) for p in zoo.PRICES} | set(zoo.PRICES)
    assert _share(syn["price"], prices) >= 0.95
    assert _tvd(real["price"].astype(float), syn["price"].astype(float)) < 0.05
    zeros_real, zeros_syn = (real["amount"].astype(float) == 0).mean(), (syn["amount"].astype(float) == 0).mean()
    assert abs(zeros_real - zeros_syn) < 0.03
    positive = syn["amount"].astype(float)[syn["amount"].astype(float) > 0]
    assert positive.between(0, real["amount"].astype(float).max() * 1.5).all()
    # decimals keep their scale
    assert all(round(float(v), 2) == float(v) for v in syn["amount"])


def test_integers_keep_their_mass_range_and_integrality(shadow):
    kind, real, syn = shadow
    assert abs((syn["hours"] == 40).mean() - (real["hours"] == 40).mean()) < 0.03
    assert syn["rating"].between(0, 9).all()
    assert _tvd(real["rating"], syn["rating"]) < 0.05
    assert (syn["hours"].astype(float) % 1 == 0).all()


def test_timestamps_stay_in_their_months_in_whole_seconds_and_constants_stay_constant(shadow):
    kind, real, syn = shadow
    created = syn["created"].map(_when)
    lo, hi = zoo.START - dt.timedelta(days=31), zoo.START + dt.timedelta(days=zoo.DAYS + 31)
    assert created.between(lo, hi).mean() >= 0.99, (created.min(), created.max())
    assert all(t.microsecond == 0 for t in created)
    audit = syn["last_update"].map(_when)
    assert (audit == zoo.AUDIT).mean() >= 0.95


def test_verify_reports_the_realism_of_every_non_key_column_and_gates_on_it(tmp_path):
    import sqlite3
    import subprocess
    import sys

    source, target = f"sqlite:///{tmp_path / 'src.db'}", f"sqlite:///{tmp_path / 'dst.db'}"
    zoo.build(source, "sqlite", n=2000)
    run(RunOptions(source, target, 4.0, 1e-9, seed=2))

    def verify(*extra):
        res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "verify", source, target, "--json", "--workload", "0",
                              *extra], capture_output=True, text=True)
        import json

        return res.returncode, json.loads(res.stdout)

    reports = tmp_path / "report"
    code, report = verify("--fail-under", "realism_tvd=0.1", "--report", str(reports))
    assert code == 0
    columns = {c["column"]: c for c in report["realism"]["columns"]}
    # every non-key column, free text included (the within-table fidelity leaves that one out)
    assert set(columns) == {"price", "amount", "hours", "rating", "created", "last_update", "status", "gender", "note"}
    assert columns["note"]["seen"] == 0.0 and "tvd" in columns["status"] and "ks" in columns["created"]
    # the same section in the markdown and the HTML report, one row per column
    md = (reports / "report.md").read_text()
    md_realism = md[md.index("### Realism of every column"):]
    html = (reports / "report.html").read_text()
    html_realism = html[html.index("<section id=realism>"):]
    html_realism = html_realism[:html_realism.index("</section>")]
    for name in columns:
        assert f"| purchase | {name} |" in md_realism, name
        assert f"<td>purchase</td><td>{name}</td>" in html_realism, name
    # A shadow whose categories are filler is caught, by the report and by the gate.
    con = sqlite3.connect(tmp_path / "dst.db")
    con.execute("UPDATE purchase SET status = 'lorem ipsum ' || id")
    con.commit()
    con.close()
    code, report = verify("--fail-under", "realism_tvd=0.1")
    assert code == 1
    bad = {c["column"]: c for c in report["realism"]["columns"]}["status"]
    assert bad["tvd"] == pytest.approx(1.0) and bad["seen"] == 0.0
