"""Where a noisy histogram's mass lies: which cells hold rows and which only noise.

Post-processing of counts already released with Gaussian noise (`mechanisms.gaussian`): nothing
here reads rows or costs budget. Cells that stand out alone are kept as they are; mass spread
too thin for any single cell (dates over a year, a uniform integer, a long tail of amounts) is
found where blocks of cells stand out together, and placed by a monotone fit of its cumulative
counts, so that neither a spread column collapses onto a few noisy cells nor noise in empty
cells becomes made-up values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import isotonic_regression
from scipy.stats import norm

_REACH_FALSE = 1e-3  # how often noise past the mass joins it, per end
_WIDEN_Z = 3.0  # a live block widens the spread span by cells holding this many σ of their noise
_CUT_Z = 2.0  # an end of the spread span is cut where it lacks this many σ of its noise


def live_mass(noisy: np.ndarray, sigma: float, own: Sequence[tuple[int, float]] = (),
              widths: np.ndarray | None = None) -> np.ndarray:
    """Where a noisy histogram's mass lies: the cells that stand out of the noise on their own
    (a busy day, a mass at one number: `_clear`); then the mass spread too thin for any cell
    (dates over a year, a uniform integer, a long tail of amounts), found where blocks of cells
    stand out together (`_spread_hull`), trimmed to where the rows begin and end (`_onset`) and
    placed by the least-squares monotone fit of its cumulative counts. `own`: (cell, noisy rows) of the
    frequent values released as points, rows that are not the bins' (such a cell is judged
    alone); `widths`: how much of the line each cell spans (equal when None). Post-processing of
    the same counts: it costs nothing."""
    noisy = np.asarray(noisy, dtype=float)
    live = noisy > _clear(sigma, len(noisy))
    mass = np.where(live, noisy, 0.0)
    free = ~live
    for j, c in own:
        if 0 <= j < len(mass):  # what the point leaves must stand out of both noises on its own
            mass[j] = mass[j] - c if mass[j] - c > np.sqrt(2) * _clear(sigma, len(noisy)) else 0.0
            free[j] = False
    rest = np.where(free, noisy, 0.0)  # what the cells not kept alone hold
    hull = _spread_hull(rest, free, sigma)
    if hull is not None:
        a, b = hull
        width = np.ones(b - a) if widths is None else np.asarray(widths[a:b], dtype=float)
        lo, hi = _onset(rest[a:b], free[a:b], width, sigma)
        mass[a + lo:a + hi] += _fit(rest[a + lo:a + hi], free[a + lo:a + hi])
    held = np.flatnonzero(mass > 0)
    if len(held):
        # The rows just past the outermost mass, too few per cell to stand out alone or in an
        # aligned block (an even spread's first cells of a wide type: 4% of its rows).
        a, b = int(held[0]), int(held[-1]) + 1
        out_lo, out_hi = a - _reach(rest[:a][::-1], free[:a][::-1], sigma), b + _reach(rest[b:], free[b:], sigma)
        mass[out_lo:a] += _fit(rest[out_lo:a], free[out_lo:a])
        mass[b:out_hi] += _fit(rest[b:out_hi], free[b:out_hi])
    return mass


def _fit(rest: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The free cells' mass: the least-squares monotone fit of their cumulative noisy counts."""
    if not len(rest):
        return np.zeros(0)
    cum = np.clip(isotonic_regression(np.cumsum(rest)).x, 0.0, None)
    return np.where(free, np.diff(np.concatenate([[0.0], cum])), 0.0)


def _onset(rest: np.ndarray, free: np.ndarray, widths: np.ndarray, sigma: float) -> tuple[int, int]:
    """Where the rows begin and end inside a span of aligned blocks, which may reach past them:
    the change points of cumulative sums drifting by half of what a cell holds on average (CUSUM),
    the first from the left, the last from the right. Before the first, the cells hold less
    (noise: a monotone fit over them would make rows up). On average per cell or per width,
    whichever is less: a grid of decades and even steps has narrow cells that hold few rows of
    an even spread, and wide ones that hold few of a long tail; neither is noise. An end is cut
    only where what it lacks stands out of its noise (`_CUT_Z` σ√cells): with a few rows per cell
    against more noise, the lowest point of the sums wanders into the rows by chance, and cut
    a sixth off a column spread evenly over its type."""
    cells, span = max(int(free.sum()), 1), float(np.sum(np.where(free, widths, 0.0)))
    per_cell = rest.sum() / cells
    expected = np.minimum(per_cell, rest.sum() * widths / span) if span > 0 else np.full(len(rest), per_cell)
    drift = np.where(free, rest - 0.5 * expected, 0.0)

    def cut(d: np.ndarray, f: np.ndarray) -> int:
        sums = np.concatenate([[0.0], np.cumsum(d)])
        noise = _CUT_Z * sigma * np.sqrt(np.concatenate([[0.0], np.cumsum(f)]))
        at = int(np.argmin(sums))
        return at if -sums[at] > noise[at] else 0

    lo = cut(drift, free)
    hi = len(rest) - cut(drift[::-1], free[::-1])
    return (lo, hi) if lo < hi else (0, len(rest))


def _spread_hull(rest: np.ndarray, free: np.ndarray, sigma: float) -> tuple[int, int] | None:
    """The cells from the first to the last aligned block of 2, 4, 8, ... `free` cells whose
    summed `rest` stands out of its noise (σ√size: noise grows as √k, mass as k); None when none
    does. All the blocks of all sizes (about 2n) share the 1% chance of a false one. Smaller
    blocks first; a larger one widens the span only if its cells outside it hold mass too
    (`_WIDEN_Z` σ of their noise): a year-long block is live for the months the span has."""
    n = len(rest)
    threshold = _clear(sigma, 2 * max(n, 1))
    first, last = n, 0
    k = 2
    while k < 2 * n:
        outside = free.copy()
        outside[first:last] = False
        starts = np.arange(0, n, k)
        size = np.add.reduceat(free.astype(float), starts)
        new = np.add.reduceat(outside.astype(float), starts)
        live = ((size > 0) & (np.add.reduceat(rest, starts) > threshold * np.sqrt(np.maximum(size, 1)))
                & (new > 0) & (np.add.reduceat(np.where(outside, rest, 0.0), starts)
                               > _WIDEN_Z * sigma * np.sqrt(np.maximum(new, 1))))
        for b in np.flatnonzero(live):
            first, last = min(first, int(starts[b])), max(last, min(int(starts[b]) + k, n))
        k *= 2
    if first >= last:
        return None
    # What the aligned blocks cut off at either end (the last block of a grid is a remainder)
    # joins as far out as the cells next to the span hold mass of their own, however many
    # near-empty cells lie beyond (a wide type's decades below an even spread: all or nothing,
    # their noise outweighed the rows next to the span); `_onset` trims what holds none.
    first -= _reach(rest[:first][::-1], free[:first][::-1], sigma)
    last += _reach(rest[last:], free[last:], sigma)
    return first, last


def _reach(rest: np.ndarray, free: np.ndarray, sigma: float) -> int:
    """How many cells, counted from the span outwards, to join: the most of 1, 2, 4, 8, … whose
    sum stands out of its noise, all of those tests together wrong once in a thousand (testing
    every count of cells, a random walk of noise past a column's last value crossed a fixed 2.5σ
    one time in ten, and a rating 0..9 got a 10)."""
    sums, cells = np.cumsum(rest), np.cumsum(free)  # `rest` holds nothing outside `free`
    sizes = 2 ** np.arange(int(np.log2(max(len(rest), 1))) + 1) if len(rest) else np.zeros(0, dtype=int)
    z = float(norm.isf(_REACH_FALSE / max(len(sizes), 1)))
    held = [k for k in sizes if cells[k - 1] > 0 and sums[k - 1] > z * sigma * np.sqrt(cells[k - 1])]
    return int(max(held)) if held else 0


def _clear(sigma: float, cells: int) -> float:
    """A count that noise alone reaches in one of `cells` empty cells with probability 1%: below
    it a cell of a noisy histogram is taken as empty (a spurious year or bucket would stretch the
    range and hold made-up mass)."""
    return sigma * float(norm.isf(0.01 / max(cells, 1)))
