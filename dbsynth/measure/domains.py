"""Column domains: public ones from the schema or spec, the rest paid for with DP.

Categorical values not given by the schema come from Gaussian partition selection; numeric and
datetime bins from DP quantiles over a public candidate grid. Nothing here reads distinct
values or min/max without charging the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

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


def public_encoder(col: Column, cs: ColumnSpec):
    """The encoder when the domain is public (schema or spec); None when it must be paid for."""
    if cs.kind == "boolean":
        return BooleanEncoder(col.nullable)
    if cs.kind == "categorical" and cs.values is not None:
        return CategoricalEncoder(list(cs.values), col.nullable, other=False)
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


def value_counts(values: pd.Series) -> dict:
    """Rows per distinct non-NULL value: what partition selection releases with noise."""
    return dict(Counter(v for v in values.tolist() if v is not None and v == v))


def sorted_numbers(values: pd.Series, t: str) -> np.ndarray:
    """The non-NULL values as sorted numbers: what DP quantiles rank candidates against."""
    x = to_number(values, t)
    return np.sort(x[~np.isnan(x)])


def type_limit(col: Column) -> float | None:
    """The largest magnitude the column's type holds (NUMERIC(p, s): below 10^(p-s))."""
    if col.generic in _INT_RANGE:
        return float(_INT_RANGE[col.generic])
    if col.generic == "Numeric" and col.precision:
        scale = col.scale or 0
        return 10.0 ** (col.precision - scale) - 10.0 ** (-scale)
    return None


def needs_budget(cs: ColumnSpec) -> bool:
    return cs.kind in ("categorical", "numeric", "datetime") and cs.domain == "dp"


def private_encoder(
    col: Column,
    cs: ColumnSpec,
    values: pd.Series,
    *,
    ledger: Ledger,
    rho: float,
    delta: float,
    sensitivity: float,
    rng: np.random.Generator,
    table: str,
):
    """The encoder for a dp-domain column, paying `rho` (and `delta` for partition selection)."""
    if cs.kind == "categorical":
        counts = value_counts(values)
        sel = mechanisms.partition_selection(
            ledger, dict(counts), sensitivity=sensitivity, rho=rho, delta=delta, rng=rng, table=table,
            what=f"domain of {col.name}",
        )
        return CategoricalEncoder(sel.values, col.nullable, other=True)
    t = as_type(col)
    limit = type_limit(col)
    lo, hi = (-limit, limit) if limit else (None, None)
    if cs.bounds is not None:  # a one-sided CHECK (price >= 0) narrows the public grid
        lo = cs.bounds[0] if cs.bounds[0] is not None else lo
        hi = cs.bounds[1] if cs.bounds[1] is not None else hi
    x = sorted_numbers(values, t)
    bins = cs.bins or 8
    # Stage 1 (ρ/3): where the data lives, from a noisy histogram on a coarse public grid. Without
    # it, tail quantiles on a wide grid are nearly uniform draws over centuries or decades of zeros.
    coarse = coarse_edges(t, lo, hi)
    counts = np.histogram(np.clip(x, coarse[0], coarse[-1]), bins=coarse)[0].astype(float)
    noisy, sigma = mechanisms.gaussian(ledger, counts, sensitivity=sensitivity, rho=rho / 3, rng=rng, table=table,
                                       what=f"range of {col.name}")
    live = np.flatnonzero(noisy > 3 * sigma)
    if len(live) == 0:
        live = np.array([int(np.argmax(noisy))])
    r_lo, r_hi = float(coarse[live[0]]), float(coarse[live[-1] + 1])
    # Stage 2 (2ρ/3): inner bin edges as DP quantiles on a fine grid inside that range.
    grid = np.unique(np.concatenate([candidate_grid(t, r_lo, r_hi), _linear(t, r_lo, r_hi)]))
    qs = [i / bins for i in range(1, bins)]
    inner = mechanisms.quantiles(
        ledger, x, grid, qs, sensitivity=sensitivity, rho=2 * rho / 3, rng=rng, table=table, what=f"bins of {col.name}"
    ) if qs else np.array([])
    edges = np.unique(np.concatenate([[r_lo], inner, [r_hi]]))
    if len(edges) < 2:
        step = 1.0 if t != "date" and t != "datetime" else 86400.0
        edges = np.array([edges[0], edges[0] + step])
    return BinEncoder(list(map(float, edges)), col.nullable, t, col.scale, lower=lo, upper=hi)
