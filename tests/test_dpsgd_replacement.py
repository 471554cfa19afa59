"""The owned-table DP-SGD accounting: one unit replaced is charged as one unit added or removed at
twice the clip norm (`dpsgd.DpSgdPlan.replace_factor`). Checked here by numerical integration of
the Rényi divergences of the Poisson-subsampled Gaussian: the replacement pair (a batch holding
the changed example at +C or at −C, each with probability q) never exceeds the add/remove pair at 2C."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

GRID = np.linspace(-60.0, 60.0, 200_001)


def renyi(p: np.ndarray, q: np.ndarray, alpha: float) -> float:
    lp, lq = np.log(p + 1e-300), np.log(q + 1e-300)
    return float((logsumexp(alpha * lp + (1 - alpha) * lq) + np.log(GRID[1] - GRID[0])) / (alpha - 1))


@pytest.mark.parametrize("sigma", [0.7, 1.4, 4.0])
@pytest.mark.parametrize("rate", [0.005, 0.1, 0.5])
def test_replacement_is_dominated_by_add_remove_at_twice_the_clip(sigma, rate):
    base = norm.pdf(GRID, 0, sigma)
    plus = (1 - rate) * base + rate * norm.pdf(GRID, 1, sigma)  # clip C = 1: example's gradient at +C
    minus = (1 - rate) * base + rate * norm.pdf(GRID, -1, sigma)  # the replacement's at −C (worst case)
    added = (1 - rate) * base + rate * norm.pdf(GRID, 2, sigma)  # add/remove of an example at 2C
    for alpha in (2, 8, 32):
        replaced = renyi(plus, minus, alpha)
        assert replaced <= max(renyi(added, base, alpha), renyi(base, added, alpha)) * (1 + 1e-6) + 1e-12
