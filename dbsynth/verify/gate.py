"""`verify --fail-under KEY=LIMIT[,KEY=LIMIT...]`: fidelity thresholds for CI.

Every key (see `METRICS`) is a distance or an error, lower is better; a run fails (exit 1) when a
measured value is above its limit. A metric the run could not measure (no FK for `join_tvd2`, an
empty workload) is reported as not measured and does not fail the run. A misspelt key is refused
with a suggestion, before any data is read.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from dbsynth.errors import UsageError
from dbsynth.verify.report import METRICS, GateResult, VerifyReport


def parse_thresholds(specs: Iterable[str]) -> dict[str, float]:
    """{key: limit} from `tvd2=0.3,workload_p90=0.5` strings (the option may also repeat)."""
    out: dict[str, float] = {}
    for spec in specs:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep:
                raise UsageError(f"--fail-under wants KEY=LIMIT, got {item!r}")
            if name not in METRICS:
                close = difflib.get_close_matches(name, list(METRICS), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(METRICS)}"
                raise UsageError(f"--fail-under: unknown key {name!r}{hint}")
            try:
                limit = float(value)
            except ValueError:
                raise UsageError(f"--fail-under: {name} needs a number, got {value.strip()!r}") from None
            if limit != limit or limit < 0:
                raise UsageError(f"--fail-under: {name} needs a limit >= 0, got {value.strip()!r}")
            out[name] = limit
    return out


def evaluate(report: VerifyReport, thresholds: dict[str, float]) -> list[GateResult]:
    """One result per threshold, in the order given."""
    measured = report.metrics()
    return [GateResult(key, limit, measured.get(key)) for key, limit in thresholds.items()]


def describe_metrics() -> str:
    """The keys and their meaning, one per line (for --help and the report)."""
    return "\n".join(f"{k}: {v}" for k, v in METRICS.items())
