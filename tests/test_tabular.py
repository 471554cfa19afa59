"""The per-table MST model: fidelity on Adult, exact budget bookkeeping, and the edge cases."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from dbsynth.errors import UsageError
from dbsynth.privacy.ledger import Ledger, calibrate_rho
from dbsynth.privacy.noise import SeededNoise
from dbsynth.tabular import MST, EncodedTable, method_for
from tests import tabular_helpers as helpers
from tests.tabular_helpers import DELTA, EPSILON



def two_way_tvd(real: dict, synth: dict, sizes: dict, a: str, b: str) -> float:
    def dist(codes: dict) -> np.ndarray:
        idx = np.ravel_multi_index((codes[a], codes[b]), (sizes[a], sizes[b]))
        return np.bincount(idx, minlength=sizes[a] * sizes[b]) / len(idx)

    return 0.5 * float(np.abs(dist(real) - dist(synth)).sum())


def small_table(rows: int = 400, seed: int = 0):
    """Three correlated columns and a constant one (public domain of size 1)."""
    return helpers.small_table(rows, seed, flag=False)


def fit(data, rho: float, *, sensitivity: float = 1.0, seed: int = 0):
    return helpers.fit(data, rho, MST(), sensitivity=sensitivity, seed=seed)


@pytest.fixture(scope="module")
def adult(datasets_dir):
    data = helpers.adult_table(datasets_dir, ordered=False)
    ledger = Ledger(EPSILON, DELTA, noise=SeededNoise(0))
    start = time.perf_counter()
    model = method_for("mst").fit(data, ledger=ledger, rho=calibrate_rho(EPSILON, DELTA), sensitivity=1.0,
                                  rng=np.random.default_rng(0))
    fitted = time.perf_counter()
    sample = model.sample(data.rows, np.random.default_rng(1))
    return data, ledger, model, sample, fitted - start, time.perf_counter() - fitted


def test_mst_on_adult_keeps_two_way_marginals_close(adult, capsys):
    data, ledger, model, sample, fit_s, sample_s = adult
    helpers.assert_valid_sample(sample, data.sizes, data.rows)
    tvd = np.mean([two_way_tvd(data.codes, sample, data.sizes, a, b)
                   for a, b in itertools.combinations(data.columns, 2)])
    with capsys.disabled():
        print(f"\nMST on Adult (eps={EPSILON}): mean 2-way TVD {tvd:.4f}, fit {fit_s:.1f} s, "
              f"sample {sample_s:.1f} s, estimated rows {model.estimated_rows:.0f}")
    assert tvd < 0.08
    assert ledger.epsilon() <= EPSILON
    assert model.estimated_rows == pytest.approx(data.rows, rel=0.01)


def test_mst_charges_one_event_per_release(adult):
    data, ledger, *_ = adult
    d = len(data.columns)
    kinds = [(c.mechanism, c.what.split(" ")[0]) for c in ledger.charges]
    # d Gaussian 1-ways, then d-1 exponential-mechanism edge choices, then d-1 Gaussian 2-ways.
    assert kinds == [("gaussian", "1-way")] * d + [("exponential", "MST")] * (d - 1) + [("gaussian", "2-way")] * (d - 1)
    rho = calibrate_rho(EPSILON, DELTA)
    assert ledger.rho_spent == pytest.approx(rho, rel=1e-9)
    for prefix in ("1-way", "MST", "2-way"):  # a third of the budget each
        assert sum(c.rho for c in ledger.charges if c.what.startswith(prefix)) == pytest.approx(rho / 3)


def test_larger_sensitivity_means_proportionally_larger_noise_at_the_same_cost():
    data, rho = small_table(), 0.5
    _, low = fit(data, rho, sensitivity=1.0)
    _, high = fit(data, rho, sensitivity=3.0)
    assert [c.rho for c in high.charges] == pytest.approx([c.rho for c in low.charges])
    for a, b in zip(low.charges, high.charges):
        assert b.sensitivity == 3.0 * a.sensitivity
        if a.mechanism == "gaussian":
            assert b.sigma == pytest.approx(3.0 * a.sigma)


def test_same_seed_same_synthetic_rows():
    data = small_table()
    first = fit(data, 1.0, seed=7)[0].sample(300, np.random.default_rng(3))
    again = fit(data, 1.0, seed=7)[0].sample(300, np.random.default_rng(3))
    other = fit(data, 1.0, seed=8)[0].sample(300, np.random.default_rng(4))
    assert all(np.array_equal(first[c], again[c]) for c in data.columns)
    assert not all(np.array_equal(first[c], other[c]) for c in data.columns)


def test_constant_columns_cost_nothing_and_come_back_as_zero():
    data = small_table()
    model, ledger = fit(data, 1.0)
    assert not any("(k" in c.what or "k)" in c.what for c in ledger.charges)
    assert len(ledger.charges) == 3 * 3 - 2  # three modelled columns
    sample = model.sample(50, np.random.default_rng(0))
    helpers.assert_valid_sample(sample, data.sizes, 50)
    assert not sample["k"].any()


def test_table_without_columns_releases_only_a_noisy_row_count():
    data = EncodedTable("keys_only", {}, {}, rows=1000)
    model, ledger = fit(data, 2.0)
    assert [(c.mechanism, c.what) for c in ledger.charges] == [("gaussian", "row count")]
    assert model.estimated_rows == pytest.approx(1000, abs=5 * ledger.charges[0].sigma)
    assert model.sample(10, np.random.default_rng(0)) == {}


def test_only_constant_columns_release_a_row_count():
    data = EncodedTable("flags", {"x": np.zeros(20, dtype=np.int64)}, {"x": 1})
    model, ledger = fit(data, 1.0)
    assert [c.what for c in ledger.charges] == ["row count"]
    assert np.array_equal(model.sample(5, np.random.default_rng(0))["x"], np.zeros(5))


def test_one_column_spends_the_whole_budget_on_its_one_way():
    data = EncodedTable("t", {"a": np.arange(300) % 6}, {"a": 6})
    model, ledger = fit(data, 1.0)
    assert [(c.mechanism, c.what, c.rho) for c in ledger.charges] == [("gaussian", "1-way (a)", 1.0)]
    sample = model.sample(600, np.random.default_rng(0))
    helpers.assert_valid_sample(sample, data.sizes, 600)
    assert np.bincount(sample["a"], minlength=6) == pytest.approx([100] * 6, abs=15)


def test_empty_table_still_yields_valid_rows():
    data = small_table(rows=0)
    model, ledger = fit(data, 1.0)
    assert len(ledger.charges) == 7
    assert model.estimated_rows >= 0
    helpers.assert_valid_sample(model.sample(40, np.random.default_rng(0)), data.sizes, 40)
    helpers.assert_valid_sample(model.sample(0, np.random.default_rng(0)), data.sizes, 0)


def test_tiny_budget_drowns_in_noise_but_yields_valid_rows():
    data = small_table()
    model, ledger = fit(data, 1e-8)
    assert ledger.epsilon() < 0.1 and math.isfinite(model.estimated_rows) and model.estimated_rows >= 0
    helpers.assert_valid_sample(model.sample(100, np.random.default_rng(0)), data.sizes, 100)


def test_method_names():
    assert isinstance(method_for("mst"), MST) and method_for("mst").name == "mst"
    with pytest.raises(UsageError, match="did you mean 'mst'"):
        method_for("mts")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="outside"):
        EncodedTable("t", {"a": np.array([0, 3])}, {"a": 3})
    with pytest.raises(ValueError, match="rows="):
        EncodedTable("t", {}, {})
    with pytest.raises(UsageError):
        fit(small_table(), 0.0)


def _random_model(seed: int = 0):
    """A small mbi model fitted to noisy marginals of random data, with some cliques out of model."""
    from mbi import Dataset, Domain, LinearMeasurement, estimation

    rng = np.random.default_rng(seed)
    domain = Domain(["a", "b", "c", "d", "e"], [3, 4, 2, 5, 3])
    cols = {"a": rng.integers(0, 3, 500)}
    cols["b"] = (cols["a"] + rng.integers(0, 2, 500)) % 4
    cols["c"] = (cols["b"] > 1).astype(int)
    cols["d"] = (cols["c"] * 2 + rng.integers(0, 3, 500)) % 5
    cols["e"] = rng.integers(0, 3, 500)
    data = Dataset(cols, domain)
    cliques = [("a",), ("e",), ("a", "b"), ("b", "c", "d"), ("d", "e")]
    ms = [LinearMeasurement(data.project(cl).datavector() + rng.normal(0, 3, domain.size(cl)), cl, stddev=3.0)
          for cl in cliques]
    return domain, ms, estimation.MirrorDescent().estimate(domain, ms, known_total=500.0, iters=500)


def test_numpy_tree_marginals_equal_mbi_marginals_in_and_out_of_model():
    from dbsynth.tabular.inference import JunctionTree, TreeMarginals

    domain, _, mrf = _random_model()
    potentials = {tuple(c): np.asarray(mrf.potentials[c].values) for c in mrf.cliques}
    tree = JunctionTree(domain, list(potentials))
    marginals = TreeMarginals(tree, tree.calibrate(potentials), float(mrf.total))
    for clique in [("b", "c"), ("d", "b"), ("a", "d"), ("a", "e", "c"), ("e",)]:
        expected = np.asarray(mrf.project(clique).datavector(flatten=False))
        assert marginals.counts([clique])[0] == pytest.approx(expected, rel=1e-8, abs=1e-8), clique


def test_tree_cells_is_mbi_hypothetical_model_size():
    from mbi import Domain, junction_tree

    from dbsynth.tabular.inference import tree_cells

    rng = np.random.default_rng(0)
    sizes = {f"x{i}": int(k) for i, k in enumerate(rng.integers(2, 30, 10))}
    domain = Domain(list(sizes), list(sizes.values()))
    for _ in range(20):
        cliques = [tuple(rng.choice(list(sizes), int(k), replace=False)) for k in rng.integers(1, 4, 8)]
        assert tree_cells(sizes, cliques) * 8 / 2**20 == pytest.approx(junction_tree.hypothetical_model_size(domain, cliques))


def test_numpy_mirror_descent_reaches_the_loss_mbi_reaches():
    from mbi import marginal_loss

    from dbsynth.tabular.descent import mirror_descent

    domain, ms, mrf = _random_model()
    ours = mirror_descent(domain, ms, 500.0, iters=500)
    theirs = float(marginal_loss.from_linear_measurements(ms, domain)(mrf.marginals))
    assert ours.loss == pytest.approx(theirs, rel=0.02)


def test_sampler_matches_the_model_one_ways_up_to_rounding():
    from dbsynth.tabular.model import GraphicalModel

    domain, _, mrf = _random_model()
    model = GraphicalModel.from_mrf(domain.attributes, dict(zip(domain.attributes, domain.shape)), mrf, {}, 500.0)
    sample = model.sample(10_000, np.random.default_rng(0))
    for col in domain.attributes:
        expected = 10_000 * np.asarray(mrf.project((col,)).datavector()) / float(mrf.total)
        assert np.bincount(sample[col], minlength=expected.size) == pytest.approx(expected, abs=60), col
