"""Fidelity: how close each target table's distributions are to the source's.

Bins come from the SOURCE and are applied unchanged to both sides: categorical columns by
value (the source's 20 most frequent values, "other", NULL), numeric and temporal columns by
the source's deciles (plus NULL). The distance is total variation (TVD) over 1-way marginals
of every non-key column and 2-way marginals of their first 45 pairs. This reads real rows:
it is a report for the data owner, outside the privacy guarantee.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dbsynth.connect import engine_kind
from dbsynth.schema.model import Column, Table
from dbsynth.verify.report import TableFidelity
from dbsynth.verify.templates import Quoter, render

TOP_VALUES = 20
DECILES = np.linspace(0.1, 0.9, 9)
MAX_PAIRS = 45
SAMPLE_ROWS = 200_000

_NUMERIC = {"Integer", "SmallInteger", "BigInteger", "Numeric", "Float", "Double", "REAL", "DOUBLE_PRECISION"}
_DATETIME = {"Date", "DateTime", "TIMESTAMP", "DATETIME", "DATE"}
_DURATION = {"Time", "Interval", "TIME"}
# Blobs have no useful value distribution and are expensive to read.
_SKIPPED = {"LargeBinary", "_Binary", "PickleType", "BLOB", "BYTEA"}


@dataclass(frozen=True)
class Binning:
    """One column's bins, fixed from the source: value labels or decile edges, then NULL last."""

    column: str
    kind: str  # "categorical" | "ordered"
    values: tuple[str, ...] = ()  # categorical: top source values; bin len(values) is "other"
    edges: tuple[float, ...] = ()  # ordered: unique source deciles; bins (-inf, e0], (e0, e1], ...

    @property
    def n_bins(self) -> int:
        inner = len(self.values) + 1 if self.kind == "categorical" else len(self.edges) + 1
        return inner + 1  # + NULL

    def codes(self, values: pd.Series) -> np.ndarray:
        null = self.n_bins - 1
        if self.kind == "categorical":
            index = {v: i for i, v in enumerate(self.values)}
            other = len(self.values)
            return np.fromiter(
                (null if _is_null(v) else index.get(v, other) for v in values), dtype=np.int64, count=len(values)
            )
        x = values.to_numpy(dtype=float, na_value=np.nan)
        out = np.searchsorted(np.asarray(self.edges, dtype=float), x, side="left").astype(np.int64)
        out[np.isnan(x)] = null
        return out


def fit_binning(column: str, kind: str, source: pd.Series) -> Binning:
    """Bins from the source's values only; the target never shapes them."""
    if kind == "categorical":
        counts = source.dropna().value_counts()
        # Most frequent first, ties by value so the bins do not depend on row order.
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]
        return Binning(column, kind, values=tuple(v for v, _ in ranked))
    x = source.dropna().to_numpy(dtype=float)
    edges = tuple(float(e) for e in np.unique(np.quantile(x, DECILES))) if len(x) else ()
    return Binning(column, kind, edges=edges)


# Column kinds dbsynth generates data-independently (plan.classify): left out of fidelity.
GENERATED_KINDS = ("pii", "text", "unsupported")


def column_kind(col: Column) -> tuple[str, Callable[[pd.Series], pd.Series]] | None:
    """(binning kind, normaliser) for a column, or None to leave it out.

    The normaliser makes both engines' values comparable: PostgreSQL gives Decimal and aware
    datetimes, SQLite gives strings, MySQL gives 0/1 for booleans."""
    g = col.generic
    if col.enum_labels or g in ("Enum", "String", "Text", "Unicode", "UnicodeText"):
        return "categorical", _as_text
    if g in _SKIPPED:
        return None
    if g == "Boolean":
        return "categorical", _as_bool_text
    if g in _NUMERIC:
        return "ordered", _as_float
    if g in _DATETIME:
        return "ordered", _as_epoch_seconds
    if g in _DURATION:
        return "ordered", _as_seconds
    return "categorical", _as_text


def table_fidelity(source: sa.Engine, target: sa.Engine, table: Table, target_columns: set[str]) -> TableFidelity:
    """Row-count ratio and 1-/2-way TVDs of one table, source vs target."""
    from dbsynth.plan import classify

    keys = set(table.primary_key) | table.fk_columns()
    cols: list[tuple[str, str, Callable[[pd.Series], pd.Series]]] = []
    for col in table.columns:
        if col.name in keys or col.name not in target_columns:
            continue
        if classify(table, col).kind in GENERATED_KINDS:
            continue  # names, emails, free text are generated on purpose: no fidelity to measure
        kind = column_kind(col)
        if kind is not None:
            cols.append((col.name, *kind))
    n_src = row_count(source, table.name)
    n_tgt = row_count(target, table.name)
    names = [c for c, _, _ in cols]
    src, src_sampled = read_rows(source, table.name, names, n_src)
    tgt, tgt_sampled = read_rows(target, table.name, names, n_tgt)

    src_codes: dict[str, np.ndarray] = {}
    tgt_codes: dict[str, np.ndarray] = {}
    n_bins: dict[str, int] = {}
    for name, kind, normalise in cols:
        s, t = normalise(src[name]), normalise(tgt[name])
        binning = fit_binning(name, kind, s)
        src_codes[name], tgt_codes[name], n_bins[name] = binning.codes(s), binning.codes(t), binning.n_bins

    one = {c: tvd(src_codes[c], tgt_codes[c], n_bins[c]) for c in names}
    two = {}
    for a, b in itertools.islice(itertools.combinations(names, 2), MAX_PAIRS):
        nb = n_bins[b]
        two[f"{a}|{b}"] = tvd(src_codes[a] * nb + src_codes[b], tgt_codes[a] * nb + tgt_codes[b], n_bins[a] * nb)
    return TableFidelity(
        row_count_source=n_src,
        row_count_target=n_tgt,
        row_count_ratio=ratio(n_tgt, n_src),
        tvd_1way=one,
        tvd_2way=two,
        sampled=src_sampled or tgt_sampled,
    )


def tvd(source_codes: np.ndarray, target_codes: np.ndarray, n_bins: int) -> float:
    """Total variation distance between the two histograms; 0 if both are empty, 1 if one is."""
    if len(source_codes) == 0 or len(target_codes) == 0:
        return 0.0 if len(source_codes) == len(target_codes) else 1.0
    p = np.bincount(source_codes, minlength=n_bins) / len(source_codes)
    q = np.bincount(target_codes, minlength=n_bins) / len(target_codes)
    return float(0.5 * np.abs(p - q).sum())


def ratio(n_target: int, n_source: int) -> float | None:
    if n_source == 0:
        return 1.0 if n_target == 0 else None
    return n_target / n_source


def row_count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(render("row_count", table=Quoter(engine)(table))).scalar_one())


def read_rows(engine: sa.Engine, table: str, columns: list[str], n_rows: int) -> tuple[pd.DataFrame, bool]:
    """The columns of `table`, all rows or a uniform random sample of SAMPLE_ROWS; and whether sampled."""
    if not columns:
        return pd.DataFrame(index=range(n_rows)), False
    t = sa.table(table, *(sa.column(c) for c in columns))  # untyped: raw driver values, normalised later
    stmt = sa.select(*t.columns)
    sampled = n_rows > SAMPLE_ROWS
    if sampled:
        rand = sa.func.rand() if engine_kind(engine) == "mysql" else sa.func.random()
        stmt = stmt.order_by(rand).limit(SAMPLE_ROWS)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)
    return frame.astype(object), sampled


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


def _is_null(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT
