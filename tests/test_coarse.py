"""Coarse twins of ordered columns: grouping, aggregation, the structural zeros in the fitted
model, and that AIM with twins learns the joint of two large ordered columns it cannot afford
at full resolution."""

from __future__ import annotations

import numpy as np
import pytest
from mbi import Domain, LinearMeasurement

from dbsynth.measure.domains import public_encoder
from dbsynth.measure.encoders import BinEncoder, CategoricalEncoder, codes_outside_order
from dbsynth.privacy.ledger import Ledger, calibrate_rho
from dbsynth.privacy.noise import SeededNoise
from dbsynth.schema import Column
from dbsynth.spec import ColumnSpec
from dbsynth.tabular import AIM, EncodedTable
from dbsynth.tabular.coarse import make_twins
from dbsynth.tabular.descent import mirror_descent
from tests.tabular_helpers import mean_tvd


def test_groups_are_contiguous_runs_of_about_equal_mass_with_outside_codes_alone():
    counts = np.array([500.0, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 900])
    twins = make_twins({"x": counts, "small": np.ones(6)}, {"x": {0}}, [4], taken=["x", "x~4", "small"])
    assert set(twins.names) == {"x"}  # 6 codes is not more than 2 x 4: no twin
    assert twins.names["x"] == ["x~4~"]  # "x~4" is taken
    g = twins.groups["x~4~"]
    inside = g[1:]
    assert np.all(np.diff(inside) >= 0)  # contiguous runs in the column's order
    assert g[0] == inside.max() + 1  # the code outside the order (NULL) is a group of its own
    assert g[-1] != g[-2]  # the heavy last code holds most of the mass: a group to itself
    assert twins.sizes == {"x~4~": int(g.max()) + 1}


def test_aggregate_equals_counting_the_grouped_codes_and_variants_replace_subsets():
    rng = np.random.default_rng(0)
    x, y, z = rng.integers(0, 40, 5000), rng.integers(0, 3, 5000), rng.integers(0, 50, 5000)
    twins = make_twins({"x": np.bincount(x, minlength=40), "z": np.bincount(z, minlength=50)}, {}, [5], ["x", "y", "z"])
    fine = np.zeros((40, 3, 50))
    np.add.at(fine, (x, y, z), 1)
    coarse = twins.aggregate(fine, ("x~5", "y", "z"))
    direct = np.zeros((twins.sizes["x~5"], 3, 50))
    np.add.at(direct, (twins.groups["x~5"][x], y, z), 1)
    assert np.array_equal(coarse, direct)
    assert twins.fine(("x~5", "y", "z~5")) == ("x", "y", "z")
    assert sorted(twins.variants(("x", "y", "z"))) == sorted([("x~5", "y", "z"), ("x", "y", "z~5"), ("x~5", "y", "z~5")])
    assert twins.variants(("y",)) == []


def test_levels_nest_and_their_potentials_chain():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 60, 4000)
    twins = make_twins({"x": np.bincount(x, minlength=60)}, {"x": {59}}, [12, 3], ["x"])
    fine, coarse = twins.names["x"]
    # Every group of the coarser level is a union of groups of the finer one.
    for g in range(twins.sizes[fine]):
        assert len(set(twins.groups[coarse][twins.groups[fine] == g])) == 1
    assert twins.groups[coarse][59] not in twins.groups[coarse][:59]  # outside the order: alone
    pots = twins.fixed_potentials()
    assert set(pots) == {("x", fine), (fine, coarse)}
    assert (pots[(fine, coarse)] == 0).sum() == twins.sizes[fine]  # one coarse group per finer group


def test_fixed_potentials_are_structural_zeros_in_the_fitted_model():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 30, 3000)
    twins = make_twins({"x": np.bincount(x, minlength=30)}, {}, [4], ["x", "y"])
    y = (x > 15).astype(np.int64)
    domain = Domain(["x", "y", "x~4"], [30, 2, twins.sizes["x~4"]])
    counts = np.zeros((twins.sizes["x~4"], 2))
    np.add.at(counts, (twins.groups["x~4"][x], y), 1)
    ms = [LinearMeasurement(np.bincount(x, minlength=30).astype(float), ("x",), stddev=1.0),
          LinearMeasurement(counts.ravel(), ("x~4", "y"), stddev=1.0)]
    est = mirror_descent(domain, ms, 3000.0, iters=500, fixed=twins.fixed_potentials())
    joint = est.marginals().probabilities(("x", "x~4"))
    off = np.ones_like(joint, dtype=bool)
    off[np.arange(30), twins.groups["x~4"]] = False
    assert joint[off].max() == 0.0  # never a code outside its group
    # The coarse marginal the model gives is the fine one summed into groups, and fits the data.
    fine = est.marginals().probabilities(("x", "y"))
    assert np.allclose(twins.aggregate(fine, ("x~4", "y")), est.marginals().probabilities(("x~4", "y")))
    assert np.abs(est.marginals().counts([("x~4", "y")])[0] - counts).sum() < 0.02 * 3000


def test_encoders_say_which_columns_are_ordered():
    assert codes_outside_order(CategoricalEncoder(["a", "b"], nullable=True, other=True)) is None
    assert codes_outside_order(CategoricalEncoder(["lo", "mid", "hi"], True, True, ordered=True)) == (0, 4)
    assert codes_outside_order(BinEncoder([0.0, 1.0, 2.0], nullable=False, as_type="float")) == ()
    assert codes_outside_order(BinEncoder([0.0, 1.0, 2.0], nullable=True, as_type="float")) == (0,)
    # A spec's ordinal category reaches its encoder; an unmarked one stays nominal.
    size = Column("size", "VARCHAR(2)", "String", nullable=True)
    sizes = ["S", "M", "L"]
    ordinal = public_encoder(size, ColumnSpec(kind="categorical", domain="spec", values=sizes, ordered=True))
    assert codes_outside_order(ordinal) == (0,)  # NULL is code 0, S M L follow in order
    nominal = public_encoder(size, ColumnSpec(kind="categorical", domain="spec", values=sizes))
    assert codes_outside_order(nominal) is None
    with pytest.raises(ValueError, match="ordered is for a categorical column"):
        ColumnSpec(kind="categorical", domain="dp", ordered=True)
    with pytest.raises(ValueError, match="ordered is for a categorical column"):
        ColumnSpec(kind="numeric", domain="spec", edges=[0, 1], ordered=True)


def _diagonal(rows: int, seed: int) -> tuple[EncodedTable, EncodedTable]:
    """Two 80-value ordered columns, y close to x, and a flag: as a plain and an ordered table."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(40, 15, rows), 0, 79).astype(np.int64)
    y = np.clip(x + rng.normal(0, 4, rows), 0, 79).astype(np.int64)
    flag = (rng.random(rows) < 0.2 + 0.6 * (x > 40)).astype(np.int64)
    codes, sizes = {"x": x, "y": y, "flag": flag}, {"x": 80, "y": 80, "flag": 2}
    return (EncodedTable("t", codes, sizes),
            EncodedTable("t", codes, sizes, ordered={"x": (), "y": ()}))


def _tvd(real: EncodedTable, sample: dict, clique) -> float:
    return mean_tvd(real.codes, sample, real.sizes, [clique])


def test_aim_with_twins_learns_what_it_cannot_afford_at_full_resolution():
    plain, ordered = _diagonal(20000, 0)
    rho = calibrate_rho(0.5, 1e-9)
    errors = {}
    for name, data in (("plain", plain), ("ordered", ordered)):
        ledger = Ledger(0.5, 1e-9, noise=SeededNoise(0))
        model = AIM().fit(data, ledger=ledger, rho=rho, sensitivity=1.0, rng=np.random.default_rng(0))
        assert ledger.rho_spent == pytest.approx(rho, rel=1e-9)
        sample = model.sample(data.rows, np.random.default_rng(1))
        assert list(sample) == ["x", "y", "flag"]  # twins are the model's, never the table's
        errors[name] = _tvd(data, sample, ("x", "y"))
        whats = " ".join(c.what for c in ledger.charges)
        assert ("x~" in whats) == (name == "ordered")
    # The plain model cannot afford 80 x 80 cells and keeps x and y nearly independent.
    assert errors["ordered"] < 0.75 * errors["plain"], errors


def test_no_twins_when_the_budget_reaches_the_fine_cliques():
    _, ordered = _diagonal(20000, 0)
    rho = calibrate_rho(8.0, 1e-9)  # ~3300 rows per first-round sigma: above the threshold
    ledger = Ledger(8.0, 1e-9, noise=SeededNoise(0))
    model = AIM().fit(ordered, ledger=ledger, rho=rho, sensitivity=1.0, rng=np.random.default_rng(0))
    assert not any("~" in c.what for c in ledger.charges)
    assert set(model.tree.shape) == {"x", "y", "flag"}
    # The same budget with a threshold above it makes them.
    ledger = Ledger(8.0, 1e-9, noise=SeededNoise(0))
    AIM(coarse_rows_per_sigma=1e9).fit(ordered, ledger=ledger, rho=rho, sensitivity=1.0, rng=np.random.default_rng(0))
    assert any("~" in c.what for c in ledger.charges)
