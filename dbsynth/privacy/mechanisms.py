"""The mechanisms: each returns its noisy release and records its own event in the ledger.

Every function here takes the true statistic computed on *bounded* private rows and the
sensitivity derived for it (`units.py`); nothing outside this module adds noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    rng: np.random.Generator,
    table: str,
    what: str,
) -> tuple[np.ndarray, float]:
    """Gaussian mechanism on a count vector with L2 sensitivity `sensitivity`; returns (noisy, σ)."""
    sigma = sigma_for(rho, sensitivity)
    noisy = np.asarray(values, dtype=float) + rng.normal(0.0, sigma, size=np.shape(values))
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
    rng: np.random.Generator,
    table: str,
    what: str,
    monotonic: bool = False,
) -> int:
    """Exponential mechanism: index drawn with probability ∝ exp(ε·score / (2Δ)).

    Recorded as ε²/8-zCDP (bounded-range property, Cesar & Rogers 2021)."""
    factor = 1.0 if monotonic else 2.0
    logits = epsilon * np.asarray(scores, dtype=float) / (factor * sensitivity)
    logits -= logits.max()
    p = np.exp(logits)
    p /= p.sum()
    idx = int(rng.choice(len(p), p=p))
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
    rng: np.random.Generator,
    table: str,
    what: str,
) -> np.ndarray:
    """DP quantiles: one exponential mechanism per q over a public, sorted candidate grid.

    Utility u(c) = -|(1-q)·#{x<c} - q·#{x≥c}| needs no row count; one row moves it by at most
    max(q, 1-q) ≤ 1, so a unit that owns `sensitivity` rows moves it by at most that."""
    below = np.searchsorted(sorted_values, candidates, side="left").astype(float)
    n = float(len(sorted_values))
    above = n - below
    eps_each = epsilon_for_exponential(rho / len(qs))
    out = []
    for q in qs:
        scores = -np.abs((1 - q) * below - q * above)
        out.append(candidates[exponential(ledger, scores, sensitivity=sensitivity, epsilon=eps_each,
                                          rng=rng, table=table, what=f"{what} q={q:.3f}")])
    return np.sort(np.asarray(out))


@dataclass(frozen=True)
class SelectedPartitions:
    values: list  # released values, most frequent first
    noisy_counts: np.ndarray
    threshold: float


def partition_selection(
    ledger: Ledger,
    counts: dict,
    *,
    sensitivity: float,
    rho: float,
    delta: float,
    rng: np.random.Generator,
    table: str,
    what: str,
) -> SelectedPartitions:
    """Gaussian partition selection: release the values whose noisy count clears a threshold.

    One unit owns at most Δ rows, so it can add at most Δ values, each with count ≤ Δ; a value
    only that unit holds is released with probability ≤ Φ̄((τ-Δ)/σ) — τ makes the union over its
    Δ values at most δ. The counts are a Gaussian release with L2 sensitivity Δ."""
    sigma = sigma_for(rho, sensitivity)
    tau = sensitivity + sigma * float(norm.isf(delta / max(sensitivity, 1.0)))
    keys = list(counts)
    true = np.array([counts[k] for k in keys], dtype=float)
    noisy = true + rng.normal(0.0, sigma, size=len(true))
    keep = noisy > tau
    order = np.argsort(-noisy[keep], kind="stable")
    values = [keys[i] for i in np.flatnonzero(keep)[order]]
    ledger.record(
        Charge("partition_selection", table, what, dp_event.GaussianDpEvent(sigma / sensitivity), rho, delta,
               sensitivity, sigma)
    )
    return SelectedPartitions(values, noisy[keep][order], tau)
