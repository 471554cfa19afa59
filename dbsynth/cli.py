"""The command line: introspect → plan → run → verify, plus demo. Every command has --json.

Exit codes (also in the README): 0 ok, 1 verify found a hard failure, 2 usage/spec error,
3 cannot connect, 4 missing privilege, 5 target not empty, 6 unsupported schema,
7 budget too small, 8 write failed (target unchanged), 70 internal error.
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
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _guard(fn):
    """One line and a documented exit code for every failure, never a traceback."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DbsynthError as exc:
            err.print(f"dbsynth: error: {exc.message}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug of ours: say so in one line, details with DBSYNTH_DEBUG=1
            if os.environ.get("DBSYNTH_DEBUG"):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
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


@app.command()
def plan(dsn: str = typer.Argument(..., help="source database URL"),
         output: Optional[str] = typer.Option(None, "-o", "--output", help="write the spec YAML here"),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Write the Spec: private/public, column kinds and domains, caps, budget, method. Reads no rows."""
    _guard(_plan)(dsn, output, json_out)


def _plan(dsn: str, output: str | None, json_out: bool) -> None:
    from dbsynth.connect import source_engine
    from dbsynth.plan import make_spec
    from dbsynth.privacy.units import Units
    from dbsynth.render import render_plan
    from dbsynth.schema.introspect import introspect as do

    schema = do(source_engine(dsn))
    spec = make_spec(schema)
    units = Units.from_spec(schema, spec)
    if output:
        spec.save(output)
    if json_out:
        data = spec.model_dump(mode="json", exclude_none=True)
        data["sensitivity"] = {t: units.sensitivity(t) for t in spec.tables}
        _emit_json(data)
    elif output:
        err.print(f"spec written to {output}", highlight=False)
        out.print(render_plan(schema, spec, units), markup=False, highlight=False, soft_wrap=True)
    else:
        out.print(spec.to_yaml(), markup=False, highlight=False, soft_wrap=True)


@app.command()
def run(source: str = typer.Argument(..., help="source database URL (read only)"),
        target: str = typer.Argument(..., help="target database URL (must be empty unless --replace)"),
        epsilon: float = typer.Option(..., "--epsilon", "-e", help="privacy budget ε (> 0)"),
        delta: float = typer.Option(1e-9, "--delta", help="privacy parameter δ"),
        spec: Optional[str] = typer.Option(None, "--spec", help="spec YAML from `dbsynth plan`"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        replace: bool = typer.Option(False, "--replace", help="overwrite a non-empty target"),
        ledger: Optional[str] = typer.Option(None, "--ledger", help="also save the ledger JSON here"),
        json_out: bool = typer.Option(False, "--json")) -> None:
    """Learn the source under DP and write a shadow database into the target."""
    _guard(_run)(source, target, epsilon, delta, spec, seed, replace, ledger, json_out)


def _run(source, target, epsilon, delta, spec, seed, replace, ledger, json_out) -> None:
    from dbsynth.pipeline import RunOptions
    from dbsynth.pipeline import run as do
    from dbsynth.render import StageProgress, render_ledger

    opts = RunOptions(source, target, epsilon, delta, spec, seed, replace, ledger)
    with StageProgress(err, enabled=not json_out) as progress:
        result = do(opts, progress=progress.update)
    if json_out:
        _emit_json(result.to_dict())
    else:
        out.print(render_ledger(result), markup=False, highlight=False, soft_wrap=True)


@app.command()
def verify(source: str = typer.Argument(..., help="source database URL (read only)"),
           target: str = typer.Argument(..., help="the shadow database"),
           json_out: bool = typer.Option(False, "--json")) -> None:
    """Check the target's integrity and schema with SQL and report fidelity to the source."""
    _guard(_verify)(source, target, json_out)


def _verify(source: str, target: str, json_out: bool) -> None:
    from dbsynth.connect import source_engine, target_engine
    from dbsynth.schema.introspect import introspect as do
    from dbsynth.verify import render_text
    from dbsynth.verify import verify as check

    src = source_engine(source)
    schema = do(src)
    report = check(src, target_engine(target), schema)
    if json_out:
        _emit_json(report.to_dict())
    else:
        out.print(render_text(report), markup=False, highlight=False, soft_wrap=True)
    if not report.passed():
        raise typer.Exit(1)


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
