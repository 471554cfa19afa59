"""Verify a shadow database: hard SQL checks on the target, fidelity against the source.

`verify(source, target, schema)` returns a `VerifyReport`; `report.passed()` is False when any
hard check failed, `report.to_dict()` is its JSON form and `render_text(report)` a summary.
"""

from dbsynth.verify.report import CHECKS, Finding, TableFidelity, VerifyReport, render_text
from dbsynth.verify.stage import verify

__all__ = ["CHECKS", "Finding", "TableFidelity", "VerifyReport", "render_text", "verify"]
