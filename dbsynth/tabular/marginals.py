"""Exact marginals from a `MarginalSource`, and the scores that pick which marginals to measure.

Everything here is exact arithmetic on counts; the noise is added by `dbsynth.privacy.mechanisms`.
Kept out of JAX on purpose: each new clique shape would compile an XLA program.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dbsynth.tabular.base import MarginalSource

# Cells per `marginals` call. A pushdown source answers one call with one scan (GROUPING SETS),
# so fewer, larger calls are cheaper for the database; this bounds the dense arrays held at once
# (2^25 cells = 256 MiB; all 1-, 2- and 3-ways of Adult are 21 M cells, one call).
BATCH_CELLS = 1 << 25


def fetch(data: MarginalSource, cliques: Sequence[tuple[str, ...]], batch_cells: int = BATCH_CELLS,
          ) -> list[np.ndarray]:
    """True counts of every clique, asked for in as few `data.marginals` calls as the cell budget allows."""
    out: list[np.ndarray] = []
    batch: list[tuple[str, ...]] = []
    cells = 0
    for clique in cliques:
        size = int(np.prod([data.sizes[c] for c in clique], dtype=np.int64))
        if batch and cells + size > batch_cells:
            out += data.marginals(batch)
            batch, cells = [], 0
        batch.append(tuple(clique))
        cells += size
    if batch:
        out += data.marginals(batch)
    return [np.asarray(x, dtype=float) for x in out]


def distribution(noisy_counts: np.ndarray) -> np.ndarray:
    """A probability vector from noisy counts: negatives clipped, uniform when nothing is left."""
    p = np.clip(np.asarray(noisy_counts, dtype=float), 0.0, None)
    s = p.sum()
    return p / s if s > 0 else np.full(p.shape, 1.0 / p.size)


def independence_l1(
    x: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, total: float
) -> float:
    """L1 distance between a true 2-way count table and `total` × p_a ⊗ p_b.

    The estimate depends only on already-released noise, so adding one unit's Δ rows moves this
    score by at most Δ: its sensitivity is the table's Δ."""
    return float(np.abs(np.ravel(x) - total * np.outer(p_a, p_b).ravel()).sum())
