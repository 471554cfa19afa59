"""The mechanisms: each returns its noisy release and records its own event in the ledger.

Every function here takes the true statistic computed on *bounded* private rows and the
sensitivity derived for it (`units.py`); nothing outside this module adds noise. The noise is the
ledger's `Noise` (`noise.py`): fresh and cryptographic, never the post-processing generator.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from dp_accounting import dp_event
from scipy.stats import norm

from dbsynth.privacy.ledger import Charge, Ledger


def sigma_for(rho: float, sensitivity: float) -> float:
    """Gaussian noise scale for an L2 sensitivity at zCDP cost ρ (ρ = Δ²/2σ²)."""
    return sensitivity / math.sqrt(2.0 * rho)


def gaussian(
    ledger: Ledger,
    values: np.ndarray,
    *,
    sensitivity: float,
    rho: float,
    table: str,
    what: str,
) -> tuple[np.ndarray, float]:
    """Discrete Gaussian mechanism on an integer count vector with L2 sensitivity `sensitivity`
    (ρ = Δ²/2σ², as for the continuous one); returns (noisy, σ)."""
    sigma = sigma_for(rho, sensitivity)
    noisy = ledger.noise.integer_gaussian(np.asarray(values), sigma).astype(float)
    ledger.record(
        Charge("gaussian", table, what, dp_event.GaussianDpEvent(sigma / sensitivity), rho, 0.0, sensitivity, sigma)
    )
    return noisy, sigma


def exponential(
    ledger: Ledger,
    scores: np.ndarray,
    *,
    sensitivity: float,
    epsilon: float,
    table: str,
    what: str,
    monotonic: bool = False,
) -> int:
    """Exponential mechanism: index drawn with probability ∝ exp(ε·score / (2Δ)), as the argmax
    of the scores plus Gumbel noise of scale 2Δ/ε.

    Recorded as ε²/8-zCDP (bounded-range property, Cesar & Rogers 2021)."""
    factor = 1.0 if monotonic else 2.0
    idx = ledger.noise.noisy_max(np.asarray(scores, dtype=float), factor * sensitivity / epsilon)
    rho = epsilon**2 / 8.0
    ledger.record(Charge("exponential", table, what, dp_event.ZCDpEvent(rho), rho, 0.0, sensitivity, None))
    return idx


def epsilon_for_exponential(rho: float) -> float:
    return math.sqrt(8.0 * rho)


def quantiles(
    ledger: Ledger,
    sorted_values: np.ndarray,
    candidates: np.ndarray,
    qs: list[float],
    *,
    sensitivity: float,
    rho: float,
    table: str,
    what: str,
) -> np.ndarray:
    """DP quantiles of values in memory: `quantiles_from_counts` on their bucket counts."""
    buckets = np.searchsorted(candidates, sorted_values, side="right")
    counts = np.bincount(buckets, minlength=len(candidates) + 1)
    return quantiles_from_counts(ledger, counts, candidates, qs, sensitivity=sensitivity, rho=rho,
                                 table=table, what=what)


def quantiles_from_counts(
    ledger: Ledger,
    bucket_counts: np.ndarray,
    candidates: np.ndarray,
    qs: list[float],
    *,
    sensitivity: float,
    rho: float,
    table: str,
    what: str,
) -> np.ndarray:
    """DP quantiles: one exponential mechanism per q over a public, sorted candidate grid.

    Takes counts, not values: `bucket_counts[b]` = #{x : b candidates are ≤ x}, b = 0..len, so
    #{x < c_j} is the sum of buckets 0..j, exactly (the grid is strictly increasing), and a
    database can supply the counts with one GROUP BY. Utility u(c) = -|(1-q)·#{x<c} - q·#{x≥c}|
    needs no row count; one row moves it by at most max(q, 1-q) ≤ 1, so a unit that owns
    `sensitivity` rows moves it by at most that."""
    counts = np.asarray(bucket_counts, dtype=float)
    if len(counts) != len(candidates) + 1:
        raise ValueError(f"{what}: {len(counts)} bucket counts for {len(candidates)} candidates")
    below = np.cumsum(counts)[: len(candidates)]
    above = counts.sum() - below
    eps_each = epsilon_for_exponential(rho / len(qs))
    out = []
    for q in qs:
        scores = -np.abs((1 - q) * below - q * above)
        out.append(candidates[exponential(ledger, scores, sensitivity=sensitivity, epsilon=eps_each,
                                          table=table, what=f"{what} q={q:.3f}")])
    return np.sort(np.asarray(out))


@dataclass(frozen=True)
class SelectedPartitions:
    values: list  # released values, most frequent first
    noisy_counts: np.ndarray
    threshold: float


class PartitionSelection:
    """Gaussian partition selection fed (value, count) pairs in chunks, e.g. from a streamed
    GROUP BY: only the values that clear the threshold are kept, so memory does not grow with
    the number of distinct values. `release` records the charge and returns the selection.

    One unit owns at most Δ rows, so it can add at most Δ values, each with count ≤ Δ; a value
    only that unit holds is released with probability ≤ P[Z ≥ τ-Δ] for discrete Gaussian Z, which
    is at most Φ̄((τ-Δ-1)/σ) (Canonne-Kamath-Steinke): τ makes the union over its Δ values at most
    δ. The counts are a discrete Gaussian release with L2 sensitivity Δ.

    A value counted fewer than `floor` times is not a candidate at all (the engine drops it
    before it is sent: most of a timestamp's million distinct values, each of which would cost
    an exact noise draw and could only pass with probability ~δ). The floor is public (from σ
    alone), and it is the same argument with τ raised by floor − 1: a value that is a candidate
    with the unit and not without it has at most floor − 1 rows without it, so at most
    floor − 1 + Δ with it; τ = Δ + floor + σ·Φ̄⁻¹(δ/Δ) keeps each such value's release ≤ δ/Δ. The
    values that are candidates either way are the Gaussian release as before."""

    def __init__(self, ledger: Ledger, *, sensitivity: float, rho: float, delta: float, table: str, what: str):
        self.ledger, self.table, self.what = ledger, table, what
        self.sensitivity, self.rho, self.delta = sensitivity, rho, delta
        self.sigma = sigma_for(rho, sensitivity)
        self.floor = 1 + (math.ceil(self.sigma * _FLOOR_SIGMAS) if self.sigma >= _FLOOR_FROM_SIGMA else 0)
        self.tau = sensitivity + self.floor + self.sigma * float(norm.isf(delta / max(sensitivity, 1.0)))
        self._values: list = []
        self._noisy: list[float] = []

    def add(self, pairs: Iterable[tuple[Any, float]]) -> None:
        """Counts of (some of) the values; those under the floor are left out here too, so the
        release does not depend on whether the engine dropped them."""
        it = (pair for pair in pairs if pair[1] >= self.floor)
        while chunk := list(itertools.islice(it, _CHUNK)):
            noisy = self.ledger.noise.integer_gaussian(np.array([c for _, c in chunk]), self.sigma)
            for i in np.flatnonzero(noisy > self.tau):
                self._values.append(chunk[i][0])
                self._noisy.append(float(noisy[i]))

    def release(self) -> SelectedPartitions:
        order = np.argsort(-np.asarray(self._noisy), kind="stable")
        self.ledger.record(Charge("partition_selection", self.table, self.what,
                                  dp_event.GaussianDpEvent(self.sigma / self.sensitivity), self.rho, self.delta,
                                  self.sensitivity, self.sigma))
        return SelectedPartitions([self._values[i] for i in order], np.asarray(self._noisy)[order], self.tau)


def partition_selection(
    ledger: Ledger,
    counts: Mapping[Any, float] | Iterable[tuple[Any, float]],
    *,
    sensitivity: float,
    rho: float,
    delta: float,
    table: str,
    what: str,
) -> SelectedPartitions:
    """Gaussian partition selection over all counts at once (see `PartitionSelection`)."""
    selection = PartitionSelection(ledger, sensitivity=sensitivity, rho=rho, delta=delta, table=table, what=what)
    selection.add(counts.items() if isinstance(counts, Mapping) else counts)
    return selection.release()


_CHUNK = 10_000
# The floor under which a value is no candidate: 1 + ⌈σ/10⌉ rows (none below σ = 4, where one
# row is over a quarter σ). It raises τ by as much, so a value at the old threshold passes with
# probability about Φ̄(0.1–0.25) = 0.40–0.46 instead of 0.5; a value 5σ below τ, which nearly
# every distinct timestamp is, was never going to pass.
_FLOOR_SIGMAS = 0.1
_FLOOR_FROM_SIGMA = 4.0
