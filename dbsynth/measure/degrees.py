"""Parent degrees per FK edge: how many children each kept parent has, released in buckets.

The buckets are public: one per degree up to the edge's cap, then doubling widths above it, so a
parent with 300 orders is counted (in its bucket) rather than cut to the cap: a table's size
follows from its parents' degrees without the cap's bias. `degree_histogram` counts rows in
memory: the reference that `Pushdown.degree_histogram`, which the measure stage runs, is tested
against (and what the sensitivity tests recompute)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from dbsynth.privacy.units import fk_tuples
from dbsynth.schema import ForeignKey

TOP = 1 << 16  # degrees above this are counted in the last bucket (a public bound)
EXACT = 16  # degrees up to this get a bucket each; above, widths grow by half each step
LINK_BINS = 64  # degrees the linker matches one by one; above it, one open bin


def degree_buckets() -> np.ndarray:
    """Lower bounds of the buckets (public, the same for every edge): 0, 1, …, 16, then each
    half as wide again as the one before, up to TOP."""
    bounds = list(range(EXACT + 1))
    lo, width = EXACT + 1, EXACT // 2
    while lo <= TOP:
        bounds.append(lo)
        lo, width = lo + width, width + width // 2
    return np.asarray(bounds, dtype=np.int64)


BUCKETS = degree_buckets()
# A bucket whose noisy count is below its threshold (in σ) is taken as noise: clipping alone would
# leave every empty bucket about 0.4σ phantom parents. Up to EXACT the buckets together let noise
# through once in 100 edges: at 2σ one of the 17 passed in a third of the edges whose histogram
# is all noise (Chinook's tracks under ε = 1, σ = 6,000 parents), and that one phantom bucket
# became every parent's degree: 14 lines per track, 15× the table. Above, one phantom bucket of
# parents with 40,000 children each would multiply the table, so all the wide buckets together
# let noise through once in 10,000 edges.
_THRESHOLD = float(norm.isf(0.01 / (EXACT + 1)))  # ≈ 3.0σ
_TAIL_THRESHOLD = float(norm.isf(1e-4 / int((BUCKETS > EXACT).sum())))  # ≈ 4.4σ


def bucket_counts(degrees: dict[int, int]) -> np.ndarray:
    """Parents per bucket from parents per exact degree."""
    out = np.zeros(len(BUCKETS))
    for d, n in degrees.items():
        out[np.searchsorted(BUCKETS, int(d), side="right") - 1] += n
    return out


def degree_histogram(child: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey) -> np.ndarray:
    """Parents per degree bucket. `parent`: the kept parent rows; `child`: the children counted
    (all of them on an owner edge, the kept ones on a reference edge)."""
    refs = fk_tuples(child, fk.columns).dropna()
    per_parent = refs.value_counts()
    keys = fk_tuples(parent, fk.ref_columns)
    deg = keys.map(per_parent).fillna(0).to_numpy(dtype=np.int64)
    values, counts = np.unique(deg, return_counts=True)
    return bucket_counts(dict(zip(values.tolist(), counts.tolist())))


@dataclass(frozen=True)
class DegreeRelease:
    """A noisy parent-degree histogram over `BUCKETS`: post-processing only."""

    cap: int  # the edge's cap (bounding); the buckets go past it
    noisy: np.ndarray  # noisy parents per bucket
    sigma: float

    def cleaned(self) -> np.ndarray:
        """Noisy parents per bucket, those below the noise threshold zeroed."""
        noisy = np.clip(np.asarray(self.noisy, dtype=float), 0.0, None)
        threshold = np.where(BUCKETS[: len(noisy)] > EXACT, _TAIL_THRESHOLD, _THRESHOLD) * self.sigma
        return np.where(noisy >= threshold, noisy, 0.0)

    @property
    def informative(self) -> bool:
        """Whether anything survived the noise threshold."""
        return bool(self.cleaned().sum() > 0)

    def distribution(self, kept_mean: float | None = None) -> np.ndarray:
        """P(degree = d) for d = 0..D, each bucket's parents spread evenly over its degrees;
        uniform over 0..cap when nothing survived the noise.

        `kept_mean`: the children per parent that bounding keeps, E[min(d, cap)], when a better
        estimate is known (the models' noisy row counts, which spend far more budget than this
        histogram): the distribution is tilted, p(d) ∝ p(d)·exp(λ·min(d, cap)), to have it, so
        the linker's degrees and the table's size agree with it. The tail's shape above the cap
        is kept as released."""
        counts = self.cleaned()
        if counts.sum() <= 0:
            p = np.full(self.cap + 1, 1.0 / (self.cap + 1))
        else:
            last = int(np.flatnonzero(counts)[-1])
            upper = np.append(BUCKETS[1:], TOP + 1)
            p = np.zeros(int(upper[last]))
            for i in np.flatnonzero(counts):
                p[BUCKETS[i]:upper[i]] += counts[i] / (upper[i] - BUCKETS[i])
            p /= p.sum()
        return p if kept_mean is None else _tilted(p, self.cap, kept_mean)

    def kept_mean(self) -> tuple[float, float]:
        """E[min(d, cap)] by this histogram, and its relative error (from σ alone: the noise of
        the kept children Σ min(d, cap)·c_d over the noise of the parents Σ c_d)."""
        # From the clipped counts, not the thresholded ones: the error below is theirs, and a
        # histogram whose every bucket but one drowned must not claim a confident mean of 0.
        counts = np.clip(np.asarray(self.noisy, dtype=float), 0.0, None)
        per_bucket = np.minimum(BUCKETS[: len(counts)], self.cap).astype(float)
        children, parents = float(per_bucket @ counts), float(counts.sum())
        if children <= 0 or parents <= 0:
            return 0.0, float("inf")
        error = self.sigma * (np.sqrt(float(per_bucket @ per_bucket)) / children + np.sqrt(len(counts)) / parents)
        return children / parents, float(error)

    def mean(self, kept_mean: float | None = None) -> float:
        p = self.distribution(kept_mean)
        return float(p @ np.arange(len(p)))

    def for_linker(self, parents: int, kept_mean: float | None = None
                   ) -> tuple[np.ndarray, int | None, np.ndarray | None]:
        """Parents per degree 0..min(D, LINK_BINS), the last bin open above when D is larger; the
        hard limit on any parent's degree (None when the last bin is open); and the open bin's
        shape, P(degree = LINK_BINS + k | degree ≥ LINK_BINS), which the linker gives the parents
        it put there (`rounding.reshape_tail`; None when the bin is not open or holds nothing)."""
        p = self.distribution(kept_mean)
        if len(p) - 1 > LINK_BINS:
            tail = p[LINK_BINS:]
            return np.append(p[:LINK_BINS], tail.sum()) * parents, None, tail / tail.sum() if tail.sum() > 0 else None
        return p * parents, len(p) - 1, None


def _tilted(p: np.ndarray, cap: int, kept_mean: float) -> np.ndarray:
    """p tilted by exp(λ·min(d, cap)) so that E[min(d, cap)] = kept_mean (bisection on λ; the
    mean is increasing in λ). A target outside what p's support allows gets the nearest end."""
    # A little of every degree up to the cap, so that a shape the noise reduced to one degree can
    # still be moved to the mean the row counts say (the tilt cannot create support).
    if len(p) < cap + 1:
        p = np.append(p, np.zeros(cap + 1 - len(p)))
    p = 0.95 * p + 0.05 * np.append(np.full(cap + 1, 1.0 / (cap + 1)), np.zeros(len(p) - cap - 1))
    kept = np.minimum(np.arange(len(p)), cap).astype(float)
    support = p > 0
    lo_mean, hi_mean = kept[support].min(), kept[support].max()
    target = float(np.clip(kept_mean, lo_mean, hi_mean))
    if hi_mean - lo_mean < 1e-12:
        return p

    def tilt(lam: float) -> np.ndarray:
        w = np.where(support, np.log(np.where(support, p, 1.0)) + lam * kept, -np.inf)
        w = np.exp(w - w.max())
        return w / w.sum()

    lo, hi = -50.0, 50.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if tilt(mid) @ kept < target:
            lo = mid
        else:
            hi = mid
    return tilt((lo + hi) / 2)
