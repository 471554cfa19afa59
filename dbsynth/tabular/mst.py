"""MST (McKenna, Miklau & Sheldon 2021): noisy 1-ways, a private maximum spanning tree of pairs,
noisy 2-ways on its edges, then Private-PGM estimation.

Budget, of the ρ the caller gives: ρ/3 on the 1-ways, ρ/3 on choosing the d-1 tree edges, ρ/3 on
measuring them. Every release goes through `dbsynth.privacy.mechanisms`, so the ledger sees it.
Columns of public domain size 1 are constants and cost nothing; with one modelled column its
1-way gets all of ρ; with none, ρ buys a noisy row count.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from mbi import Domain, LinearMeasurement, estimation

from dbsynth.errors import UsageError
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.mechanisms import epsilon_for_exponential, exponential, gaussian
from dbsynth.tabular import marginals
from dbsynth.tabular.base import EncodedTable
from dbsynth.tabular.compression import compress_counts, rare_value_mapping
from dbsynth.tabular.model import GraphicalModel

Pair = tuple[str, str]


@dataclass(frozen=True)
class MST:
    """The `Method` named "mst"."""

    name: str = "mst"
    rare_sigmas: float = 3.0  # values with noisy count below this many σ are merged
    # Mirror-descent iterations. On Adult 1000 and 3000 give the same 2-way TVD (0.05), and each
    # further 1000 costs ~8 s on 2 cores.
    iters: int = 1000

    def fit(
        self,
        data: EncodedTable,
        *,
        ledger: Ledger,
        rho: float,
        sensitivity: float,
        rng: np.random.Generator,
    ) -> GraphicalModel:
        if not (rho > 0 and math.isfinite(rho)):
            raise UsageError(f"{data.table}: the privacy budget rho must be positive, got {rho}")
        if not (sensitivity > 0 and math.isfinite(sensitivity)):
            raise UsageError(f"{data.table}: sensitivity must be positive, got {sensitivity}")
        columns = tuple(data.columns)
        # A column whose public domain has one value is a constant: nothing private to learn.
        modelled = [c for c in columns if data.sizes[c] > 1]
        if not modelled:
            (count,), _ = gaussian(ledger, np.array([data.rows]), sensitivity=sensitivity, rho=rho,
                                   rng=rng, table=data.table, what="row count")
            return GraphicalModel(columns, dict(data.sizes), None, estimated_rows=max(0.0, count))

        # With one column there are no pairs: the whole budget goes to its 1-way.
        rho_part = rho if len(modelled) == 1 else rho / 3.0
        ones = {
            col: gaussian(ledger, marginals.marginal([data.column(col)], [data.sizes[col]]),
                          sensitivity=sensitivity, rho=rho_part / len(modelled), rng=rng,
                          table=data.table, what=f"1-way ({col})")
            for col in modelled
        }
        estimated_rows = max(0.0, float(np.mean([noisy.sum() for noisy, _ in ones.values()])))

        # Decided from noisy counts only, so compressing is free post-processing.
        mappings = {col: m for col, (noisy, sigma) in ones.items()
                    if (m := rare_value_mapping(noisy, self.rare_sigmas * sigma)) is not None}
        codes = {c: mappings[c][data.column(c)] if c in mappings else data.column(c) for c in modelled}
        sizes = {c: int(mappings[c].max()) + 1 if c in mappings else data.sizes[c] for c in modelled}
        full = Domain(modelled, [data.sizes[c] for c in modelled])
        # A merged cell sums k noisy counts (noise σ√k); `compress` scales it and its query by 1/√k
        # so the estimator weighs it by its real precision, not as precise as any other cell.
        measurements = [
            LinearMeasurement(noisy, (col,), stddev=sigma).compress(mappings, full)
            for col, (noisy, sigma) in ones.items()
        ]

        if len(modelled) > 1:
            # The selection's product-of-1-ways baseline, from released (compressed) counts only.
            probs = {c: marginals.distribution(compress_counts(ones[c][0], mappings.get(c))) for c in modelled}
            tree = _private_spanning_tree(data.table, modelled, codes, sizes, probs, estimated_rows,
                                          ledger=ledger, rho=rho / 3.0, sensitivity=sensitivity, rng=rng)
            for a, b in tree:
                noisy, sigma = gaussian(ledger, marginals.marginal([codes[a], codes[b]], [sizes[a], sizes[b]]),
                                        sensitivity=sensitivity, rho=rho / 3.0 / len(tree), rng=rng,
                                        table=data.table, what=f"2-way ({a}, {b})")
                measurements.append(LinearMeasurement(noisy, (a, b), stddev=sigma))

        domain = Domain(modelled, [sizes[c] for c in modelled])
        # The total comes from the noisy 1-ways, never from the private row count.
        mrf = estimation.MirrorDescent().estimate(domain, measurements, known_total=max(1.0, estimated_rows),
                                                  iters=self.iters)
        return GraphicalModel(columns, dict(data.sizes), mrf, mappings, estimated_rows)


def _private_spanning_tree(
    table: str,
    columns: list[str],
    codes: dict[str, np.ndarray],
    sizes: dict[str, int],
    probs: dict[str, np.ndarray],
    total: float,
    *,
    ledger: Ledger,
    rho: float,
    sensitivity: float,
    rng: np.random.Generator,
) -> list[Pair]:
    """Kruskal with an exponential mechanism per edge: pairs the 1-ways explain worst come first.

    Scores are computed once, in numpy, for every pair; each of the d-1 choices spends ρ/(d-1)."""
    pairs = list(itertools.combinations(columns, 2))
    scores = np.array([
        marginals.independence_l1(marginals.marginal([codes[a], codes[b]], [sizes[a], sizes[b]]),
                                  probs[a], probs[b], total)
        for a, b in pairs
    ])
    component = {c: i for i, c in enumerate(columns)}  # tiny d: relabel instead of union-find
    edges: list[Pair] = []
    rounds = len(columns) - 1
    for i in range(rounds):
        open_ = [k for k, (a, b) in enumerate(pairs) if component[a] != component[b]]
        pick = open_[exponential(ledger, scores[open_], sensitivity=sensitivity,
                                 epsilon=epsilon_for_exponential(rho / rounds), rng=rng, table=table,
                                 what=f"MST edge {i + 1}/{rounds}")]
        a, b = pairs[pick]
        edges.append((a, b))
        old, new = component[b], component[a]
        component = {c: new if k == old else k for c, k in component.items()}
    return edges
