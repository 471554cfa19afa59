"""Coarse twins of large ordered columns, so AIM can afford their 2- and 3-way relations.

At ε = 1 a 2-way of age × hours-per-week (85 × 99 cells) carries noise of σ in every cell: far
more than the 48k rows it describes, so AIM never measures it and the model keeps them
independent. A twin `age~16` that groups age's codes into 16 contiguous runs (a function g fixed
before any measurement) lets AIM measure (age~16, hours-per-week~16, income) at 16 × 16 × 2 cells
instead. The twin is an attribute of the graphical model with a fixed potential on (age, age~16)
that is 0 where age~16 = g(age) and effectively -∞ elsewhere (a structural zero), so the model's
fine marginals stay exact where measured and are spread by the 1-ways inside each group. Coarser
levels, if asked for, are twins of the finer twin (a chain), each group a union of finer ones.

The groups come from the noisy 1-way counts (post-processing, no budget): contiguous runs of
about equal noisy mass; codes outside the order (NULL, "other", the merged rare values) are each
a group of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dbsynth.tabular.compression import compress_marginal

Clique = tuple[str, ...]
_ZERO = -1e4  # log-potential of a structural zero: exp(-1e4) underflows to exactly 0


@dataclass(frozen=True)
class Twins:
    """The coarse twins of the large ordered columns, finest first: each twin is a function of the
    attribute before it (the column, or the next finer twin), so the model holds them as a chain."""

    names: dict[str, list[str]]  # column -> its twins, finest first
    groups: dict[str, np.ndarray]  # twin -> its group of each (compressed) code of the column

    @property
    def sizes(self) -> dict[str, int]:
        return {t: int(g.max()) + 1 for t, g in self.groups.items()}

    @cached_property
    def column(self) -> dict[str, str]:
        """twin -> its column."""
        return {t: c for c, twins in self.names.items() for t in twins}

    def fixed_potentials(self) -> dict[Clique, np.ndarray]:
        """(finer, twin) -> 0 where the twin is the finer code's group, a structural zero elsewhere."""
        out = {}
        for col, twins in self.names.items():
            finer, finer_codes = col, np.arange(self.groups[twins[0]].size)
            for twin in twins:
                step = np.zeros(int(finer_codes.max()) + 1, dtype=np.int64)
                step[finer_codes] = self.groups[twin]  # a finer code's group (one per code: nested)
                pot = np.full((step.size, int(step.max()) + 1), _ZERO)
                pot[np.arange(step.size), step] = 0.0
                out[(finer, twin)] = pot
                finer, finer_codes = twin, self.groups[twin]
        return out

    def variants(self, clique: Clique) -> list[Clique]:
        """`clique` with its twinned columns replaced by any of their twins, in every combination."""
        out = [()]
        for col in clique:
            out = [v + (a,) for v in out for a in [col, *self.names.get(col, [])]]
        return [v for v in out if v != clique]

    def fine(self, clique: Clique) -> Clique:
        """The clique over real columns that a (possibly coarse) clique aggregates."""
        column = self.column
        return tuple(column.get(a, a) for a in clique)

    def aggregate(self, counts: np.ndarray, clique: Clique) -> np.ndarray:
        """Counts over `self.fine(clique)` summed into the groups where `clique` has a twin: the
        twin's groups are a mapping of its column's codes, as rare-value compression is."""
        return compress_marginal(counts, clique, self.groups)


def make_twins(
    noisy: Mapping[str, np.ndarray],
    apart: Mapping[str, set[int]],
    levels: Sequence[int],
    taken: Iterable[str],
) -> Twins:
    """Twins of the ordered columns in `noisy` (their compressed noisy 1-way counts) that have more
    than 2·`levels[0]` codes: one per level, of about that many groups, each level's groups unions
    of the finer level's. `apart[col]` are codes outside the order (NULL, "other", merged rare
    values): each stays a group of its own. `taken` are names a twin must not collide with."""
    used = set(taken)
    names: dict[str, list[str]] = {}
    groups: dict[str, np.ndarray] = {}
    for col, counts in noisy.items():
        counts = np.clip(np.asarray(counts, dtype=float), 0.0, None)
        if not levels or counts.size <= 2 * levels[0]:
            continue
        outside = sorted(apart.get(col, ()))
        inside = np.array([i for i in range(counts.size) if i not in outside])
        # Codes in order (inside) run together; every outside code stays alone at every level.
        unit = np.empty(counts.size, dtype=np.int64)  # the finest grouping: each code its own
        unit[inside] = np.arange(inside.size)
        unit[outside] = inside.size + np.arange(len(outside))
        names[col] = []
        for k in levels:
            ordered_units = np.unique(unit[inside])
            mass = np.bincount(unit[inside], weights=counts[inside], minlength=int(unit.max()) + 1)[ordered_units]
            if ordered_units.size <= k:
                break
            # Each unit goes to the group holding the middle of its mass: contiguous, about equal mass.
            total = mass.sum()
            mid = (np.cumsum(mass) - mass / 2) / total if total > 0 else (np.arange(mass.size) + 0.5) / mass.size
            raw = np.minimum((mid * k).astype(np.int64), k - 1)
            merged = np.unique(raw, return_inverse=True)[1]
            of_unit = np.empty(int(unit.max()) + 1, dtype=np.int64)
            of_unit[ordered_units] = merged
            group = of_unit[unit]
            for i, code in enumerate(outside):
                group[code] = int(merged.max()) + 1 + i
            name = f"{col}~{k}"
            while name in used:
                name += "~"
            used.add(name)
            names[col].append(name)
            groups[name] = group
            unit = group
        if not names[col]:
            del names[col]
    return Twins(names, groups)
