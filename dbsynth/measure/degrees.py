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
TAIL_SPLIT = 3  # ... in two bands, the near one ending at this many caps


def tail_clip(cap: int) -> int:
    """The degree up to which a parent's children above the cap are summed (`excess`): public,
    from the cap alone, so it costs nothing and bounds the sum's sensitivity. No further than
    the linker's one-by-one bins where the cap allows: the sum's tilt gives every degree up to
    the clip a little mass, and a distribution that ends inside those bins is realised with its
    largest degree as a hard limit."""
    cap = max(cap, 1)
    return int(min(TAIL_CLIP * cap, max(LINK_BINS, 2 * cap), TOP))


def tail_bands(cap: int) -> tuple[tuple[int, int], ...]:
    """The bands (lo, hi] of degrees above an owner edge's cap whose children are summed, one
    release each: (cap, 3·cap] and (3·cap, clip], or the one band (cap, clip] where the clip is
    nearer. Public, from the cap alone."""
    # Two sums, not one: a sum's Δ is Δ(parent) × its band's width, and most of a skewed tail is
    # near the cap. One sum up to 8 caps put the shop's 105k order lines just above 5 lines an
    # order under σ ≈ 35k (Δ = 8 orders × 35 lines), and it missed its bar one run in four (the
    # table 11 % short); the near band's Δ is 10 lines of those 35. The far band, a few heavy
    # parents with a wide Δ, is used where it stands out on its own.
    cap = max(cap, 1)
    clip = tail_clip(cap)
    near = TAIL_SPLIT * cap
    return ((cap, near), (near, clip)) if near < clip else ((cap, clip),)


def excess(degrees: dict[int, int], lo: int, hi: int) -> int:
    """Σ over parents of min(max(d − lo, 0), hi − lo): the children of a band (lo, hi] of
    `tail_bands`, each parent's clipped to the band, from parents per exact degree
    (`Pushdown.degree_counts`)."""
    return int(sum(n * min(max(d - lo, 0), hi - lo) for d, n in degrees.items()))


@dataclass(frozen=True)
class TailSum:
    """The noisy children of an owner edge in one band (lo, hi] above its cap (`excess`)."""

    lo: int
    hi: int
    noisy: float
    sigma: float

    def statistic(self, degree: np.ndarray) -> np.ndarray:
        """Each degree's children in this band."""
        return np.clip(degree - self.lo, 0, self.hi - self.lo).astype(float)


# A band's sum is used only where both releases say there are children in it: the histogram's
# parents in the buckets that hold some of the band's degrees, taken together, stand 3σ out of
# their noise, and the sum 2σ out of its own. The sum alone (Δ(parent) × the band's width,
# σ in the thousands) cleared 2σ on 2.3 % of the edges with nothing above the cap, and a false
# sum makes every parent heavy: one Chinook run at ε = 4 had 38× its invoice lines. The two
# noises are independent, so a false use needs both (0.13 % × 2.3 %, 3 in 100,000), and the
# histogram also bounds how many parents the sum may spread over. The sum's own bar is the lower
# one because a true tail is lost whole when it misses it: the shop's order lines above the cap
# (130k, σ ≈ 34k at ε = 1) missed 3σ one run in three, and the table came out 13 % short.
_HEAVY_Z = 3.0
_EXCESS_Z = 2.0


@dataclass(frozen=True)
class DegreeRelease:
    """A noisy parent-degree histogram over `BUCKETS`: post-processing only.

    On an owner edge the children above the cap are also released as clipped sums, one per band
    of `tail_bands` (`tails`): the histogram spends its noise on parents, and a tail of a few
    thousand heavy parents sits in buckets each under the noise threshold at ε = 1 (a shop's
    orders came out 11 % short); a sum counts their children, with noise σ against tens of
    thousands of children."""

    cap: int  # the edge's cap (bounding); the buckets go past it
    noisy: np.ndarray  # noisy parents per bucket
    sigma: float
    tails: tuple[TailSum, ...] = ()  # owner edges: the noisy children per band above the cap

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
        the linker's degrees and the table's size agree with it; likewise to each used band's
        children per parent (`tail_means`). The tail's shape within a band, and above the
        bands used, is kept as released. `kept_parents`: see `tail_means`."""
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
        tails = self.tail_means(kept_parents)
        if kept_mean is None and not tails:
            return p
        return _tilted(p, self.cap, kept_mean, tails)

    def tail_means(self, kept_parents: float | None = None) -> list[tuple[TailSum, float]]:
        """The bands whose sums are used, each with its children per parent,
        E[min(max(d − lo, 0), hi − lo)], from the noisy sum over the number of kept parents. A
        band is left out (the histogram's tail there is kept as released) where its sum
        (`_EXCESS_Z` σ), or the histogram's parents in the buckets that hold some of its degrees
        (`_HEAVY_Z` σ; `_EXCESS_Z` past a band that is used), do not stand out of their noise.

        `kept_parents`: a better estimate of the kept parents than this histogram's total (whose
        noise is σ·√buckets, ~500 against 3,000 customers at ε = 4: the tail's mean, and the
        table's size with it, was off by 15 % as often as one run in ten); `sizes.owner_targets`
        combines it with the parent model's row count."""
        noisy = np.asarray(self.noisy, dtype=float)
        lows = BUCKETS[: len(noisy)]
        uppers = np.append(BUCKETS[1:], TOP + 1)[: len(noisy)]  # each bucket's degrees are [low, upper)
        parents = self.parents(kept_parents)
        used = []
        for tail in self.tails:
            if tail.noisy < _EXCESS_Z * tail.sigma:
                continue
            # Whether there are parents in the band is read off the buckets that hold some of its
            # degrees: summed up to TOP, forty buckets' noise (two dozen of them empty on most
            # edges) hid the shop's 20,000 heavy orders one run in fifteen; and only the buckets
            # starting inside it left out (25, 36], most of the orders in (27, 64] at a cap of 9.
            inside = (lows <= tail.hi) & (uppers - 1 > tail.lo)  # [low, upper) meets (lo, hi]
            # Past a band that is used, the histogram's test is the sum's: there are parents above
            # the cap, and a false far band then needs two 2σ noises (5 in 10,000 edges), bounded
            # below. At 3σ the shop's orders lost their 18k orders in (24, 64] one run in ten.
            heavy_z = _EXCESS_Z if used else _HEAVY_Z
            if not inside.any() or float(noisy[inside].sum()) < heavy_z * self.sigma * float(np.sqrt(inside.sum())):
                continue
            # No more children in the band than the most parents above its floor the histogram
            # allows, each at the band's top.
            above = lows > tail.lo
            heavy, heavy_sigma = float(noisy[above].sum()), self.sigma * float(np.sqrt(above.sum()))
            children = min(float(tail.noisy), (heavy + _HEAVY_Z * heavy_sigma) * (tail.hi - tail.lo))
            used.append((tail, children / parents))
        return used

    def parents(self, kept_parents: float | None = None) -> float:
        """The kept parents the distribution is of: `kept_parents` where given (see `tail_means`),
        else the histogram's total (unbiased: not clipped, unless clipping keeps more)."""
        if kept_parents is not None and kept_parents >= 1:
            return float(kept_parents)
        noisy = np.asarray(self.noisy, dtype=float)
        return max(float(noisy.sum()), float(self.cleaned().sum()), 1.0)

    def sigma_for(self, parents: int, kept_parents: float | None = None) -> float:
        """The histogram's noise σ on the scale of `parents` synthetic parents (`for_linker`
        counts): σ per real parent, times the parents. At --scale 0.1 the real σ against a tenth
        of the parents made the linker's degree repair take nearly every shortfall for noise: 7 %
        of the shop's orders came out with no line (real: 0.3 %)."""
        return self.sigma * parents / self.parents(kept_parents)

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


def _tilted(p: np.ndarray, cap: int, kept_mean: float | None,
            tails: list[tuple[TailSum, float]] = ()) -> np.ndarray:
    """p tilted by exp(λ·min(d, cap) + Σ μ_b·(children of band b)) so that E[min(d, cap)] =
    kept_mean (when not None) and each band's children per parent are as in `tails`, by
    `tilt_to_means`."""
    # A little of every degree up to the cap (and up to the last band used), so that a shape the
    # noise reduced to one degree, or a tail the noise wiped out, can still be moved to the means
    # the row counts and the tail's sums say (the tilt cannot create support).
    top = max([cap, *(tail.hi for tail, _ in tails)])
    if len(p) < top + 1:
        p = np.append(p, np.zeros(top + 1 - len(p)))
    p = 0.95 * p + 0.05 * np.append(np.full(top + 1, 1.0 / (top + 1)), np.zeros(len(p) - top - 1))
    degree = np.arange(len(p))
    stats, targets = [], []
    if kept_mean is not None:
        stats.append(np.minimum(degree, cap).astype(float))
        targets.append(kept_mean)
    for tail, mean in tails:
        stats.append(tail.statistic(degree))
        targets.append(mean)
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
