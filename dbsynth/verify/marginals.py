"""k-way marginals on binned codes and the total variation distance between two of them.

Codes are bin indexes (`Binning.codes`); a k-way marginal is the histogram of the mixed-radix
combination of k columns' codes. Which pairs and triples are compared is decided here too:
pairs in column order up to a cap, triples drawn with a seed so that a re-run compares the same ones.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np

from dbsynth.verify.binning import Binning
from dbsynth.verify.results import Marginal

T = TypeVar("T")

MAX_PAIRS = 45
MAX_TRIPLES = 30


def tvd(source_codes: np.ndarray, target_codes: np.ndarray, n_bins: int,
        source_weights: np.ndarray | None = None, target_weights: np.ndarray | None = None) -> float:
    """Total variation distance between the two histograms (each row counted `weights` times,
    once by default); 0 if both are empty, 1 if one is."""
    p = np.bincount(source_codes, weights=source_weights, minlength=n_bins)
    q = np.bincount(target_codes, weights=target_weights, minlength=n_bins)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0 if p.sum() == q.sum() else 1.0
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


def joint_codes(codes: Sequence[np.ndarray], sizes: Sequence[int]) -> tuple[np.ndarray, int]:
    """Several columns' codes as one code per row (mixed radix), and the number of cells."""
    out = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
    cells = 1
    for c, n in zip(codes, sizes):
        out = out * n + c
        cells *= n
    return out, cells


def kway_tvd(
    combo: Sequence[str],
    source: Mapping[str, np.ndarray],
    target: Mapping[str, np.ndarray],
    sizes: Mapping[str, int],
    source_weights: np.ndarray | None = None,
    target_weights: np.ndarray | None = None,
) -> float:
    """TVD of the joint marginal of the columns in `combo`, source vs target."""
    s, cells = joint_codes([source[c] for c in combo], [sizes[c] for c in combo])
    t, _ = joint_codes([target[c] for c in combo], [sizes[c] for c in combo])
    return tvd(s, t, cells, source_weights, target_weights)


def first_pairs(names: Sequence[str], limit: int = MAX_PAIRS) -> list[tuple[str, str]]:
    """Pairs in column order, the first `limit` of them (a stable, readable choice)."""
    return list(itertools.islice(itertools.combinations(names, 2), limit))


def seeded_sample(candidates: Sequence[T], limit: int, seed: int, *salt: str) -> list[T]:
    """All candidates when few, else `limit` of them (in their order) drawn with a seed derived
    from `salt` (the table or path), so the draw for one table does not depend on the others."""
    if len(candidates) <= limit:
        return list(candidates)
    rng = np.random.default_rng(stable_seed(seed, *salt))
    picked = sorted(rng.choice(len(candidates), size=limit, replace=False))
    return [candidates[i] for i in picked]


def stable_seed(seed: int, *parts: str) -> int:
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def marginal(name: str, binning: Binning, source: np.ndarray, target: np.ndarray) -> Marginal:
    """A 1-way marginal as shares per bin, both sides, for plotting."""
    n = binning.n_bins
    p = np.bincount(source, minlength=n) / max(len(source), 1)
    q = np.bincount(target, minlength=n) / max(len(target), 1)
    return Marginal(name, binning.labels(), tuple(float(x) for x in p), tuple(float(x) for x in q),
                    tvd(source, target, n))


def key(combo: Sequence[str]) -> str:
    return "|".join(combo)
