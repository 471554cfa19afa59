"""Realism: does every column look like the real one to a developer who opens the shadow?

Every non-key column is compared on the exact values a developer sees, generated and unmodelled
columns included, so a report cannot look fine while a column holds filler:
- `tvd`: exact-value total variation distance (NULL is a value) for low-cardinality columns;
- `ks`: Kolmogorov–Smirnov distance for numbers, dates and times;
- `granularity`: the share of synthetic values whose granularity occurs in the real column
  (the decimals of a price: .99; a timestamp's whole minutes or seconds; a date);
- `seen`: for strings, the share of synthetic values that occur among the real values.
This reads real rows: a report for the data owner, outside the privacy guarantee.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dbsynth.schema.model import Table
from dbsynth.verify.binning import bit_number, column_kind
from dbsynth.verify.fidelity import read_rows, row_count

LOW_CARDINALITY = 50  # real distinct values up to which exact-value TVD is reported


@dataclass(frozen=True)
class ColumnRealism:
    table: str
    column: str
    kind: str  # "number", "datetime", "string", "boolean", "other"
    real_distinct: int
    tvd: float | None = None
    ks: float | None = None
    granularity: float | None = None
    seen: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def table_realism(source: sa.Engine, target: sa.Engine, table: Table, present: set[str],
                  limit: int | None = None) -> list[ColumnRealism]:
    """One entry per non-key column of `table` that the target has."""
    keys = set(table.primary_key) | table.fk_columns()
    columns = [c for c in table.columns if c.name not in keys and c.name in present]
    if not columns:
        return []
    names = [c.name for c in columns]
    real, _ = read_rows(source, table.name, names, row_count(source, table.name), limit)
    synthetic, _ = read_rows(target, table.name, names, row_count(target, table.name), limit)
    return [column_realism(table.name, col, real[col.name], synthetic[col.name]) for col in columns]


def column_realism(table: str, col, real: pd.Series, synthetic: pd.Series) -> ColumnRealism:
    kind = _kind(col)
    r, s = _values(real, kind), _values(synthetic, kind)
    distinct = len({v for v in r if v is not None})
    out: dict[str, Any] = {}
    if distinct <= LOW_CARDINALITY:
        out["tvd"] = exact_tvd(r, s)
    if kind in ("number", "bits", "datetime"):
        rn = np.array([_number(v) for v in r if v is not None], dtype=float)
        sn = np.array([_number(v) for v in s if v is not None], dtype=float)
        out["ks"] = ks_distance(rn, sn)
        real_grains = {_grain(v) for v in r if v is not None}
        grains = [_grain(v) for v in s if v is not None]
        out["granularity"] = float(np.mean([g in real_grains for g in grains])) if grains else None
    elif kind == "string":
        real_set = {v for v in r if v is not None}
        present = [v for v in s if v is not None]
        out["seen"] = float(np.mean([v in real_set for v in present])) if present else None
    return ColumnRealism(table, col.name, "number" if kind == "bits" else kind, distinct, **out)


def summary(columns: list[ColumnRealism]) -> dict[str, float | None]:
    """Means over the columns that have each measure (what `--fail-under` gates)."""
    def mean(values: list[float | None]) -> float | None:
        kept = [v for v in values if v is not None]
        return float(np.mean(kept)) if kept else None

    granularity = mean([c.granularity for c in columns])
    return {
        "realism_tvd": mean([c.tvd for c in columns]),
        "realism_ks": mean([c.ks for c in columns]),
        "realism_granularity": granularity,
        "realism_granularity_gap": None if granularity is None else 1.0 - granularity,
        "realism_seen": mean([c.seen for c in columns if c.kind == "string"]),
    }


def exact_tvd(real: list, synthetic: list) -> float:
    if not real and not synthetic:
        return 0.0
    if not real or not synthetic:
        return 1.0
    p = pd.Series([_key(v) for v in real]).value_counts(normalize=True)
    q = pd.Series([_key(v) for v in synthetic]).value_counts(normalize=True)
    return 0.5 * float(p.subtract(q, fill_value=0).abs().sum())


def ks_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """sup |F_a − F_b| over all values (exact, ties included)."""
    if len(a) == 0 or len(b) == 0:
        return None if len(a) == len(b) else 1.0
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


# -- values in one space whatever the engine -------------------------------------------------------

def _kind(col) -> str:
    ck = column_kind(col)
    if col.generic == "Boolean":
        return "boolean"
    if col.generic == "BIT" and ck is not None and ck.kind == "ordered":
        return "bits"
    if ck is not None and ck.kind == "ordered":
        return "number" if ck.unit == "" else "datetime"
    if ck is not None and ck.kind == "categorical":
        return "string"
    return "other"


def _values(series: pd.Series, kind: str) -> list:
    return [_normal(v, kind) for v in series.tolist()]


def _normal(v: Any, kind: str) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    if kind == "bits":
        return Decimal(bit_number(v))
    if kind == "number":
        if isinstance(v, (bytes, str)):
            try:
                return Decimal(v.decode() if isinstance(v, bytes) else v)
            except Exception:
                return str(v)
        return Decimal(str(v)) if isinstance(v, float) else (Decimal(v) if isinstance(v, int) else v)
    if kind == "datetime":
        if isinstance(v, str):
            try:
                v = dt.datetime.fromisoformat(v) if len(v) > 10 else dt.date.fromisoformat(v)
            except ValueError:
                try:
                    v = dt.time.fromisoformat(v)
                except ValueError:
                    return v
        if isinstance(v, pd.Timestamp):
            v = v.to_pydatetime()
        if isinstance(v, dt.datetime) and v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return v
    if kind == "boolean":
        return str(v).strip().lower() in ("1", "t", "true", "y", "yes")
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (list, dict, tuple)):
        return repr(v)
    return v if isinstance(v, (str, int, float, Decimal)) else str(v)


def _key(v: Any) -> Any:
    """Hashable and equal across engines: numbers by value, everything else as it is."""
    if isinstance(v, Decimal):
        return float(v)
    return v


def _number(v: Any) -> float:
    if isinstance(v, dt.datetime):
        return (v - dt.datetime(1970, 1, 1)).total_seconds()
    if isinstance(v, dt.date):
        return float((v - dt.date(1970, 1, 1)).days) * 86400.0
    if isinstance(v, dt.time):
        return v.hour * 3600.0 + v.minute * 60.0 + v.second + v.microsecond / 1e6
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _grain(v: Any) -> Any:
    """The granularity of one value: a number's decimals (normalised: 2.50 and 2.5 alike), a
    datetime's finest non-zero unit, a date as a date."""  # noqa: D401
    if isinstance(v, Decimal):
        if v == v.to_integral_value():
            return ""
        digits = format(v.normalize(), "f").split(".")[1]
        # cents-level decimals are the pattern itself (.99, .5); finer ones only their number
        return digits if len(digits) <= 2 else f"{len(digits)} decimals"
    if isinstance(v, dt.datetime):
        if v.microsecond:
            return "microsecond"
        if v.second:
            return "second"
        if v.minute:
            return "minute"
        return "hour" if v.hour else "day"
    if isinstance(v, dt.date):
        return "day"
    if isinstance(v, dt.time):
        return "second" if v.second or v.microsecond else "minute"
    return type(v).__name__
