"""Fresh key values and uniqueness repair. No private data: keys carry no information."""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from dbsynth.columns import ArrayValues
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


def make_unique(values: list[Any], col: Column, rng: np.random.Generator) -> list[Any]:
    """Replace repeated non-NULL values so the column holds no duplicate (for UNIQUE columns)."""
    seen: set[Any] = set()
    out = list(values)
    dup = []
    for i, v in enumerate(out):
        if v is None:
            continue
        if v in seen:
            dup.append(i)
        else:
            seen.add(v)
    if not dup:
        return out
    if isinstance(next(v for v in out if v is not None), str):
        length = col.length or 255
        for i in dup:
            base = str(out[i])
            k = 1
            while True:
                suffix = f"~{k}"
                cand = (base[: max(length - len(suffix), 0)] + suffix)[:length]
                if cand not in seen:
                    break
                k += 1
            seen.add(cand)
            out[i] = cand
    elif isinstance(out[dup[0]], (int, np.integer)) and not isinstance(out[dup[0]], bool):
        nxt = max(v for v in out if v is not None) + 1
        for i in dup:
            while nxt in seen:
                nxt += 1
            out[i] = nxt
            seen.add(nxt)
    else:
        for i in dup:  # floats, dates: nudge until free
            v = out[i]
            step = 1
            while v in seen:
                v = _nudge(v, step)
                step += 1
            out[i] = v
            seen.add(v)
    return out


def make_unique_rows(cols: dict[str, list[Any]], uset: tuple[str, ...], table: Table, rng: np.random.Generator) -> None:
    """Make the tuples of a multi-column unique set distinct by changing only its last column
    in the repeated rows (the other columns keep their modelled values)."""
    if len(uset) == 1:
        cols[uset[0]] = make_unique(cols[uset[0]], table.column(uset[0]), rng)
        return
    *head, last = uset
    col = table.column(last)
    seen: set[tuple] = set()
    for i, tup in enumerate(zip(*(cols[c] for c in uset))):
        if any(v is None for v in tup):
            continue
        step = 1
        while tup in seen:
            value = cols[last][i]
            if isinstance(value, str):
                suffix = f"~{step}"
                cols[last][i] = (str(value)[: max((col.length or 255) - len(suffix), 0)] + suffix)
            elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                cols[last][i] = value + step
            else:
                cols[last][i] = _nudge(value, step)
            tup = tuple(cols[c][i] for c in uset)
            step += 1
        seen.add(tup)


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
