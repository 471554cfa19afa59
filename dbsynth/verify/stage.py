"""The verify stage in one call: hard checks on the target, then fidelity against the source.

Hard checks only read the target. Fidelity reads both databases' rows (sampled when large):
that is deliberate, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from dbsynth.connect import engine_kind
from dbsynth.schema.model import Schema
from dbsynth.verify.fidelity import table_fidelity
from dbsynth.verify.integrity import CheckRunner, run_integrity_checks
from dbsynth.verify.report import TableFidelity, VerifyReport
from dbsynth.verify.structure import check_conditions, expected_metadata, read_ledger, schema_diff_findings

Progress = Callable[[str], None]


def verify(
    source: sa.Engine,
    target: sa.Engine,
    schema: Schema,
    *,
    progress: Progress | None = None,
    fidelity: bool = True,
) -> VerifyReport:
    """Check the target against `schema` (integrity, DDL, ledger) and measure its fidelity.

    `progress`, when given, is called with one short line per step. `fidelity=False` skips
    reading the source (hard checks only)."""
    say = progress or (lambda _msg: None)
    runner = CheckRunner(target)
    metadata = expected_metadata(schema, engine_kind(target))
    insp = sa.inspect(target)
    target_columns = {t: {c["name"] for c in insp.get_columns(t)} for t in schema.tables if insp.has_table(t)}

    say("schema: comparing the target's DDL with the expected DDL")
    schema_diff_findings(runner, metadata)
    run_integrity_checks(runner, schema, check_conditions(metadata, target), target_columns, say)
    say("ledger: reading _dbsynth_ledger")
    ledger = read_ledger(runner)

    tables: dict[str, TableFidelity] = {}
    if fidelity:
        for name, table in schema.tables.items():
            if name not in target_columns:
                continue
            say(f"fidelity: {name}")
            tables[name] = table_fidelity(source, target, table, target_columns[name])
    return VerifyReport(findings=runner.findings, checks_run=runner.checks_run, fidelity=tables, ledger=ledger)
