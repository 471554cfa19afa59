"""What verify found: structured findings, per-table fidelity, and their JSON and text forms.

Like alembic's diffs, findings are data; the CLI, the JSON output and the text summary only
render them. A report passes when it holds no hard finding.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

CHECKS = ("orphan_fk", "duplicate_key", "not_null", "check_constraint", "enum", "schema_diff", "ledger")

READS_REAL_DATA_NOTE = (
    "verify reads real rows from the source to measure fidelity; this report is for the data "
    "owner and is not covered by the differential-privacy guarantee of the synthetic data"
)


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


@dataclass
class TableFidelity:
    """How close one target table is to its source table, on bins derived from the source.

    TVD (total variation distance) is in [0, 1]; `None` where it is undefined (no columns)."""

    row_count_source: int
    row_count_target: int
    row_count_ratio: float | None  # target / source; None when the source is empty and the target is not
    tvd_1way: dict[str, float] = field(default_factory=dict)
    tvd_2way: dict[str, float] = field(default_factory=dict)  # keyed "a|b"
    sampled: bool = False  # True when either side was read through a row sample

    @property
    def mean_tvd_1way(self) -> float | None:
        return _mean(self.tvd_1way.values())

    @property
    def mean_tvd_2way(self) -> float | None:
        return _mean(self.tvd_2way.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "row_count_source": self.row_count_source,
            "row_count_target": self.row_count_target,
            "row_count_ratio": _finite(self.row_count_ratio),
            "tvd_1way": {k: _finite(v) for k, v in self.tvd_1way.items()},
            "tvd_2way": {k: _finite(v) for k, v in self.tvd_2way.items()},
            "mean_tvd_1way": _finite(self.mean_tvd_1way),
            "mean_tvd_2way": _finite(self.mean_tvd_2way),
            "sampled": self.sampled,
        }


@dataclass
class VerifyReport:
    findings: list[Finding]
    checks_run: int
    fidelity: dict[str, TableFidelity]
    ledger: dict[str, Any] | None

    def passed(self) -> bool:
        return not self.hard_findings()

    def hard_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.hard]

    def findings_by_check(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.check, []).append(f)
        return out

    def summary(self) -> dict[str, Any]:
        """Run-level fidelity: means over tables of the per-table means."""
        one = [t.mean_tvd_1way for t in self.fidelity.values()]
        two = [t.mean_tvd_2way for t in self.fidelity.values()]
        return {
            "tables": len(self.fidelity),
            "mean_tvd_1way": _finite(_mean(x for x in one if x is not None)),
            "mean_tvd_2way": _finite(_mean(x for x in two if x is not None)),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed(),
            "checks_run": self.checks_run,
            "hard_failures": len(self.hard_findings()),
            "findings": [f.to_dict() for f in self.findings],
            "fidelity": {name: t.to_dict() for name, t in self.fidelity.items()},
            "fidelity_summary": self.summary(),
            "ledger": _json_safe(self.ledger),
            "reads_real_data": True,
            "note": READS_REAL_DATA_NOTE,
        }


def render_text(report: VerifyReport) -> str:
    """A plain-text summary for humans: verdict, findings, then fidelity per table."""
    lines = [
        f"verify: {'PASSED' if report.passed() else 'FAILED'} "
        f"({report.checks_run} checks, {len(report.hard_findings())} hard failures)"
    ]
    if report.findings:
        lines.append("")
        lines.append("findings:")
        for f in report.findings:
            where = f" {f.table}:" if f.table else ""
            tag = "FAIL" if f.hard else "warn"
            lines.append(f"  [{tag}] {f.check}{where} {f.detail} (count {f.count})")
    lines.append("")
    if report.ledger is None:
        lines.append("privacy ledger: missing")
    else:
        eps, delta = report.ledger.get("epsilon"), report.ledger.get("delta")
        lines.append(f"privacy ledger: epsilon={eps} delta={delta}")
    if report.fidelity:
        lines.append("")
        lines.append("fidelity (source bins; TVD 0 = identical, 1 = disjoint):")
        width = max(len(n) for n in report.fidelity)
        lines.append(f"  {'table':<{width}}  {'rows src':>9}  {'rows tgt':>9}  {'ratio':>6}  {'tvd1':>6}  {'tvd2':>6}")
        for name, t in report.fidelity.items():
            lines.append(
                f"  {name:<{width}}  {t.row_count_source:>9}  {t.row_count_target:>9}  "
                f"{_fmt(t.row_count_ratio):>6}  {_fmt(t.mean_tvd_1way):>6}  {_fmt(t.mean_tvd_2way):>6}"
                + ("  (sampled)" if t.sampled else "")
            )
        s = report.summary()
        lines.append(f"  mean over tables: tvd1 {_fmt(s['mean_tvd_1way'])}, tvd2 {_fmt(s['mean_tvd_2way'])}")
    lines.append("")
    lines.append(f"note: {READS_REAL_DATA_NOTE}.")
    return "\n".join(lines)


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _json_safe(value: Any) -> Any:
    """Ledger rows come from the database: datetimes, Decimals and bytes become JSON scalars."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return float(value)  # Decimal
    except (TypeError, ValueError):
        return str(value)
