"""The verify stage in one call: hard checks on the target, then fidelity against the source.

Hard checks only read the target. Fidelity reads the source's rows (sampled when large), joins
and aggregates: that is deliberate, the report says what was read, and none of it is covered by
the DP guarantee, which is about the synthetic data, not about this report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dbsynth.connect import engine_kind
from dbsynth.errors import UsageError
from dbsynth.schema.model import Schema
from dbsynth.verify import fidelity as fidelity_module
from dbsynth.verify.audited import check_audit
from dbsynth.verify.catalog import catalog_findings
from dbsynth.verify.degrees import degree_fidelity
from dbsynth.verify.fidelity import TableData, load_table, table_fidelity
from dbsynth.verify.realism import table_realism
from dbsynth.verify.gate import evaluate
from dbsynth.verify.integrity import CheckRunner, run_checks
from dbsynth.verify.joins import MAX_CHAINS, JoinPath, join_fidelity, join_paths, usable
from dbsynth.verify.ledger import check_ledger_bound, ledger_bound, read_ledger
from dbsynth.verify.marginals import MAX_TRIPLES
from dbsynth.verify.privacy_sanity import privacy_sanity
from dbsynth.verify.queries import plan_checks
from dbsynth.verify.report import VerifyReport
from dbsynth.verify.results import RealDataRead
from dbsynth.verify.structure import expected_metadata, schema_diff_findings
from dbsynth.verify.tstr import parse_target, train_synthetic_test_real
from dbsynth.verify.workload import N_QUERIES, generate_workload, run_workload

if TYPE_CHECKING:
    from dbsynth.audit.runner import AuditResult

Progress = Callable[[str], None]


@dataclass(frozen=True)
class VerifyOptions:
    """What verify measures beyond the hard checks, and the knobs that make it repeatable."""

    fidelity: bool = True  # False: hard checks only, the source's rows are not read
    epsilon: float | None = None  # the ledger's bound; None: the ledger's own target_epsilon
    seed: int = 0  # triples, chains, the workload, holdout splits
    workload_queries: int = N_QUERIES
    max_triples: int = MAX_TRIPLES
    max_chains: int = MAX_CHAINS
    tstr: str | None = None  # "table.column" to predict, train on synthetic / test on real
    privacy: bool = True
    sample_rows: int | None = None  # None: fidelity.SAMPLE_ROWS
    thresholds: dict[str, float] = field(default_factory=dict)  # --fail-under
    audit: AuditResult | None = None  # --audit: an audit's result, shown and checked against the ledger


def verify(
    source: sa.Engine,
    target: sa.Engine,
    schema: Schema,
    *,
    progress: Progress | None = None,
    fidelity: bool = True,
    epsilon: float | None = None,
    options: VerifyOptions | None = None,
) -> VerifyReport:
    """Check the target against `schema` (integrity, DDL, sequences, ledger) and measure its fidelity.

    `progress`, when given, is called with one short line per step. `fidelity=False` skips
    reading the source (hard checks only); `epsilon` bounds the ledger. `options` carries the
    rest and, when given, its own `fidelity` and `epsilon` win."""
    opts = options or VerifyOptions(fidelity=fidelity, epsilon=epsilon)
    say = progress or (lambda _msg: None)
    tstr_target = parse_target(opts.tstr, schema) if opts.tstr else None  # refuse a typo before any work

    runner = CheckRunner(target)
    kind = engine_kind(target)
    metadata = expected_metadata(schema, kind)
    insp = sa.inspect(target)
    present = {t: {c["name"] for c in insp.get_columns(t)} for t in schema.tables if insp.has_table(t)}

    say("schema: comparing the target's DDL with the expected DDL")
    reported = schema_diff_findings(runner, metadata)
    catalog_findings(runner, metadata, same_engine=schema.dialect == kind, reported=reported)
    run_checks(runner, plan_checks(schema, metadata, target.dialect, present), say)
    say("ledger: reading _dbsynth_ledger")
    ledger = read_ledger(runner)
    bound = ledger_bound(ledger, opts.epsilon)
    check_ledger_bound(runner, ledger, bound)
    if opts.audit is not None:
        check_audit(runner, ledger, opts.audit)

    report = VerifyReport(findings=runner.findings, checks_run=runner.checks_run, fidelity={}, ledger=ledger,
                          ledger_bound=bound, audit=opts.audit)
    report.reads.append(RealDataRead("schema", "table, column, key, constraint and index definitions (no rows)"))
    if opts.fidelity:
        _measure(source, target, schema, present, opts, report, say, tstr_target)
    report.gate = evaluate(report, opts.thresholds)
    return report


def _measure(
    source: sa.Engine,
    target: sa.Engine,
    schema: Schema,
    present: dict[str, set[str]],
    opts: VerifyOptions,
    report: VerifyReport,
    say: Progress,
    tstr_target: tuple[str, str] | None,
) -> None:
    """Everything that reads the source: marginals, joins, degrees, workload, TSTR, privacy sanity."""
    limit = fidelity_module.SAMPLE_ROWS if opts.sample_rows is None else opts.sample_rows
    data: dict[str, TableData] = {}
    for name, table in schema.tables.items():
        if name not in present:
            continue
        say(f"fidelity: {name}")
        data[name] = d = load_table(source, target, table, present[name], limit)
        report.fidelity[name] = fid = table_fidelity(d, opts.seed, opts.max_triples)
        factor = _size_factor(report.ledger, name)
        if factor != 1.0:  # a run with --scale or rows:/scale: is held to the size it asked for
            fid.row_count_ratio = None if factor is None or not d.n_source else d.n_target / (d.n_source * factor)
        say(f"realism: {name}")
        report.realism.extend(table_realism(source, target, table, present[name], limit))
        report.reads.append(RealDataRead("table rows", _rows_read(name, d.columns, d.n_source, len(d.source)),
                                         len(d.source)))

    for fk in schema.edges():
        if usable(fk, present):
            say(f"degrees: {fk.key}")
            report.degrees.append(degree_fidelity(source, target, fk))
    if report.degrees:
        report.reads.append(RealDataRead(
            "degree histograms", f"{len(report.degrees)} FKs: children per parent, counted in the database "
            "(only the histogram of counts is read)"))

    for path in join_paths(schema, present, opts.seed, opts.max_chains):
        say(f"joins: {' -> '.join(path.tables)}")
        result = join_fidelity(source, target, path, data, limit, opts.seed, opts.max_triples)
        if result is not None:
            report.joins.append(result)
            report.reads.append(RealDataRead("joined rows", _join_read(path, data, result.rows_source, result.sampled,
                                                                       limit), result.rows_source))

    say("workload: aggregate queries on both databases")
    specs = generate_workload(schema, data, opts.workload_queries, opts.seed)
    report.workload = run_workload(source, target, specs, data, opts.seed)
    report.reads.append(RealDataRead(
        "aggregate queries", f"{len(report.workload.queries)} COUNT/SUM/AVG queries with at most one GROUP BY "
        "and one join (only their answers are read)"))

    if tstr_target is not None:
        table, column = tstr_target
        say(f"tstr: predicting {table}.{column}")
        if table not in data:
            raise UsageError(f"--tstr: table {table!r} is missing from the target")
        report.tstr = train_synthetic_test_real(data[table], column, opts.seed)
    if opts.privacy:
        say("privacy sanity: exact copies and distance to closest record")
        report.privacy = [p for d in data.values() if (p := privacy_sanity(d, opts.seed)) is not None]


def _rows_read(table: str, columns: list[str], total: int, read: int) -> str:
    cols = ", ".join(columns) if columns else "no compared columns (row count only)"
    how = f"all {total} rows" if read >= total else f"a uniform sample of {read} of {total} rows"
    return f"{table}: {cols}; {how} (also used for privacy sanity and TSTR)"


def _join_read(path: JoinPath, data: dict[str, TableData], rows: int, sampled: bool, limit: int) -> str:
    cols = "; ".join(f"{t}: {', '.join(data[t].columns) or '-'}" for t in path.tables)
    how = (f"a uniform sample of {limit} of {rows} joined rows" if sampled else
           f"{rows} joined rows, counted in the database per distinct combination of these columns")
    return f"{' ⋈ '.join(path.tables)} ({cols}); {how}"


def _size_factor(ledger: dict | None, table: str) -> float | None:
    """The size the run asked for against the real one (`size_factors` in its ledger): 1 without
    scaling, None where the spec fixed the row count."""
    payload = (ledger or {}).get("ledger")
    factors = payload.get("size_factors") if isinstance(payload, dict) else None
    if not isinstance(factors, dict) or table not in factors:
        return 1.0
    value = factors[table]
    return None if value is None else float(value)
