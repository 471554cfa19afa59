"""Fresh key values and uniqueness repair. No private data: keys carry no information."""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from dbsynth.columns import ArrayValues
from dbsynth.errors import UnsupportedSchema
from dbsynth.schema import Column, Table
from dbsynth.schema.checks import domain_from_checks

_ALPHABET = np.array(list(string.ascii_uppercase + string.digits))


def fresh_keys(col: Column, n: int, rng: np.random.Generator) -> Sequence[Any]:
    """n distinct values for a key column: 1..n for numbers (an array: 8 bytes a key, not a
    Python int each), random codes for strings."""
    g = col.generic
    if g in ("Integer", "SmallInteger", "BigInteger", "Numeric", "Float", "Double"):
        start = 1
        if col.domain_checks:  # a key DOMAIN such as CHECK (VALUE > 100000): numbered above its lower bound
            lower = domain_from_checks("VALUE", list(col.domain_checks)).lower  # > or >=: start past it
            start = max(start, math.floor(lower) + 1) if lower is not None else start
        return ArrayValues(np.arange(start, start + n, dtype=np.int64))
    if g in ("Uuid", "UUID"):
        import uuid

        return [uuid.UUID(bytes=rng.bytes(16), version=4) for _ in range(n)]
    length = col.length or 12
    return unique_strings(n, length, rng)


def unique_strings(n: int, length: int, rng: np.random.Generator) -> list[str]:
    width = max(1, min(length, 12))
    while len(_ALPHABET) ** width < 4 * max(n, 1) and width < length:
        width += 1
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        batch = rng.choice(_ALPHABET, size=(max(n - len(out), 1) * 2, width))
        for row in batch:
            s = "".join(row)
            if s not in seen:
                seen.add(s)
                out.append(s)
                if len(out) == n:
                    break
    return out


def make_unique(values: list[Any], col: Column, rng: np.random.Generator, table: str = "") -> list[Any]:
    """Replace repeated non-NULL values so the column holds no duplicate (for UNIQUE columns)."""
    seen: set[Any] = set()
    out = list(values)
    repeats = []
    for i, v in enumerate(out):
        if v is not None:
            if v in seen:
                repeats.append(i)
            seen.add(v)
    alternatives = _Alternatives(col, table, seen)  # after every first value is seen: none of them is changed
    for i in repeats:
        out[i] = alternatives.free(out[i], seen.__contains__)
        seen.add(out[i])
    return out


def make_unique_rows(cols: dict[str, list[Any]], uset: tuple[str, ...], table: Table, rng: np.random.Generator) -> None:
    """Make the tuples of a multi-column unique set distinct by changing only its last column
    in the repeated rows (the other columns keep their modelled values)."""
    if len(uset) == 1:
        cols[uset[0]] = make_unique(cols[uset[0]], table.column(uset[0]), rng, table.name)
        return
    *head, last = uset
    seen: set[tuple] = set()
    repeats = []
    for i, tup in enumerate(zip(*(cols[c] for c in uset))):
        if not any(v is None for v in tup):
            if tup in seen:
                repeats.append((i, tup))
            seen.add(tup)
    alternatives = _Alternatives(table.column(last), table.name, (t[-1] for t in seen))
    for i, tup in repeats:
        rest = tup[:-1]
        cols[last][i] = alternatives.free(tup[-1], lambda cand: (*rest, cand) in seen, key=rest)
        seen.add((*rest, cols[last][i]))


class _Alternatives:
    """Values to put in place of a repeated one: integers past the largest one, shared by all;
    otherwise near it (a suffix, a nudged date or number), then, for text too short for suffixes,
    every string that fits. Each walk resumes where it stopped, so n copies of one value cost
    O(n) tries, not O(n²); a column that cannot hold that many distinct values is an error, not
    a hang. `values`: the column's values (where the integers start)."""

    def __init__(self, col: Column, table: str = "", values: Iterable[Any] = ()):
        self.col, self.where = col, f"{table}.{col.name}" if table else col.name
        self._walks: dict[Any, Iterator[Any]] = {}
        integers = [v for v in values if _is_integer(v)]
        self._next_integer = max(integers) + 1 if integers else 0

    def free(self, value: Any, taken: Callable[[Any], bool], key: Any = ()) -> Any:
        if _is_integer(value):
            walk = self._walks.setdefault((key, int), itertools.count(self._next_integer))
        else:
            walk = self._walks.setdefault((key, value), _near(value, self.col))
        for cand in walk:
            if not taken(cand):
                return cand
        raise UnsupportedSchema(
            f"column {self.where} is UNIQUE but its type ({self.col.type}) holds no more distinct values near "
            f"{value!r} for the rows generated; give it a wider type, or fewer rows (--scale or rows: in the spec)")


_TEXT = string.ascii_uppercase + string.digits


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _near(value: Any, col: Column) -> Iterator[Any]:
    if isinstance(value, str):
        length = col.length or 255
        k = 1
        while len(suffix := f"~{k}") <= length:
            yield value[: length - len(suffix)] + suffix
            k += 1
        for width in range(1, length + 1):  # too short for more suffixes: every string that fits
            for chars in itertools.product(_TEXT, repeat=width):
                yield "".join(chars)
        return
    for step in itertools.count(1):
        nudged = _nudge(value, step)
        if nudged == value:  # a type with nothing near (a boolean, bytes)
            return
        yield nudged


def _nudge(v: Any, step: int) -> Any:
    import datetime as dt
    from decimal import Decimal

    if isinstance(v, dt.datetime):
        return v + dt.timedelta(seconds=step)
    if isinstance(v, dt.date):
        return v + dt.timedelta(days=step)
    if isinstance(v, Decimal):
        return v + Decimal(step) / 100
    if isinstance(v, float):
        return v + step * 1e-3
    return v


def unique_sets_without_fks(table: Table) -> list[tuple[str, ...]]:
    fks = table.fk_columns()
    return [s for s in table.unique_sets() if not set(s) & fks]


def unique_sets_with_fks(table: Table) -> list[tuple[str, ...]]:
    fks = table.fk_columns()
    return [s for s in table.unique_sets() if set(s) & fks]
