"""Coarse twins of large ordered columns, so AIM can afford their 2- and 3-way relations.

At ε = 1 a 2-way of age × hours-per-week (85 × 99 cells) carries noise of σ in every cell: far
more than the 48k rows it describes, so AIM never measures it and the model keeps them
independent. A twin `age~` that groups age's codes into a few contiguous runs (`age~` = g(age),
a function fixed before any measurement) lets AIM measure (age~, hours~, income) at 16 × 16 × 2
cells instead. The twin is an attribute of the graphical model with a fixed potential on
(age, age~) that is 0 where age~ = g(age) and effectively -∞ elsewhere (a structural zero), so the
model's fine marginals stay exact where measured and are spread by the 1-ways inside each group.

The groups come from the noisy 1-way counts (post-processing, no budget): contiguous runs of
about equal noisy mass, the compressed rare-value code (not contiguous) a group of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

Clique = tuple[str, ...]
_ZERO = -1e4  # log-potential of a structural zero: exp(-1e4) underflows to exactly 0


@dataclass(frozen=True)
class Twins:
    """The coarse twin of each large ordered column: its name and the group of each code."""

    groups: dict[str, np.ndarray]  # column -> group of each (compressed) code
    names: dict[str, str]  # column -> twin attribute

    @property
    def sizes(self) -> dict[str, int]:
        return {self.names[c]: int(g.max()) + 1 for c, g in self.groups.items()}

    @property
    def attributes(self) -> set[str]:
        return set(self.names.values())

    def fixed_potentials(self) -> dict[Clique, np.ndarray]:
        """(column, twin) -> 0 where the twin is the code's group, a structural zero elsewhere."""
        out = {}
        for col, group in self.groups.items():
            pot = np.full((group.size, int(group.max()) + 1), _ZERO)
            pot[np.arange(group.size), group] = 0.0
            out[(col, self.names[col])] = pot
        return out

    def variants(self, clique: Clique) -> list[Clique]:
        """`clique` with every non-empty subset of its twinned columns replaced by their twins."""
        out = [()]
        for col in clique:
            out = [v + (col,) for v in out] + ([v + (self.names[col],) for v in out] if col in self.names else [])
        return [v for v in out if v != clique]

    def fine(self, clique: Clique) -> Clique:
        """The clique over real columns that a (possibly coarse) clique aggregates."""
        back = {t: c for c, t in self.names.items()}
        return tuple(back.get(a, a) for a in clique)

    def aggregate(self, counts: np.ndarray, clique: Clique) -> np.ndarray:
        """Counts over `self.fine(clique)` summed into the groups where `clique` has a twin."""
        out = np.asarray(counts, dtype=float)
        back = {t: c for c, t in self.names.items()}
        for axis, attr in enumerate(clique):
            if attr in back:
                group = self.groups[back[attr]]
                onehot = np.zeros((group.size, int(group.max()) + 1))
                onehot[np.arange(group.size), group] = 1.0
                out = np.moveaxis(np.moveaxis(out, axis, -1) @ onehot, -1, axis)
        return out


def make_twins(
    noisy: Mapping[str, np.ndarray],
    apart: Mapping[str, set[int]],
    groups: int,
    taken: Iterable[str],
) -> Twins:
    """Twins of the ordered columns in `noisy` (their compressed noisy 1-way counts) that have more
    than 2·`groups` codes. `apart[col]` are codes outside the order (NULL, "other", merged rare
    values): each is a group of its own. `taken` are names a twin must not collide with."""
    used = set(taken)
    out_groups, names = {}, {}
    for col, counts in noisy.items():
        counts = np.clip(np.asarray(counts, dtype=float), 0.0, None)
        if counts.size <= 2 * groups:
            continue
        outside = sorted(apart.get(col, ()))
        inside = np.array([i for i in range(counts.size) if i not in outside])
        mass = counts[inside]
        # Each code goes to the group holding the middle of its mass: contiguous, about equal mass.
        mid = (np.cumsum(mass) - mass / 2) / mass.sum() if mass.sum() > 0 else (np.arange(mass.size) + 0.5) / mass.size
        raw = np.minimum((mid * groups).astype(np.int64), groups - 1)
        group = np.empty(counts.size, dtype=np.int64)
        group[inside] = np.unique(raw, return_inverse=True)[1]
        for i, code in enumerate(outside):
            group[code] = int(group[inside].max()) + 1 + i
        name = f"{col}~"
        while name in used:
            name += "~"
        used.add(name)
        out_groups[col], names[col] = group, name
    return Twins(out_groups, names)
