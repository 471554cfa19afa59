"""The releases every graphical-model method starts with: the budget checks, a noisy row count
for tables with nothing to model, and the noisy 1-way marginals that decide the compression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from mbi import Domain, LinearMeasurement

from dbsynth.errors import UsageError
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.mechanisms import gaussian
from dbsynth.tabular.base import MarginalSource
from dbsynth.tabular.compression import merged_shares, rare_value_mapping
from dbsynth.tabular.model import GraphicalModel


def check_budget(table: str, rho: float, sensitivity: float) -> None:
    if not (rho > 0 and math.isfinite(rho)):
        raise UsageError(f"{table}: the privacy budget rho must be positive, got {rho}")
    if not (sensitivity > 0 and math.isfinite(sensitivity)):
        raise UsageError(f"{table}: sensitivity must be positive, got {sensitivity}")


def modelled_columns(data: MarginalSource) -> list[str]:
    """Columns with more than one public value; the others are constants with nothing private."""
    return [c for c, size in data.sizes.items() if size > 1]


def row_count_only(data: MarginalSource, *, ledger: Ledger, rho: float, sensitivity: float) -> GraphicalModel:
    """A table with no modelled column: the whole ρ buys its noisy row count."""
    (true,) = data.marginals([()])
    (count,), _ = gaussian(ledger, np.reshape(true, 1), sensitivity=sensitivity, rho=rho,
                           table=data.table, what="row count")
    return GraphicalModel(tuple(data.sizes), dict(data.sizes), None, estimated_rows=max(0.0, float(count)))


@dataclass
class OneWays:
    """Noisy 1-ways and what they decided: the compressed domain and its measurements."""

    noisy: dict[str, np.ndarray]  # over the original codes
    sigma: dict[str, float]
    mappings: dict[str, np.ndarray] = field(default_factory=dict)  # original -> compressed code
    shares: dict[str, np.ndarray] = field(default_factory=dict)  # a merged value's share of its code
    sizes: dict[str, int] = field(default_factory=dict)  # compressed sizes
    measurements: list[LinearMeasurement] = field(default_factory=list)

    @property
    def domain(self) -> Domain:
        return Domain(list(self.sizes), list(self.sizes.values()))

    def total_estimate(self) -> float:
        """The row count from the noisy 1-ways, each weighted by its precision (1/variance)."""
        sums = np.array([v.sum() for v in self.noisy.values()])
        var = np.array([self.sigma[c] ** 2 * self.noisy[c].size for c in self.noisy])
        return float(np.sum(sums / var) / np.sum(1.0 / var))


def measure_one_ways(
    data: MarginalSource,
    counts: dict[str, np.ndarray],
    *,
    ledger: Ledger,
    rho: dict[str, float],
    sensitivity: float,
    rare_sigmas: float,
) -> OneWays:
    """One Gaussian release per column (`rho[col]` each), then MST's compression of values rarer
    than `rare_sigmas`·σ, and each merged value's share of its code for drawing it back. Both are
    decided from noisy counts only: free post-processing."""
    noisy, sigma = {}, {}
    for col, true in counts.items():
        noisy[col], sigma[col] = gaussian(ledger, true, sensitivity=sensitivity, rho=rho[col],
                                          table=data.table, what=f"1-way ({col})")
    mappings = {c: m for c in counts if (m := rare_value_mapping(noisy[c], rare_sigmas * sigma[c])) is not None}
    shares = {c: merged_shares(noisy[c], m, sigma[c], set(data.ordered[c]) if c in data.ordered else None)
              for c, m in mappings.items()}
    sizes = {c: int(mappings[c].max()) + 1 if c in mappings else data.sizes[c] for c in counts}
    full = Domain(list(counts), [data.sizes[c] for c in counts])
    # A merged cell sums k noisy counts (noise σ√k); `compress` scales it and its query by 1/√k so
    # the estimator weighs it by its real precision, not as precise as any other cell.
    measurements = [LinearMeasurement(noisy[c], (c,), stddev=sigma[c]).compress(mappings, full) for c in counts]
    return OneWays(noisy, sigma, mappings, shares, sizes, measurements)
