"""What the per-table method tests share: a small correlated table, a fit that checks the exact
budget, the valid-sample check, Adult as an `EncodedTable`, and mean TVD over cliques."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.noise import SeededNoise
from dbsynth.tabular import EncodedTable, Method, TableModel

EPSILON, DELTA = 1.0, 1e-9
# Adult's columns that are bins of a number: their codes follow the bins.
ADULT_ORDINAL = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")


def small_table(rows: int = 600, seed: int = 0, *, flag: bool = True) -> EncodedTable:
    """Three correlated columns, a binary flag (unless `flag` is False) and a constant (public
    domain of size 1)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, rows)
    b = np.where(rng.random(rows) < 0.8, a, rng.integers(0, 5, rows))
    c = (a + b) % 3
    codes, sizes = {"a": a, "b": b, "c": c}, {"a": 4, "b": 5, "c": 3}
    if flag:
        codes["flag"], sizes["flag"] = (rng.random(rows) < 0.3 + 0.1 * a).astype(np.int64), 2
    codes["k"], sizes["k"] = np.zeros(rows, dtype=np.int64), 1
    return EncodedTable("t", codes, sizes)


def fit(data, rho: float, method: Method, *, sensitivity: float = 1.0, seed: int = 0):
    """The model and its ledger; the method must spend exactly `rho`."""
    ledger = Ledger(EPSILON, DELTA, noise=SeededNoise(seed))  # reproducible: these test the model
    model = method.fit(data, ledger=ledger, rho=rho, sensitivity=sensitivity, rng=np.random.default_rng(seed))
    assert isinstance(model, TableModel)
    assert ledger.rho_spent == pytest.approx(rho, rel=1e-9)
    return model, ledger


def assert_valid_sample(sample: dict, sizes: dict, n: int) -> None:
    assert list(sample) == list(sizes)
    for col, codes in sample.items():
        assert codes.shape == (n,) and np.issubdtype(codes.dtype, np.integer)
        assert n == 0 or (codes.min() >= 0 and codes.max() < sizes[col]), col


def adult_table(datasets_dir: Path, *, ordered: bool = True) -> EncodedTable:
    """Adult (integer codes, public domain from its JSON); `ordered` marks its ordinal columns."""
    folder = datasets_dir / "adult"
    header = (folder / "adult.csv").read_text().split("\n", 1)[0].strip().split(",")
    values = np.loadtxt(folder / "adult.csv", delimiter=",", skiprows=1, dtype=np.int64)
    domain = json.loads((folder / "adult-domain.json").read_text())
    return EncodedTable("adult", {c: values[:, i] for i, c in enumerate(header)}, {c: domain[c] for c in header},
                        ordered={c: () for c in ADULT_ORDINAL} if ordered else {})


def distribution(codes: dict, sizes: dict, clique) -> np.ndarray:
    """The rows' joint distribution over `clique` (axes in clique order)."""
    shape = [sizes[c] for c in clique]
    counts = np.bincount(np.ravel_multi_index([codes[c] for c in clique], shape), minlength=int(np.prod(shape)))
    return (counts / counts.sum()).reshape(shape)


def mean_tvd(real: dict, synth: dict, sizes: dict, cliques) -> float:
    return float(np.mean([0.5 * np.abs(distribution(real, sizes, cl) - distribution(synth, sizes, cl)).sum()
                          for cl in cliques]))
