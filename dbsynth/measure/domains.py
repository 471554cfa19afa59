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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from dbsynth.measure.encoders import EPOCH, BinEncoder, BooleanEncoder, CategoricalEncoder, exact_number, to_number
from dbsynth.measure.mass import live_mass
from dbsynth.measure.encoders import canonical
from dbsynth.privacy import mechanisms
from dbsynth.privacy.ledger import Ledger
from dbsynth.schema import Column
from dbsynth.spec import ColumnSpec

# Signed ranges by generic family, as exact ints (2^63 - 1 as a float is 2^63: out of range).
_INT_RANGE = {"SmallInteger": 2**15 - 1, "Integer": 2**31 - 1, "BigInteger": 2**63 - 1}


def as_type(col: Column) -> str:
    g = col.generic
    if g in ("Integer", "SmallInteger", "BigInteger", "BIT"):  # a MySQL BIT(n) is a number 0..2^n-1
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


_LINEAR_DAYS = 64  # a datetime range shorter than this gets candidates between its midnights
_LINEAR_COARSE = 16  # even coarse bins across a bounded number type, besides the decades
# Number grids reach 10^19.x: past a BIGINT UNSIGNED's 2^64 - 1 (1.8e19), so its values find bins.
_MAX_DECADE = 19


def candidate_grid(kind: str, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """A public, data-independent grid of possible bin edges for a value type."""
    if kind in ("date", "datetime"):
        start = (dt.datetime(1900, 1, 1) - EPOCH).total_seconds()
        end = (dt.datetime(2100, 1, 1) - EPOCH).total_seconds()
        grid = np.arange(start, end, 86400.0)
    elif kind == "time":
        grid = np.arange(0.0, 86400.0 + 1, 60.0)
    else:
        mags = 10.0 ** np.arange(-4, _MAX_DECADE + 1, 1.0 / 20)
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
        mags = 10.0 ** np.arange(-3, _MAX_DECADE + 0.5, 0.5)
        edges = np.concatenate([-mags[::-1], [0.0], mags])
        if lo is not None and hi is not None:
            # and evenly over a bounded type: values spread over a SMALLINT UNSIGNED's 0..65535
            # put few rows in each decade below the top one, and the range would start at 10^3
            edges = np.unique(np.concatenate([edges, np.linspace(float(lo), float(hi), _LINEAR_COARSE + 1)]))
        if kind == "int":
            # no integer lies between 0.001 and 1: such cells hold only noise, and a dozen of them
            # weighed against the few rows a spread column has there cut its low end off (0..10^4
            # of a uniform SMALLINT UNSIGNED, a sixth of its rows)
            edges = np.unique(np.round(edges))
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
        # Over months, points between midnights would split days into cells of half the rows
        # each (twice the noise to rows) and resolve nothing a day does not; a date has no hours.
        short = kind == "datetime" and hi - lo < _LINEAR_DAYS * 86400.0
        return Grid(_linear(kind, lo, hi) if short else np.array([lo, hi], dtype=float), first, len(daily))
    return Grid(np.unique(np.concatenate([candidate_grid(kind, lo, hi), _linear(kind, lo, hi)])))


def fine_grid(kind: str, edges: np.ndarray, mass: np.ndarray, lo: float, hi: float, cells: int) -> Grid:
    """The fine candidates of a number inside its range [lo, hi]: each coarse cell cut into even
    steps, as many as its share of the coarse noisy mass (`cells` in all, at least one per
    cell), so a step holds about as many rows wherever the rows are. A fixed grid of decades and
    even steps cut an even spread over a wide type into dozens of near-empty decades whose noise
    added up and cut the spread's ends off. Dates and times keep their days and minutes
    (`quantile_grid`). Post-processing of the coarse release: it costs nothing."""
    held = np.clip(np.asarray(mass, dtype=float), 0.0, None)
    if kind in ("date", "datetime", "time") or held.sum() <= 0:
        return quantile_grid(kind, lo, hi)
    pieces = [np.array([lo, hi], dtype=float)]
    for a, b, m in zip(edges[:-1], edges[1:], held):
        a, b = max(float(a), lo), min(float(b), hi)
        if b > a:
            pieces.append(np.linspace(a, b, max(int(np.ceil(cells * m / held.sum())), 1) + 1))
    grid = np.unique(np.concatenate(pieces))
    return Grid(np.unique(np.round(grid)) if kind == "int" else grid)


_FINE_CELLS, _MIN_FINE = 256, 16
_FINE_Z = 3.0  # rows a fine cell holds on average, in σ of the fine release


def public_encoder(col: Column, cs: ColumnSpec):
    """The encoder when the domain is public (schema or spec); None when it must be paid for."""
    if cs.kind == "boolean":
        return BooleanEncoder(col.nullable)
    if cs.kind == "categorical" and cs.values is not None:
        # Released values came from partition selection: values it did not release are "other".
        return CategoricalEncoder(list(cs.values), col.nullable, other=cs.domain == "released",
                                  ordered=bool(cs.ordered), other_like=_made_up(cs, "word"))
    if cs.kind in ("numeric", "datetime") and cs.edges is not None:
        lo, hi = _public_range(col, cs)
        return BinEncoder(list(map(float, cs.edges)), col.nullable, as_type(col), col.scale, lower=lo, upper=hi,
                          points=list(map(float, cs.points or [])))
    # Both bounds with domain dp (a partition key's ranges): bins paid for inside public bounds.
    if cs.kind in ("numeric", "datetime") and cs.bounds is not None and None not in cs.bounds and cs.domain != "dp":
        lo, hi = float(cs.bounds[0]), float(cs.bounds[1])
        t = as_type(col)
        bins = cs.bins or 8
        # An integer in a small public range (CHECK (c BETWEEN 0 AND 90)) gets a cell per value, as
        # an IN list would: a range must never model a column worse than listing its values.
        if t == "int" and hi - lo + 1 <= max(bins, _PUBLIC_INT_CELLS):
            edges = list(np.arange(lo, hi + 2))
        else:
            edges = list(np.linspace(lo, hi, bins + 1))
        return BinEncoder(edges, col.nullable, t, col.scale, lower=lo, upper=hi)
    return None


_PUBLIC_INT_CELLS = 256

ValueSink = Callable[[str, Sequence[tuple[Any, int]]], None]  # (column, chunk of (value, rows))
RowSink = Callable[[str, int], None]  # (column, rows that are not NULL in it)
Bucketing = tuple[str, str, Grid]  # (column, as_type, grid): rows per #{candidates ≤ x}


class ColumnCounts(Protocol):
    """Counts over one table's bounded rows: all that domain discovery reads."""

    def count(self, values: Sequence[str], buckets: Sequence[Bucketing], on_values: ValueSink | None = None,
              floors: Mapping[str, int] | None = None, on_rows: RowSink | None = None) -> list[np.ndarray]:
        """In one pass over the rows: (value, rows) for every distinct non-NULL value of each
        `values` column, handed to `on_values` in chunks (never all at once), leaving out a value
        with fewer rows than its column's floor in `floors` (the engine drops it); the rows that
        are not NULL in each `values` column (floors aside) to `on_rows`; and for each bucketing,
        rows per b = #{candidates ≤ x} over the non-NULL numbers x (b = 0..len)."""
        ...


def histogram_grid(edges: np.ndarray) -> Grid:
    """Bins [e_i, e_i+1) with values outside counted in the end bins, as a bucketing: a value's
    bin is the number of inner edges ≤ it."""
    return Grid(np.asarray(edges[1:-1], dtype=float))


def value_counts(values: pd.Series) -> dict:
    """Rows per distinct non-NULL value: what partition selection releases with noise."""
    return dict(Counter(canonical(v) for v in values.tolist() if v is not None and v == v))


def sorted_numbers(values: pd.Series, t: str) -> np.ndarray:
    """The non-NULL values as sorted numbers: what DP quantiles rank candidates against."""
    x = to_number(values, t)
    return np.sort(x[~np.isnan(x)])


class FrameCounts:
    """`ColumnCounts` of rows held in memory: the reference the pushdown is tested against."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def count(self, values: Sequence[str], buckets: Sequence[Bucketing], on_values: ValueSink | None = None,
              floors: Mapping[str, int] | None = None, on_rows: RowSink | None = None) -> list[np.ndarray]:
        for column in values:
            floor = (floors or {}).get(column, 1)
            if on_values is not None:
                on_values(column, [(v, n) for v, n in value_counts(self.frame[column]).items() if n >= floor])
            if on_rows is not None:
                on_rows(column, int(self.frame[column].notna().sum()))
        out = []
        for column, as_type, grid in buckets:
            x = sorted_numbers(self.frame[column], as_type)
            cands = grid.candidates
            out.append(np.bincount(np.searchsorted(cands, x, side="right"), minlength=len(cands) + 1).astype(float))
        return out


def type_range(col: Column) -> tuple[float | None, float | None]:
    """The smallest and largest values the column's type holds (None: open). Where the engine
    narrows the family (UNSIGNED, TINYINT, MEDIUMINT, YEAR, BIT(n), MySQL TIMESTAMP) the schema
    says so (`Column.value_range`); otherwise signed integers by family and NUMERIC(p, s) below
    10^(p-s) in magnitude. Integer ends are exact ints."""
    lo, hi = col.value_range or (None, None)
    limit: float | None = None
    if col.generic in _INT_RANGE:
        limit = _INT_RANGE[col.generic]
    elif col.generic == "Numeric" and col.precision:
        scale = col.scale or 0
        limit = 10.0 ** (col.precision - scale) - 10.0 ** (-scale)
    if limit is not None:
        lo, hi = (-limit if lo is None else lo), (limit if hi is None else hi)
    return lo, hi


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
    """Encoders for one table's dp-domain columns, each paying `rho` (and `delta` for its
    partition selection), from two passes over the rows.

    Pass 1: value counts (partition selection: a categorical column's values; a number's or a
    date's frequent exact values, such as 0, 0.99 or a constant audit time) and, for numbers and
    dates, a noisy histogram on a coarse public grid (where the data lives). Pass 2: a noisy
    histogram on a fine grid inside that range, from which the bins (equal noisy mass, as many
    as the noise and the rows support) and each bin's inner shape are derived: post-processing."""
    numeric = [(col, cs, as_type(col), *_public_range(col, cs)) for col, cs in columns if cs.kind != "categorical"]
    selections = {
        col.name: mechanisms.PartitionSelection(ledger, sensitivity=sensitivity,
                                                rho=rho * (_VALUES_SHARE if cs.when_sparse == "text" else 1.0)
                                                if cs.kind == "categorical" else rho * _POINT_SHARE,
                                                delta=delta, table=table,
                                                what=f"{'domain' if cs.kind == 'categorical' else 'frequent values'} "
                                                     f"of {col.name}")
        for col, cs in columns
    }
    coarse = {col.name: coarse_edges(t, lo, hi) for col, _, t, lo, hi in numeric}
    totals = dict.fromkeys(selections, 0)

    def on_values(column: str, chunk: Sequence[tuple[Any, int]]) -> None:
        selections[column].add(chunk)

    def on_rows(column: str, rows: int) -> None:
        totals[column] = rows

    hists = counts.count(list(selections), [(col.name, t, histogram_grid(coarse[col.name])) for col, _, t, _, _ in numeric],
                         on_values=on_values, floors={name: sel.floor for name, sel in selections.items()},
                         on_rows=on_rows)
    released = {name: sel.release() for name, sel in selections.items()}
    out: dict[str, Any] = {}
    for col, cs in columns:
        if cs.kind == "categorical":
            out[col.name] = _categorical(col, cs, released[col.name], totals[col.name], ledger=ledger, rho=rho,
                                         sensitivity=sensitivity, table=table)
    ranges, masses = {}, {}
    for (col, cs, t, lo, hi), hist in zip(numeric, hists):
        noisy, sigma = mechanisms.gaussian(ledger, hist, sensitivity=sensitivity, rho=rho * _RANGE_SHARE, table=table,
                                           what=f"range of {col.name}")
        edges = coarse[col.name]
        masses[col.name] = mass = live_mass(noisy, sigma, widths=np.diff(edges))
        live = np.flatnonzero(mass > 0)
        if len(live) == 0:
            live = np.array([int(np.argmax(noisy))])
        ranges[col.name] = (float(edges[live[0]]), float(edges[live[-1] + 1]), max(float(noisy.sum()), 0.0),
                            sigma * np.sqrt(len(noisy)))
    # As many fine cells as hold a few σ of the fine release each: more would hold noise only.
    fine_sigma = mechanisms.sigma_for(rho * _FINE_SHARE, sensitivity)
    fine = {col.name: fine_grid(t, coarse[col.name], masses[col.name], *ranges[col.name][:2],
                                cells=int(np.clip(ranges[col.name][2] / (_FINE_Z * fine_sigma), _MIN_FINE, _FINE_CELLS)))
            for col, _, t, _, _ in numeric}
    bucket_counts = counts.count([], [(col.name, t, fine[col.name]) for col, _, t, _, _ in numeric])
    for (col, cs, t, lo, hi), bc in zip(numeric, bucket_counts):
        r_lo, r_hi, total, total_noise = ranges[col.name]
        sel = released[col.name]
        points = [exact_number(v, t) for v in sel.values]
        keep = [i for i, p in enumerate(points) if p == p and (lo is None or p >= lo) and (hi is None or p <= hi)]
        points = [points[i] for i in keep]
        noisy, sigma = mechanisms.gaussian(ledger, bc, sensitivity=sensitivity, rho=rho * _FINE_SHARE, table=table,
                                           what=f"bins of {col.name}")
        candidates = fine[col.name].candidates
        # Buckets of the fine grid inside the range: [c_j, c_{j+1}); count b holds #{candidates ≤ x} = b.
        own = [(int(np.searchsorted(candidates, p, side="right")) - 1, float(c))  # a point's bucket and rows
               for p, c in zip(points, sel.noisy_counts[keep] if len(keep) else [])]
        mass = live_mass(noisy[1:len(candidates)], sigma, own, widths=np.diff(candidates))
        if points and (not (mass > 0).any() or _points_hold_all(
                total, total_noise, [c for _, c in own], mechanisms.sigma_for(rho * _POINT_SHARE, sensitivity))):
            # The bins hold noise only: the frequent values hold every row, or the fine release,
            # finer and less noisy than the coarse one, found no rows outside them (a spread the
            # coarse cells see, its blocks of fine cells see too). Keep the bins where the
            # frequent values are, not over a range a noisy coarse cell may have stretched (a
            # rating 0..9 written as 700,000,000), nor where a noisy fine cell lies (a 10 or a -1).
            r_lo = float(min(points))
            r_hi = max(float(max(points)) + (86400.0 if t == "date" else 1.0 if t == "int" else 0.0), r_lo + 1.0)
            inside = (candidates[:len(mass)] >= r_lo) & (candidates[1:len(mass) + 1] <= r_hi)
            mass = np.where(inside, mass, 0.0)
        edges, shape = _bins_from_mass(candidates, mass, r_lo, r_hi, t, cs.bins, total, sigma)
        out[col.name] = BinEncoder(edges, col.nullable, t, col.scale, lower=lo, upper=hi, points=points, shape=shape)
    return {col.name: out[col.name] for col, _ in columns}


def _points_hold_all(total: float, total_noise: float, counts: Sequence[float], point_noise: float) -> bool:
    """Whether the rows the frequent values leave (the column's noisy total less theirs) are
    within the noise of both releases (2σ) of none."""
    left = total - float(np.sum(counts))
    return left < 2 * np.sqrt(total_noise**2 + len(counts) * point_noise**2)


def _categorical(col: Column, cs: ColumnSpec, released: mechanisms.SelectedPartitions, total: int, *,
                 ledger: Ledger, rho: float, sensitivity: float, table: str) -> CategoricalEncoder:
    """A categorical column over its released values. A string column that may be text
    (`when_sparse: text`) also releases its non-NULL row count: when the released values' noisy
    counts cover less than `_COVERAGE` of it, the column is mostly unique strings and is generated
    as text; otherwise it is categorical and the rare rest is made up to look like the column.
    An array column (`when_sparse: empty`) keeps its released arrays and makes every other one empty."""
    if not cs.when_sparse:
        return CategoricalEncoder(released.values, col.nullable, other=True)
    if cs.when_sparse == "empty":
        # An array column needs no row count to choose: a made-up array is always the empty one,
        # so the released arrays keep their rows however few they cover, and the rest are empty.
        return CategoricalEncoder(released.values, col.nullable, other=True, other_like="empty")
    (noisy_total,), sigma = mechanisms.gaussian(ledger, np.array([total]), sensitivity=sensitivity,
                                                rho=rho * (1 - _VALUES_SHARE), table=table, what=f"rows of {col.name}")
    covered = float(np.sum(released.noisy_counts))
    if noisy_total <= 0 or covered < _COVERAGE * noisy_total:
        # Mostly made up, but the values that were released keep their rows: a status whose
        # 'delivered' (70 % of the rows) came out at 65 % was all filler text, its one released
        # value lost; a comment column keeps its frequent '' or 'n/a' exactly.
        return CategoricalEncoder(released.values, col.nullable, other=True,
                                  other_like=_made_up(cs, _text_or_word(released.values, default="text")))
    long_values = _text_or_word(released.values, default="word") == "text"
    # An "other" cell only where the rows the released values leave out stand out of the noise of
    # the two releases; otherwise it would hold noise, and made-up values among real categories.
    noise = np.sqrt(sigma**2 + len(released.values) * mechanisms.sigma_for(rho * _VALUES_SHARE, sensitivity) ** 2)
    other = noisy_total - covered > 3 * noise
    return CategoricalEncoder(released.values, col.nullable, other=other,
                              other_like=_made_up(cs, "text" if long_values else "word"))


def _text_or_word(values: Sequence[Any], default: str) -> str:
    """What a made-up value beside these released ones should be: text where they are long
    (over 30 characters on average), a word where they are short, `default` with nothing to go by."""
    lengths = [len(str(v)) for v in values if str(v).strip()]
    if not lengths:
        return default
    return "text" if np.mean(lengths) > 30 else "word"


def _made_up(cs: ColumnSpec, like: str) -> str:
    """How a value no release covers is made up: an array column's is the empty array
    (`when_sparse: empty`), a string's is text or a word like the released ones."""
    return "empty" if cs.when_sparse == "empty" else like


# A string column is categorical when its released values cover this share of its rows.
_COVERAGE = 0.7
_VALUES_SHARE = 0.9  # of a maybe-text column's ρ: its values; the rest its row count
# How a numeric or datetime column's domain ρ is split: frequent exact values, the coarse range,
# the fine histogram that gives the bins and their shapes.
_POINT_SHARE, _RANGE_SHARE, _FINE_SHARE = 0.3, 0.2, 0.5
_MAX_BINS = 64
_FALLBACK_BINS = 8
_SUB_BUCKETS = 8


def _bins_from_mass(candidates: np.ndarray, mass: np.ndarray, r_lo: float, r_hi: float, t: str,
                    bins: int | None, total: float, sigma: float) -> tuple[list[float], list[list[float]]]:
    """Bin edges at equal noisy mass of the fine histogram, and each bin's shape on equal-width
    sub-buckets. Without `bins` from the spec, as many bins as keep ~20σ of mass each (up to 64)."""
    inner = np.asarray(candidates[1:len(mass)], dtype=float)  # bucket j spans [c_j, c_{j+1})
    cum = np.cumsum(mass)
    held = np.flatnonzero(mass > 0)
    if len(held):  # the range ends where the mass does: a spurious coarse cell must not stretch a bin
        r_lo, r_hi = max(r_lo, float(candidates[held[0]])), min(r_hi, float(candidates[held[-1] + 1]))
    if t == "int":  # integer bins: every bin holds at least one integer
        r_lo, r_hi = float(np.floor(r_lo)), float(max(np.ceil(r_hi), np.floor(r_lo) + 1))
    if not (len(cum) and cum[-1] > 0):
        # Nothing stands out of the noise: equal-width bins over the released range (values
        # spread over it, not one constant), with no shape (uniform over each bin's values).
        edges = np.linspace(r_lo, r_hi, (bins or _FALLBACK_BINS) + 1)
        edges = np.unique(np.round(edges)) if t == "int" else edges
        return [float(e) for e in edges], [[] for _ in range(max(len(edges) - 1, 1))]
    n = bins or int(np.clip(round(max(cum[-1], total) / (20 * sigma + 1e-9)), 2, _MAX_BINS))
    edges = [r_lo]
    if n > 1:
        cuts = np.searchsorted(cum, cum[-1] * np.arange(1, n) / n, side="left")
        edges += [float(inner[j]) for j in np.unique(cuts) if j < len(inner) and r_lo < inner[j] < r_hi]
    edges.append(r_hi)
    edges = sorted(set(np.round(edges) if t == "int" else edges))
    if len(edges) < 2:
        edges = [edges[0], edges[0] + (86400.0 if t in ("date", "datetime") else 1.0)]
    shape = []
    # The mass below x, each fine bucket's spread evenly over it: a sub-bucket gets what it
    # overlaps, whether the fine buckets are narrower (numbers) or wider (a day in a bin of hours).
    # An integer's mass sits at the integer itself, where `BinEncoder.decode` draws it back.
    below = np.concatenate([[0.0], cum])
    bounds = np.asarray(candidates[:len(mass) + 1], dtype=float)
    for a, b in zip(edges, edges[1:]):
        sub = np.linspace(a, b, _SUB_BUCKETS + 1)
        w = np.diff(np.interp(np.ceil(sub) if t == "int" else sub, bounds, below))
        shape.append([float(max(v, 0.0)) for v in w])
    return [float(e) for e in edges], shape


def _public_range(col: Column, cs: ColumnSpec) -> tuple[float | None, float | None]:
    """What the type (and a one-sided CHECK such as price >= 0) says the values can be: bounds
    from a CHECK or the spec narrow the type's range, never widen it (a value outside it would
    fail the write)."""
    lo, hi = type_range(col)
    if cs.bounds is not None:
        b_lo, b_hi = cs.bounds
        lo = b_lo if lo is None else (lo if b_lo is None else max(lo, b_lo))
        hi = b_hi if hi is None else (hi if b_hi is None else min(hi, b_hi))
    return lo, hi
