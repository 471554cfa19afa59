"""What a linker gets and gives: one FK edge's synthetic children and parents in, a parent per child out.

A `Linker` (`pgd`, `degree`) is pure post-processing of released statistics and sampled rows.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from dbsynth.errors import UsageError


@dataclass(frozen=True)
class TargetMarginal:
    """A noisy cross-table marginal: counts over the joint codes of some parent and child features."""

    parent: tuple[str, ...]  # parent feature names (axes first)
    child: tuple[str, ...]  # child feature names (axes after the parent's)
    counts: np.ndarray  # shaped (*parent sizes, *child sizes); any total, may be negative (noise)
    sigma: float = 0.0


@dataclass
class LinkProblem:
    """One edge: `n_children` rows to attach to `n_parents` rows.

    Features are int codes per row (`parent_features[name]` has n_parents entries, `child_features`
    n_children) with public sizes. For a self reference, children may only link to parents with a
    smaller `parent_position` than their `child_position` (acyclic by construction)."""

    n_children: int
    n_parents: int
    parent_features: dict[str, np.ndarray] = field(default_factory=dict)
    child_features: dict[str, np.ndarray] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    marginals: list[TargetMarginal] = field(default_factory=list)
    degree_hist: np.ndarray | None = None  # noisy counts of parents with degree 0..cap (cap bin: ≥ cap)
    degree_sigma: float = 0.0  # its noise σ per bin
    cap: int = 8
    limit: int | None = None  # hard maximum degree after linking (None: none)
    degree_tail: np.ndarray | None = None  # P(degree = cap + k | degree ≥ cap): the open bin's shape
    parent_targets: np.ndarray | None = None  # expected children per parent (a public parent's release)
    child_position: np.ndarray | None = None
    parent_position: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name, codes in self.parent_features.items():
            if len(codes) != self.n_parents:
                raise ValueError(f"parent feature {name}: {len(codes)} codes for {self.n_parents} parents")
        for name, codes in self.child_features.items():
            if len(codes) != self.n_children:
                raise ValueError(f"child feature {name}: {len(codes)} codes for {self.n_children} children")
        if self.parent_targets is not None and len(self.parent_targets) != self.n_parents:
            raise ValueError(f"{len(self.parent_targets)} parent targets for {self.n_parents} parents")
        if (self.child_position is None) != (self.parent_position is None):
            raise ValueError("a self reference needs both child and parent positions")

    @property
    def ordered(self) -> bool:
        return self.child_position is not None


@runtime_checkable
class Linker(Protocol):
    name: str

    def link(self, problem: LinkProblem, rng: np.random.Generator) -> np.ndarray:
        """Parent index (0..n_parents-1) per child; -1 where no parent is admissible (a self
        reference's first row)."""
        ...


def linker_for(name: str) -> Linker:
    from dbsynth.relational.link import DegreeLinker
    from dbsynth.relational.pgd import PGDLinker

    linkers: dict[str, type] = {"pgd": PGDLinker, "degree": DegreeLinker}
    try:
        return linkers[name]()
    except KeyError:
        close = difflib.get_close_matches(str(name), linkers, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown linker {name!r} (known: pgd, degree){hint}") from None
