"""Candidate parents per child for the pgd linker: drawn where the cross-table targets want them.

A targeted draw picks one marginal, a parent cell with probability proportional to a weight
table (the target counts at first, the unmet part of them later) given the child's own cell,
then a parent of that cell uniformly; an exploring draw picks any parent. Self references only
ever draw parents earlier in the order. Everything is vectorised over children.
"""

from __future__ import annotations

import numpy as np

from dbsynth.relational.linker import LinkProblem
from dbsynth.relational.objective import Objective


class CandidateSampler:
    def __init__(self, problem: LinkProblem, objective: Objective):
        self.m = problem.n_parents
        self.objective = objective
        if problem.ordered:
            self.parent_pos = np.asarray(problem.parent_position, dtype=np.int64)
            self.child_pos = np.asarray(problem.child_position, dtype=np.int64)
        else:  # every parent is "earlier" than every child
            self.parent_pos = np.zeros(self.m, dtype=np.int64)
            self.child_pos = np.ones(problem.n_children, dtype=np.int64)
        self.span = int(max(self.parent_pos.max(initial=0), self.child_pos.max(initial=0))) + 1
        self.by_pos = np.argsort(self.parent_pos, kind="stable")
        self.sorted_pos = self.parent_pos[self.by_pos]
        # Per marginal: parents sorted by (cell, position), so "a parent of cell a earlier than
        # position p" is one contiguous range found with two binary searches.
        self.cell_index: list[tuple[np.ndarray, np.ndarray]] = []
        for mg in objective.marginals:
            cell = mg.parent_cell[objective.parent_type]
            key = cell * self.span + self.parent_pos
            order = np.argsort(key, kind="stable")
            self.cell_index.append((key[order], order))

    def uniform(self, children: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Any admissible parent for each child; -1 where there is none."""
        count = np.searchsorted(self.sorted_pos, self.child_pos[children], side="left")
        pick = (rng.random(len(children)) * count).astype(np.int64)
        return np.where(count > 0, self.by_pos[np.minimum(pick, max(self.m - 1, 0))], -1) if self.m else \
            np.full(len(children), -1, dtype=np.int64)

    def targeted(self, children: np.ndarray, weights: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """A parent per child from the weight tables (flat, parent cell × child cell, one per marginal)."""
        if not self.cell_index:
            return self.uniform(children, rng)
        out = np.empty(len(children), dtype=np.int64)
        which = rng.integers(len(self.cell_index), size=len(children))
        for k, mg in enumerate(self.objective.marginals):
            sel = np.flatnonzero(which == k)
            if not len(sel):
                continue
            kids = children[sel]
            b = mg.child_cell[self.objective.child_type[kids]]
            a = _conditional(weights[k].reshape(-1, mg.child_cells), b, rng)
            keys, order = self.cell_index[k]
            lo = np.searchsorted(keys, a * self.span, side="left")
            hi = np.searchsorted(keys, a * self.span + self.child_pos[kids], side="left")
            pick = lo + (rng.random(len(kids)) * (hi - lo)).astype(np.int64)
            found = hi > lo
            got = np.where(found, order[np.minimum(pick, len(order) - 1)], -1)
            if (~found).any():  # an empty cell: any admissible parent instead
                got[~found] = self.uniform(kids[~found], rng)
            out[sel] = got
        return out


def _conditional(table: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each child cell b, a parent cell a drawn ∝ table[a, b] (uniform where a column is empty).

    One searchsorted for all children: column b's cumulative shares are laid out in [b, b+1)."""
    cols = np.clip(np.asarray(table, dtype=float), 0.0, None).T  # (child cells, parent cells)
    sums = cols.sum(axis=1, keepdims=True)
    cols = np.where(sums > 0, cols, 1.0)
    cum = np.cumsum(cols, axis=1)
    cum = cum / cum[:, -1:]
    n_a = cols.shape[1]
    laid = (cum + np.arange(len(cols))[:, None]).ravel()
    u = b + rng.random(len(b)) * (1.0 - 1e-12)
    flat = np.searchsorted(laid, u, side="right")
    return np.clip(flat - b * n_a, 0, n_a - 1)
