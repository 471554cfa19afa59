"""Column domains: public ones from the schema or spec, the rest paid for with DP.

Categorical values not given by the schema come from Gaussian partition selection; numeric and
datetime bins from DP quantiles over a public candidate grid. Both take counts, never rows: from
the source database (`pushdown.TableCounts`) or, as a reference in tests, from rows in memory
(`FrameCounts`); a table's columns share two passes over its rows. Nothing here reads distinct
values or min/max without charging the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from dbsynth.measure.encoders import EPOCH, BinEncoder, BooleanEncoder, CategoricalEncoder, to_number
from dbsynth.privacy import mechanisms
from dbsynth.privacy.ledger import Ledger
from dbsynth.schema import Column
from dbsynth.spec import ColumnSpec

_INT_RANGE = {"SmallInteger": 2**15 - 1, "Integer": 2**31 - 1, "BigInteger": 2**63 - 1}


def as_type(col: Column) -> str:
    g = col.generic
    if g in ("Integer", "SmallInteger", "BigInteger"):
        return "int"
    if g == "Numeric" and (col.scale or 0) >= 0 and col.scale is not None:
        return "int" if col.scale == 0 else "decimal"
    if g in ("Date", "DATE"):
        return "date"
    if g in ("DateTime", "TIMESTAMP", "DATETIME"):
        return "datetime"
    if g in ("Time", "TIME"):
        return "time"
    return "float"


def candidate_grid(kind: str, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """A public, data-independent grid of possible bin edges for a value type."""
    if kind in ("date", "datetime"):
        start = (dt.datetime(1900, 1, 1) - EPOCH).total_seconds()
        end = (dt.datetime(2100, 1, 1) - EPOCH).total_seconds()
        grid = np.arange(start, end, 86400.0)
    elif kind == "time":
        grid = np.arange(0.0, 86400.0 + 1, 60.0)
    else:
        mags = 10.0 ** np.arange(-4, 13, 1.0 / 20)
        grid = np.concatenate([-mags[::-1], [0.0], mags])
        if kind == "int":
            grid = np.unique(np.concatenate([np.round(grid), np.arange(-10, 11)]))
    if lo is not None:
        grid = grid[grid >= lo]
    if hi is not None:
        grid = grid[grid <= hi]
    return grid


def coarse_edges(kind: str, lo: float | None, hi: float | None) -> np.ndarray:
    """A few dozen public bin edges spanning everything the type can hold."""
    if kind in ("date", "datetime"):
        edges = np.array([(dt.datetime(y, 1, 1) - EPOCH).total_seconds() for y in range(1900, 2101)])
    elif kind == "time":
        edges = np.arange(0.0, 86400.0 + 1, 3600.0)
    else:
        mags = 10.0 ** np.arange(-3, 12.5, 0.5)
        edges = np.concatenate([-mags[::-1], [0.0], mags])
    if lo is not None:
        edges = np.concatenate([[lo], edges[edges > lo]])
    if hi is not None:
        edges = np.concatenate([edges[edges < hi], [hi]])
    return edges


def _linear(kind: str, lo: float, hi: float, n: int = 256) -> np.ndarray:
    grid = np.linspace(lo, hi, n)
    return np.unique(np.round(grid)) if kind == "int" else grid


@dataclass(frozen=True)
class Grid:
    """Quantile candidates: explicit points, plus (dates) every midnight from `first_day` on.

    The daily part can hold 70,000 points; SQL finds a value's place in it from its date alone,
    so only the explicit part needs comparisons."""

    explicit: np.ndarray
    first_day: int = 0  # days since 1970-01-01 of the first daily candidate
    days: int = 0

    @property
    def daily(self) -> np.ndarray:
        return (self.first_day + np.arange(self.days, dtype=float)) * 86400.0

    @property
    def candidates(self) -> np.ndarray:
        return np.unique(np.concatenate([self.daily, self.explicit]))

    def bucket(self, day: np.ndarray | None, below_explicit: np.ndarray) -> np.ndarray:
        """#{candidates ≤ x} from x's day number and #{explicit points ≤ x}: the daily and the
        explicit counts, less the points both parts share (counted twice)."""
        if not self.days or day is None:
            return np.asarray(below_explicit, dtype=np.int64)
        d = np.clip(np.asarray(day, dtype=np.int64) - self.first_day + 1, 0, self.days)
        shared = np.flatnonzero(np.isin(self.daily, self.explicit))
        return d + np.asarray(below_explicit, dtype=np.int64) - np.searchsorted(shared, d, side="left")


def quantile_grid(kind: str, lo: float, hi: float) -> Grid:
    """The public candidates for DP quantiles inside [lo, hi]: the type's grid plus a linear one."""
    if kind in ("date", "datetime"):
        daily = candidate_grid(kind, lo, hi)
        first = int(daily[0] // 86400) if len(daily) else 0
        return Grid(_linear(kind, lo, hi), first, len(daily))
    return Grid(np.unique(np.concatenate([candidate_grid(kind, lo, hi), _linear(kind, lo, hi)])))


def public_encoder(col: Column, cs: ColumnSpec):
    """The encoder when the domain is public (schema or spec); None when it must be paid for."""
    if cs.kind == "boolean":
        return BooleanEncoder(col.nullable)
    if cs.kind == "categorical" and cs.values is not None:
        # Released values came from partition selection: values it did not release are "other".
        return CategoricalEncoder(list(cs.values), col.nullable, other=cs.domain == "released",
                                  ordered=bool(cs.ordered))
    if cs.kind in ("numeric", "datetime") and cs.edges is not None:
        lo, hi = _public_range(col, cs)
        return BinEncoder(list(map(float, cs.edges)), col.nullable, as_type(col), col.scale, lower=lo, upper=hi)
    if cs.kind in ("numeric", "datetime") and cs.bounds is not None and None not in cs.bounds:
        lo, hi = float(cs.bounds[0]), float(cs.bounds[1])
        t = as_type(col)
        bins = cs.bins or 8
        if t == "int" and hi - lo + 1 <= bins:
            edges = list(np.arange(lo, hi + 2))
        else:
            edges = list(np.linspace(lo, hi, bins + 1))
        return BinEncoder(edges, col.nullable, t, col.scale, lower=lo, upper=hi)
    return None


ValueSink = Callable[[str, Sequence[tuple[Any, int]]], None]  # (column, chunk of (value, rows))
Bucketing = tuple[str, str, Grid]  # (column, as_type, grid): rows per #{candidates ≤ x}


class ColumnCounts(Protocol):
    """Counts over one table's bounded rows: all that domain discovery reads."""

    def count(self, values: Sequence[str], buckets: Sequence[Bucketing], on_values: ValueSink | None = None,
              ) -> list[np.ndarray]:
        """In one pass over the rows: (value, rows) for every distinct non-NULL value of each
        `values` column, handed to `on_values` in chunks (never all at once); and for each
        bucketing, rows per b = #{candidates ≤ x} over the non-NULL numbers x (b = 0..len)."""
        ...


def histogram_grid(edges: np.ndarray) -> Grid:
    """Bins [e_i, e_i+1) with values outside counted in the end bins, as a bucketing: a value's
    bin is the number of inner edges ≤ it."""
    return Grid(np.asarray(edges[1:-1], dtype=float))


def value_counts(values: pd.Series) -> dict:
    """Rows per distinct non-NULL value: what partition selection releases with noise."""
    return dict(Counter(v for v in values.tolist() if v is not None and v == v))


def sorted_numbers(values: pd.Series, t: str) -> np.ndarray:
    """The non-NULL values as sorted numbers: what DP quantiles rank candidates against."""
    x = to_number(values, t)
    return np.sort(x[~np.isnan(x)])


class FrameCounts:
    """`ColumnCounts` of rows held in memory: the reference the pushdown is tested against."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def count(self, values: Sequence[str], buckets: Sequence[Bucketing], on_values: ValueSink | None = None,
              ) -> list[np.ndarray]:
        for column in values:
            if on_values is not None:
                on_values(column, list(value_counts(self.frame[column]).items()))
        out = []
        for column, as_type, grid in buckets:
            x = sorted_numbers(self.frame[column], as_type)
            cands = grid.candidates
            out.append(np.bincount(np.searchsorted(cands, x, side="right"), minlength=len(cands) + 1).astype(float))
        return out


def type_limit(col: Column) -> float | None:
    """The largest magnitude the column's type holds (NUMERIC(p, s): below 10^(p-s))."""
    if col.generic in _INT_RANGE:
        return float(_INT_RANGE[col.generic])
    if col.generic == "Numeric" and col.precision:
        scale = col.scale or 0
        return 10.0 ** (col.precision - scale) - 10.0 ** (-scale)
    return None


def private_encoders(
    columns: Sequence[tuple[Column, ColumnSpec]],
    counts: ColumnCounts,
    *,
    ledger: Ledger,
    rho: float,
    delta: float,
    sensitivity: float,
    table: str,
) -> dict[str, Any]:
    """Encoders for one table's dp-domain columns, each paying `rho` (and `delta` for partition
    selection), from two passes over the rows: value counts and coarse range histograms, then
    the quantile grids inside the released ranges."""
    selections = {
        col.name: mechanisms.PartitionSelection(ledger, sensitivity=sensitivity, rho=rho, delta=delta,
                                                table=table, what=f"domain of {col.name}")
        for col, cs in columns if cs.kind == "categorical"
    }
    numeric = [(col, cs, as_type(col), *_public_range(col, cs)) for col, cs in columns if cs.kind != "categorical"]
    # Stage 1 (ρ/3 of a numeric column): where the data lives, from a noisy histogram on a coarse
    # public grid. Without it, tail quantiles on a wide grid are nearly uniform draws over
    # centuries or decades of zeros.
    coarse = {col.name: coarse_edges(t, lo, hi) for col, _, t, lo, hi in numeric}
    hists = counts.count(list(selections), [(col.name, t, histogram_grid(coarse[col.name])) for col, _, t, _, _ in numeric],
                         on_values=lambda column, chunk: selections[column].add(chunk))
    out: dict[str, Any] = {}
    for col, cs in columns:
        if col.name in selections:
            out[col.name] = CategoricalEncoder(selections[col.name].release().values, col.nullable, other=True)
    grids = {}
    for (col, cs, t, lo, hi), hist in zip(numeric, hists):
        noisy, sigma = mechanisms.gaussian(ledger, hist, sensitivity=sensitivity, rho=rho / 3, table=table,
                                           what=f"range of {col.name}")
        live = np.flatnonzero(noisy > 3 * sigma)
        if len(live) == 0:
            live = np.array([int(np.argmax(noisy))])
        edges = coarse[col.name]
        grids[col.name] = (float(edges[live[0]]), float(edges[live[-1] + 1]))
    # Stage 2 (2ρ/3): inner bin edges as DP quantiles on a fine grid inside each released range.
    fine = {col.name: quantile_grid(t, *grids[col.name]) for col, _, t, _, _ in numeric}
    bucket_counts = counts.count([], [(col.name, t, fine[col.name]) for col, _, t, _, _ in numeric])
    for (col, cs, t, lo, hi), bc in zip(numeric, bucket_counts):
        r_lo, r_hi = grids[col.name]
        bins = cs.bins or 8
        qs = [i / bins for i in range(1, bins)]
        inner = mechanisms.quantiles_from_counts(
            ledger, bc, fine[col.name].candidates, qs, sensitivity=sensitivity, rho=2 * rho / 3, table=table,
            what=f"bins of {col.name}",
        ) if qs else np.array([])
        edges = np.unique(np.concatenate([[r_lo], inner, [r_hi]]))
        if len(edges) < 2:
            step = 1.0 if t != "date" and t != "datetime" else 86400.0
            edges = np.array([edges[0], edges[0] + step])
        out[col.name] = BinEncoder(list(map(float, edges)), col.nullable, t, col.scale, lower=lo, upper=hi)
    return {col.name: out[col.name] for col, _ in columns}


def _public_range(col: Column, cs: ColumnSpec) -> tuple[float | None, float | None]:
    """What the type (and a one-sided CHECK such as price >= 0) says the values can be."""
    limit = type_limit(col)
    lo, hi = (-limit, limit) if limit else (None, None)
    if cs.bounds is not None:
        lo = cs.bounds[0] if cs.bounds[0] is not None else lo
        hi = cs.bounds[1] if cs.bounds[1] is not None else hi
    return lo, hi
