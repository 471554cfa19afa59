"""Realism of every column (issue 14) per engine: the zoo, Chinook and Northwind at ε ∈ {1, 4}.

For each engine, database and ε: `dbsynth run` (defaults, no spec edits) from a source into a
fresh target on the same engine, then verify's realism measures over every non-key column: mean
exact-value TVD of low-cardinality columns, mean KS of numbers and dates, mean granularity;
beside them the same measures for a bootstrap resample of the real tables (the floor). Means
over all tables, and over the tables of at least 10,000 rows (the issue's goal: TVD ≤ 0.05,
KS ≤ 0.05, granularity ≥ 0.95 at ε = 4).

Engines: `sqlite` (files), `postgresql` and `mariadb` (a private server each, tests/servers.py,
started here and stopped at the end, on an error or on SIGTERM). Databases:
- zoo: tests/zoo.py's `purchase` (--rows rows) on every engine; on PostgreSQL also `listing`
  (a DOMAIN over integer with a CHECK, a text[] of a small vocabulary, partitioned by range), on
  MariaDB also `item` (UNSIGNED ints, YEAR, SET, ENUM, BIT(1), TIMESTAMP), --rows rows each;
- chinook: all three engines (the dataset has SQLite, PostgreSQL and MySQL scripts);
- northwind: PostgreSQL only (the dataset has a PostgreSQL script only).

    .venv/bin/python benchmarks/realism/run.py [--engines sqlite postgresql mariadb]
        [--databases zoo chinook northwind] [--rows 20000] [--seeds 2] [--json out.json]

A run that fails is a table cell "failed: <one line>", its traceback on stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import zoo  # noqa: E402
from dbsynth.connect import source_engine, target_engine  # noqa: E402
from dbsynth.pipeline import RunOptions, run  # noqa: E402
from dbsynth.schema.introspect import introspect  # noqa: E402
from dbsynth.verify.fidelity import read_rows, row_count  # noqa: E402
from dbsynth.verify.realism import column_realism, table_realism  # noqa: E402
from servers import MariaDBServer, PostgresServer, my_ident, pg_ident, strip_create_database  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
EPSILONS = (1.0, 4.0)
BIG = 10_000


class SqliteHost:
    kind = "sqlite"
    databases = ("zoo", "chinook")

    def __init__(self, work: Path):
        self.work = work

    def load(self, name: str, rows: int) -> str:
        path = self.work / f"{name}.db"
        if name == "zoo":
            zoo.build(f"sqlite:///{path}", "sqlite", n=rows)
        else:
            shutil.copyfile(DATASETS / "chinook" / "Chinook_Sqlite.sqlite", path)
        return f"sqlite:///{path}"

    def target(self, name: str) -> str:
        return f"sqlite:///{self.work / (name + '.db')}"

    def drop(self, name: str) -> None:
        (self.work / (name + ".db")).unlink(missing_ok=True)

    def stop(self) -> None:
        pass


class PostgresHost:
    kind = "postgresql"
    databases = ("zoo", "chinook", "northwind")

    def __init__(self, work: Path):
        self.server = PostgresServer().start()

    def load(self, name: str, rows: int) -> str:
        dsn = self.server.create_database(f"src_{name}")
        if name == "zoo":
            zoo.build(dsn, "postgresql", n=rows)
            zoo.build_extras(dsn, "postgresql", n=rows)
        elif name == "chinook":  # the script creates and \c's its own database: load it into ours
            script = (DATASETS / "chinook" / "Chinook_PostgreSql.sql").read_text(encoding="utf-8")
            self.server.psql(f"src_{name}", strip_create_database(script))
        else:
            self.server.run_sql_file(f"src_{name}", DATASETS / "northwind" / "northwind.sql")
        return dsn

    def target(self, name: str) -> str:
        return self.server.create_database(name)

    def drop(self, name: str) -> None:
        # FORCE: a failed run may leave pooled connections to its target
        self.server.psql("postgres", f"DROP DATABASE IF EXISTS {pg_ident(name)} WITH (FORCE);")

    def stop(self) -> None:
        self.server.stop()


class MariaHost:
    kind = "mariadb"
    databases = ("zoo", "chinook")

    def __init__(self, work: Path):
        self.server = MariaDBServer().start()

    def load(self, name: str, rows: int) -> str:
        if name == "zoo":
            dsn = self.server.create_database("src_zoo")
            zoo.build(dsn, "mysql", n=rows)
            zoo.build_extras(dsn, "mysql", n=rows)
            return dsn
        self.server.run_sql_file(DATASETS / "chinook" / "Chinook_MySql.sql")  # creates `Chinook` itself
        return self.server.dsn("Chinook")

    def target(self, name: str) -> str:
        return self.server.create_database(name)

    def drop(self, name: str) -> None:
        self.server.sql(f"DROP DATABASE IF EXISTS {my_ident(name)};")

    def stop(self) -> None:
        self.server.stop()


HOSTS = {"sqlite": SqliteHost, "postgresql": PostgresHost, "mariadb": MariaHost}


def measures(columns) -> dict[str, float]:
    def mean(xs):
        xs = [x for x in xs if x is not None]
        return float(np.mean(xs)) if xs else float("nan")

    return {"tvd": mean(c.tvd for c in columns), "ks": mean(c.ks for c in columns),
            "granularity": mean(c.granularity for c in columns)}


def bootstrap(source, schema, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for name, table in schema.tables.items():
        keys = set(table.primary_key) | table.fk_columns()
        columns = [c for c in table.columns if c.name not in keys]
        if not columns:
            continue
        real, _ = read_rows(source, name, [c.name for c in columns], row_count(source, name))
        boot = real.iloc[rng.integers(0, len(real), len(real))].reset_index(drop=True) if len(real) else real
        out += [column_realism(name, c, real[c.name], boot[c.name]) for c in columns]
    return out


def synthetic(host, source_dsn: str, schema, label: str, epsilon: float, seed: int) -> tuple[list, float, dict]:
    """Realism of one run's shadow, its seconds, and the run's shadow sizes and budget split."""
    name = f"shadow_{label}_{epsilon:g}_{seed}"
    host.drop(name)
    target = host.target(name)
    try:
        start = time.perf_counter()
        result = run(RunOptions(source_dsn, target, epsilon, 1e-9, seed=seed))
        seconds = time.perf_counter() - start
        src, tgt = source_engine(source_dsn), target_engine(target)
        try:
            out = []
            for table in schema.tables.values():
                out += table_realism(src, tgt, table, set(table.column_names))
            info = {"shadow_sizes": {t: row_count(tgt, t) for t in schema.tables}, "split": result.split}
        finally:
            src.dispose()
            tgt.dispose()
        return out, seconds, info
    finally:
        host.drop(name)


def cells(columns, big: set[str]) -> dict:
    return {"all": measures(columns), "big": measures([c for c in columns if c.table in big])}


def mean_cells(runs: list[dict]) -> dict:
    def mean(xs):
        xs = [x for x in xs if x == x]
        return float(np.mean(xs)) if xs else float("nan")

    return {part: {m: mean([r[part][m] for r in runs]) for m in ("tvd", "ks", "granularity")}
            for part in ("all", "big")}


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return text[:160].replace("|", "/")


def bench(host, label: str, rows: int, seeds: int, results: list[dict], details: list[dict]) -> None:
    started = time.perf_counter()
    try:
        dsn = host.load(label, rows)
        src = source_engine(dsn)
        schema = introspect(src)
        sizes = {t: row_count(src, t) for t in schema.tables}
        boot = bootstrap(src, schema, 0)
        src.dispose()
    except Exception as exc:  # noqa: BLE001 -- a benchmark records its failures and goes on
        traceback.print_exc()
        results.append({"engine": host.kind, "database": label, "release": "bootstrap", "failed": one_line(exc)})
        return
    big = {t for t, n in sizes.items() if n >= BIG}
    print(f"[{host.kind}/{label}] loaded in {time.perf_counter() - started:.0f} s; tables ≥ {BIG:,} rows: "
          f"{sorted(big) or 'none'}", file=sys.stderr, flush=True)
    results.append({"engine": host.kind, "database": label, "release": "bootstrap", **cells(boot, big), "seconds": 0.0})
    details.append({"engine": host.kind, "database": label, "release": "bootstrap", "seed": 0, "sizes": sizes,
                    "columns": [c.to_dict() for c in boot]})
    for eps in EPSILONS:
        runs, secs, failed = [], [], None
        for seed in range(seeds):
            try:
                columns, seconds, info = synthetic(host, dsn, schema, label, eps, seed)
            except Exception as exc:  # noqa: BLE001
                print(f"[{host.kind}/{label}] ε = {eps:g}, seed {seed} failed:", file=sys.stderr)
                traceback.print_exc()
                failed = one_line(exc)
                continue
            print(f"[{host.kind}/{label}] ε = {eps:g}, seed {seed}: run {seconds:.0f} s", file=sys.stderr, flush=True)
            runs.append(cells(columns, big))
            secs.append(seconds)
            details.append({"engine": host.kind, "database": label, "release": f"ε = {eps:g}", "seed": seed,
                            "sizes": sizes, **info, "columns": [c.to_dict() for c in columns]})
        row = {"engine": host.kind, "database": label, "release": f"ε = {eps:g}"}
        if runs:
            row |= {**mean_cells(runs), "seconds": float(np.mean(secs))}
        if failed:
            row["failed"] = failed + (f" ({len(runs)}/{seeds} seeds ran)" if runs else "")
        results.append(row)


def fmt(x: float) -> str:
    return "–" if x != x else f"{x:.3f}"


def table(results: list[dict]) -> str:
    lines = ["| engine | database | release | TVD (all) | KS (all) | granularity (all) | TVD (≥10k) | KS (≥10k) | "
             "granularity (≥10k) | run s |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        head = f"| {r['engine']} | {r['database']} | {r['release']} |"
        if "all" not in r:
            lines.append(head + f" failed: {r['failed']} |" + " |" * 6 + " – |")
            continue
        a, b = r["all"], r["big"]
        note = f" (failed: {r['failed']})" if r.get("failed") else ""
        lines.append(head + f" {fmt(a['tvd'])} | {fmt(a['ks'])} | {fmt(a['granularity'])} | {fmt(b['tvd'])} | "
                     f"{fmt(b['ks'])} | {fmt(b['granularity'])} | {r['seconds']:.0f}{note} |")
    return "\n".join(lines)


def zoo_tables(details: list[dict]) -> str:
    """The zoo per table (seeds pooled): `purchase` apart from the engine's own column types."""
    lines = ["| engine | table | release | TVD | KS | granularity |", "|---|---|---|---:|---:|---:|"]
    for d in (d for d in details if d["database"] == "zoo" and d["seed"] == 0):
        pooled = [c for e in details if (e["engine"], e["database"], e["release"]) ==
                  (d["engine"], "zoo", d["release"]) for c in e["columns"]]
        for name in d["sizes"]:
            m = measures([_Col(c) for c in pooled if c["table"] == name])
            lines.append(f"| {d['engine']} | {name} | {d['release']} | {fmt(m['tvd'])} | {fmt(m['ks'])} | "
                         f"{fmt(m['granularity'])} |")
    return "\n".join(lines)


class _Col:
    def __init__(self, d: dict):
        self.tvd, self.ks, self.granularity = d.get("tvd"), d.get("ks"), d.get("granularity")


def main() -> None:
    # atexit does not run on SIGTERM (`timeout`, a killed job): exit so `finally` stops the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", nargs="+", choices=list(HOSTS), default=["sqlite"])
    ap.add_argument("--databases", nargs="+", choices=["zoo", "chinook", "northwind"],
                    default=["zoo", "chinook", "northwind"])
    ap.add_argument("--rows", type=int, default=20_000, help="rows of each zoo table")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--json", help="also write every column's measures here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="realism-"))
    results, details = [], []
    began = time.perf_counter()
    try:
        for kind in args.engines:
            host = None
            try:
                host = HOSTS[kind](work)
                for label in (d for d in args.databases if d in host.databases):
                    bench(host, label, args.rows, args.seeds, results, details)
            except Exception as exc:  # noqa: BLE001 -- a server that does not start fails its engine only
                traceback.print_exc()
                results.append({"engine": kind, "database": "–", "release": "–", "failed": one_line(exc)})
            finally:
                if host is not None:
                    host.stop()
            print(table(results), file=sys.stderr, flush=True)  # what has finished, if a later engine hangs
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"results": results, "columns": details}, indent=1, default=str))
    print(table(results))
    print()
    print(zoo_tables(details))
    print(f"\nwall time {time.perf_counter() - began:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
