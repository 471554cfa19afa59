"""Measuring a 10M-row table in PostgreSQL (issue 3): wall time and the dbsynth process's peak memory.

Builds `customer` (1M rows, with an email column, so each customer is a unit) and `purchase`
(10M rows, owned by customer, caps binding on a skewed degree distribution) inside PostgreSQL
with generate_series, then runs dbsynth's measure and fit stages on it in a fresh process and
reports that process's wall time per stage and peak RSS (ru_maxrss). Nothing private is read
row by row: every count is a GROUP BY in PostgreSQL, so memory must not grow with the rows.

    python benchmarks/bigtable/run.py --pg postgresql+psycopg://user:pw@host/db
    python benchmarks/bigtable/run.py --start-pg          # a throwaway server (tests/servers.py)

Options: --rows (child rows, default 10M; parents are a tenth), --epsilon, --method aim|mst,
--keep (reuse the tables if already built). Prints one Markdown table row for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]

SCHEMA = """
DROP TABLE IF EXISTS purchase;
DROP TABLE IF EXISTS customer;
CREATE TABLE customer (
    id BIGINT NOT NULL, email VARCHAR(60) NOT NULL, region VARCHAR(12) NOT NULL,
    segment VARCHAR(10) NOT NULL, age INTEGER, signup DATE NOT NULL);
CREATE TABLE purchase (
    id BIGINT NOT NULL, customer_id BIGINT NOT NULL, category VARCHAR(16) NOT NULL,
    channel VARCHAR(8), amount NUMERIC(10, 2) NOT NULL, quantity INTEGER NOT NULL,
    purchased_at TIMESTAMP NOT NULL, returned BOOLEAN NOT NULL);
"""

# One INSERT ... SELECT per table: PostgreSQL generates the rows, nothing passes through Python.
FILL = """
SELECT setseed(0.42);
INSERT INTO customer
SELECT i, 'user' || i || '@example.com',
       (ARRAY['north','south','east','west','central','overseas'])[1 + floor(random() * 6)::int],
       CASE WHEN r < 0.7 THEN 'consumer' WHEN r < 0.95 THEN 'business' ELSE 'vip' END,
       CASE WHEN random() < 0.03 THEN NULL ELSE 18 + floor(random() * 70)::int END,
       DATE '2010-01-01' + floor(random() * 5000)::int
FROM (SELECT i, random() AS r FROM generate_series(1, {parents}) AS i) AS g;
INSERT INTO purchase
SELECT i, c,
       (ARRAY['books','games','garden','food','toys','music','tools','sport','beauty','baby','pets','auto'])
           [1 + mod(floor(random() * 6)::int + mod(c, 7)::int, 12)],
       CASE WHEN random() < 0.02 THEN NULL
            ELSE (ARRAY['web','app','store','phone'])[1 + floor(random() * 4)::int] END,
       round((random() * random() * 400)::numeric, 2),
       1 + floor(-ln(1 - random()) * 2)::int,
       TIMESTAMP '2015-01-01' + random() * INTERVAL '3000 days',
       random() < 0.05
FROM (SELECT i, 1 + floor({parents} * power(random(), 1.6))::bigint AS c
      FROM generate_series(1, {children}) AS i) AS g;
ALTER TABLE customer ADD PRIMARY KEY (id);
ALTER TABLE purchase ADD PRIMARY KEY (id);
ALTER TABLE purchase ADD FOREIGN KEY (customer_id) REFERENCES customer (id);
CREATE INDEX ON purchase (customer_id);
ANALYZE customer;
ANALYZE purchase;
"""


def build(dsn: str, children: int) -> float:
    engine = sa.create_engine(dsn)
    start = time.perf_counter()
    with engine.begin() as conn:
        for stmt in (SCHEMA + FILL.format(parents=children // 10, children=children)).split(";"):
            if stmt.strip():
                conn.exec_driver_sql(stmt)
    engine.dispose()
    return time.perf_counter() - start


def stage(dsn: str, epsilon: float, method: str | None) -> None:
    """The child process: dbsynth's introspect, plan, measure and fit, as `dbsynth run` does them."""
    from dbsynth.connect import source_engine
    from dbsynth.measure.measure import measure, plan_budget
    from dbsynth.plan import make_spec
    from dbsynth.privacy.ledger import Ledger, calibrate_rho
    from dbsynth.privacy.units import Units
    from dbsynth.schema.introspect import introspect
    from dbsynth.tabular import method_for

    import numpy as np

    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    src = source_engine(dsn)
    schema = introspect(src)
    spec = make_spec(schema)  # the default plan, as `dbsynth run` without --spec
    for ts in spec.tables.values():
        ts.method = method or ts.method
    units = Units.from_spec(schema, spec)
    ledger = Ledger(epsilon, 1e-9)
    rho = calibrate_rho(epsilon, 1e-9 * (1 - spec.budget.partition_delta_share))
    budget, per_table = plan_budget(spec, schema, rho, 1e-9)
    rng = np.random.default_rng(0)
    measured = measure(src, schema, spec, units, ledger, budget, per_table)
    seconds["measure"] = time.perf_counter() - clock
    measure_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    clock = time.perf_counter()
    fitted = {}
    for name, tm in measured.items():
        if tm.private:
            model = method_for(spec.tables[name].method).fit(tm.encoded, ledger=ledger, rho=tm.rho_model,
                                                             sensitivity=tm.sensitivity, rng=rng)
            fitted[name] = round(float(model.estimated_rows))
    seconds["fit"] = time.perf_counter() - clock
    print(json.dumps({
        "seconds": seconds,
        "kept_rows": {n: tm.encoded.rows for n, tm in measured.items() if tm.private},
        "estimated_rows": fitted,
        "methods": {n: spec.tables[n].method for n in measured},
        "caps": units.caps,
        "epsilon": ledger.to_dict()["epsilon"],
        # This process's own peak resident set (KiB on Linux): the server's memory is not ours.
        "measure_peak_rss_mb": measure_peak_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", help="PostgreSQL DSN to build the tables in")
    ap.add_argument("--start-pg", action="store_true", help="start a throwaway server (tests/servers.py)")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--method", choices=["aim", "mst"], help="every table's method (default: the plan's)")
    ap.add_argument("--keep", action="store_true", help="reuse tables built by an earlier run")
    ap.add_argument("--stage", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        stage(args.pg, args.epsilon, args.method)
        return
    server = None
    if args.start_pg:
        sys.path.insert(0, str(ROOT / "tests"))
        from servers import PostgresServer

        server = PostgresServer().start()
        args.pg = server.create_database("bigtable")
    if not args.pg:
        ap.error("give --pg DSN or --start-pg")
    try:
        built = None if args.keep else build(args.pg, args.rows)
        start = time.perf_counter()
        command = [sys.executable, __file__, "--stage", "--pg", args.pg, "--epsilon", str(args.epsilon)]
        proc = subprocess.run(command + (["--method", args.method] if args.method else []),
                              capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - start
        if proc.returncode:
            sys.exit(f"measure/fit failed:\n{proc.stderr[-4000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result.update({"rows": args.rows, "build_seconds": built, "wall_seconds": wall})
        peak_mb = result["peak_rss_mb"]
        print(json.dumps(result, indent=2))
        s = result["seconds"]
        print(f"| {args.rows:,} × {len(result['kept_rows'])} tables | {args.epsilon:g} | "
              f"{', '.join(sorted(set(result['methods'].values())))} | {s['measure']:.0f} s | {s['fit']:.0f} s | "
              f"{wall:.0f} s | {result['measure_peak_rss_mb']:.0f} MB | {peak_mb:.0f} MB |")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
