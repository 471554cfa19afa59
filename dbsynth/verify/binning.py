"""Bins for comparing a column across two databases, fixed from the SOURCE and applied unchanged
to both sides: categorical columns by value (the source's 20 most frequent values, "other",
NULL), numeric and temporal columns by the source's deciles (plus NULL).

`eligible_columns` decides which columns are compared at all: not keys (the linker invents them),
not generated columns (names, e-mails, free text are Faker output on purpose), not blobs.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dbsynth.schema.model import Column, Table

TOP_VALUES = 20
DECILES = np.linspace(0.1, 0.9, 9)

_NUMERIC = {"Integer", "SmallInteger", "BigInteger", "Numeric", "Float", "Double", "REAL", "DOUBLE_PRECISION"}
_DATETIME = {"Date", "DateTime", "TIMESTAMP", "DATETIME", "DATE"}
_DURATION = {"Time", "Interval", "TIME"}
# Blobs have no useful value distribution and are expensive to read.
_SKIPPED = {"LargeBinary", "_Binary", "PickleType", "BLOB", "BYTEA"}
# Column kinds dbsynth generates data-independently (plan.classify): left out of fidelity.
GENERATED_KINDS = ("pii", "text", "unsupported")

Normaliser = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class Binning:
    """One column's bins, fixed from the source: value labels or decile edges, then NULL last."""

    column: str
    kind: str  # "categorical" | "ordered"
    values: tuple[str, ...] = ()  # categorical: top source values; bin len(values) is "other"
    edges: tuple[float, ...] = ()  # ordered: unique source deciles; bins (-inf, e0], (e0, e1], ...
    unit: str = ""  # ordered: "epoch" (datetimes as seconds), "seconds" (durations) or "" (numbers)

    @property
    def n_bins(self) -> int:
        inner = len(self.values) + 1 if self.kind == "categorical" else len(self.edges) + 1
        return inner + 1  # + NULL

    def codes(self, values: pd.Series) -> np.ndarray:
        null = self.n_bins - 1
        if self.kind == "categorical":
            raw = pd.Series(values, dtype=object)
            found = pd.Index(list(self.values), dtype=object).get_indexer(raw).astype(np.int64)
            other = np.where(raw.isna().to_numpy(), null, len(self.values))
            return np.where(found >= 0, found, other)
        x = values.to_numpy(dtype=float, na_value=np.nan)
        out = np.searchsorted(np.asarray(self.edges, dtype=float), x, side="left").astype(np.int64)
        out[np.isnan(x)] = null
        return out

    def labels(self) -> tuple[str, ...]:
        """One human label per bin, for plots and tables."""
        if self.kind == "categorical":
            return (*(_short(v) for v in self.values), "(other)", "(null)")
        e = [self._show(x) for x in self.edges]
        if not e:
            return ("(all)", "(null)")
        inner = [f"≤ {e[0]}"] + [f"{e[i - 1]} – {e[i]}" for i in range(1, len(e))] + [f"> {e[-1]}"]
        return (*inner, "(null)")

    def _show(self, x: float) -> str:
        if self.unit == "epoch":
            return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=x)).strftime("%Y-%m-%d")
        return f"{x:.4g}"


def fit_binning(column: str, kind: str, source: pd.Series, unit: str = "") -> Binning:
    """Bins from the source's values only; the target never shapes them."""
    if kind == "categorical":
        counts = source.dropna().value_counts()
        # Most frequent first, ties by value so the bins do not depend on row order.
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]
        return Binning(column, kind, values=tuple(v for v, _ in ranked))
    x = source.dropna().to_numpy(dtype=float)
    edges = tuple(float(e) for e in np.unique(np.quantile(x, DECILES))) if len(x) else ()
    return Binning(column, kind, edges=edges, unit=unit)


@dataclass(frozen=True)
class ColumnKind:
    """How one column is compared: binning kind, unit of its numbers, and its normaliser."""

    name: str
    kind: str  # "categorical" | "ordered"
    unit: str
    normaliser: Normaliser
    numeric: bool  # a measure SUM/AVG make sense of (not a date)

    def normalise(self, values: pd.Series) -> pd.Series:
        """Raw driver values to this column's value space. Normalisers are per-value Python, so
        only the distinct values go through them (a joined column repeats a parent's values)."""
        # Arrays come back as lists: as tuples they are hashable values like any other.
        raw = pd.Series([_hashable(v) for v in values], dtype=object).to_numpy()
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        normal = self.normaliser(pd.Series(uniques, dtype=object)).to_numpy()
        null = np.nan if self.kind == "ordered" else None
        out = np.empty(len(codes), dtype=normal.dtype if len(normal) else object)
        if len(normal):
            out[:] = normal[np.maximum(codes, 0)]
        out[codes < 0] = null
        return pd.Series(out, dtype=float if self.kind == "ordered" else object)



class ValueCoder:
    """Raw driver values of one column to bin codes. Each distinct raw value goes through the
    (per-value, Python) normaliser once and is remembered: a parent's values come back in every
    join and workload query it is part of."""

    def __init__(self, kind: ColumnKind, binning: Binning):
        self.kind, self.binning = kind, binning
        self._codes: dict[object, int] = {}

    def codes(self, values: Sequence[object] | pd.Series) -> np.ndarray:
        memo, null = self._codes, self.binning.n_bins - 1
        try:
            new = [v for v in set(values) if not _is_null(v) and v not in memo]
        except TypeError:  # unhashable values (JSON documents, arrays): no memo for this column
            return self.binning.codes(self.kind.normalise(pd.Series(list(values), dtype=object)))
        if new:
            found = self.binning.codes(self.kind.normaliser(pd.Series(new, dtype=object)))
            memo.update(zip(new, found.tolist()))
        return np.fromiter((null if _is_null(v) else memo[v] for v in values), dtype=np.int64, count=len(values))


def column_kind(col: Column) -> ColumnKind | None:
    """How to bin a column, or None to leave it out.

    The normaliser makes both engines' values comparable: PostgreSQL gives Decimal and aware
    datetimes, SQLite gives strings, MySQL gives 0/1 for booleans."""
    g = col.generic
    if col.enum_labels or g in ("Enum", "String", "Text", "Unicode", "UnicodeText"):
        return ColumnKind(col.name, "categorical", "", _as_text, False)
    if g in _SKIPPED:
        return None
    if g == "Boolean":
        return ColumnKind(col.name, "categorical", "", _as_bool_text, False)
    if g == "BIT" and col.value_range is not None and col.value_range[1] > 1:
        return ColumnKind(col.name, "ordered", "", _as_bit_number, True)  # BIT(n): the number it spells
    if g in _NUMERIC:
        return ColumnKind(col.name, "ordered", "", _as_float, True)
    if g in _DATETIME:
        return ColumnKind(col.name, "ordered", "epoch", _as_epoch_seconds, False)
    if g in _DURATION:
        return ColumnKind(col.name, "ordered", "seconds", _as_seconds, False)
    return ColumnKind(col.name, "categorical", "", _as_text, False)


def eligible_columns(table: Table, present: set[str]) -> list[ColumnKind]:
    """The columns of `table` whose distributions verify compares, in table order."""
    from dbsynth.plan import classify  # lazy: plan pulls in the spec models

    keys = set(table.primary_key) | table.fk_columns()
    out: list[ColumnKind] = []
    for col in table.columns:
        if col.name in keys or col.name not in present:
            continue
        if classify(table, col).kind in GENERATED_KINDS:
            continue  # names, emails, free text are generated on purpose: no fidelity to measure
        kind = column_kind(col)
        if kind is not None:
            out.append(kind)
    return out


# -- normalisers: one value space per column, whatever the engine ------------------------------


def _as_text(s: pd.Series) -> pd.Series:
    return s.map(lambda v: None if _is_null(v) else (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)))


def _as_bool_text(s: pd.Series) -> pd.Series:
    truthy = {"1", "t", "true", "y", "yes"}
    return s.map(lambda v: None if _is_null(v) else ("true" if str(v).strip().lower() in truthy else "false"))


def _as_float(s: pd.Series) -> pd.Series:
    def conv(v):
        if _is_null(v):
            return np.nan
        try:
            return float(v)
        except (TypeError, ValueError):
            return np.nan

    return s.map(conv).astype(float)


def bit_number(v: object) -> int:
    """A BIT(n) value as the number it spells: MySQL's bytes, PostgreSQL's digits, or an int."""
    if isinstance(v, (bytes, bytearray)):
        return int.from_bytes(v, "big")
    return int(v, 2) if isinstance(v, str) else int(v)


def _as_bit_number(s: pd.Series) -> pd.Series:
    return s.map(lambda v: np.nan if _is_null(v) else float(bit_number(v))).astype(float)


def _as_epoch_seconds(s: pd.Series) -> pd.Series:
    if len(s) == 0:
        return pd.Series([], dtype=float)
    # MySQL's zero dates and other unparseable values count as NULL rather than failing the report.
    ts = pd.to_datetime(s.map(lambda v: None if _is_null(v) else v), utc=True, errors="coerce", format="mixed")
    return (ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)


def _as_seconds(s: pd.Series) -> pd.Series:
    def conv(v):
        if _is_null(v):
            return np.nan
        if isinstance(v, dt.timedelta):
            return v.total_seconds()
        if isinstance(v, dt.time):
            return v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6
        try:
            return pd.Timedelta(str(v)).total_seconds()
        except ValueError:
            return np.nan

    return s.map(conv).astype(float)


def _hashable(v):
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def _is_null(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT


def _short(v: str, width: int = 28) -> str:
    return v if len(v) <= width else v[: width - 1] + "…"
