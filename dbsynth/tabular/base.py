"""What a per-table method takes and gives: an encoded private table in, a sampleable model out.

A `Method` (aim, mst; llm spends a DP-SGD plan instead, `tabular/llm`) spends the ρ it is given on one table through the ledger's
mechanisms; the `TableModel` it returns is pure post-processing and never sees private rows again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from dbsynth.privacy.ledger import Ledger


@dataclass(frozen=True)
class EncodedTable:
    """One private table as integer codes 0..size-1 per column, after contribution bounding.

    `sizes` are the public domain sizes; `codes` are the private rows (all columns equally long).
    `rows` is the private row count; it is only needed when there are no columns to count it from
    (a table whose columns are all keys or generated text still has a row count to release)."""

    table: str
    codes: dict[str, np.ndarray]
    sizes: dict[str, int]
    rows: int | None = None
    # Ordered columns (bins, ordinal categories) -> their codes outside the order (NULL, "other").
    ordered: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.codes) != set(self.sizes):
            raise ValueError(f"{self.table}: codes and sizes name different columns")
        lengths = {len(np.asarray(c)) for c in self.codes.values()}
        if self.rows is not None:
            lengths.add(int(self.rows))
        if len(lengths) > 1:
            raise ValueError(f"{self.table}: columns and rows disagree on the length {sorted(lengths)}")
        if not lengths:
            raise ValueError(f"{self.table}: a table without columns needs its row count (rows=)")
        object.__setattr__(self, "rows", lengths.pop())
        for col, size in self.sizes.items():
            codes = np.asarray(self.codes[col])
            if size < 1:
                raise ValueError(f"{self.table}.{col}: domain size must be at least 1, got {size}")
            if codes.size and not np.issubdtype(codes.dtype, np.integer):
                raise ValueError(f"{self.table}.{col}: codes must be integers, got {codes.dtype}")
            if codes.size and (codes.min() < 0 or codes.max() >= size):
                raise ValueError(f"{self.table}.{col}: codes outside 0..{size - 1}")

    @property
    def columns(self) -> list[str]:
        return list(self.sizes)

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.codes[name], dtype=np.int64)

    def marginals(self, cliques: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
        """True counts of each clique, shaped by the columns' sizes (MarginalSource)."""
        out = []
        for clique in cliques:
            shape = tuple(self.sizes[c] for c in clique)
            if not clique:
                out.append(np.array(float(self.rows)))
                continue
            flat = np.ravel_multi_index(tuple(self.column(c) for c in clique), shape) if self.rows else np.zeros(0, int)
            out.append(np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(float))
        return out


@runtime_checkable
class MarginalSource(Protocol):
    """Where a method gets exact counts of the bounded private rows: in memory (`EncodedTable`)
    or computed inside the source database (pushdown). Methods see nothing else of the rows."""

    table: str
    sizes: dict[str, int]
    rows: int | None
    ordered: dict[str, tuple[int, ...]]  # ordered columns -> their codes outside the order

    def marginals(self, cliques: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
        """Counts per clique (one array per clique, axes in clique order); () gives the row count."""
        ...


@runtime_checkable
class TableModel(Protocol):
    """A fitted, already private model of one table."""

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """`n` synthetic rows as int codes per column, every code within its column's size."""
        ...

    @property
    def estimated_rows(self) -> float:
        """The model's noisy row count (≥ 0), for sizing the synthetic table."""
        ...


@runtime_checkable
class Method(Protocol):
    """A DP fitting algorithm: spends exactly `rho` of the ledger on `data`."""

    name: str

    def fit(
        self,
        data: MarginalSource,
        *,
        ledger: Ledger,
        rho: float,
        sensitivity: float,
        rng: np.random.Generator,
    ) -> TableModel: ...
