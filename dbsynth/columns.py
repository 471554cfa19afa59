"""A synthetic column's values held compactly until the writer asks for a chunk of them.

Sampling a few million rows as Python objects costs ~100 bytes a value; the model's codes, the
fresh keys and the linker's parent indices are integer arrays (≤ 8 bytes a value). So a column
stays one of these until the write, which turns `rows[start:stop]` into Python values a chunk at
a time (`write.rows.chunks`):

- `CodedValues`: the model's codes, decoded (bins to numbers, categories, Faker text) per block of
  `BLOCK` rows, each block with its own seed: any slicing gives the same values as a full decode;
- `ArrayValues`: a numpy array (integer keys), handed out as Python values;
- `LinkedValues`: a foreign key as the parent row index per child (-1 NULL) and the parent's key
  column, resolved per chunk;
- `ConstantValues`: one value for every row (NULL, or the writer's FALLBACK).

Every one is an immutable `Sequence` (len, slicing, iteration), so code that reads a list reads
these too; `select` keeps rows by a mask and returns a new column. A column that must be changed
value by value (uniqueness repair, partitions) is materialised to a list first (`as_list`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

BLOCK = 1_000  # rows decoded with one seed; write.rows.CHUNK_ROWS is a multiple, so no block is decoded twice

Decoder = Callable[[np.ndarray, int], list[Any]]  # (codes of one block, the block's seed) -> values


class ColumnValues(Sequence):
    """The values of one column, made Python objects only for the rows asked for."""

    def values(self, start: int, stop: int) -> list[Any]:
        """Rows start..stop-1 as Python values (0 <= start <= stop <= len)."""
        raise NotImplementedError

    def take(self, rows: np.ndarray) -> list[Any]:
        """The values at row indices `rows`, in that order."""
        whole = self.values(0, len(self))
        return [whole[i] for i in np.asarray(rows).tolist()]

    def select(self, keep: np.ndarray) -> "ColumnValues":
        """The rows where the boolean mask `keep` is true."""
        return ListValues(self.take(np.flatnonzero(keep)))

    def __getitem__(self, index):
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1:
                return self.values(start, max(start, stop))
            return self.take(np.arange(start, stop, step))
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {index} of {n}")
        return self.values(i, i + 1)[0]

    def __iter__(self) -> Iterator[Any]:
        n = len(self)
        step = 10 * BLOCK
        for start in range(0, n, step):
            yield from self.values(start, min(start + step, n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Sequence, np.ndarray)) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} rows)"


class ListValues(ColumnValues):
    """Values already Python objects (a materialised column), read-only."""

    def __init__(self, values: list[Any]):
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def values(self, start: int, stop: int) -> list[Any]:
        return self._values[start:stop]

    def take(self, rows: np.ndarray) -> list[Any]:
        v = self._values
        return [v[i] for i in np.asarray(rows).tolist()]


class ArrayValues(ColumnValues):
    """A numpy array of non-NULL values (integer keys); chunks come out as Python ints/floats."""

    def __init__(self, array: np.ndarray):
        self.array = np.asarray(array)

    def __len__(self) -> int:
        return len(self.array)

    def values(self, start: int, stop: int) -> list[Any]:
        return self.array[start:stop].tolist()

    def take(self, rows: np.ndarray) -> list[Any]:
        return self.array[np.asarray(rows, dtype=np.int64)].tolist()

    def select(self, keep: np.ndarray) -> ColumnValues:
        return ArrayValues(self.array[keep])


class ConstantValues(ColumnValues):
    """One value in every row."""

    def __init__(self, value: Any, n: int):
        self.value, self.n = value, n

    def __len__(self) -> int:
        return self.n

    def values(self, start: int, stop: int) -> list[Any]:
        return [self.value] * (stop - start)

    def take(self, rows: np.ndarray) -> list[Any]:
        return [self.value] * len(rows)

    def select(self, keep: np.ndarray) -> ColumnValues:
        return ConstantValues(self.value, int(np.count_nonzero(keep)))


class CodedValues(ColumnValues):
    """The model's codes, decoded block by block. Block b of a column is decoded from its own
    seed (the column's seed and b), so the values of a row do not depend on how the rows were
    sliced or in what order chunks were asked for: the writer's chunks give what a full decode
    gives, and the same `--seed` gives the same shadow."""

    def __init__(self, codes: np.ndarray, decode: Decoder, seed: int):
        self.codes = narrow(np.asarray(codes))
        self.decode, self.seed = decode, seed

    def __len__(self) -> int:
        return len(self.codes)

    def block_seed(self, block: int) -> int:
        return int(np.random.SeedSequence([self.seed, block]).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)

    def values(self, start: int, stop: int) -> list[Any]:
        out: list[Any] = []
        if stop <= start:
            return out
        for b in range(start // BLOCK, (stop - 1) // BLOCK + 1):
            lo = b * BLOCK
            block = self.decode(self.codes[lo:lo + BLOCK].astype(np.int64), self.block_seed(b))
            out.extend(block[max(start - lo, 0):stop - lo])
        return out

    def select(self, keep: np.ndarray) -> ColumnValues:
        # The kept rows are decoded afresh from their codes: the same distribution, still seeded.
        return CodedValues(self.codes[keep], self.decode, self.seed)


class LinkedValues(ColumnValues):
    """A foreign key column: per child row the parent's row index (-1: NULL) into the parent's
    key column `ref`, resolved to key values per chunk."""

    def __init__(self, parent: np.ndarray, ref: Sequence):
        parent = np.asarray(parent)
        self.parent = parent if parent.dtype.kind == "i" else parent.astype(np.int64)  # int32 stays int32
        self.ref = ref

    def __len__(self) -> int:
        return len(self.parent)

    def values(self, start: int, stop: int) -> list[Any]:
        return self.take(np.arange(start, stop))

    def take(self, rows: np.ndarray) -> list[Any]:
        p = self.parent[np.asarray(rows, dtype=np.int64)]
        has = p >= 0
        if has.all():
            return take(self.ref, p)
        out: list[Any] = [None] * len(p)
        for i, v in zip(np.flatnonzero(has).tolist(), take(self.ref, p[has])):
            out[i] = v
        return out

    def select(self, keep: np.ndarray) -> ColumnValues:
        return LinkedValues(self.parent[keep], self.ref)


def take(values: Sequence, rows: np.ndarray) -> list[Any]:
    """`values` at row indices `rows`, whatever kind of column `values` is."""
    if isinstance(values, ColumnValues):
        return values.take(rows)
    return [values[i] for i in np.asarray(rows).tolist()]


def select(values: Sequence, keep: np.ndarray) -> Sequence:
    """The rows of `values` where the mask `keep` holds (a list stays a list)."""
    if isinstance(values, ColumnValues):
        return values.select(keep)
    return [v for v, k in zip(values, keep.tolist()) if k]


def as_list(values: Sequence) -> list[Any]:
    """A column as a list that may be changed in place (a copy of a compact column)."""
    return values if isinstance(values, list) else list(values)


def not_null(values: Sequence) -> np.ndarray:
    """A boolean mask of the rows whose value is not NULL, without decoding a compact key column."""
    if isinstance(values, ArrayValues):
        return np.ones(len(values), dtype=bool)
    if isinstance(values, LinkedValues):
        return values.parent >= 0
    if isinstance(values, ConstantValues):
        return np.full(len(values), values.value is not None)
    return np.fromiter((v is not None for v in values), dtype=bool, count=len(values))


def column_seed(seed: int, table: str, column: str) -> int:
    """A column's decoding seed: the run's seed and the column's name (not its position), so a
    column's values do not move when another column is added."""
    return int(np.random.SeedSequence([seed, zlib.crc32(f"{table}.{column}".encode())]).generate_state(1)[0])


def narrow(codes: np.ndarray) -> np.ndarray:
    """Codes in the smallest signed integer type that holds them (most domains fit in int16)."""
    if codes.dtype.kind not in "iu" or not len(codes):
        return codes
    return codes.astype(code_type(int(codes.min()), int(codes.max())), copy=False)


def code_type(low: int, high: int) -> np.dtype:
    """The smallest signed integer type that holds every value from `low` to `high`."""
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)
