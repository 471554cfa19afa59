"""The fitted table model: an mbi Markov random field over compressed codes, sampled with our rng.

Post-processing only: it holds noisy estimates, never private rows. Columns with a public domain
of size 1 are constants and are filled in without a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from mbi import MarkovRandomField

from dbsynth.tabular.compression import expand


@contextmanager
def _numpy_global_seed(rng: np.random.Generator) -> Iterator[None]:
    """Seed numpy's global generator from `rng` for the duration, then restore it.

    mbi 2.0's `synthetic_data` draws from `np.random` and takes no generator; this keeps our
    output reproducible from the caller's rng without leaking state into anybody else's draws."""
    saved = np.random.get_state()
    np.random.seed(int(rng.integers(2**32)))
    try:
        yield
    finally:
        np.random.set_state(saved)


@dataclass(frozen=True)
class GraphicalModel:
    """A `TableModel`: `mrf` over the modelled columns (compressed), constants for the rest."""

    columns: tuple[str, ...]  # every column of the table, in table order
    sizes: dict[str, int]
    mrf: MarkovRandomField | None  # None when no column needs a model
    mappings: dict[str, np.ndarray] = field(default_factory=dict)  # original -> compressed code
    estimated_rows: float = 0.0

    def __post_init__(self) -> None:
        modelled = set(self.mrf.domain.attributes) if self.mrf is not None else set()
        for col in self.columns:
            if col not in modelled and self.sizes[col] != 1:
                raise ValueError(f"column {col} has {self.sizes[col]} values but no model")

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        n = int(n)
        if n < 0:
            raise ValueError(f"cannot sample {n} rows")
        drawn: dict[str, np.ndarray] = {}
        if self.mrf is not None and n > 0:
            with _numpy_global_seed(rng):
                drawn = self.mrf.synthetic_data(rows=n).to_dict()
        out = {}
        for col in self.columns:
            if col not in drawn:
                out[col] = np.zeros(n, dtype=np.int64)
                continue
            codes = np.asarray(drawn[col], dtype=np.int64)
            out[col] = expand(codes, self.mappings[col], rng) if col in self.mappings else codes
        return out
