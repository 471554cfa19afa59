"""A numeric column's released domain: where its bins may lie when noise puts mass where no row is.

The noise is ordinary (seeded) noise plus one spike of 6σ in one cell of one release: the kind of
cell that passes a 1 % false-positive test once in a few hundred columns, and that used to stretch
a rating 0..9 to a range of hundreds of millions, or add a 10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dbsynth.measure import domains
from dbsynth.measure.domains import FrameCounts, private_encoders
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.noise import SeededNoise
from dbsynth.schema import Column
from dbsynth.spec import ColumnSpec


class SpikedNoise(SeededNoise):
    """Seeded noise with, in the k-th Gaussian release, the cell holding value v raised by 6σ
    (`spikes`: k → (the grid's candidates, when known, → v))."""

    def __init__(self, seed: int, spikes: dict):
        super().__init__(seed)
        self.spikes, self.calls, self.grids = spikes, 0, {}

    def integer_gaussian(self, counts: np.ndarray, sigma: float) -> np.ndarray:
        out = super().integer_gaussian(counts, sigma)
        self.calls += 1
        if self.calls in self.spikes:
            cands = self.grids[self.calls].candidates  # count b holds the values in [c_b-1, c_b)
            out[int(np.searchsorted(cands, self.spikes[self.calls], side="right"))] += int(6 * sigma)
        return out


RATING = pd.DataFrame({"rating": np.random.default_rng(0).integers(0, 10, 10_000)})
# Release order for a numeric column: its frequent values (one chunk), the coarse range, the fine bins.
COARSE, FINE = 2, 3


def _encoder(frame: pd.DataFrame, noise, rho: float = 0.0036):
    ledger = Ledger(4.0, 1e-9, noise=noise)
    col = Column(frame.columns[0], "INTEGER", "Integer", False)
    return private_encoders([(col, ColumnSpec(kind="numeric", domain="dp"))], FrameCounts(frame), ledger=ledger,
                            rho=rho, delta=1e-10, sensitivity=1.0, table="t")[col.name]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("coarse, fine", [(2e9, None), (-2e9, None), (2e9, 10), (-2e9, -1), (10, 10), (-1, -1)],
                         ids=["far above", "far below", "far above, then next", "far below, then next",
                              "next above", "next below"])
def test_a_noisy_cell_never_moves_the_bins_of_values_the_frequent_ones_hold(coarse, fine, seed, monkeypatch):
    """A rating 0..9, each value held by a thousand rows: noise in a coarse cell (the type's grid,
    far off or next to the values) stretches the range the fine release looks in; noise in a fine
    cell just outside the values then looks like rows. Neither may put a bin outside 0..9."""
    noise = SpikedNoise(seed, {COARSE: coarse} | ({FINE: fine} if fine is not None else {}))
    for name, call in (("histogram_grid", COARSE), ("fine_grid", FINE)):  # public grids: where the spikes go
        real = getattr(domains, name)
        monkeypatch.setattr(domains, name, lambda *a, real=real, call=call, **k: noise.grids.setdefault(call, real(*a, **k)))
    enc = _encoder(RATING, noise)
    assert noise.calls == FINE and len(enc.points) == 10
    assert 0 <= enc.edges[0] and enc.edges[-1] <= 10, enc.edges
    draws = enc.decode(np.arange(enc.n_bins).repeat(200), np.random.default_rng(seed))
    assert set(draws) <= set(range(10))


@pytest.mark.parametrize("seed", range(3))
def test_rows_outside_the_frequent_values_keep_their_bins(seed):
    """The other side: where rows lie outside the frequent values, the bins still reach them (a
    zero-inflated amount, and frequent small values with a thin spread far above them)."""
    rng = np.random.default_rng(seed)
    amount = np.where(rng.random(10_000) < 0.6, 0, rng.integers(1, 100_000, 10_000))
    enc = _encoder(pd.DataFrame({"amount": amount}), SeededNoise(seed))
    assert 0 in enc.points and enc.edges[-1] >= 90_000, enc.edges
    mixed = np.concatenate([RATING["rating"].to_numpy(), rng.integers(100, 200, 2_000)])
    enc = _encoder(pd.DataFrame({"mixed": mixed}), SeededNoise(seed))
    assert set(range(10)) <= set(enc.points) and enc.edges[0] <= 100 and enc.edges[-1] >= 195, enc.edges


def _string_encoder(frame: pd.DataFrame, seed: int, rho: float):
    ledger = Ledger(4.0, 1e-9, noise=SeededNoise(seed))
    col = Column(frame.columns[0], "TEXT", "Text", False)
    spec = ColumnSpec(kind="categorical", domain="dp", when_sparse="text")
    return private_encoders([(col, spec)], FrameCounts(frame), ledger=ledger, rho=rho, delta=1e-10,
                            sensitivity=1.0, table="t")[col.name]


@pytest.mark.parametrize("seed", range(3))
def test_a_category_below_the_coverage_keeps_its_released_values(seed):
    """Only 'delivered' (62 % of the rows) clears the partition selection at this ρ: the column
    is mostly made up, but 'delivered' keeps its rows, and what is made up beside it are words
    like it (it used to be all filler text)."""
    statuses = ["delivered", "shipped", "pending", "cancelled", "returned", "lost"]
    frame = pd.DataFrame({"status": np.random.default_rng(0).choice(statuses, 3000, p=[.62, .08, .08, .08, .07, .07])})
    enc = _string_encoder(frame, seed, rho=5e-5)
    assert enc.values == ["delivered"] and enc.other and enc.other_like == "word"


def test_free_text_keeps_its_frequent_exact_value_and_stays_text():
    rng = np.random.default_rng(1)
    notes = ["" if rng.random() < 0.4 else f"customer asked about order {i} and the delivery window {rng.random()}"
             for i in range(3000)]
    enc = _string_encoder(pd.DataFrame({"note": notes}), 0, rho=0.01)
    assert enc.values == [""] and enc.other and enc.other_like == "text"
