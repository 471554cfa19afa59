"""Human output: schema and plan summaries, stage progress bars, the ledger table."""

from __future__ import annotations

import io
import os
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

STAGES = ["introspect", "measure", "fit", "sample", "write"]


def _to_text(*renderables) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=120, color_system=None)
    for r in renderables:
        console.print(r)
    return buf.getvalue()


def render_schema(schema) -> str:
    t = RichTable(title=f"{schema.dialect}: {len(schema.tables)} tables")
    for col in ("table", "columns", "primary key", "foreign keys", "unique / check / index"):
        t.add_column(col)
    for name in schema.topological_order():
        tb = schema.tables[name]
        cols = ", ".join(f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}{' IDENTITY' if c.identity else ''}"
                         + (f" GENERATED AS ({c.computed})" if c.computed else "")
                         for c in tb.columns)
        fks = "\n".join(f"{','.join(f.columns)} → {f.ref_table}({','.join(f.ref_columns)})" for f in tb.foreign_keys)
        extra = [f"UNIQUE({','.join(u.columns)})" for u in tb.uniques]
        extra += [f"CHECK {c.sqltext}" for c in tb.checks]
        extra += [f"INDEX {i.name}({','.join(i.columns)})" for i in tb.indexes]
        t.add_row(name, cols, ",".join(tb.primary_key), fks, "\n".join(extra))
    lines = [f"order: {' → '.join(schema.topological_order())}"]
    cycles = schema.cycles()
    lines.append("FK cycles: " + ("; ".join(" ↔ ".join(c) for c in cycles) if cycles else "none"))
    selfref = [fk.key for fk in schema.edges() if fk.is_self_reference]
    lines.append("self references: " + (", ".join(selfref) if selfref else "none"))
    if schema.enums:
        lines.append("enums: " + "; ".join(f"{e.name}({', '.join(e.labels)})" for e in schema.enums))
    for name, tb in sorted(schema.tables.items()):
        if tb.partitioning:  # one table to dbsynth: its partitions are where PostgreSQL keeps its rows
            parts = ", ".join(f"{p.name}{'' if p.of == name else f' (of {p.of})'} {p.bound}" for p in tb.partitions)
            lines.append(f"partitioned: {name} PARTITION BY {tb.partitioning.by}: {parts or 'no partitions yet'}")
    return _to_text(t, "\n".join(lines))


def render_plan(schema, spec, units) -> str:
    t = RichTable(title="plan (no rows were read)")
    for col in ("table", "private", "method", "owner", "Δ", "columns"):
        t.add_column(col)
    for name, ts in spec.tables.items():
        kinds = ", ".join(
            f"{c}:{cs.kind}" + (f"[{cs.domain}]" if cs.domain not in ("none",) else "")
            + (f" ({cs.note})" if cs.note else "")
            for c, cs in ts.columns.items()
        )
        t.add_row(name, "yes" if ts.private else "public", ts.method, ts.owner or "-", str(units.sensitivity(name)), kinds)
    from dbsynth.privacy.units import describe_units

    return _to_text(t) + render_units(describe_units(schema, spec, units))


def render_units(described: dict) -> str:
    """Who is protected, table by table, as YAML-style comments (they follow the spec on stdout)."""
    lines = ["# who is protected (a unit: one row and everything it owns; the neighbouring databases differ by one unit)"]
    for name, entry in described["tables"].items():
        lines.append(f"#   {name}: {entry['unit']}")
        if "roots" in entry:
            lines.append(f"#     {entry['roots']}")
        for key, note in entry.get("other_parents", {}).items():
            lines.append(f"#     {key}: {note}")
    return "\n".join(lines) + "\n"


def render_suggestion(suggested: list) -> str:
    """The reference tables `plan` suggests making public (Verdicts still private), as YAML-style
    comments; empty when there are none. Nothing is made public here: the user accepts with --public."""
    if not suggested:
        return ""
    names = ",".join(v.table for v in suggested)
    lines = ["# suggested public: these look like reference data (lookups); a public table is copied verbatim",
             "# and costs no budget, but nothing is public until you accept, with `--public suggested` on",
             f"# `dbsynth plan` or `dbsynth run` (or name tables: --public {names}):"]
    lines += [f"#   {v.table}: {v.reason}" for v in suggested]
    return "\n".join(lines) + "\n"


def render_split(planned: dict) -> str:
    """`plan`'s view of the budget: what is spent first, and what each table's need is made of."""
    lines = [f"# budget: {planned['sizing_share']:.0%} of ρ first for caps and noisy table sizes; the rest split "
             f"over tables by need, ρ_t ∝ (Δ² · statistics / rows²)^(1/3) × budget_weight (run prints the split)"]
    if planned["caps_from_data"]:
        lines.append(f"#   caps chosen from the data at run time (DP quantile, ≤ 64; Δ below counts them as 8): "
                     f"{', '.join(planned['caps_from_data'])}")
    for name, t in planned["tables"].items():
        lines.append(f"#   {name}: {t['statistics']} statistics, Δ = {t['sensitivity']}"
                     + (f", budget_weight {t['budget_weight']:g}" if t["budget_weight"] != 1 else ""))
    return "\n".join(lines) + "\n"


def render_ledger(result) -> str:
    led = result.ledger
    t = RichTable(title=f"privacy ledger: ε = {led['epsilon']:.4f} (target {led['target_epsilon']}), δ = {led['delta']:g}")
    for col in ("table", "mechanism", "what", "Δ", "σ", "ρ"):
        t.add_column(col)
    for c in led["charges"]:
        sigma = f"{c['sigma']:.2f}" if c.get("sigma") else "-"
        t.add_row(c["table"], c["mechanism"], c["what"], f"{c['sensitivity']:g}" if c.get("sensitivity") else "-",
                  sigma, f"{c['rho']:.3g}")
    split = RichTable(title="budget split (by need: statistics × Δ² / rows², from the noisy sizes)")
    for col in ("table", "share", "ρ", "≈ rows", "Δ", "σ per statistic", "noise / rows"):
        split.add_column(col, justify="left" if col == "table" else "right")
    for name, s in getattr(result, "split", {}).items():
        ratio = s["noise"] / max(s["rows"], 1.0)
        split.add_row(name, f"{s['share']:.1%}", f"{s['rho']:.3g}", f"{s['rows']:.0f}", str(s["sensitivity"]),
                      f"{s['noise']:.3g}", f"{ratio:.1%}" + (" !" if s.get("warning") else ""))
    rows = RichTable(title=f"shadow database written to {result.target}")
    rows.add_column("table")
    rows.add_column("rows", justify="right")
    for name, n in result.rows.items():
        rows.add_row(name, str(n))
    return _to_text(t, *([split] if getattr(result, "split", None) else []), rows)


def stage_progress(console: Console | None, enabled: bool = True, stages=STAGES) -> "StageProgress | LineProgress":
    """Bars on a terminal; with DBSYNTH_PROGRESS=lines, one plain line per step on stderr instead
    (whatever --json says): what the PostgreSQL extension turns into NOTICEs."""
    if os.environ.get("DBSYNTH_PROGRESS") == "lines":
        return LineProgress()
    return StageProgress(console, enabled, stages)


class LineProgress:
    """`progress: <stage>: <detail>` lines on stderr, at a stage's start and then at most every
    few seconds (a write reports every chunk)."""

    EVERY = 5.0  # seconds between two lines of the same stage

    def __init__(self):
        self.current: str | None = None
        self.last = 0.0

    def __enter__(self) -> "LineProgress":
        return self

    def update(self, stage: str, detail: str) -> None:
        now = time.monotonic()
        if stage == self.current and now - self.last < self.EVERY:
            return
        self.current, self.last = stage, now
        sys.stderr.write(f"progress: {stage}: {' '.join(detail.split())[:120]}\n")
        sys.stderr.flush()

    def __exit__(self, *exc) -> None:
        pass


class StageProgress:
    """One bar per pipeline stage on stderr; quiet when output is JSON or not a terminal."""

    def __init__(self, console: Console | None, enabled: bool = True, stages=STAGES):
        enabled = enabled and console is not None and console.is_terminal
        self.enabled = enabled
        self.stages = list(stages)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console,
                                 transient=False, disable=not enabled)
        self.tasks: dict[str, int] = {}
        self.current: str | None = None

    def __enter__(self) -> "StageProgress":
        self.progress.__enter__()
        for s in self.stages:
            self.tasks[s] = self.progress.add_task(s, total=1, detail="", start=False)
        return self

    def update(self, stage: str, detail: str) -> None:
        if stage != self.current:
            if self.current in self.tasks:
                self.progress.update(self.tasks[self.current], completed=1, detail="done")
            self.current = stage
            if stage in self.tasks:
                self.progress.start_task(self.tasks[stage])
        if stage in self.tasks:
            self.progress.update(self.tasks[stage], detail=detail[:60])

    def __exit__(self, *exc) -> None:
        if exc[0] is None and self.current in self.tasks:
            self.progress.update(self.tasks[self.current], completed=1, detail="done")
        self.progress.__exit__(*exc)
