"""Every synthetic row of a partitioned table inside some partition (PostgreSQL refuses a row no
partition takes, and one refused row fails the whole write).

The plan already keeps a partition key inside its partitions' hull (range) or list (`plan.py`,
from `schema/partitions.key_domain`); what is left is post-processing of synthetic values with
public bounds: a value between two ranges moves to the nearest one, a NULL no partition takes
becomes another row's value, sub-partitions are fitted inside the partition their rows landed
in, and an integer primary key that is the partition key is numbered inside the ranges.
`unfit_levels` names the levels this cannot do (an expression or multi-column key, a key the
linker assigns) so that they are refused before any row is read, unless a DEFAULT takes the rest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dbsynth.measure.domains import as_type
from dbsynth.measure.encoders import canonical, from_number, number
from dbsynth.schema.model import Table
from dbsynth.schema.partitions import Level, levels, step
from dbsynth.spec import TableSpec

_FITTED_KINDS = ("categorical", "numeric", "datetime")


def unfit_levels(table: Table, ts: TableSpec) -> list[Level]:
    """Levels whose rows dbsynth cannot keep inside a partition and no DEFAULT partition catches."""
    return [level for level in levels(table) if not level.open and _how(table, ts, level) is None]


def _how(table: Table, ts: TableSpec, level: Level) -> str | None:
    """How the level's key is kept inside: "values" (a modelled column), "numbered" (an integer
    primary key numbered inside the ranges), or None."""
    if level.column is None:
        return None
    cs = ts.columns.get(level.column)
    if cs is not None and cs.kind in _FITTED_KINDS:
        return "values"
    col = table.column(level.column)
    if (level.strategy == "range" and table.primary_key == (level.column,) and as_type(col) == "int"
            and level.column not in table.fk_columns()):
        return "numbered"
    return None


def partition_keys_first(table: Table, columns: tuple[str, ...]) -> tuple[str, ...]:
    """A unique set's columns with its partition key columns first: uniqueness is then repaired
    on a column that chooses no partition (`keys.make_unique_rows` changes the last one)."""
    keys = {level.column for level in levels(table)}
    return tuple(sorted(columns, key=lambda c: c not in keys))


def fit_partitions(table: Table, ts: TableSpec, cols: dict[str, list[Any]], rng: np.random.Generator) -> None:
    """Move the values of `cols` (one table's synthetic columns, in place) so every row lands in a
    partition, level by level: each row's partition at one level says which sub-level it meets."""
    found = levels(table)
    if not found or not cols:
        return
    n = len(next(iter(cols.values())))
    landed: dict[str, np.ndarray] = {table.name: np.arange(n)}
    for level in found:
        rows = landed.get(level.of)
        if rows is None or not len(rows):
            continue
        how = _how(table, ts, level)
        if how is None or level.column not in cols:
            continue  # open (DEFAULT, hash) or refused before reading: nothing to fit
        column = cols[level.column]
        col = table.column(level.column)
        if how == "numbered":
            _number_inside(level, rows, column, col)
        where = _partition_of(level, [column[i] for i in rows], col)
        lost = rows[where < 0]
        if len(lost) and not level.open:
            _move_inside(level, rows[where >= 0], lost, column, col, rng)
            where = _partition_of(level, [column[i] for i in rows], col)
        default = next((j for j, accepts in enumerate(level.accepts) if accepts is None), None)
        if default is not None and level.strategy in ("range", "list"):
            where[where < 0] = default  # what no bound takes lands in the DEFAULT partition
        for j, name in enumerate(level.partitions):
            landed[name] = rows[where == j]


def _partition_of(level: Level, values: list[Any], col) -> np.ndarray:
    """Per value, the index in `level.partitions` of the partition that takes it (-1: none; an
    open level's DEFAULT is not told apart)."""
    out = np.full(len(values), -1, dtype=np.int64)
    if level.strategy == "range":
        t = as_type(col)
        ranges = [(j, r) for j, r in enumerate(level.accepts) if r is not None]
        for i, v in enumerate(values):
            x = number(v, t) if v is not None else math.nan
            out[i] = next((j for j, (lo, hi) in ranges if lo <= x < hi), -1)
    elif level.strategy == "list":
        owner = _list_owner(level)
        for i, v in enumerate(values):
            out[i] = owner.get(canonical(v), -1)
    return out


def _list_owner(level: Level) -> dict[Any, int]:
    """Each listed value (None for NULL) and the partition that lists it."""
    owner: dict[Any, int] = {}
    for j, listed in enumerate(level.accepts):
        for v in listed or ():
            owner.setdefault(canonical(v), j)
    return owner


def _move_inside(level: Level, fitted: np.ndarray, lost: np.ndarray, column: list[Any], col,
                 rng: np.random.Generator) -> None:
    """A lost value becomes the value of a row that fits, drawn at random: the model's values
    where the partitions take them (moving every lost day to the end of the nearest range would
    pile them on one day). With no row that fits, a lost number goes to the nearest range's
    nearest value, anything else to a value of the first partition's bound."""
    t = as_type(col)
    pool = [column[i] for i in fitted]
    for i in lost.tolist():
        v = column[i]
        if pool:
            column[i] = pool[int(rng.integers(len(pool)))]
        elif level.strategy == "range" and v is not None:
            column[i] = from_number(_nearest(number(v, t), level.ranges, step(col)), t, col.scale)
        else:
            column[i] = _any_value(level, col)


def _nearest(x: float, ranges: tuple[tuple[float, float], ...], unit: float) -> float:
    """The value of [lo, hi) nearest to x over all ranges (hi less one step: it is exclusive)."""
    best, gap = x, math.inf
    for lo, hi in ranges:
        inside = min(max(x, lo), hi - unit)
        if inside < lo:  # a range narrower than one step: its lower end
            inside = lo
        if abs(inside - x) < gap:
            best, gap = inside, abs(inside - x)
    return best


def _any_value(level: Level, col) -> Any:
    """A value the level's first partition takes, from its bound alone."""
    if level.strategy == "list":
        listed = [v for v in _list_owner(level) if v is not None]
        return listed[0] if listed else None
    lo, hi = level.ranges[0]
    x = lo if math.isfinite(lo) else (hi - step(col) if math.isfinite(hi) else 0.0)
    return from_number(x, as_type(col), col.scale)


def _number_inside(level: Level, rows: np.ndarray, column: list[Any], col) -> None:
    """Fresh integer keys for `rows`, counted up through the ranges in order (distinct, since
    the ranges do not overlap)."""
    keys: list[int] = []
    need = len(rows)
    for lo, hi in sorted(level.ranges):
        top = math.ceil(hi) if math.isfinite(hi) else None
        start = math.ceil(lo) if math.isfinite(lo) else min(1, (top if top is not None else 1) - need)
        stop = top if top is not None else start + need
        keys += range(start, min(stop, start + need - len(keys)))
        if len(keys) >= need:
            break
    for i, k in zip(rows.tolist(), keys):
        column[i] = k
