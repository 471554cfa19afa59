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

_REST_Z = 2.0  # the cells past the blocks join the span when they hold this many σ of their noise
_WIDEN_Z = 3.0  # a live block widens the spread span by cells holding this many σ of their noise


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
    hull = _spread_hull(np.where(free, noisy, 0.0), free, sigma)
    if hull is not None:
        a, b = hull
        rest = np.where(free[a:b], noisy[a:b], 0.0)
        width = np.ones(b - a) if widths is None else np.asarray(widths[a:b], dtype=float)
        lo, hi = _onset(rest, free[a:b], width)
        cum = np.clip(isotonic_regression(np.cumsum(rest[lo:hi])).x, 0.0, None)
        mass[a + lo:a + hi] += np.where(free[a + lo:a + hi], np.diff(np.concatenate([[0.0], cum])), 0.0)
    return mass


def _onset(rest: np.ndarray, free: np.ndarray, widths: np.ndarray) -> tuple[int, int]:
    """Where the rows begin and end inside a span of aligned blocks, which may reach past them:
    the change points of cumulative sums drifting by half of what a cell holds on average (CUSUM),
    the first from the left, the last from the right. Before the first, the cells hold less
    (noise: a monotone fit over them would make rows up). On average per cell or per width,
    whichever is less: a grid of decades and even steps has narrow cells that hold few rows of
    an even spread, and wide ones that hold few of a long tail; neither is noise."""
    cells, span = max(int(free.sum()), 1), float(np.sum(np.where(free, widths, 0.0)))
    per_cell = rest.sum() / cells
    expected = np.minimum(per_cell, rest.sum() * widths / span) if span > 0 else np.full(len(rest), per_cell)
    drift = np.where(free, rest - 0.5 * expected, 0.0)
    lo = int(np.argmin(np.concatenate([[0.0], np.cumsum(drift)])))
    hi = len(rest) - int(np.argmin(np.concatenate([[0.0], np.cumsum(drift[::-1])])))
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
    # joins when it holds mass of its own; `_onset` trims what holds none.
    for lo, hi in ((0, first), (last, n)):
        cells = int(free[lo:hi].sum())
        if cells and rest[lo:hi].sum() > _REST_Z * sigma * np.sqrt(cells):
            first, last = min(first, lo), max(last, hi)
    return first, last


def _clear(sigma: float, cells: int) -> float:
    """A count that noise alone reaches in one of `cells` empty cells with probability 1%: below
    it a cell of a noisy histogram is taken as empty (a spurious year or bucket would stretch the
    range and hold made-up mass)."""
    return sigma * float(norm.isf(0.01 / max(cells, 1)))
