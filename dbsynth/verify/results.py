"""What verify measured, as plain values: findings of the hard checks, and the result of each
fidelity and privacy-sanity measurement. `report.VerifyReport` gathers them; nothing here renders.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

CHECKS = ("orphan_fk", "duplicate_key", "not_null", "check_constraint", "enum", "sequence", "schema_diff", "ledger", "audit")


@dataclass(frozen=True)
class Finding:
    """One violated thing: `count` rows (or 1 for a schema difference) broke `check` on `table`."""

    check: str
    table: str | None
    detail: str
    count: int
    hard: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Marginal:
    """One distribution on the source's bins, both sides, as shares (a plot's bars)."""

    name: str
    labels: tuple[str, ...]
    source: tuple[float, ...]
    target: tuple[float, ...]
    tvd: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "labels": list(self.labels), "source": [finite(x) for x in self.source],
                "target": [finite(x) for x in self.target], "tvd": finite(self.tvd)}


class KWayTVD:
    """Means and JSON of the 1-, 2- and 3-way TVDs a fidelity result holds (`tvd_1way` … `tvd_3way`)."""

    tvd_1way: dict[str, float]
    tvd_2way: dict[str, float]
    tvd_3way: dict[str, float]

    @property
    def mean_tvd_1way(self) -> float | None:
        return mean(self.tvd_1way.values())

    @property
    def mean_tvd_2way(self) -> float | None:
        return mean(self.tvd_2way.values())

    @property
    def mean_tvd_3way(self) -> float | None:
        return mean(self.tvd_3way.values())

    def tvd_dict(self) -> dict[str, Any]:
        return {
            "tvd_1way": finite_map(self.tvd_1way),
            "tvd_2way": finite_map(self.tvd_2way),
            "tvd_3way": finite_map(self.tvd_3way),
            "mean_tvd_1way": finite(self.mean_tvd_1way),
            "mean_tvd_2way": finite(self.mean_tvd_2way),
            "mean_tvd_3way": finite(self.mean_tvd_3way),
        }


@dataclass
class TableFidelity(KWayTVD):
    """How close one target table is to its source table, on bins derived from the source.

    TVD (total variation distance) is in [0, 1]; `None` where it is undefined (no columns)."""

    row_count_source: int
    row_count_target: int
    row_count_ratio: float | None  # target / source; None when the source is empty and the target is not
    tvd_1way: dict[str, float] = field(default_factory=dict)
    tvd_2way: dict[str, float] = field(default_factory=dict)  # keyed "a|b"
    tvd_3way: dict[str, float] = field(default_factory=dict)  # keyed "a|b|c"
    sampled: bool = False  # True when either side was read through a row sample
    marginals: dict[str, Marginal] = field(default_factory=dict)  # 1-way, for plots

    def to_dict(self) -> dict[str, Any]:
        return {
            "row_count_source": self.row_count_source,
            "row_count_target": self.row_count_target,
            "row_count_ratio": finite(self.row_count_ratio),
            **self.tvd_dict(),
            "sampled": self.sampled,
            "marginals": {k: m.to_dict() for k, m in self.marginals.items()},
        }


@dataclass
class JoinFidelity(KWayTVD):
    """k-way TVDs over rows of an FK join path, child first: (child, parent) or (child, parent, grandparent)."""

    path: tuple[str, ...]
    foreign_keys: tuple[str, ...]
    rows_source: int
    rows_target: int
    tvd_1way: dict[str, float] = field(default_factory=dict)
    tvd_2way: dict[str, float] = field(default_factory=dict)
    tvd_3way: dict[str, float] = field(default_factory=dict)
    sampled: bool = False

    @property
    def label(self) -> str:
        return " → ".join(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": list(self.path), "foreign_keys": list(self.foreign_keys),
            "rows_source": self.rows_source, "rows_target": self.rows_target, "sampled": self.sampled,
            **self.tvd_dict(),
        }


@dataclass
class DegreeFidelity:
    """Distribution of the number of children per parent row (0 included), for one FK."""

    foreign_key: str
    child: str
    parent: str
    histogram: Marginal  # degree buckets from the source: "0", "1", ..., "≥k"
    ks: float
    mean_source: float | None
    mean_target: float | None

    @property
    def tvd(self) -> float:
        return self.histogram.tvd

    def to_dict(self) -> dict[str, Any]:
        return {"foreign_key": self.foreign_key, "child": self.child, "parent": self.parent,
                "tvd": finite(self.tvd), "ks": finite(self.ks), "mean_source": finite(self.mean_source),
                "mean_target": finite(self.mean_target), "histogram": self.histogram.to_dict()}


@dataclass(frozen=True)
class WorkloadQuery:
    """One aggregate query run on both databases and its relative error (see `workload`)."""

    aggregate: str  # COUNT | SUM | AVG
    tables: tuple[str, ...]
    group_by: str | None
    measure: str | None
    sql: str
    groups: int
    error: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tables": list(self.tables), "error": finite(self.error)}


@dataclass
class WorkloadResult:
    seed: int
    queries: list[WorkloadQuery]

    @property
    def errors(self) -> list[float]:
        return [q.error for q in self.queries if math.isfinite(q.error)]

    @property
    def median(self) -> float | None:
        return statistics.median(self.errors) if self.errors else None

    @property
    def p90(self) -> float | None:
        return quantile(self.errors, 0.9)

    def to_dict(self) -> dict[str, Any]:
        worst = sorted(self.queries, key=lambda q: -q.error if math.isfinite(q.error) else 0.0)[:10]
        return {"seed": self.seed, "n_queries": len(self.queries), "median_relative_error": finite(self.median),
                "p90_relative_error": finite(self.p90), "queries": [q.to_dict() for q in self.queries],
                "worst": [q.to_dict() for q in worst]}


@dataclass(frozen=True)
class TstrResult:
    """Train on synthetic, test on real: a naive-Bayes classifier on the binned columns."""

    table: str
    column: str
    features: tuple[str, ...]
    classes: int
    train_rows_synthetic: int
    train_rows_real: int
    test_rows_real: int
    accuracy_tstr: float  # trained on the target's rows, tested on real held-out rows
    accuracy_trtr: float  # trained on real rows, same test rows: the reference
    accuracy_majority: float  # the synthetic majority class, same test rows: the floor

    @property
    def gap(self) -> float:
        return max(0.0, self.accuracy_trtr - self.accuracy_tstr)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "features": list(self.features), "gap": finite(self.gap)}


@dataclass(frozen=True)
class PrivacySanity:
    """Per table: exact copies and distance to the closest real record, against a real holdout."""

    table: str
    columns: tuple[str, ...]
    synthetic_rows: int  # synthetic rows compared
    exact_copies: int
    exact_copy_rate: float
    baseline_exact_copy_rate: float  # real holdout rows equal to a real reference row
    dcr_synthetic: tuple[float, ...]  # sorted distances, synthetic -> real reference
    dcr_baseline: tuple[float, ...]  # sorted distances, real holdout -> real reference

    @property
    def median_dcr_synthetic(self) -> float | None:
        return quantile(list(self.dcr_synthetic), 0.5)

    @property
    def median_dcr_baseline(self) -> float | None:
        return quantile(list(self.dcr_baseline), 0.5)

    def to_dict(self) -> dict[str, Any]:
        def q(xs: tuple[float, ...]) -> dict[str, float | None]:
            return {f"p{int(p * 100)}": finite(quantile(list(xs), p)) for p in (0.05, 0.5, 0.95)}

        return {"table": self.table, "columns": list(self.columns), "synthetic_rows": self.synthetic_rows,
                "exact_copies": self.exact_copies, "exact_copy_rate": finite(self.exact_copy_rate),
                "baseline_exact_copy_rate": finite(self.baseline_exact_copy_rate),
                "dcr_synthetic": q(self.dcr_synthetic), "dcr_baseline": q(self.dcr_baseline)}


@dataclass(frozen=True)
class RealDataRead:
    """One thing verify read from the real (source) database, for the report's disclosure."""

    what: str
    detail: str
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def quantile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    pos = p * (len(xs) - 1)  # linear interpolation, numpy's default
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def finite_map(values: dict[str, float]) -> dict[str, float | None]:
    return {k: finite(v) for k, v in values.items()}


