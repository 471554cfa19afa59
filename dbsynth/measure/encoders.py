"""Released column domains: how a value becomes a model code and a code becomes a value again.

An encoder holds only public or already-released information (schema/spec domains, DP-selected
values, DP quantile edges), so it can be saved in the run report and used to sample.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.dialects.postgresql import BitString

EPOCH = dt.datetime(1970, 1, 1)
_SECOND = dt.timedelta(seconds=1)  # timedelta / _SECOND: exact microseconds, rounded once


@dataclass
class CategoricalEncoder:
    """Codes: [NULL?] + released values + [other?]. `other` stands for every unreleased value."""

    values: list[Any]
    nullable: bool
    other: bool
    ordered: bool = False  # the values are listed in their order (an ordinal scale, from the spec)
    other_like: str = "word"  # how an unreleased value is made up: a Faker provider ("word", "text")

    @property
    def size(self) -> int:
        return int(self.nullable) + len(self.values) + int(self.other)

    def encode(self, series: pd.Series) -> np.ndarray:
        index = {self._norm(v): i + int(self.nullable) for i, v in enumerate(self.values)}
        other = self.size - 1 if self.other else int(self.nullable)
        out = np.empty(len(series), dtype=np.int64)
        for i, v in enumerate(series.tolist()):
            if _isnull(v):
                out[i] = 0 if self.nullable else other
            else:
                out[i] = index.get(self._norm(v), other)
        return out

    def decode(self, codes: np.ndarray, make_other) -> list[Any]:
        out: list[Any] = []
        base = int(self.nullable)
        for c in codes.tolist():
            if self.nullable and c == 0:
                out.append(None)
            elif c - base < len(self.values):
                out.append(self.values[c - base])
            else:
                out.append(make_other())
        return out

    @staticmethod
    def _norm(v: Any) -> Any:
        return canonical(v)


@dataclass
class BinEncoder:
    """Numeric or datetime values: frequent exact values (`points`) as cells of their own, the rest
    in bins [e_i, e_{i+1}).

    Codes: [NULL?] + bins (in order) + points (outside the order: a point mass such as 0 or a
    constant audit time is a group of its own). A bin is sampled back through its released finer
    shape (`shape[i]`: weights of equal-width sub-buckets; uniform when absent), at the column's
    granularity: integers stay integers, decimals keep their scale, datetimes whole seconds.
    `as_type` says how a number goes back to a column value: int, float, decimal, date, datetime, time."""

    edges: list[float]
    nullable: bool
    as_type: str
    scale: int | None = None
    lower: float | None = None  # type or schema range the sampled value must respect
    upper: float | None = None
    points: list[float] = field(default_factory=list)  # exact values released as their own cells (numbers)
    shape: list[list[float]] | None = None  # per bin: relative weights of equal-width sub-buckets

    @property
    def n_bins(self) -> int:
        return max(len(self.edges) - 1, 1)

    @property
    def size(self) -> int:
        return int(self.nullable) + self.n_bins + len(self.points)

    def point_code(self, i: int) -> int:
        return int(self.nullable) + self.n_bins + i

    def encode(self, series: pd.Series) -> np.ndarray:
        x = to_number(series, self.as_type)
        null = np.isnan(x)
        if len(self.edges) < 2:
            b = np.zeros(len(x), dtype=np.int64)
        else:
            b = np.clip(np.searchsorted(np.asarray(self.edges), np.nan_to_num(x), side="right") - 1, 0, self.n_bins - 1)
        b = b + int(self.nullable)
        for i, p in enumerate(self.points):
            b[x == p] = self.point_code(i)
        if self.nullable:
            b[null] = 0
        return b.astype(np.int64)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> list[Any]:
        codes = np.asarray(codes)
        base = int(self.nullable)
        e = np.asarray(self.edges if len(self.edges) >= 2 else [self.edges[0], self.edges[0]], dtype=float)
        b = np.clip(codes - base, 0, len(e) - 2)
        lo, hi = e[b].copy(), e[b + 1].copy()
        if self.shape is not None:  # narrow each draw to one sub-bucket of its bin, by the released weights
            for i in np.unique(b):
                w = np.asarray(self.shape[i] if i < len(self.shape) else [], dtype=float)
                if len(w) < 2 or not w.sum() > 0:
                    continue
                rows = np.flatnonzero(b == i)
                k = rng.choice(len(w), size=len(rows), p=w / w.sum())
                step = (e[i + 1] - e[i]) / len(w)
                lo[rows], hi[rows] = e[i] + k * step, e[i] + (k + 1) * step
        if self.as_type == "int":
            hi_i = np.maximum(np.ceil(hi) - 1, np.ceil(lo))
            x = np.floor(np.ceil(lo) + rng.random(len(b)) * (hi_i - np.ceil(lo) + 1)).astype(float)
            x = np.clip(x, np.ceil(lo), hi_i)
            # a sub-bucket narrower than 1 holds no integer of its own: stay among the bin's integers
            x = np.clip(x, np.ceil(e[b]), np.maximum(np.ceil(e[b + 1]) - 1, np.ceil(e[b])))
        else:
            x = lo + rng.random(len(b)) * (hi - lo)
        if self.lower is not None:
            x = np.maximum(x, float(self.lower))
        if self.upper is not None:
            x = np.minimum(x, float(self.upper))
        vals = from_numbers(x, self.as_type, self.scale)
        if self.as_type == "int":  # exactly: 2^64 - 1 as a double is 2^64, one past a BIGINT UNSIGNED
            vals = [_clamp_int(v, self.lower, self.upper) for v in vals]
        point = codes - base - self.n_bins
        is_point = (point >= 0) & (codes >= base)
        for i in np.flatnonzero(is_point).tolist():  # from the released value itself, not its double
            vals[i] = from_number(self.points[point[i]], self.as_type, self.scale)
        if self.nullable:
            vals = [None if c == 0 else v for c, v in zip(codes.tolist(), vals)]
        return vals


@dataclass
class BooleanEncoder:
    nullable: bool

    @property
    def size(self) -> int:
        return 2 + int(self.nullable)

    def encode(self, series: pd.Series) -> np.ndarray:
        base = int(self.nullable)
        return np.array([0 if _isnull(v) else base + int(_truth(v)) for v in series.tolist()], dtype=np.int64)

    def decode(self, codes: np.ndarray) -> list[Any]:
        base = int(self.nullable)
        return [None if (self.nullable and c == 0) else bool(c - base) for c in np.asarray(codes).tolist()]


@dataclass
class NullIndicator:
    """Whether a nullable FK is NULL: modelled with the row so its rate (and correlations) are DP."""

    columns: tuple[str, ...]
    size: int = field(default=2)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[list(self.columns)].isna().any(axis=1).to_numpy().astype(np.int64)


def _truth(v: Any) -> bool:
    """A boolean-like value as the database means it: a BIT(1) comes back as b'\\x00' (MySQL) or
    '0' (PostgreSQL), both true to Python's bool; the SQL twin is `Dialect.is_true`."""
    if isinstance(v, (bytes, bytearray)):
        return int.from_bytes(v, "big") != 0
    if isinstance(v, str):
        return v.strip().lower() not in ("", "0", "f", "false", "n", "no")
    return bool(v)


def _clamp_int(v: int, lower: float | None, upper: float | None) -> int:
    if lower is not None and v < lower:
        return math.ceil(lower)
    if upper is not None and v > upper:
        return math.floor(upper)
    return v


def canonical(v: Any) -> Any:
    """A value as a category compares and counts it, wherever it was read: a numpy scalar as its
    Python value, an array (a list from the driver, from the spec) as a tuple, so a row's whole
    array is one hashable value. SQL compares the same arrays with `=` (pushdown, discretise)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return tuple(canonical(x) for x in v)
    return v


def _isnull(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or (v is pd.NA)


def to_number(series: pd.Series, as_type: str) -> np.ndarray:
    """Numbers (floats, NaN for NULL) from a column of ints, decimals, dates, datetimes or times."""
    return np.array([number(v, as_type) for v in series.tolist()], dtype=float)


def number(v: Any, as_type: str) -> float:
    """One value as a number: epoch seconds of the wall time for dates and datetimes, seconds
    since midnight for times, NaN for NULL. SQL computes the same (`Dialect.number`)."""
    if _isnull(v):
        return np.nan
    if isinstance(v, dt.datetime):
        return (v.replace(tzinfo=None) - EPOCH) / _SECOND
    if isinstance(v, dt.date):
        return (dt.datetime(v.year, v.month, v.day) - EPOCH) / _SECOND
    if isinstance(v, dt.time):
        return dt.timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond) / _SECOND
    if isinstance(v, dt.timedelta):
        return v / _SECOND
    if isinstance(v, BitString):  # a PostgreSQL bit(n): the number its digits spell
        return float(int(v, 2))
    if isinstance(v, str):
        return _parse_text_number(v, as_type)
    if isinstance(v, (bytes, bytearray)):  # a MySQL BIT(n): its bits, big-endian
        return float(int.from_bytes(v, "big"))
    return float(v)


def exact_number(v: Any, as_type: str) -> float | int:
    """`number`, but an integer stays an exact int (a BIGINT UNSIGNED above 2^53 is no double):
    how a released frequent value is kept."""
    if as_type == "int" and not _isnull(v) and not isinstance(v, bool):
        if isinstance(v, (bytes, bytearray)):
            return int.from_bytes(v, "big")
        if isinstance(v, BitString):
            return int(v, 2)
        if isinstance(v, (int, np.integer)) or (isinstance(v, Decimal) and v == v.to_integral_value()):
            return int(v)
    return number(v, as_type)


def _parse_text_number(v: str, as_type: str) -> float:
    # SQLite keeps dates and times as text; parse them so bins mean the same thing on every engine.
    try:
        if as_type in ("date", "datetime"):
            return number(dt.datetime.fromisoformat(v), as_type)
        if as_type == "time":
            return number(dt.time.fromisoformat(v), as_type)
        return float(v)
    except ValueError:
        return np.nan


def from_number(x: float, as_type: str, scale: int | None) -> Any:
    if as_type == "int":
        return int(round(x))
    if as_type == "decimal":
        return Decimal(str(round(x, scale if scale is not None else 2)))
    if as_type == "datetime":
        return (EPOCH + dt.timedelta(seconds=round(x))).replace(microsecond=0)
    if as_type == "date":
        return (EPOCH + dt.timedelta(seconds=x)).date()
    if as_type == "time":
        s = int(x) % 86400
        return dt.time(s // 3600, (s % 3600) // 60, s % 60)
    return float(x)


# datetime64 seconds that datetime.datetime holds (years 1-9999); outside, from_number raises
_SECONDS = (-62_135_596_800, 253_402_300_799)


def from_numbers(x: np.ndarray, as_type: str, scale: int | None) -> list[Any]:
    """`from_number` of every element, the same values, by vector where numpy gives them exactly
    (the write decodes millions: one Python call per value was most of its time)."""
    x = np.asarray(x, dtype=float)
    finite = bool(np.isfinite(x).all())
    if as_type == "float":
        return x.tolist()
    if finite and as_type == "int" and (not len(x) or np.abs(x).max() < 2.0**53):
        return np.rint(x).astype(np.int64).tolist()  # round half to even, as round()
    if finite and as_type == "datetime":
        s = np.rint(x)
        if not len(s) or (_SECONDS[0] <= s.min() and s.max() <= _SECONDS[1]):
            return s.astype(np.int64).astype("datetime64[s]").tolist()
    if finite and as_type == "date" and (not len(x) or np.abs(x).max() < 2.0**52 / 1e6):
        micros = np.rint(x * 1e6).astype(np.int64)  # timedelta rounds seconds to microseconds
        days = micros // 86_400_000_000
        if not len(days) or (_SECONDS[0] // 86_400 <= days.min() and days.max() <= _SECONDS[1] // 86_400):
            return days.astype("datetime64[D]").tolist()
    return [from_number(v, as_type, scale) for v in x.tolist()]


def codes_outside_order(encoder: Any) -> tuple[int, ...] | None:
    """None for an unordered column; for an ordered one (numeric and datetime bins, ordinal
    categories) the codes that stand outside its order: NULL, and "other"."""
    if isinstance(encoder, BinEncoder):
        return ((0,) if encoder.nullable else ()) + tuple(encoder.point_code(i) for i in range(len(encoder.points)))
    if isinstance(encoder, CategoricalEncoder) and encoder.ordered:
        return ((0,) if encoder.nullable else ()) + ((encoder.size - 1,) if encoder.other else ())
    return None
