"""The marginals a table's synthetic copy should preserve (its workload), and AIM's candidates.

Default workload: every 2- and 3-way marginal of the modelled columns. The spec may name its own
(`workload: [[a, b], [a, b, c]]`). Candidates are the workload's cliques and all their subsets,
each weighted by how much of the workload it covers (AIM §4: w_r = Σ_s |r ∩ s|).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from dbsynth.errors import UsageError

Clique = tuple[str, ...]


def default_workload(columns: Sequence[str]) -> list[Clique]:
    """All 2- and 3-way marginals; a single column is its own workload."""
    if len(columns) == 1:
        return [tuple(columns)]
    return list(itertools.combinations(columns, 2)) + list(itertools.combinations(columns, 3))


def resolve_workload(table: str, given: Sequence[Sequence[str]] | None, sizes: dict[str, int]) -> list[Clique]:
    """The workload over the modelled columns (public size > 1), in table column order.

    Columns of size 1 are constants: a clique keeps its other columns. Unknown columns are refused."""
    modelled = [c for c, k in sizes.items() if k > 1]
    if given is None:
        return default_workload(modelled)
    position = {c: i for i, c in enumerate(sizes)}
    out: list[Clique] = []
    for clique in given:
        unknown = [c for c in clique if c not in sizes]
        if unknown:
            raise UsageError(f"{table}: workload names {unknown[0]!r}, which is not a modelled column "
                             f"(modelled: {', '.join(modelled)})")
        kept = tuple(sorted({c for c in clique if sizes[c] > 1}, key=position.__getitem__))
        if kept and kept not in out:
            out.append(kept)
    return out


def candidates(workload: Sequence[Clique], columns: Sequence[str]) -> dict[Clique, float]:
    """Every non-empty subset of a workload clique with its weight Σ_s |r ∩ s|, smallest first, in
    column order."""
    position = {c: i for i, c in enumerate(columns)}
    closure = {sub for cl in workload for k in range(1, len(cl) + 1) for sub in itertools.combinations(cl, k)}
    ordered = sorted(closure, key=lambda r: (len(r), [position[c] for c in r]))
    return {r: float(sum(len(set(r) & set(s)) for s in workload)) for r in ordered}
