"""From attack scores to ε_lower: guess "in" for the highest scores and "out" for the lowest,
abstain on the middle, count the correct guesses, and turn the count into a bound (`bounds`).

How many to guess is not known in advance (a few confident guesses or many weaker ones); a small
fixed set of guess counts is tried and the confidence is split over them and over the attacks
(Bonferroni), so reporting the best of them is still a valid bound at the stated confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from dbsynth.audit.bounds import epsilon_lower

GUESS_FRACTIONS = (0.1, 0.25, 0.5, 1.0)  # guesses as a share of all canaries


@dataclass(frozen=True)
class Guesses:
    guesses: int
    correct: int


@dataclass(frozen=True)
class AttackBound:
    """One attack's best bound over the guess counts, at a confidence already corrected."""

    attack: str
    guesses: int
    correct: int
    epsilon_lower: float
    confidence: float  # the one-sided confidence this bound holds at (after the corrections)
    auc: float = 0.5  # how well the scores separate in from out (descriptive: no bound rests on it)

    def to_dict(self) -> dict:
        return {"attack": self.attack, "guesses": self.guesses, "correct": self.correct,
                "epsilon_lower": self.epsilon_lower, "confidence": self.confidence, "auc": round(self.auc, 4)}

    @classmethod
    def from_dict(cls, d: dict) -> "AttackBound":
        return cls(str(d["attack"]), int(d["guesses"]), int(d["correct"]), float(d["epsilon_lower"]),
                   float(d["confidence"]), float(d.get("auc", 0.5)))


def guess_counts(m: int) -> list[int]:
    """Even guess counts (half "in", half "out"), distinct, at least 2, at most m."""
    return sorted({max(2, 2 * int(round(f * m / 2))) for f in GUESS_FRACTIONS if m >= 2} & set(range(2, m + 1)))


def guess(scores: np.ndarray, included: np.ndarray, r: int, rng: np.random.Generator) -> Guesses:
    """r/2 guesses "in" for the highest scores, r/2 "out" for the lowest; ties in random order."""
    shuffle = rng.permutation(len(scores))
    order = shuffle[np.argsort(-scores[shuffle], kind="stable")]
    half = r // 2
    correct = int(included[order[:half]].sum() + (~included[order[len(order) - half:]]).sum())
    return Guesses(2 * half, correct)


def best_bound(attack: str, scores: np.ndarray, included: np.ndarray, delta: float, alpha: float,
               rng: np.random.Generator) -> AttackBound:
    """The largest ε_lower over the guess counts, each at α / (number of guess counts)."""
    m = len(scores)
    counts = guess_counts(m)
    level = alpha / max(1, len(counts))
    auc = area_under_curve(scores, included)
    best = AttackBound(attack, 0, 0, 0.0, 1 - level, auc)
    for r in counts:
        g = guess(scores, included, r, rng)
        eps = epsilon_lower(m, g.guesses, g.correct, delta, level)
        # Ties at 0 keep the largest guess count: its accuracy says the most about the attack.
        if eps >= best.epsilon_lower:
            best = AttackBound(attack, g.guesses, g.correct, eps, 1 - level, auc)
    return best


def area_under_curve(scores: np.ndarray, included: np.ndarray) -> float:
    """P[an included canary scores above an excluded one] (ties count half)."""
    inside, outside = scores[included], scores[~included]
    if len(inside) == 0 or len(outside) == 0:
        return 0.5
    return float(stats.mannwhitneyu(inside, outside).statistic / (len(inside) * len(outside)))
