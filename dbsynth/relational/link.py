"""The `degree` linker: every child gets a synthetic parent, parent degrees follow the DP histogram.

Pure post-processing of released statistics: the noisy degree histogram and the child rows'
sampled NULL indicators. Self references link only to rows earlier in a random order, so the
result is acyclic by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dbsynth.relational.linker import LinkProblem
from dbsynth.relational.rounding import fit_parent_targets, reshape_tail


def degree_distribution(noisy_hist: np.ndarray | None, cap: int) -> np.ndarray:
    """A probability vector over degrees 0..cap from a noisy histogram (uniform if it is all noise)."""
    if noisy_hist is None:
        return np.full(cap + 1, 1.0 / (cap + 1))
    p = np.clip(np.asarray(noisy_hist, dtype=float), 0, None)
    if p.sum() <= 0:
        return np.full(len(p), 1.0 / len(p))
    return p / p.sum()


def assign_parents(
    n_children: int,
    n_parents: int,
    degree_probs: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Parent index (0..n_parents-1) for each child; parents' degrees drawn from `degree_probs`."""
    if n_children == 0:
        return np.zeros(0, dtype=np.int64)
    if n_parents == 0:
        raise ValueError("children without any parent row to link to")
    degrees = rng.choice(len(degree_probs), size=n_parents, p=degree_probs)
    slots = np.repeat(np.arange(n_parents), degrees)
    if len(slots) >= n_children:
        chosen = rng.choice(slots, size=n_children, replace=False)
    else:
        weights = degrees + 1e-3  # the histogram's shape for the overflow too, never an empty draw
        extra = rng.choice(n_parents, size=n_children - len(slots), p=weights / weights.sum())
        chosen = np.concatenate([slots, extra])
    rng.shuffle(chosen)
    return chosen.astype(np.int64)


def assign_self_parents(
    linked: np.ndarray,
    degree_probs: np.ndarray,
    rng: np.random.Generator,
    nullable: bool,
) -> np.ndarray:
    """Parent row index per row for a self reference (-1 = NULL); links point to earlier rows of
    a random order, so following them always ends at a root."""
    n = len(linked)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    order = rng.permutation(n)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    weights = rng.choice(len(degree_probs), size=n, p=degree_probs).astype(float) + 1e-3
    cum = np.cumsum(weights[order])  # cum[i]: total weight of the first i+1 rows in the order
    for row in np.flatnonzero(linked):
        pos = position[row]
        if pos == 0:
            out[row] = -1 if nullable else row  # the first row has nobody earlier: a root (or itself)
            continue
        u = rng.random() * cum[pos - 1]
        out[row] = order[int(np.searchsorted(cum[:pos], u, side="right"))]
    return out


def assign_ordered_parents(
    child_position: np.ndarray,
    parent_position: np.ndarray,
    degree_probs: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Parent index per child among parents strictly earlier in the order (-1 where none is);
    parents weighted by a degree drawn from `degree_probs`, as `assign_self_parents` does."""
    out = np.full(len(child_position), -1, dtype=np.int64)
    if len(child_position) == 0 or len(parent_position) == 0:
        return out
    by_pos = np.argsort(parent_position, kind="stable")
    weights = rng.choice(len(degree_probs), size=len(parent_position), p=degree_probs).astype(float) + 1e-3
    cum = np.cumsum(weights[by_pos])
    earlier = np.searchsorted(parent_position[by_pos], child_position, side="left")
    has = earlier > 0
    u = rng.random(int(has.sum())) * cum[earlier[has] - 1]
    pick = np.minimum(np.searchsorted(cum, u, side="right"), earlier[has] - 1)
    out[has] = by_pos[pick]
    return out


@dataclass(frozen=True)
class DegreeLinker:
    """The `Linker` named "degree": parents by degree only, attributes ignored."""

    name: str = "degree"

    def link(self, problem: LinkProblem, rng: np.random.Generator) -> np.ndarray:
        probs = degree_distribution(problem.degree_hist, problem.cap)
        if problem.ordered:
            return assign_ordered_parents(problem.child_position, problem.parent_position, probs, rng)
        if problem.n_children and not problem.n_parents:
            return np.full(problem.n_children, -1, dtype=np.int64)
        parent = assign_parents(problem.n_children, problem.n_parents, probs, rng)
        one_group = np.zeros(problem.n_parents, dtype=np.int64)
        if problem.degree_tail is not None:
            parent = reshape_tail(parent, one_group, problem.degree_tail, problem.cap, rng)
        if problem.parent_targets is not None:
            parent = fit_parent_targets(parent, one_group, problem.parent_targets, rng)
        return parent
