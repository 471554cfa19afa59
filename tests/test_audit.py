"""`dbsynth audit`: the one-run bound is computed right, the honest pipeline is not refuted, a
broken one is caught, and the source is only ever read."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from scipy import stats

from dbsynth.audit.bounds import epsilon_lower, p_value
from dbsynth.audit.guesses import best_bound
from dbsynth.audit.runner import AuditOptions, audit

from broken_mechanism import broken_mechanism
from conftest import dataset
from test_bad_input import assert_one_clear_line, dbsynth


def test_every_guess_right_gives_the_analytic_bound():
    # All r guesses right: P[Binomial(r, q) ≥ r] = q^r = α, so q = α^(1/r) and ε = log(q / (1 - q)).
    for r, alpha in ((10, 0.05), (40, 0.05), (100, 0.01)):
        q = alpha ** (1 / r)
        assert epsilon_lower(r, r, r, 0.0, alpha) == pytest.approx(math.log(q / (1 - q)), abs=1e-5)


def test_p_value_is_the_binomial_tail_plus_the_delta_term():
    m, r, v, eps = 200, 60, 45, 0.7
    q = 1 / (1 + math.exp(-eps))
    assert p_value(m, r, v, eps, 0.0) == pytest.approx(stats.binom.sf(v - 1, r, q))
    # The δ term: 2mδ times the largest P[v−i ≤ B < v] / i.
    worst = max(sum(stats.binom.pmf(k, r, q) for k in range(v - i, v)) / i for i in range(1, v + 1))
    assert p_value(m, r, v, eps, 1e-4) == pytest.approx(stats.binom.sf(v - 1, r, q) + 2 * m * 1e-4 * worst)
    assert epsilon_lower(m, r, v, 1e-4, 0.05) <= epsilon_lower(m, r, v, 0.0, 0.05)


def test_guessing_at_chance_bounds_nothing():
    assert epsilon_lower(100, 100, 50, 1e-9, 0.05) == 0.0
    assert epsilon_lower(100, 0, 0, 1e-9, 0.05) == 0.0


def test_randomised_response_at_epsilon_one_is_rarely_refuted():
    # ε-DP randomised response on every canary: the bound must exceed ε in at most α of trials.
    rng = np.random.default_rng(7)
    eps, m, trials = 1.0, 400, 200
    q = 1 / (1 + math.exp(-eps))
    over = 0
    for _ in range(trials):
        included = rng.random(m) < 0.5
        answer = np.where(rng.random(m) < q, included, ~included)
        scores = answer + rng.random(m) * 0.1  # the mechanism's answer, ties broken at random
        bound = best_bound("rr", scores, included, 0.0, 0.05, rng)
        over += bound.epsilon_lower > eps
    assert over <= trials * 0.05 + 3 * math.sqrt(trials * 0.05)


def test_canaries_are_whole_units_with_fresh_keys_and_resolving_foreign_keys(chinook_sqlite, tmp_path):
    from dbsynth.audit.canaries import choose_root, make_canaries, unit_shape
    from dbsynth.audit.scratch import read_source, write_scratch
    from dbsynth.connect import source_engine, target_engine
    from dbsynth.pipeline import load_spec
    from dbsynth.privacy.units import Units
    from dbsynth.schema.introspect import introspect

    src = source_engine(chinook_sqlite)
    schema = introspect(src)
    spec = load_spec(schema, None)
    source = read_source(src, schema)
    units = Units.from_spec(schema, spec)
    shape = unit_shape(schema, spec, units, source.frames, choose_root(schema, spec, units, source.frames))
    canaries = make_canaries(schema, spec, shape, source.frames, 5, np.random.default_rng(0))
    extra = {t: [r for c in canaries for r in c.rows[t]] for t in shape.tables}
    scratch = target_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    write_scratch(scratch, schema, source, extra)
    with scratch.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        for t in shape.tables:
            n = conn.exec_driver_sql(f'SELECT count(*) FROM "{t}"').scalar()
            assert n == len(source.frames[t]) + len(extra[t])
        # Each canary's invoices hang under its own customer, its lines under its own invoices.
        lines = conn.exec_driver_sql(
            'SELECT count(*) FROM "InvoiceLine" l JOIN "Invoice" i ON i."InvoiceId" = l."InvoiceId" '
            'WHERE i."CustomerId" = ?', (canaries[0].rows["Customer"][0]["CustomerId"],)).scalar()
        assert lines == shape.rows_per_canary() - 1 - shape.degree["Invoice"]
    scratch.dispose()
    src.dispose()
    # Inside the domains: every modelled value is one the real column has.
    for c in canaries:
        for t, values in c.values.items():
            for column, value in values.items():
                assert value in set(source.frames[t][column].dropna())


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_honest_pipeline_at_epsilon_one_is_not_refuted_and_the_source_is_only_read(tmp_path):
    source = tmp_path / "chinook.sqlite"
    shutil.copyfile(dataset("chinook", "Chinook_Sqlite.sqlite"), source)
    before = _digest(source)
    page = tmp_path / "audit.html"
    # The defaults (64 canaries × 4 runs): the audit that catches noise/1000 below.
    result = dbsynth("audit", f"sqlite:///{source}", "--epsilon", "1", "--seed", "5", "--json", "--report", str(page))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["epsilon"] == 1 and data["canaries"] == 256 and data["unit"] == "Customer"
    assert data["epsilon_lower"] <= 1 and not data["refuted"] and not data["guarantee_void"]
    assert {a["attack"] for a in data["attacks"]} == {"marginal", "closest", "degree"}
    assert data["rows_per_canary"] == {"Customer": 1, "Invoice": 7, "InvoiceLine": 98}
    assert _digest(source) == before
    assert not [p for p in tmp_path.iterdir() if p.name not in ("chinook.sqlite", "audit.html")]
    assert "ε_lower" in page.read_text(encoding="utf-8")


def test_noise_divided_by_1000_is_caught_at_epsilon_one(chinook_sqlite):
    with broken_mechanism(1000) as noise:
        result = audit(AuditOptions(chinook_sqlite, 1.0, canaries=64, runs=6, seed=11, noise=noise))
    assert result.guarantee_void and "TEST ONLY" in result.noise
    assert result.overall.epsilon_lower > 1.0 and result.refuted
    # The headline bound is corrected for three attacks: never above the best single attack's.
    assert result.overall.epsilon_lower <= max(a.epsilon_lower for a in result.attacks)


def test_a_postgresql_source_is_audited_and_left_as_it_was(chinook_pg):
    engine = sa.create_engine(chinook_pg)
    with engine.connect() as conn:
        tables = sorted(sa.inspect(conn).get_table_names())
        counts = conn.execute(sa.text('SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM invoice)')).one()
    result = audit(AuditOptions(chinook_pg, 1.0, canaries=8, runs=1, seed=2))
    assert result.unit.lower() == "customer" and result.canaries == 8
    assert result.overall.epsilon_lower <= 1.0
    with engine.connect() as conn:
        assert sorted(sa.inspect(conn).get_table_names()) == tables
        assert conn.execute(sa.text('SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM invoice)')).one() \
            == counts
    engine.dispose()


@pytest.mark.parametrize("args, code", [
    (["--epsilon", "0"], 2),
    (["--epsilon", "1", "--canaries", "1"], 2),
    (["--epsilon", "1", "--attack", "oracle"], 2),
    (["--epsilon", "1", "--unit", "InvoiceLine"], 6),
])
def test_audit_refuses_bad_options_with_documented_exit_codes(chinook_sqlite, args, code):
    assert_one_clear_line(dbsynth("audit", chinook_sqlite, *args), code)


def test_audit_of_a_missing_source_exits_3(tmp_path):
    assert_one_clear_line(dbsynth("audit", f"sqlite:///{tmp_path / 'nope.sqlite'}", "--epsilon", "1"), 3, "not found")
    assert os.listdir(tmp_path) == []
