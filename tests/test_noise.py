"""The guarantee survives its own output: the noise is fresh, cryptographic and nowhere stored.

`--seed` fixes post-processing only; every mechanism draws from the ledger's `Noise` (OpenDP's
exact samplers over the OS CSPRNG), and the target carries nothing that regenerates it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import traceback

import numpy as np
import pytest
import sqlalchemy as sa
from scipy.stats import norm

from dbsynth.pipeline import RunOptions, run
from dbsynth.privacy import mechanisms
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.noise import SecureNoise, SeededNoise

DELTA = 1e-9


def _shop(path) -> str:
    """A small private table whose noisy size is visible: 120 rows, two categories."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE visit (id INTEGER PRIMARY KEY, kind VARCHAR(8) NOT NULL CHECK (kind IN ('web', 'app')),
                            mins INTEGER NOT NULL CHECK (mins BETWEEN 0 AND 60));
    """)
    con.executemany("INSERT INTO visit VALUES (?, ?, ?)",
                    [(i, "web" if i % 3 else "app", i % 61) for i in range(1, 121)])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _ledger_in(target: str) -> dict:
    with sa.create_engine(target).connect() as conn:
        return json.loads(conn.execute(sa.text("SELECT ledger FROM _dbsynth_ledger")).scalar_one())


def test_same_seed_gives_fresh_noise_and_the_target_holds_nothing_that_regenerates_it(tmp_path):
    source = _shop(tmp_path / "src.db")
    sizes, ledgers = [], []
    for i in range(3):
        target = f"sqlite:///{tmp_path / f'shadow{i}.db'}"
        result = run(RunOptions(source, target, 0.3, DELTA, seed=7))
        sizes.append(result.rows["visit"])
        ledgers.append(_ledger_in(target))
    # σ of the row count is in the tens of rows at ε = 0.3: three equal sizes would mean the noise
    # followed the seed.
    assert len(set(sizes)) > 1, sizes
    for led in ledgers:
        assert "seed" not in led and led["seeded_post_processing"] is True
        assert led["guarantee_void"] is False and "OpenDP" in led["noise"]
    # What the target says about the run is the same in the three runs, less its random id and
    # time, the charges that AIM chose adaptively from noisy answers, and the released sizes and
    # caps (DP outputs: the split's noisy row counts, the caps chosen from the data, the spec as run
    # with its released domains), and yet the noise differs: nothing the user fixed or the target
    # stores determines it.
    def stored(led):
        return {k: v for k, v in led.items()
                if k not in ("run", "created", "charges", "epsilon", "rho_spent", "split", "caps_from_data", "units",
                             "spec")}

    assert stored(ledgers[0]) == stored(ledgers[1]) == stored(ledgers[2])


class _Spy:
    """A secure noise source that counts what it is asked for."""

    def __init__(self):
        self.inner, self.draws = SecureNoise(), 0
        self.sampler, self.voids_guarantee = self.inner.sampler, False

    def integer_gaussian(self, counts, sigma):
        self.draws += 1
        return self.inner.integer_gaussian(counts, sigma)

    def noisy_max(self, scores, scale):
        self.draws += 1
        return self.inner.noisy_max(scores, scale)

    def bernoulli(self, n, p):
        return self.inner.bernoulli(n, p)

    def torch_seed(self):
        return self.inner.torch_seed()


class _GuardedGenerator:
    """numpy's generator, refusing any call made from the privacy package: post-processing
    randomness must never reach a mechanism."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def guarded(*args, **kwargs):
            for frame in traceback.extract_stack()[:-1]:
                assert "dbsynth/privacy/" not in frame.filename.replace("\\", "/"), (
                    f"{frame.filename}:{frame.lineno} drew from the seeded post-processing generator ({name})")
            return attr(*args, **kwargs)

        return guarded


@pytest.mark.parametrize("method", ["aim", "mst"])
def test_every_mechanism_on_private_data_draws_from_the_secure_source(chinook_sqlite, tmp_path, monkeypatch, method):
    real = np.random.default_rng
    monkeypatch.setattr(np.random, "default_rng", lambda *a, **k: _GuardedGenerator(real(*a, **k)))
    spy = _Spy()
    # The partition selections that were handed a candidate (a value at or above their floor).
    fed: set[int] = set()
    add = mechanisms.PartitionSelection.add

    def counting_add(self, pairs):
        pairs = list(pairs)
        if any(n >= self.floor for _, n in pairs):
            fed.add(id(self))
        return add(self, pairs)

    monkeypatch.setattr(mechanisms.PartitionSelection, "add", counting_add)
    result = run(RunOptions(chinook_sqlite, f"sqlite:///{tmp_path / 'c.db'}", 2.0, DELTA, seed=1, method=method,
                            noise=spy))
    charges = result.ledger["charges"]
    kinds = {c["mechanism"] for c in charges}
    # Chinook exercises every mechanism the marginal methods use on private rows.
    assert {"gaussian", "exponential", "partition_selection"} <= kinds
    # One noise request per Gaussian/exponential charge, at least one per partition selection
    # with a candidate (it is fed in chunks): no charge is paid without noise from the source.
    # A selection with no value at its floor releases nothing and needs no noise.
    plain = sum(1 for c in charges if c["mechanism"] in ("gaussian", "exponential"))
    assert fed, "no partition selection was handed a candidate"
    assert plain + len(fed) <= spy.draws
    assert result.ledger["guarantee_void"] is False


def test_mechanisms_take_no_generator():
    import inspect

    for fn in (mechanisms.gaussian, mechanisms.exponential, mechanisms.quantiles_from_counts,
               mechanisms.partition_selection, mechanisms.PartitionSelection.__init__):
        assert "rng" not in inspect.signature(fn).parameters, fn


def test_discrete_gaussian_has_the_right_mean_variance_and_tails():
    noise, sigma, n = SecureNoise(), 3.0, 200_000
    x = noise.integer_gaussian(np.zeros(n, dtype=np.int64), sigma)
    assert x.dtype == np.int64
    assert abs(x.mean()) < 5 * sigma / math.sqrt(n)
    # The discrete Gaussian's variance is within 1e-6 of σ² at σ = 3; the sample's s.e. is σ²·√(2/n).
    assert abs(x.var() - sigma**2) < 5 * sigma**2 * math.sqrt(2 / n)
    for k in (1, 2, 3):  # P(|X| > kσ), k = 1..3, against the exact discrete probabilities
        support = np.arange(-60, 61)
        weights = np.exp(-support.astype(float) ** 2 / (2 * sigma**2))
        p = weights[np.abs(support) > k * sigma].sum() / weights.sum()
        observed = np.mean(np.abs(x) > k * sigma)
        assert abs(observed - p) < 5 * math.sqrt(p * (1 - p) / n), (k, observed, p)
    # Fresh: two draws of the same input are not the same vector.
    assert not np.array_equal(noise.integer_gaussian(np.zeros(1000, dtype=np.int64), sigma),
                              noise.integer_gaussian(np.zeros(1000, dtype=np.int64), sigma))


def test_discrete_gaussian_refuses_non_integer_counts():
    with pytest.raises(ValueError):
        SecureNoise().integer_gaussian(np.array([1.5]), 1.0)


def test_exponential_mechanism_selects_with_its_stated_probabilities():
    ledger = Ledger(10.0, DELTA)
    scores = np.array([0.0, 1.0, 2.0, 4.0])
    epsilon, n = 1.0, 6000
    picks = np.bincount([mechanisms.exponential(ledger, scores, sensitivity=1.0, epsilon=epsilon, table="t", what="s")
                         for _ in range(n)], minlength=4)
    p = np.exp(epsilon * scores / 2)
    p /= p.sum()
    assert np.all(np.abs(picks / n - p) < 5 * np.sqrt(p * (1 - p) / n)), (picks / n, p)
    assert ledger.charges[0].rho == pytest.approx(epsilon**2 / 8)


def test_seeded_test_noise_voids_the_guarantee_and_verify_says_so(tmp_path):
    from dbsynth.connect import source_engine, target_engine
    from dbsynth.schema.introspect import introspect
    from dbsynth.verify import verify

    source = _shop(tmp_path / "src.db")
    target = f"sqlite:///{tmp_path / 'void.db'}"
    result = run(RunOptions(source, target, 1.0, DELTA, seed=1, noise=SeededNoise(5)))
    assert result.ledger["guarantee_void"] is True and "TEST ONLY" in result.ledger["noise"]
    src = source_engine(source)
    report = verify(src, target_engine(target), introspect(src), fidelity=False)
    assert not report.passed()
    assert any("no privacy guarantee" in f.detail for f in report.hard_findings())


@pytest.mark.parametrize("sensitivity, rho", [(1.0, 0.01), (8.0, 0.05), (40.0, 0.002)])
def test_a_value_below_the_floor_without_the_unit_passes_with_at_most_delta_over_delta(sensitivity, rho):
    """The floor's argument: a value that is a candidate with a unit and not without it has at most
    floor − 1 + Δ rows; its release probability P[c + Z > τ], summed exactly over the discrete
    Gaussian's pmf, is at most δ/Δ, so the union over the unit's Δ values stays within δ."""
    delta = 1e-9
    sel = mechanisms.PartitionSelection(Ledger(1.0, 1e-6), sensitivity=sensitivity, rho=rho, delta=delta, table="t", what="v")
    assert sel.floor > 1, "the floor should bite at these σ"
    z = np.arange(-int(60 * sel.sigma), int(60 * sel.sigma) + 1)
    logp = -(z.astype(float) ** 2) / (2 * sel.sigma**2)
    pmf = np.exp(logp - logp.max())
    pmf /= pmf.sum()
    worst = sel.floor - 1 + sensitivity
    assert pmf[worst + z > sel.tau].sum() <= delta / sensitivity
    # and the floor costs no more than it must: one more row would break the bound
    assert pmf[worst + 1 + sel.sigma * 0.5 + z > sel.tau].sum() > delta / sensitivity
    plain = sensitivity + 1 + sel.sigma * float(norm.isf(delta / sensitivity))
    assert sel.tau == pytest.approx(plain + sel.floor - 1)


def test_values_below_the_floor_draw_no_noise_and_are_never_released():
    spy = _Spy()
    ledger = Ledger(1.0, 1e-6, noise=spy)
    sel = mechanisms.PartitionSelection(ledger, sensitivity=1.0, rho=0.001, delta=1e-9, table="t", what="v")
    floor = sel.floor
    sel.add([(f"rare{i}", floor - 1) for i in range(50_000)])
    assert spy.draws == 0
    sel.add([("common", 10 * int(sel.tau)), ("rare", floor - 1)])
    out = sel.release()
    assert spy.draws == 1 and out.values == ["common"]
