"""Children per parent on an edge into a public table, released parent by parent.

A public parent's rows are copied verbatim, so each synthetic parent *is* a real one and the
degree a parent should have can be released for that parent itself: the kept children per parent
key, with noise. Removing a unit changes at most Δ(child) kept child rows, each the count of one
parent by one, so the vector's L1 and L2 sensitivity are Δ(child), half the degree histogram's
(where each changed child moves a parent between two bins), and nothing is lost to bucket widths:
a country with 2,000 customers keeps about 2,000, and the largest country stays the largest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy.stats import norm

# The share of edges on which some parent with no child passes the threshold by noise alone.
_FALSE_PARENT = 0.05


@dataclass(frozen=True)
class ParentCounts:
    """Noisy kept children per public parent key: post-processing only."""

    keys: tuple[str, ...]  # `units.fk_text` of every parent row, in the order of `noisy`
    noisy: np.ndarray
    sigma: float

    def targets(self, keys: Iterable[str | None]) -> np.ndarray:
        """Expected children of each parent in `keys` (any scale; the linker rescales).

        A parent whose noisy count clears the threshold (no parent with no child passes it on
        19 edges in 20, Bonferroni over the parents) keeps its count. The rest share what their
        noisy counts add up to (an unbiased estimate of their children), evenly, where that sum
        stands out of its noise (3σ√n): a large catalogue with a few children scattered over it
        stays sparse instead of every parent getting the positive half of its noise, and lookup
        rows nobody uses stay unused instead of sharing the noise of the others."""
        noisy = np.asarray(self.noisy, dtype=float)
        n = len(noisy)
        if n == 0:
            return np.zeros(0)
        threshold = float(norm.isf(_FALSE_PARENT / n)) * self.sigma
        strong = noisy >= threshold
        weak = ~strong
        out = np.where(strong, noisy, 0.0)
        rest = float(noisy[weak].sum())
        if weak.any() and rest > 3.0 * self.sigma * np.sqrt(weak.sum()):
            out[weak] = rest / int(weak.sum())
        index = {k: i for i, k in enumerate(self.keys)}
        return np.array([out[index[k]] if k in index else 0.0 for k in keys], dtype=float)
