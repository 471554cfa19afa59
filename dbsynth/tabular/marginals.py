"""Marginal count vectors in numpy, and the scores that pick which marginals to measure.

Everything here is exact arithmetic on codes; the noise is added by `dbsynth.privacy.mechanisms`.
Kept out of JAX on purpose: each new clique shape would compile an XLA program.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def marginal(columns: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """Counts of every cell of the joint domain of (at least one of) `columns`, flattened in C order."""
    total = int(np.prod(sizes, dtype=np.int64))
    index = np.ravel_multi_index(tuple(np.asarray(c, dtype=np.int64) for c in columns), tuple(sizes))
    return np.bincount(index, minlength=total).astype(float)


def distribution(noisy_counts: np.ndarray) -> np.ndarray:
    """A probability vector from noisy counts: negatives clipped, uniform when nothing is left."""
    p = np.clip(np.asarray(noisy_counts, dtype=float), 0.0, None)
    s = p.sum()
    return p / s if s > 0 else np.full(p.shape, 1.0 / p.size)


def independence_l1(
    x: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, total: float
) -> float:
    """L1 distance between a true 2-way count vector and `total` × p_a ⊗ p_b.

    The estimate depends only on already-released noise, so adding one unit's Δ rows moves this
    score by at most Δ: its sensitivity is the table's Δ."""
    return float(np.abs(x - total * np.outer(p_a, p_b).ravel()).sum())
