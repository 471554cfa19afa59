"""Realism of every column (issue 14): the zoo of application columns and Chinook, SQLite, ε ∈ {1, 4}.

For each database and ε: `dbsynth run` (defaults, no spec edits) into a fresh SQLite target, then
verify's realism measures over every non-key column: mean exact-value TVD of low-cardinality
columns, mean KS of numbers and dates, mean granularity; beside them the same measures for a
bootstrap resample of the real tables (the floor). Means over all tables, and over the tables
of at least 10,000 rows (the issue's goal: TVD ≤ 0.05, KS ≤ 0.05, granularity ≥ 0.95 at ε = 4).

    .venv/bin/python benchmarks/realism/run.py [--rows 20000] [--seeds 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import zoo  # noqa: E402
from dbsynth.connect import source_engine, target_engine  # noqa: E402
from dbsynth.pipeline import RunOptions, run  # noqa: E402
from dbsynth.schema.introspect import introspect  # noqa: E402
from dbsynth.verify.fidelity import read_rows, row_count  # noqa: E402
from dbsynth.verify.realism import column_realism, table_realism  # noqa: E402

CHINOOK = ROOT.parent / "shared" / "datasets" / "chinook" / "Chinook_Sqlite.sqlite"


def measures(columns) -> dict[str, float]:
    def mean(xs):
        xs = [x for x in xs if x is not None]
        return float(np.mean(xs)) if xs else float("nan")

    return {"tvd": mean(c.tvd for c in columns), "ks": mean(c.ks for c in columns),
            "granularity": mean(c.granularity for c in columns)}


def bootstrap(source, schema, big: set[str], seed: int) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    cols_all, cols_big = [], []
    for name, table in schema.tables.items():
        keys = set(table.primary_key) | table.fk_columns()
        columns = [c for c in table.columns if c.name not in keys]
        if not columns:
            continue
        real, _ = read_rows(source, name, [c.name for c in columns], row_count(source, name))
        boot = real.iloc[rng.integers(0, len(real), len(real))].reset_index(drop=True) if len(real) else real
        out = [column_realism(name, c, real[c.name], boot[c.name]) for c in columns]
        cols_all += out
        cols_big += out if name in big else []
    return measures(cols_all), measures(cols_big)


def synthetic(source_dsn: str, schema, big: set[str], epsilon: float, seed: int, work: Path) -> tuple[dict, dict, float]:
    target = work / f"shadow_{epsilon}_{seed}.db"
    target.unlink(missing_ok=True)
    start = time.perf_counter()
    run(RunOptions(source_dsn, f"sqlite:///{target}", epsilon, 1e-9, seed=seed))
    seconds = time.perf_counter() - start
    src, tgt = source_engine(source_dsn), target_engine(f"sqlite:///{target}")
    cols_all, cols_big = [], []
    for name, table in schema.tables.items():
        out = table_realism(src, tgt, table, set(table.column_names))
        cols_all += out
        cols_big += out if name in big else []
    return measures(cols_all), measures(cols_big), seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="realism-"))
    zoo_db = work / "zoo.db"
    zoo.build(f"sqlite:///{zoo_db}", "sqlite", n=args.rows)
    chinook = work / "chinook.db"
    shutil.copyfile(CHINOOK, chinook)
    rows = []
    for label, path in (("zoo", zoo_db), ("chinook", chinook)):
        dsn = f"sqlite:///{path}"
        src = source_engine(dsn)
        schema = introspect(src)
        big = {t for t in schema.tables if row_count(src, t) >= 10_000}
        b_all, b_big = bootstrap(src, schema, big, 0)
        rows.append((label, "bootstrap", b_all, b_big, 0.0))
        for eps in (1.0, 4.0):
            runs = [synthetic(dsn, schema, big, eps, s, work) for s in range(args.seeds)]
            avg = lambda i: pd.DataFrame([r[i] for r in runs]).mean().to_dict()  # noqa: E731
            rows.append((label, f"eps={eps:g}", avg(0), avg(1), float(np.mean([r[2] for r in runs]))))
    print("| database | release | TVD (all) | KS (all) | granularity (all) | TVD (≥10k) | KS (≥10k) | "
          "granularity (≥10k) | run s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, rel, a, b, secs in rows:
        print(f"| {label} | {rel} | {a['tvd']:.3f} | {a['ks']:.3f} | {a['granularity']:.3f} | {b['tvd']:.3f} | "
              f"{b['ks']:.3f} | {b['granularity']:.3f} | {secs:.0f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
