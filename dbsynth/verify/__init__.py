"""Verify a shadow database: hard SQL checks on the target, fidelity against the source.

`verify(source, target, schema)` returns a `VerifyReport`; `report.passed()` is False when any
hard check failed (or a `--fail-under` threshold was exceeded), `report.to_dict()` is its JSON
form, `render_text(report)` a summary and `write_report(report, dir, ...)` the JSON, Markdown
and HTML report. `emit_sql` writes the hard checks as a .sql file to run by hand.
"""

from dbsynth.verify.emit import emit_sql
from dbsynth.verify.render import render_text, write_report
from dbsynth.verify.report import METRICS, VerifyReport
from dbsynth.verify.results import CHECKS, Finding, TableFidelity
from dbsynth.verify.stage import VerifyOptions, verify

__all__ = ["CHECKS", "METRICS", "Finding", "TableFidelity", "VerifyOptions", "VerifyReport", "emit_sql",
           "render_text", "verify", "write_report"]
