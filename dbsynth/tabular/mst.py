"""MST (McKenna, Miklau & Sheldon 2021): noisy 1-ways, a private maximum spanning tree of pairs,
noisy 2-ways on its edges, then Private-PGM estimation.

Budget, of the ρ the caller gives: ρ/3 on the 1-ways, ρ/3 on choosing the d-1 tree edges, ρ/3 on
measuring them. Every release goes through `dbsynth.privacy.mechanisms`, so the ledger sees it.
Columns of public domain size 1 are constants and cost nothing; with one modelled column its
1-way gets all of ρ; with none, ρ buys a noisy row count. All true counts come from one batched
`data.marginals` call (every 1-way and every pair), so a database source scans the table once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from mbi import LinearMeasurement, estimation

from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.mechanisms import epsilon_for_exponential, exponential, gaussian
from dbsynth.tabular import marginals
from dbsynth.tabular.base import MarginalSource
from dbsynth.tabular.compression import compress_counts, compress_marginal
from dbsynth.tabular.model import GraphicalModel
from dbsynth.tabular.releases import check_budget, measure_one_ways, modelled_columns, row_count_only

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
        data: MarginalSource,
        *,
        ledger: Ledger,
        rho: float,
        sensitivity: float,
        rng: np.random.Generator,
    ) -> GraphicalModel:
        check_budget(data.table, rho, sensitivity)
        columns = tuple(data.sizes)
        modelled = modelled_columns(data)
        if not modelled:
            return row_count_only(data, ledger=ledger, rho=rho, sensitivity=sensitivity)

        pairs = list(itertools.combinations(modelled, 2))
        counts = marginals.fetch(data, [(c,) for c in modelled] + pairs)
        # With one column there are no pairs: the whole budget goes to its 1-way.
        rho_part = rho if len(modelled) == 1 else rho / 3.0
        ones = measure_one_ways(data, dict(zip(modelled, counts)), ledger=ledger,
                                rho={c: rho_part / len(modelled) for c in modelled},
                                sensitivity=sensitivity, rare_sigmas=self.rare_sigmas)
        estimated_rows = max(0.0, ones.total_estimate())
        measurements = list(ones.measurements)

        if pairs:
            two_ways = {pair: compress_marginal(x, pair, ones.mappings) for pair, x in zip(pairs, counts[len(modelled):])}
            # The selection's product-of-1-ways baseline, from released (compressed) counts only.
            probs = {c: marginals.distribution(compress_counts(ones.noisy[c], ones.mappings.get(c))) for c in modelled}
            tree = _private_spanning_tree(data.table, modelled, two_ways, probs, estimated_rows,
                                          ledger=ledger, rho=rho / 3.0, sensitivity=sensitivity)
            for a, b in tree:
                noisy, sigma = gaussian(ledger, two_ways[(a, b)].ravel(), sensitivity=sensitivity,
                                        rho=rho / 3.0 / len(tree), table=data.table, what=f"2-way ({a}, {b})")
                measurements.append(LinearMeasurement(noisy, (a, b), stddev=sigma))

        # The total comes from the noisy 1-ways, never from the private row count.
        mrf = estimation.MirrorDescent().estimate(ones.domain, measurements, known_total=max(1.0, estimated_rows),
                                                  iters=self.iters)
        return GraphicalModel.from_mrf(columns, data.sizes, mrf, ones.mappings, estimated_rows, ones.shares)


def _private_spanning_tree(
    table: str,
    columns: list[str],
    two_ways: dict[Pair, np.ndarray],
    probs: dict[str, np.ndarray],
    total: float,
    *,
    ledger: Ledger,
    rho: float,
    sensitivity: float,
) -> list[Pair]:
    """Kruskal with an exponential mechanism per edge: pairs the 1-ways explain worst come first.

    Scores are computed once, in numpy, for every pair; each of the d-1 choices spends ρ/(d-1)."""
    pairs = list(two_ways)
    scores = np.array([marginals.independence_l1(two_ways[(a, b)], probs[a], probs[b], total) for a, b in pairs])
    component = {c: i for i, c in enumerate(columns)}  # tiny d: relabel instead of union-find
    edges: list[Pair] = []
    rounds = len(columns) - 1
    for i in range(rounds):
        open_ = [k for k, (a, b) in enumerate(pairs) if component[a] != component[b]]
        pick = open_[exponential(ledger, scores[open_], sensitivity=sensitivity,
                                 epsilon=epsilon_for_exponential(rho / rounds), table=table,
                                 what=f"MST edge {i + 1}/{rounds}")]
        a, b = pairs[pick]
        edges.append((a, b))
        old, new = component[b], component[a]
        component = {c: new if k == old else k for c, k in component.items()}
    return edges
