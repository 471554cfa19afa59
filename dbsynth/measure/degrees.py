"""Parent degrees per FK edge: how many children each kept parent has, released in buckets.

The buckets are public: one per degree up to the edge's cap, then doubling widths above it, so a
parent with 300 orders is counted (in its bucket) rather than cut to the cap: a table's size
follows from its parents' degrees without the cap's bias. `degree_histogram` counts rows in
memory: the reference that `Pushdown.degree_histogram` (the measure stage's degree counts,
bucketed) is tested against (and what the sensitivity tests recompute)."""

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


TAIL_CLIP = 8  # the tail above an owner edge's cap is summed per parent up to this many caps


def tail_clip(cap: int) -> int:
    """The degree up to which a parent's children above the cap are summed (`excess`): public,
    from the cap alone, so it costs nothing and bounds the sum's sensitivity. No further than
    the linker's one-by-one bins where the cap allows: the sum's tilt gives every degree up to
    the clip a little mass, and a distribution that ends inside those bins is realised with its
    largest degree as a hard limit."""
    cap = max(cap, 1)
    return int(min(TAIL_CLIP * cap, max(LINK_BINS, 2 * cap), TOP))


def excess(degrees: dict[int, int], cap: int) -> int:
    """Σ over parents of min(max(d − cap, 0), tail_clip(cap) − cap): the children above the cap,
    each parent's clipped, from parents per exact degree (`Pushdown.degree_counts`)."""
    top = tail_clip(cap) - cap
    return int(sum(n * min(max(d - cap, 0), top) for d, n in degrees.items()))


# The sum above the cap is used only where both releases say there are children above it: the
# histogram's parents above the cap, taken together, stand 3σ out of their noise, and the sum 2σ
# out of its own. The sum alone (Δ(parent) × (clip − cap), σ in the thousands) cleared 2σ on
# 2.3 % of the edges with nothing above the cap, and a false sum makes every parent heavy: one
# Chinook run at ε = 4 had 38× its invoice lines. The two noises are independent, so a false use
# needs both (0.13 % × 2.3 %, 3 in 100,000), and the histogram also bounds how many parents the
# sum may spread over. The sum's own bar is the lower one because a true tail is lost whole when
# it misses it: the shop's order lines above the cap (130k, σ ≈ 34k at ε = 1) missed 3σ one run in
# three, and the table came out 13 % short.
_HEAVY_Z = 3.0
_EXCESS_Z = 2.0
@dataclass(frozen=True)
class DegreeRelease:
    """A noisy parent-degree histogram over `BUCKETS`: post-processing only.

    On an owner edge the children above the cap are also released as one clipped sum (`excess`):
    the histogram spends its noise on parents, and a tail of a few thousand heavy parents sits in
    buckets each under the noise threshold at ε = 1 (a shop's orders came out 11 % short); the sum
    counts their children, with noise σ_excess against tens of thousands of children."""

    cap: int  # the edge's cap (bounding); the buckets go past it
    noisy: np.ndarray  # noisy parents per bucket
    sigma: float
    excess: float | None = None  # noisy Σ min(max(d − cap, 0), tail_clip − cap) (owner edges)
    excess_sigma: float = 0.0

    def cleaned(self) -> np.ndarray:
        """Noisy parents per bucket, those below the noise threshold zeroed."""
        noisy = np.clip(np.asarray(self.noisy, dtype=float), 0.0, None)
        threshold = np.where(BUCKETS[: len(noisy)] > EXACT, _TAIL_THRESHOLD, _THRESHOLD) * self.sigma
        return np.where(noisy >= threshold, noisy, 0.0)

    @property
    def informative(self) -> bool:
        """Whether anything survived the noise threshold."""
        return bool(self.cleaned().sum() > 0)

    def distribution(self, kept_mean: float | None = None, kept_parents: float | None = None) -> np.ndarray:
        """P(degree = d) for d = 0..D, each bucket's parents spread evenly over its degrees;
        uniform over 0..cap when nothing survived the noise.

        `kept_mean`: the children per parent that bounding keeps, E[min(d, cap)], when a better
        estimate is known (the models' noisy row counts, which spend far more budget than this
        histogram): the distribution is tilted, p(d) ∝ p(d)·exp(λ·min(d, cap)), to have it, so
        the linker's degrees and the table's size agree with it. The tail's shape above the cap
        is kept as released. `kept_parents`: see `excess_mean`."""
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
        tail = self.excess_mean(kept_parents)
        if kept_mean is None and tail is None:
            return p
        return _tilted(p, self.cap, kept_mean, tail_clip(self.cap) if tail is not None else None, tail)

    def excess_mean(self, kept_parents: float | None = None) -> float | None:
        """Children above the cap per parent, E[min(max(d − cap, 0), clip − cap)], from the noisy
        sum over the number of kept parents; None where the sum (`_EXCESS_Z` σ), or the
        histogram's parents between the cap and the clip (`_HEAVY_Z` σ), do not stand out of their
        noise (the histogram's tail is left as released).

        `kept_parents`: a better estimate of the kept parents than this histogram's total (whose
        noise is σ·√buckets, ~500 against 3,000 customers at ε = 4: the tail's mean, and the
        table's size with it, was off by 15 % as often as one run in ten); `sizes.owner_targets`
        combines it with the parent model's row count."""
        if self.excess is None or self.excess < _EXCESS_Z * self.excess_sigma:
            return None
        noisy = np.asarray(self.noisy, dtype=float)
        clip = tail_clip(self.cap)
        above = BUCKETS[: len(noisy)] > self.cap
        # Whether there are parents above the cap is read off the buckets that start below the
        # clip, the degrees the sum counts in full: summed up to TOP, forty buckets' noise (two
        # dozen of them empty on most edges) hid the shop's 20,000 heavy orders one run in fifteen.
        near = above & (BUCKETS[: len(noisy)] <= clip)
        if float(noisy[near].sum()) < _HEAVY_Z * self.sigma * float(np.sqrt(near.sum())):
            return None
        # No more children above the cap than the most heavy parents the histogram allows,
        # each at the clip.
        heavy, heavy_sigma = float(noisy[above].sum()), self.sigma * float(np.sqrt(above.sum()))
        children = min(float(self.excess), (heavy + _HEAVY_Z * heavy_sigma) * (clip - self.cap))
        if kept_parents is not None and kept_parents >= 1:
            parents = float(kept_parents)
        else:
            parents = max(float(noisy.sum()), float(self.cleaned().sum()), 1.0)  # unbiased, not clipped
        return children / parents

    def kept_mean(self) -> tuple[float, float]:
        """E[min(d, cap)] by this histogram, and its relative error (from σ alone: the noise of
        the kept children Σ min(d, cap)·c_d over the noise of the parents Σ c_d)."""
        # From the noisy counts as released: both sums are then unbiased and the error below is
        # theirs. Clipped, a histogram that is all noise (Chinook's invoice lines at ε = 1, σ =
        # 600 against 412 invoices) put 0.4σ in every empty bucket, claimed about 7 lines per
        # invoice (real: 4.8 kept) with an error of 0.7, and outweighed the row counts.
        counts = np.asarray(self.noisy, dtype=float)
        per_bucket = np.minimum(BUCKETS[: len(counts)], self.cap).astype(float)
        children, parents = float(per_bucket @ counts), float(counts.sum())
        if children <= 0 or parents <= 0:
            return 0.0, float("inf")
        error = self.sigma * (np.sqrt(float(per_bucket @ per_bucket)) / children + np.sqrt(len(counts)) / parents)
        return children / parents, float(error)

    def kept_parents(self) -> tuple[float, float]:
        """The kept parents by this histogram (every kept parent is in one bucket, 0 included) and
        the noise σ of that sum."""
        noisy = np.asarray(self.noisy, dtype=float)
        return float(noisy.sum()), self.sigma * float(np.sqrt(len(noisy)))

    def mean(self, kept_mean: float | None = None, kept_parents: float | None = None) -> float:
        p = self.distribution(kept_mean, kept_parents)
        return float(p @ np.arange(len(p)))

    def for_linker(self, parents: int, kept_mean: float | None = None, kept_parents: float | None = None
                   ) -> tuple[np.ndarray, int | None, np.ndarray | None]:
        """Parents per degree 0..min(D, LINK_BINS), the last bin open above when D is larger; the
        hard limit on any parent's degree (None when the last bin is open); and the open bin's
        shape, P(degree = LINK_BINS + k | degree ≥ LINK_BINS), which the linker gives the parents
        it put there (`rounding.reshape_tail`; None when the bin is not open or holds nothing)."""
        p = self.distribution(kept_mean, kept_parents)
        if len(p) - 1 > LINK_BINS:
            tail = p[LINK_BINS:]
            return np.append(p[:LINK_BINS], tail.sum()) * parents, None, tail / tail.sum() if tail.sum() > 0 else None
        return p * parents, len(p) - 1, None


def _tilted(p: np.ndarray, cap: int, kept_mean: float | None, clip: int | None = None,
            excess_mean: float | None = None) -> np.ndarray:
    """p tilted by exp(λ·min(d, cap) + μ·min(max(d − cap, 0), clip − cap)) so that E[min(d, cap)]
    = kept_mean and E[children above the cap, clipped] = excess_mean (either may be None: its
    factor stays 1), by `tilt_to_means`."""
    # A little of every degree up to the cap (and up to the clip when the tail is constrained),
    # so that a shape the noise reduced to one degree, or a tail the noise wiped out, can still
    # be moved to the means the row counts and the tail's sum say (the tilt cannot create support).
    top = cap if excess_mean is None or clip is None else max(cap, clip)
    if len(p) < top + 1:
        p = np.append(p, np.zeros(top + 1 - len(p)))
    p = 0.95 * p + 0.05 * np.append(np.full(top + 1, 1.0 / (top + 1)), np.zeros(len(p) - top - 1))
    degree = np.arange(len(p))
    stats, targets = [], []
    if kept_mean is not None:
        stats.append(np.minimum(degree, cap).astype(float))
        targets.append(kept_mean)
    if excess_mean is not None and clip is not None:
        stats.append(np.clip(degree - cap, 0, clip - cap).astype(float))
        targets.append(excess_mean)
    return tilt_to_means(p, stats, targets)


def tilt_to_means(p: np.ndarray, stats: list[np.ndarray], targets: list[float]) -> np.ndarray:
    """p tilted by exp(Σ λ_k·stats[k]) so that E[stats[k]] = targets[k] for each k. One
    constraint: bisection on its multiplier (the mean is increasing in it); more: bisection on
    each in turn until all hold (the log-partition is convex, so this converges). A target outside
    what p's support allows gets the nearest end; a statistic constant on the support is left."""
    p = np.asarray(p, dtype=float)
    support = p > 0
    log_p = np.log(np.where(support, p, 1.0))
    lams = [0.0] * len(stats)

    def tilt(values: list[float]) -> np.ndarray:
        w = log_p + sum(lam * st for lam, st in zip(values, stats))
        w = np.exp(np.where(support, w, -np.inf) - w[support].max())
        return w / w.sum()

    goals = []
    for st, target in zip(stats, targets):
        lo_mean, hi_mean = st[support].min(), st[support].max()
        goals.append(None if hi_mean - lo_mean < 1e-12 else float(np.clip(target, lo_mean, hi_mean)))
    rounds = 1 if len(stats) == 1 else 12
    for _ in range(rounds):
        for k, (st, goal) in enumerate(zip(stats, goals)):
            if goal is None:
                continue
            lo, hi = -50.0, 50.0
            for _ in range(100 if rounds == 1 else 60):
                lams[k] = (lo + hi) / 2
                if tilt(lams) @ st < goal:
                    lo = lams[k]
                else:
                    hi = lams[k]
            lams[k] = (lo + hi) / 2
    return tilt(lams)
