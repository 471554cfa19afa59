"""A large linking problem as independent groups: children and parents split at random alike.

The pgd linker holds a few float arrays of n_children × K; at 4M children that is gigabytes,
and it grows with the database. Split the children and the parents each into G random groups of
equal share and link group g's children to group g's parents only: each group is a random
sub-instance of the edge (the same parent and child distributions, the same mean degree), so
its released targets are the edge's scaled by the group's share, noise σ with them (a scaled
count has a scaled σ: shrinkage and trust, which compare the two, come out the same). Memory is
then bounded by the group, not the edge; what is O(n) is the integer parent index per child.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from dbsynth.relational.linker import LinkProblem, TargetMarginal


def split(problem: LinkProblem, groups: int, rng: np.random.Generator, share_parents: bool = False
          ) -> Iterator[tuple[np.ndarray, np.ndarray, LinkProblem]]:
    """(children, parents, the problem of linking those children to those parents) per group.
    `share_parents`: every group gets all the parents (few parents, many children: a shop's
    products); a group's problem then has no degree statistics, since a parent's degree is
    summed over the groups: the caller repairs degrees over the whole edge."""
    children = np.array_split(rng.permutation(problem.n_children), groups)
    parents = np.array_split(rng.permutation(problem.n_parents), groups)
    everyone = np.arange(problem.n_parents)
    for kids, folks in zip(children, parents):
        kids.sort()
        folks.sort()
        if share_parents:
            yield kids, everyone, _shared_part(problem, kids)
        else:
            yield kids, folks, _part(problem, kids, folks)


def _shared_part(problem: LinkProblem, kids: np.ndarray) -> LinkProblem:
    f_child = len(kids) / max(problem.n_children, 1)
    return dataclasses.replace(
        problem,
        n_children=len(kids),
        child_features={f: codes[kids] for f, codes in problem.child_features.items()},
        marginals=_scaled(problem.marginals, f_child),
        degree_hist=None, degree_sigma=0.0, degree_tail=None, limit=None, parent_targets=None,
        child_position=None if problem.child_position is None else problem.child_position[kids],
    )


def _scaled(marginals: list[TargetMarginal], share: float) -> list[TargetMarginal]:
    return [TargetMarginal(mg.parent, mg.child, np.asarray(mg.counts, dtype=float) * share, mg.sigma * share)
            for mg in marginals]


def _part(problem: LinkProblem, kids: np.ndarray, folks: np.ndarray) -> LinkProblem:
    f_child = len(kids) / max(problem.n_children, 1)
    f_parent = len(folks) / max(problem.n_parents, 1)
    hist = None if problem.degree_hist is None else np.asarray(problem.degree_hist, dtype=float) * f_parent
    return dataclasses.replace(
        problem,
        n_children=len(kids),
        n_parents=len(folks),
        parent_features={f: codes[folks] for f, codes in problem.parent_features.items()},
        child_features={f: codes[kids] for f, codes in problem.child_features.items()},
        marginals=_scaled(problem.marginals, f_child),
        degree_hist=hist,
        degree_sigma=problem.degree_sigma * f_parent,
        parent_targets=None if problem.parent_targets is None else problem.parent_targets[folks],
        child_position=None if problem.child_position is None else problem.child_position[kids],
        parent_position=None if problem.parent_position is None else problem.parent_position[folks],
    )
