"""The fitted table model: a calibrated junction tree over compressed codes, sampled with our rng.

Post-processing only: it holds noisy estimates, never private rows. Columns with a public domain
of size 1 are constants and are filled in without a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from mbi import Domain, MarkovRandomField

from dbsynth.columns import code_type
from dbsynth.tabular.compression import expand
from dbsynth.tabular.inference import Clique, JunctionTree
from dbsynth.tabular.sampling import sample


@dataclass(frozen=True)
class GraphicalModel:
    """A `TableModel`: a junction tree with its beliefs over the modelled columns (compressed),
    constants for the rest."""

    columns: tuple[str, ...]  # every column of the table, in table order
    sizes: dict[str, int]
    tree: JunctionTree | None  # None when no column needs a model
    beliefs: dict[Clique, np.ndarray] = field(default_factory=dict)
    mappings: dict[str, np.ndarray] = field(default_factory=dict)  # original -> compressed code
    estimated_rows: float = 0.0
    shares: dict[str, np.ndarray] = field(default_factory=dict)  # merged values' shares (`expand`)

    def __post_init__(self) -> None:
        modelled = set(self.tree.shape) if self.tree is not None else set()
        for col in self.columns:
            if col not in modelled and self.sizes[col] != 1:
                raise ValueError(f"column {col} has {self.sizes[col]} values but no model")

    @classmethod
    def from_potentials(cls, columns, sizes, domain: Domain, potentials: Mapping[Clique, np.ndarray],
                        mappings, estimated_rows: float, shares=None) -> "GraphicalModel":
        tree = JunctionTree(domain, list(potentials))
        return cls(tuple(columns), dict(sizes), tree, tree.calibrate(potentials), dict(mappings), estimated_rows,
                   dict(shares or {}))

    @classmethod
    def from_mrf(cls, columns, sizes, mrf: MarkovRandomField, mappings, estimated_rows: float,
                 shares=None) -> "GraphicalModel":
        potentials = {tuple(c): np.asarray(mrf.potentials[c].values) for c in mrf.cliques}
        return cls.from_potentials(columns, sizes, mrf.domain, potentials, mappings, estimated_rows, shares)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """`n` rows of codes. Past `CHUNK` rows they are drawn a chunk at a time into arrays of the
        narrowest type each column's codes fit: drawing 16M rows at once held int64 codes, sort
        keys, ranks and uniforms for every row (the scale benchmark's largest transient), a chunk
        holds them for its own rows. Each chunk is a systematic sample of the model on its own."""
        n = int(n)
        if n < 0:
            raise ValueError(f"cannot sample {n} rows")
        if n <= CHUNK:
            return self._draw(n, rng)
        chunks = -(-n // CHUNK)
        bounds = np.linspace(0, n, chunks + 1).astype(np.int64)  # chunks of (nearly) equal size
        out = {col: np.empty(n, dtype=code_type(0, self.sizes[col] - 1)) for col in self.columns}
        for start, stop in zip(bounds[:-1], bounds[1:]):
            for col, codes in self._draw(int(stop - start), rng).items():
                out[col][start:stop] = codes
        return out

    def _draw(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        drawn = sample(self.tree, self.beliefs, n, rng) if self.tree is not None and n > 0 else {}
        out = {}
        for col in self.columns:
            if col not in drawn:
                out[col] = np.zeros(n, dtype=np.int64)
                continue
            out[col] = (expand(drawn[col], self.mappings[col], rng, self.shares.get(col)) if col in self.mappings
                        else drawn[col])
        return out


CHUNK = 1 << 20  # rows a model draws at once

