"""Every table has the right size (issue 15): row-count ratios and parent-degree KS per FK edge.

Chinook, Northwind and a generated shop (generate.py: 100k customers, ~290k orders, ~800k order
lines with skewed degrees, a nullable self reference, lookups) are loaded into a private
PostgreSQL 15 started by this script (tests/servers.py). For each database, ε and variant, one
in-process `dbsynth.pipeline.run` writes a fresh target; then, per table, synthetic rows against
real rows (× the run's scale, for private tables), and per FK edge the Kolmogorov–Smirnov
distance between the real and synthetic distributions of children per parent row (degree
histograms counted in SQL by dbsynth.verify.degrees; for a private child of a public parent at
`--run-scale` F, against the real degrees × F, since the copied parent keeps its rows). Variants: `default` (the plan as `dbsynth
run` makes it) and `suggested` (RunOptions(public=("suggested",)), skipped with a note where
RunOptions has no `public` field); `--run-scale F` adds runs with RunOptions(scale=F) where that
field exists.

    taskset -c 0,1 .venv/bin/python benchmarks/sizes/run.py --epsilons 1 4 --json sizes.json
    .venv/bin/python benchmarks/sizes/run.py --scale-rows 0.02 --epsilons 1      # smoke test

Options: --databases chinook northwind shop, --variants default suggested, --run-scale F [F ...],
--scale-rows F (the shop's size), --repeats N (the noise is fresh, so sizes vary run to run),
--chinook-sqlite (Chinook from the SQLite file instead), --target postgres|sqlite, --seed,
--verbose (stage progress), --verify (also run `verify` on each shadow, as `dbsynth verify`
does without the workload queries and the audit, and report its hard findings), --json PATH
(every record, with stage times and tracebacks).
Prints a Markdown table per database and one summary line per (database, ε, variant): tables
of ≥ 1000 real rows within ±10% of the expected count, the largest degree KS, tables with more
than 5 real rows that came out empty (EMPTY), empty real tables that came out with rows
(FILLED), and the run's wall time per stage. A run that raises is reported as FAILED (its
traceback in the JSON) and the others go on; `kill -USR1 PID` prints where a long run is.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")  # the goal machine has 2 cores

import sqlalchemy as sa  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402
from servers import PostgresServer, strip_create_database  # noqa: E402

from dbsynth.pipeline import RunOptions, run  # noqa: E402
from dbsynth.schema.introspect import introspect  # noqa: E402
from dbsynth.verify.degrees import degree_histogram, ks_distance  # noqa: E402
from dbsynth.verify.fidelity import row_count  # noqa: E402
from dbsynth.verify.stage import VerifyOptions, verify  # noqa: E402

DATASETS = Path(os.environ.get("DBSYNTH_DATASETS", ROOT.parent / "shared" / "datasets"))
BIG = 1000  # tables of at least this many real rows are held to ±10%
TOLERANCE = 0.10
EMPTY_FLOOR = 5  # a table with more real rows than this must not come out empty

OPTION_FIELDS = {f.name for f in dataclasses.fields(RunOptions)}


def load_sources(server: PostgresServer, names: list[str], scale_rows: float, chinook_sqlite: bool,
                 work: Path) -> dict[str, str]:
    dsns = {}
    for name in names:
        if name == "chinook" and chinook_sqlite:
            path = work / "chinook.sqlite"
            shutil.copyfile(DATASETS / "chinook" / "Chinook_Sqlite.sqlite", path)
            dsns[name] = f"sqlite:///{path}"
        elif name == "chinook":
            dsns[name] = server.create_database("src_chinook")
            script = (DATASETS / "chinook" / "Chinook_PostgreSql.sql").read_text(encoding="utf-8")
            server.psql("src_chinook", strip_create_database(script))  # it creates and \c's its own db
        elif name == "northwind":
            dsns[name] = server.create_database("src_northwind")
            server.run_sql_file("src_northwind", DATASETS / "northwind" / "northwind.sql")
        elif name == "shop":
            dsns[name] = server.create_database("src_shop")
            built = generate.build(dsns[name], scale_rows)
            print(f"shop built in {built.pop('seconds')} s: {built}", flush=True)
    return dsns


class Source:
    """What a source holds, read once: row counts and the real degree histogram of every FK edge."""

    def __init__(self, dsn: str):
        self.engine = sa.create_engine(dsn)
        self.schema = introspect(self.engine)
        self.rows = {t: row_count(self.engine, t) for t in self.schema.tables}
        self.edges = [fk for fk in self.schema.edges() if fk.ref_table in self.schema.tables]
        self.degrees = {fk.key: degree_histogram(self.engine, fk) for fk in self.edges}
        self.nulls = {fk.key: null_share(self.engine, fk) for fk in self.edges}


def null_share(engine: sa.Engine, fk) -> float | None:
    """Share of child rows whose FK is NULL: those rows are nobody's children, so the degree
    histogram alone would hide a run that nulls a nullable FK it should have filled."""
    t = sa.table(fk.table, *(sa.column(c) for c in fk.columns))
    stmt = sa.select(sa.func.count(), sa.func.count(t.c[fk.columns[0]])).select_from(t)
    with engine.connect() as conn:
        total, filled = conn.execute(stmt).one()
    return (total - filled) / total if total else None


def scaled_degrees(hist: dict[int, int], scale: float) -> dict[int, int]:
    out: dict[int, int] = {}
    for d, k in hist.items():
        out[int(round(d * scale))] = out.get(int(round(d * scale)), 0) + k
    return out


def mean_degree(hist: dict[int, int]) -> float | None:
    n = sum(hist.values())
    return sum(d * k for d, k in hist.items()) / n if n else None


def measure(source: Source, target_dsn: str, public: set[str], scale: float) -> list[dict]:
    """One row per table: real, expected and synthetic rows, ratio, and KS per edge it is the child of."""
    tgt = sa.create_engine(target_dsn)
    try:
        synth_rows = {t: row_count(tgt, t) for t in source.schema.tables}
        out = []
        for name in source.schema.tables:
            real = source.rows[name]
            # A public table is copied verbatim, so it keeps its size whatever the scale.
            expected = real if name in public else scale * real
            edges = []
            for fk in (f for f in source.edges if f.table == name):
                hist = degree_histogram(tgt, fk)
                real_hist = source.degrees[fk.key]
                if fk.ref_table in public and name not in public and scale != 1.0:
                    # A copied parent keeps its rows while its private children are × scale: each
                    # parent's expected degree is its real one × scale, not the real one.
                    real_hist = scaled_degrees(real_hist, scale)
                edges.append({"edge": fk.key, "ks": ks_distance(real_hist, hist),
                              "mean_real": mean_degree(real_hist), "mean_synth": mean_degree(hist),
                              "null_real": source.nulls[fk.key], "null_synth": null_share(tgt, fk)})
            out.append({"table": name, "public": name in public, "real": real, "expected": expected,
                        "synthetic": synth_rows[name],
                        "ratio": synth_rows[name] / expected if expected else None,
                        "empty": real > EMPTY_FLOOR and synth_rows[name] == 0,
                        # Northwind has empty tables: a shadow that fills them has the wrong size too.
                        "invented": real == 0 and synth_rows[name] > 0, "edges": edges})
        return out
    finally:
        tgt.dispose()


def summarise(rows: list[dict]) -> dict:
    big = [r for r in rows if r["real"] >= BIG]
    within = [r for r in big if r["ratio"] is not None and abs(r["ratio"] - 1) <= TOLERANCE]
    edges = [e for r in rows for e in r["edges"]]
    worst = max(edges, key=lambda e: e["ks"], default=None)
    return {"big_within": len(within), "big": len(big),
            "max_ks": worst["ks"] if worst else None, "max_ks_edge": worst["edge"] if worst else None,
            "empty": [r["table"] for r in rows if r["empty"]],
            "invented": [f"{r['table']} ({r['synthetic']})" for r in rows if r["invented"]]}


class Targets:
    """A fresh target per run: a new PostgreSQL database, or a new SQLite file."""

    def __init__(self, server: PostgresServer, kind: str, work: Path):
        self.server, self.kind, self.work = server, kind, work
        self.n = 0

    def new(self) -> tuple[str, str]:
        self.n += 1
        name = f"shadow_{self.n}"
        if self.kind == "sqlite":
            return name, f"sqlite:///{self.work / (name + '.db')}"
        return name, self.server.create_database(name)

    def drop(self, name: str) -> None:
        if self.kind == "sqlite":
            (self.work / (name + ".db")).unlink(missing_ok=True)
        else:
            # FORCE: the run's own engines may still hold pooled connections to the target.
            self.server.psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')


def public_tables(ledger: dict, tables) -> set[str]:
    """The tables the run copied verbatim: the ledger's units give a sensitivity to every private one."""
    private = ledger.get("units", {}).get("sensitivity")
    return set() if private is None else set(tables) - set(private)


def hard_findings(source: Source, target_dsn: str) -> list[str]:
    """What `verify` calls hard findings (the schema, keys, UNIQUE and CHECK constraints, every FK
    resolving): a shadow that passes has none. Sizes and degrees are the table's own columns."""
    tgt = sa.create_engine(target_dsn)
    try:
        report = verify(source.engine, tgt, source.schema, options=VerifyOptions(workload_queries=0, privacy=False))
        return [f"{f.check} on {f.table}: {f.detail}" for f in report.hard_findings()]
    finally:
        tgt.dispose()


def one_run(label: str, source_dsn: str, source: Source, targets: Targets, epsilon: float, variant: str,
            scale: float | None, seed: int, verbose: bool, repeat: int, check: bool = False) -> dict:
    extra = {}
    if variant == "suggested":
        extra["public"] = ("suggested",)  # RunOptions.public: "suggested" and/or table names
    if scale is not None:
        extra["scale"] = scale
    name, target = targets.new()
    record = {"database": label, "epsilon": epsilon, "variant": variant, "scale": scale or 1.0, "repeat": repeat}
    start = time.perf_counter()
    try:
        def say(stage: str, detail: str) -> None:
            print(f"    {time.perf_counter() - start:7.1f} s  {stage}: {detail}", flush=True)

        result = run(RunOptions(source_dsn, target, epsilon, 1e-9, seed=seed, **extra),
                     progress=say if verbose else None)
    except Exception as exc:  # the benchmark reports a failed run and goes on with the others
        record.update(seconds=round(time.perf_counter() - start, 1), error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc(limit=-6))
        print(f"  FAILED after {record['seconds']} s: {record['error'][:300]}", flush=True)
        targets.drop(name)
        return record
    record["seconds"] = round(time.perf_counter() - start, 1)
    record["stages"] = result.seconds
    public = public_tables(result.ledger, source.schema.tables)
    record["rows"] = measure(source, target, public, scale or 1.0)
    record["summary"] = summarise(record["rows"])
    if check:
        record["summary"]["verify"] = hard_findings(source, target)
    targets.drop(name)
    return record


def fmt_ratio(r: dict) -> str:
    return "–" if r["ratio"] is None else f"{r['ratio']:.3f}"


def fmt_edges(r: dict) -> str:
    def mean(x):
        return "–" if x is None else f"{x:.2f}"

    def nulls(e):
        real, synth = e["null_real"], e["null_synth"]  # None: the child table has no rows
        if not real and not synth:
            return ""
        return ", NULL " + " → ".join("–" if x is None else f"{x:.0%}" for x in (real, synth))

    return "; ".join(f"{e['edge']}: {e['ks']:.3f} (mean {mean(e['mean_real'])} → {mean(e['mean_synth'])}{nulls(e)})"
                     for e in r["edges"]) or "–"


def variant_label(rec: dict) -> str:
    return (rec["variant"] + (f", scale {rec['scale']:g}" if rec["scale"] != 1.0 else "")
            + (f", run {rec['repeat'] + 1}" if rec["repeat"] else ""))


def report(records: list[dict]) -> None:
    for label in dict.fromkeys(r["database"] for r in records):
        done = [r for r in records if r["database"] == label and "rows" in r]
        print(f"\n### {label}\n")
        if done:
            print("| table | ε | variant | public | real rows | expected | synthetic rows | ratio | "
                  "degree KS per edge (mean degree, NULL FK share: real → synthetic) | empty? |")
            print("|---|---:|---|---|---:|---:|---:|---:|---|---|")
            tables = list(dict.fromkeys(row["table"] for r in done for row in r["rows"]))
            for table in tables:
                for rec in done:
                    row = next(x for x in rec["rows"] if x["table"] == table)
                    print(f"| {table} | {rec['epsilon']:g} | {variant_label(rec)} | {'yes' if row['public'] else ''} | "
                          f"{row['real']:,} | {row['expected']:,.0f} | {row['synthetic']:,} | {fmt_ratio(row)} | "
                          f"{fmt_edges(row)} | {'EMPTY' if row['empty'] else 'FILLED' if row['invented'] else ''} |")
        print()
        for rec in (r for r in records if r["database"] == label):
            head = f"- {label}, ε = {rec['epsilon']:g}, {variant_label(rec)}:"
            if "error" in rec:
                print(f"{head} FAILED after {rec['seconds']} s ({rec['error'][:200]})")
                continue
            s = rec["summary"]
            ks = "–" if s["max_ks"] is None else f"{s['max_ks']:.3f} ({s['max_ks_edge']})"
            stages = ", ".join(f"{k} {v:.0f}" for k, v in rec["stages"].items())
            checked = "" if "verify" not in s else (
                "verify: pass; " if not s["verify"] else f"verify: {len(s['verify'])} hard findings ({s['verify'][0][:120]}); ")
            print(f"{head} {s['big_within']}/{s['big']} tables of ≥ {BIG} rows within ±{TOLERANCE:.0%}; "
                  f"max degree KS {ks}; {checked}empty: {', '.join(s['empty']) or 'none'}; "
                  f"rows in empty tables: {', '.join(s['invented']) or 'none'}; "
                  f"run {rec['seconds']:.0f} s ({stages})")


def main() -> None:
    # A full-size run takes long on 2 shared cores: `kill -USR1 PID` prints where it is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # atexit does not run on SIGTERM (`timeout`, a killed job): exit so `finally` stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--databases", nargs="+", choices=["chinook", "northwind", "shop"],
                    default=["chinook", "northwind", "shop"])
    ap.add_argument("--epsilons", nargs="+", type=float, default=[1.0, 4.0])
    ap.add_argument("--variants", nargs="+", choices=["default", "suggested"], default=["default", "suggested"])
    ap.add_argument("--run-scale", nargs="+", type=float, default=[],
                    help="also run with RunOptions(scale=F) for each F (where RunOptions has `scale`)")
    ap.add_argument("--scale-rows", type=float, default=1.0, help="size of the generated shop (1: 100k customers)")
    ap.add_argument("--chinook-sqlite", action="store_true", help="Chinook from its SQLite file, not PostgreSQL")
    ap.add_argument("--target", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--seed", type=int, default=0, help="post-processing seed of every run (the noise is fresh)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per (database, ε, variant): the noise is fresh each time, so sizes vary")
    ap.add_argument("--verbose", action="store_true", help="print the pipeline's progress within each run")
    ap.add_argument("--verify", action="store_true", help="run verify on each shadow and report its hard findings")
    ap.add_argument("--json", help="write every record (per-table rows, stage times, errors) here")
    args = ap.parse_args()

    variants = list(args.variants)
    if "suggested" in variants and "public" not in OPTION_FIELDS:
        print("note: RunOptions has no `public` field yet; skipping the `--public suggested` variant", flush=True)
        variants.remove("suggested")
    scales: list[float | None] = [None]
    if args.run_scale:
        if "scale" in OPTION_FIELDS:
            scales += args.run_scale
        else:
            print("note: RunOptions has no `scale` field yet; skipping the --run-scale runs", flush=True)

    work = Path(tempfile.mkdtemp(prefix="sizes-"))
    server = PostgresServer().start()
    records = []
    try:
        dsns = load_sources(server, args.databases, args.scale_rows, args.chinook_sqlite, work)
        targets = Targets(server, args.target, work)
        for label, dsn in dsns.items():
            source = Source(dsn)
            print(f"{label}: {len(source.rows)} tables, {sum(source.rows.values()):,} rows, "
                  f"{len(source.edges)} FK edges", flush=True)
            for eps in args.epsilons:
                for variant in variants:
                    for scale, repeat in itertools.product(scales, range(args.repeats)):
                        print(f"  run ε = {eps:g}, {variant}" + (f", scale {scale:g}" if scale else "")
                              + (f", repeat {repeat + 1}" if args.repeats > 1 else ""), flush=True)
                        records.append(one_run(label, dsn, source, targets, eps, variant, scale, args.seed,
                                               args.verbose, repeat, args.verify))
                        if "seconds" in records[-1] and "error" not in records[-1]:
                            print(f"  done in {records[-1]['seconds']} s", flush=True)
            source.engine.dispose()
        report(records)
        if args.json:
            Path(args.json).write_text(json.dumps(records, indent=2, default=str))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
