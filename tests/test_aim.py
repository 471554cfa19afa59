"""AIM: fidelity on Adult at ε=1, exact budget, counts only through a MarginalSource, the
workload from the spec, and the edge cases (constant and binary columns, tiny ρ, no rows)."""

from __future__ import annotations

import itertools
import math
import re
import time

import numpy as np
import pytest

from dbsynth.demo import build_shop
from dbsynth.errors import SpecError, UsageError
from dbsynth.pipeline import RunOptions, run
from dbsynth.privacy.ledger import Ledger, calibrate_rho
from dbsynth.privacy.noise import SeededNoise
from dbsynth.spec import Spec
from dbsynth.tabular import AIM, MST, EncodedTable, method_for
from dbsynth.tabular.workload import candidates, resolve_workload
from tests.tabular_helpers import DELTA, EPSILON, adult_table, assert_valid_sample, mean_tvd, small_table
from tests.tabular_helpers import fit as fit_with



class CountingSource:
    """A `MarginalSource` and nothing more (no codes to peek at); remembers every request."""

    def __init__(self, data: EncodedTable):
        self.table, self.sizes, self.rows, self.ordered = data.table, dict(data.sizes), None, dict(data.ordered)
        self._data = data
        self.calls: list[list[tuple[str, ...]]] = []

    def marginals(self, cliques):
        self.calls.append([tuple(c) for c in cliques])
        return self._data.marginals(cliques)


def fit(data, rho: float, *, method=None, sensitivity: float = 1.0, seed: int = 0):
    return fit_with(data, rho, method or AIM(), sensitivity=sensitivity, seed=seed)


def measured_cliques(ledger: Ledger) -> list[tuple[str, ...]]:
    """The cliques AIM measured in its rounds, read back from the ledger."""
    out = []
    for c in ledger.charges:
        m = re.match(r"AIM round \d+: \d-way \((.*)\)$", c.what)
        if m:
            out.append(tuple(m.group(1).split(", ")))
    return out


@pytest.fixture(scope="module")
def adult(datasets_dir):
    data = adult_table(datasets_dir)
    source = CountingSource(data)
    ledger = Ledger(EPSILON, DELTA, noise=SeededNoise(0))  # the goal is checked on one reproducible draw
    start = time.perf_counter()
    model = method_for("aim").fit(source, ledger=ledger, rho=calibrate_rho(EPSILON, DELTA), sensitivity=1.0,
                                  rng=np.random.default_rng(0))
    fitted = time.perf_counter()
    sample = model.sample(data.rows, np.random.default_rng(1))
    return data, source, ledger, model, sample, fitted - start, time.perf_counter() - fitted


def adult_tvd(adult) -> tuple[float, float]:
    data, sample = adult[0], adult[4]
    triples = list(itertools.combinations(data.columns, 3))
    fixed = [triples[i] for i in sorted(np.random.default_rng(0).choice(len(triples), 100, replace=False))]
    return (mean_tvd(data.codes, sample, data.sizes, list(itertools.combinations(data.columns, 2))),
            mean_tvd(data.codes, sample, data.sizes, fixed))


def test_aim_on_adult_beats_mst_by_a_wide_margin(adult, capsys):
    data, source, ledger, model, sample, fit_s, sample_s = adult
    assert_valid_sample(sample, data.sizes, data.rows)
    tvd2, tvd3 = adult_tvd(adult)
    with capsys.disabled():
        print(f"\nAIM on Adult (eps={EPSILON}): mean TVD 2-way {tvd2:.4f}, 3-way {tvd3:.4f}; fit {fit_s:.1f} s, "
              f"sample {sample_s:.1f} s, {len(measured_cliques(ledger))} rounds")
    # Measured: 0.031 / 0.079 (seed 0); with mbi's sampling and merged values drawn back uniformly
    # 0.033 / 0.083; without coarse twins too 0.035 / 0.088; MST 0.052 / 0.12; bootstrap 0.015 / 0.038.
    # Issue 3's goal (≤ 0.035 / 0.08 on average over three noise draws) is measured over seeds in
    # benchmarks/adult/run.py (BENCHMARKS.md, "Adult: per-table fidelity"): seven minutes of AIM
    # fits that one reproducible draw here guards against regressions as well.
    assert tvd2 <= 0.034
    assert tvd3 <= 0.082
    assert model.estimated_rows == pytest.approx(data.rows, rel=0.01)


def test_aim_spends_exactly_its_rho_and_stays_within_epsilon(adult):
    ledger = adult[2]
    assert ledger.rho_spent == pytest.approx(calibrate_rho(EPSILON, DELTA), rel=1e-9)
    assert ledger.epsilon() <= EPSILON


def test_aim_measures_one_ways_then_alternates_select_and_measure(adult):
    data, ledger = adult[0], adult[2]
    d = len(data.columns)
    kinds = [c.mechanism for c in ledger.charges]
    assert kinds[:d] == ["gaussian"] * d
    assert [c.what for c in ledger.charges[:d]] == [f"1-way ({c})" for c in data.columns]
    # Coarse twins of the large ordered columns (age, fnlwgt, hours-per-week) were measured.
    assert any("~" in " ".join(clique) for clique in measured_cliques(ledger))
    rounds = kinds[d:]
    assert len(rounds) >= 2 and rounds == ["exponential", "gaussian"] * (len(rounds) // 2)
    # The selection's sensitivity is Δ times the largest workload weight (AIM §4).
    weights = candidates(resolve_workload("adult", None, data.sizes), data.columns)
    assert {c.sensitivity for c in ledger.charges if c.mechanism == "exponential"} == {max(weights.values())}


def test_aim_asks_its_source_for_every_count_in_one_batch(adult):
    data, source = adult[0], adult[1]
    assert len(source.calls) == 1  # a database source answers it with one scan
    asked = set(source.calls[0])
    assert {(c,) for c in data.columns} <= asked
    assert set(itertools.combinations(data.columns, 3)) <= asked


@pytest.mark.parametrize("method", [AIM(), MST()], ids=["aim", "mst"])
def test_methods_read_counts_only_through_the_source(method):
    source = CountingSource(small_table())
    model, _ = fit(source, 1.0, method=method)
    assert len(source.calls) == 1
    assert_valid_sample(model.sample(50, np.random.default_rng(0)), source.sizes, 50)


def test_workload_override_limits_what_aim_measures():
    data = small_table(rows=2000)
    model, ledger = fit(data, 2.0, method=method_for("aim", workload=[["a", "b"], ["b", "flag"]]))
    measured = measured_cliques(ledger)
    assert measured and all(set(r) <= {"a", "b"} or set(r) <= {"b", "flag"} for r in measured)
    assert_valid_sample(model.sample(100, np.random.default_rng(0)), data.sizes, 100)


def test_workload_columns_must_be_modelled():
    with pytest.raises(UsageError, match="not a modelled column"):
        fit(small_table(), 1.0, method=AIM(workload=(("a", "nope"),)))
    # A constant column drops out of its cliques; what is left is still a workload.
    assert resolve_workload("t", [["a", "k"], ["k"]], small_table().sizes) == [("a",)]
    model, _ = fit(small_table(), 1.0, method=AIM(workload=(("k",),)))  # nothing left: the 1-ways
    assert_valid_sample(model.sample(20, np.random.default_rng(0)), small_table().sizes, 20)


def test_spec_workload_reaches_aim_and_is_refused_elsewhere():
    text = """
version: 1
dialect: sqlite
tables:
  t:
    workload: [[a, b], [a, b, c]]
"""
    spec = Spec.from_yaml(text)
    ts = spec.tables["t"]
    assert ts.method == "aim" and ts.workload == [["a", "b"], ["a", "b", "c"]]
    method = method_for(ts.method, workload=ts.workload)
    assert isinstance(method, AIM) and method.workload == (("a", "b"), ("a", "b", "c"))
    with pytest.raises(SpecError, match="aim only"):
        Spec.from_yaml(text.replace("    workload", "    method: mst\n    workload"))
    with pytest.raises(SpecError, match="distinct"):
        Spec.from_yaml(text.replace("[a, b, c]", "[a, a]"))
    assert all(t.workload is None and t.method == "mst" for t in spec.with_method("mst").tables.values())
    assert isinstance(method_for("mst", workload=[["a"]]), MST)  # mst has no use for one


def test_pipeline_uses_the_spec_workload_and_the_method_override(tmp_path):
    shop = build_shop(tmp_path / "shop.db", n_customers=150)
    source = f"sqlite:///{shop}"
    from dbsynth.connect import source_engine
    from dbsynth.plan import make_spec
    from dbsynth.schema.introspect import introspect

    spec = make_spec(introspect(source_engine(source)))
    assert all(ts.method == "aim" for ts in spec.tables.values())  # the default
    modelled = [c for c, cs in spec.tables["orders"].columns.items() if cs.kind in ("categorical", "datetime")]
    assert len(modelled) >= 2
    spec.tables["orders"].workload = [modelled[:2]]
    spec.save(tmp_path / "spec.yaml")
    result = run(RunOptions(source, f"sqlite:///{tmp_path / 'a.db'}", 2.0, DELTA, str(tmp_path / "spec.yaml"), seed=1))
    measured = [m.group(1).split(", ") for c in result.ledger["charges"] if c["table"] == "orders"
                and (m := re.match(r"AIM round \d+: \d-way \((.*)\)$", c["what"]))]
    assert measured and all(set(r) <= set(modelled[:2]) for r in measured)
    assert result.ledger["epsilon"] <= 2.0

    result = run(RunOptions(source, f"sqlite:///{tmp_path / 'b.db'}", 2.0, DELTA, str(tmp_path / "spec.yaml"), seed=1,
                            method="mst"))
    assert not any(c["what"].startswith("AIM") for c in result.ledger["charges"])
    assert any(c["what"].startswith("MST edge") for c in result.ledger["charges"])
    with pytest.raises(SpecError, match="did you mean 'aim'"):
        run(RunOptions(source, f"sqlite:///{tmp_path / 'c.db'}", 2.0, DELTA, seed=1, method="aimm"))


def test_constant_columns_cost_nothing_and_binary_columns_are_modelled():
    data = small_table()
    model, ledger = fit(data, 1.0)
    assert not any(re.search(r"\bk\b", c.what) for c in ledger.charges)
    assert "1-way (flag)" in [c.what for c in ledger.charges]
    sample = model.sample(400, np.random.default_rng(0))
    assert_valid_sample(sample, data.sizes, 400)
    assert not sample["k"].any() and 0 < sample["flag"].mean() < 1


def test_tiny_budget_spends_exactly_and_yields_valid_rows():
    data = small_table()
    model, ledger = fit(data, 1e-8)
    assert ledger.epsilon() < 0.1 and math.isfinite(model.estimated_rows) and model.estimated_rows >= 0
    assert_valid_sample(model.sample(100, np.random.default_rng(0)), data.sizes, 100)


def test_empty_table_still_yields_valid_rows():
    data = small_table(rows=0)
    model, ledger = fit(data, 1.0)
    assert model.estimated_rows >= 0
    assert_valid_sample(model.sample(40, np.random.default_rng(0)), data.sizes, 40)
    assert_valid_sample(model.sample(0, np.random.default_rng(0)), data.sizes, 0)


def test_one_column_spends_the_whole_budget_on_its_one_way():
    data = EncodedTable("t", {"a": np.arange(300) % 6}, {"a": 6})
    model, ledger = fit(data, 1.0)
    assert [(c.mechanism, c.what, c.rho) for c in ledger.charges] == [("gaussian", "1-way (a)", 1.0)]
    assert np.bincount(model.sample(600, np.random.default_rng(0))["a"], minlength=6) == pytest.approx([100] * 6,
                                                                                                      abs=15)


def test_table_without_modelled_columns_releases_only_a_noisy_row_count():
    model, ledger = fit(EncodedTable("keys_only", {}, {}, rows=1000), 2.0)
    assert [(c.mechanism, c.what) for c in ledger.charges] == [("gaussian", "row count")]
    assert model.estimated_rows == pytest.approx(1000, abs=5 * ledger.charges[0].sigma)


def test_same_seed_same_synthetic_rows():
    data = small_table()
    first = fit(data, 1.0, seed=7)[0].sample(300, np.random.default_rng(3))
    again = fit(data, 1.0, seed=7)[0].sample(300, np.random.default_rng(3))
    other = fit(data, 1.0, seed=8)[0].sample(300, np.random.default_rng(4))
    assert all(np.array_equal(first[c], again[c]) for c in data.columns)
    assert not all(np.array_equal(first[c], other[c]) for c in data.columns)


def test_larger_sensitivity_means_proportionally_larger_noise_at_the_same_cost():
    data = small_table()
    _, low = fit(data, 0.5, sensitivity=1.0)
    _, high = fit(data, 0.5, sensitivity=3.0)
    gauss = lambda ledger: [c for c in ledger.charges if c.mechanism == "gaussian"][: len(data.columns) - 1]  # noqa: E731
    for a, b in zip(gauss(low), gauss(high)):  # the 1-ways: same ρ, 3× the σ
        assert b.rho == pytest.approx(a.rho) and b.sigma == pytest.approx(3.0 * a.sigma)


def test_method_names():
    assert isinstance(method_for("aim"), AIM) and method_for("aim").name == "aim"
    with pytest.raises(UsageError, match="did you mean 'aim'"):
        method_for("aimm")
