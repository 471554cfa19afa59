"""The verify report as data: every finding and measurement of one run, the `--fail-under` gate,
and what was read from the real data. Like alembic's diffs, it is a value; the CLI, the JSON, the
Markdown and the HTML only render it. A report passes when it holds no hard finding and no
exceeded `--fail-under` limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbsynth.verify.realism import ColumnRealism
from dbsynth.verify.realism import summary as realism_summary
from dbsynth.verify.results import (
    DegreeFidelity,
    Finding,
    JoinFidelity,
    PrivacySanity,
    RealDataRead,
    TableFidelity,
    TstrResult,
    WorkloadResult,
    finite,
    mean,
)

if TYPE_CHECKING:
    from dbsynth.audit.runner import AuditResult

READS_REAL_DATA_NOTE = (
    "verify reads real rows from the source to measure fidelity; this report is for the data "
    "owner and is not covered by the differential-privacy guarantee of the synthetic data"
)
PRIVACY_SANITY_NOTE = (
    "privacy sanity checks are heuristics that catch gross copying; they are NOT part of the "
    "differential-privacy guarantee, which rests on the ledger alone"
)

# The `--fail-under` keys: every one is a distance or an error, lower is better, and a run fails
# when the measured value is above the limit given for it.
METRICS: dict[str, str] = {
    "tvd1": "mean 1-way TVD within tables (mean over tables of each table's mean)",
    "tvd2": "mean 2-way TVD within tables",
    "tvd3": "mean 3-way TVD within tables",
    "join_tvd1": "mean 1-way TVD over FK joins (parent ⋈ child and grandparent chains)",
    "join_tvd2": "mean 2-way TVD over FK joins (column pairs spanning tables)",
    "join_tvd3": "mean 3-way TVD over FK joins (column triples spanning tables)",
    "degree_tvd": "mean TVD between parent-degree histograms, over FKs",
    "degree_ks": "mean Kolmogorov-Smirnov distance between parent-degree distributions, over FKs",
    "row_count_error": "largest |target rows / source rows - 1| over tables",
    "workload_median": "median relative error of the aggregate-query workload",
    "workload_p90": "90th-percentile relative error of the aggregate-query workload",
    "exact_copy": "share of synthetic rows equal to a real row on every compared column (privacy sanity)",
    "tstr_gap": "real-trained accuracy minus synthetic-trained accuracy on real test rows (needs --tstr)",
    "realism_tvd": "mean exact-value TVD of low-cardinality columns (every non-key column, generated ones too)",
    "realism_ks": "mean KS distance of number, date and time columns",
    "realism_granularity_gap": "1 minus the mean share of synthetic values whose granularity occurs in the real "
                               "column (decimals such as .99, whole seconds or minutes, dates)",
}


@dataclass(frozen=True)
class GateResult:
    """One `--fail-under KEY=LIMIT`: passes when the metric is at most the limit (or not measured)."""

    key: str
    limit: float
    value: float | None

    @property
    def passed(self) -> bool:
        return self.value is None or self.value <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "limit": self.limit, "value": finite(self.value), "passed": self.passed,
                "measured": self.value is not None}


@dataclass
class VerifyReport:
    findings: list[Finding]
    checks_run: int
    fidelity: dict[str, TableFidelity]
    ledger: dict[str, Any] | None
    ledger_bound: float | None = None  # the epsilon the ledger was held to, when one was known
    joins: list[JoinFidelity] = field(default_factory=list)
    degrees: list[DegreeFidelity] = field(default_factory=list)
    workload: WorkloadResult | None = None
    tstr: TstrResult | None = None
    privacy: list[PrivacySanity] = field(default_factory=list)
    reads: list[RealDataRead] = field(default_factory=list)
    gate: list[GateResult] = field(default_factory=list)
    realism: list[ColumnRealism] = field(default_factory=list)
    audit: AuditResult | None = None  # `verify --audit`: shown, and checked against the ledger

    def passed(self) -> bool:
        return not self.hard_findings() and all(g.passed for g in self.gate)

    def hard_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.hard]

    def findings_by_check(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.check, []).append(f)
        return out

    def metrics(self) -> dict[str, float | None]:
        """The run-level numbers `--fail-under` gates on (see METRICS)."""
        tables = list(self.fidelity.values())
        ratios = [abs(t.row_count_ratio - 1) for t in tables if t.row_count_ratio is not None]
        compared = sum(p.synthetic_rows for p in self.privacy)
        return {
            "tvd1": mean(t.mean_tvd_1way for t in tables),
            "tvd2": mean(t.mean_tvd_2way for t in tables),
            "tvd3": mean(t.mean_tvd_3way for t in tables),
            "join_tvd1": mean(j.mean_tvd_1way for j in self.joins),
            "join_tvd2": mean(j.mean_tvd_2way for j in self.joins),
            "join_tvd3": mean(j.mean_tvd_3way for j in self.joins),
            "degree_tvd": mean(d.tvd for d in self.degrees),
            "degree_ks": mean(d.ks for d in self.degrees),
            "row_count_error": max(ratios) if ratios else None,
            "workload_median": self.workload.median if self.workload else None,
            "workload_p90": self.workload.p90 if self.workload else None,
            "exact_copy": sum(p.exact_copies for p in self.privacy) / compared if compared else None,
            "tstr_gap": self.tstr.gap if self.tstr else None,
            **{k: v for k, v in realism_summary(self.realism).items() if k in METRICS},
        }

    def summary(self) -> dict[str, Any]:
        """Run-level fidelity: means over tables of the per-table means (and every metric)."""
        m = self.metrics()
        return {"tables": len(self.fidelity), "mean_tvd_1way": finite(m["tvd1"]),
                "mean_tvd_2way": finite(m["tvd2"]), "mean_tvd_3way": finite(m["tvd3"]),
                "metrics": {k: finite(v) for k, v in m.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed(),
            "checks_run": self.checks_run,
            "hard_failures": len(self.hard_findings()),
            "findings": [f.to_dict() for f in self.findings],
            "gate": [g.to_dict() for g in self.gate],
            "fidelity": {name: t.to_dict() for name, t in self.fidelity.items()},
            "fidelity_summary": self.summary(),
            "joins": [j.to_dict() for j in self.joins],
            "degrees": [d.to_dict() for d in self.degrees],
            "realism": {"summary": {k: finite(v) for k, v in realism_summary(self.realism).items()},
                        "columns": [c.to_dict() for c in self.realism]},
            "workload": self.workload.to_dict() if self.workload else None,
            "tstr": self.tstr.to_dict() if self.tstr else None,
            "privacy_sanity": {"note": PRIVACY_SANITY_NOTE, "part_of_dp_guarantee": False,
                               "tables": [p.to_dict() for p in self.privacy]},
            "ledger": json_safe(self.ledger),
            "ledger_bound": self.ledger_bound,
            "audit": self.audit.to_dict() if self.audit else None,
            "reads_real_data": True,
            "real_data_read": [r.to_dict() for r in self.reads],
            "note": READS_REAL_DATA_NOTE,
        }


def json_safe(value: Any) -> Any:
    """Ledger rows come from the database: datetimes, Decimals and bytes become JSON scalars."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return float(value)  # Decimal
    except (TypeError, ValueError):
        return str(value)
