"""The one-run lower bound on ε (Steinke, Nasr and Jagielski 2023, "Privacy Auditing with One (1)
Training Run"): m canaries, each in the input independently with probability 1/2; an attacker who
sees only the output guesses in/out for r of them and is right v times.

If the mechanism is (ε, δ)-DP with respect to each canary, then P[≥ v correct] is at most
P[Binomial(r, q) ≥ v] + 2mδ · max_{1≤i≤v} P[v−i ≤ Binomial(r, q) < v] / i, with q = e^ε/(1+e^ε)
(the accuracy of ε-randomised response). A count of correct guesses whose p-value under that
bound is below α refutes (ε, δ)-DP at confidence 1 − α; ε_lower is the largest ε so refuted.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

EPSILON_CEILING = 50.0  # above this the bound is reported as the ceiling (q rounds to 1 in floats)


def p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """The most probability an (ε, δ)-DP mechanism can give to ≥ v correct of r guesses."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 ≤ v ≤ r ≤ m, got v={v}, r={r}, m={m}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError(f"need ε ≥ 0 and 0 ≤ δ ≤ 1, got ε={epsilon}, δ={delta}")
    q = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(stats.binom.sf(v - 1, r, q))  # P[Binomial(r, q) ≥ v]
    if v == 0 or delta == 0:
        return min(1.0, tail)
    # P[v−i ≤ B < v] for i = 1..v, divided by i: the δ term's worst way to spend its mass.
    below = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q).cumsum()
    worst = float(np.max(below / np.arange(1, v + 1)))
    return min(1.0, tail + 2 * m * delta * worst)


def epsilon_lower(m: int, r: int, v: int, delta: float, alpha: float) -> float:
    """The largest ε that v correct of r guesses refute at confidence 1 − α (0 when none is)."""
    if not 0 < alpha < 1:
        raise ValueError(f"need 0 < α < 1, got {alpha}")
    if r == 0 or p_value(m, r, v, 0.0, delta) > alpha:
        return 0.0
    if p_value(m, r, v, EPSILON_CEILING, delta) <= alpha:
        return EPSILON_CEILING
    # p_value increases with ε; the root is where the evidence stops refuting.
    return float(optimize.brentq(lambda e: p_value(m, r, v, e, delta) - alpha, 0.0, EPSILON_CEILING, xtol=1e-6))
