"""dbsynth end to end on a large generated PostgreSQL database, against the physical limit (issue 17).

The shop of benchmarks/sizes/generate.py shaped to ≈100k customers (with a self reference),
≈1M orders, ≈4M order lines and 2k products at factor 1, and scaled by `--factors` (2: twice the
customers and products, so twice every table). For each factor, in one PostgreSQL server:

- `dbsynth run SOURCE TARGET --epsilon E --json` in a child process: its time per stage (the run's
  own `seconds`), its wall time and its peak resident memory (the child's VmHWM, read from /proc);
- the reference read: `COPY (SELECT every column FROM t) TO STDOUT` of every table, read whole;
- the reference write: `COPY t FROM STDIN` of the shadow's own rows into an empty copy of the
  schema with its keys, foreign keys and indexes in place (as the rows dbsynth writes);
  `--references-only` instead times the read and both writes (constraints in place, and added
  after the load: the fastest way to the same database) of the source's own rows, no dbsynth run.

    .venv/bin/python benchmarks/scale/run.py --factors 1 2 --epsilon 1 --json /tmp/scale.json
    .venv/bin/python benchmarks/scale/run.py --factors 1 2 4 --references-only --json /tmp/refs.json

Prints a markdown table; `--json` also writes the numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks" / "sizes")]

import sqlalchemy as sa  # noqa: E402

import generate  # noqa: E402
from servers import PostgresServer  # noqa: E402

# ≈1M orders and ≈4M order lines per 100k customers (the sizes benchmark's defaults give 0.3M / 0.8M).
SHAPE = {"orders_mu": 1.92, "lines_mu": 0.75}
TABLES = ["country", "category", "product", "customer", "orders", "order_line"]  # parents first


def _raw(dsn: str):
    engine = sa.create_engine(dsn)
    return engine, engine.raw_connection()


def read_reference(dsn: str) -> tuple[float, int]:
    """Seconds to COPY every column of every table out of the source, and the bytes read."""
    engine, raw = _raw(dsn)
    try:
        start, size = time.perf_counter(), 0
        with raw.driver_connection.cursor() as cur:
            for t in TABLES:
                with cur.copy(f"COPY (SELECT * FROM {t}) TO STDOUT") as cp:
                    for block in cp:
                        size += len(block)
        return time.perf_counter() - start, size
    finally:
        raw.close()
        engine.dispose()


def write_reference(rows_dsn: str, empty_dsn: str, constraints_after: bool = False) -> float:
    """Seconds to COPY the rows of `rows_dsn` into an empty copy of the schema: with its keys,
    foreign keys and indexes in place (checked row by row), or, `constraints_after`, added after
    the load (the fastest way to the same database: what the physical limit is)."""
    engine, raw = _raw(empty_dsn)
    src_engine, src = _raw(rows_dsn)
    try:
        with raw.driver_connection.cursor() as cur:
            cur.execute(generate.SCHEMA)
            if not constraints_after:
                cur.execute(generate.CONSTRAINTS)
        raw.driver_connection.commit()
        dumps = {}
        with src.driver_connection.cursor() as cur:  # read first: only the write is timed
            for t in TABLES:
                buf = io.BytesIO()
                with cur.copy(f"COPY {t} TO STDOUT") as cp:
                    for block in cp:
                        buf.write(block)
                dumps[t] = buf.getvalue()
        start = time.perf_counter()
        with raw.driver_connection.cursor() as cur:
            for t in TABLES:
                with cur.copy(f"COPY {t} FROM STDIN") as cp:
                    cp.write(dumps[t])
            if constraints_after:
                cur.execute(generate.CONSTRAINTS)
        raw.driver_connection.commit()
        return time.perf_counter() - start
    finally:
        raw.close()
        src.close()
        engine.dispose()
        src_engine.dispose()


def _peak_of(pid: int, until: threading.Event, seen: list[int]) -> None:
    """Follow the kernel's high-water mark of `pid`'s resident memory (VmHWM, monotonic) until it
    exits; the last reading is its peak (the mark of a process that has exited is gone)."""
    status = Path(f"/proc/{pid}/status")
    while not until.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    seen.append(int(line.split()[1]))
        except OSError:
            return
        until.wait(0.05)


def run_dbsynth(source: str, target: str, epsilon: float) -> dict:
    """`dbsynth run` in a child process: its JSON, wall seconds and peak resident memory (MiB).

    The peak is the child's own VmHWM, read from /proc while it runs. Not its ru_maxrss: Linux folds
    the high-water mark of the address space an exec replaces into the new program's maxrss, and a
    child starts as a copy of this process, which has just generated the database (the 4x shop:
    2.2 GB), so ru_maxrss reported this script's peak, not dbsynth's."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dbsynth.cli", "run", source, target, "--epsilon", str(epsilon),
                             "--seed", "0", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    exited, marks = threading.Event(), []
    follower = threading.Thread(target=_peak_of, args=(proc.pid, exited, marks))
    follower.start()
    streams: dict[str, str] = {}
    readers = [threading.Thread(target=lambda name=name, f=f: streams.__setitem__(name, f.read()))
               for name, f in (("out", proc.stdout), ("err", proc.stderr))]
    for r in readers:
        r.start()
    proc.wait()
    exited.set()
    for r in [follower, *readers]:
        r.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"dbsynth run failed ({proc.returncode}): {streams['err'][-2000:]}")
    return {"result": json.loads(streams["out"]), "wall": wall, "peak_mib": max(marks, default=0) / 1024}


def one(server: PostgresServer, factor: float, epsilon: float) -> dict:
    source = server.create_database(f"scale_src_{str(factor).replace('.', '_')}")
    built = generate.build(source, factor, **SHAPE)
    print(f"factor {factor}: built in {built.pop('seconds')} s: {built}", flush=True)
    read_s, read_bytes = read_reference(source)
    target = server.create_database(f"scale_dst_{str(factor).replace('.', '_')}")
    ran = run_dbsynth(source, target, epsilon)
    write_s = write_reference(target, server.create_database(f"scale_ref_{str(factor).replace('.', '_')}"))
    res = ran["result"]
    total = sum(res["seconds"].values())
    record = {
        "factor": factor, "epsilon": epsilon, "source_rows": built, "rows": res["rows"],
        "stages": {k: round(v, 1) for k, v in res["seconds"].items()}, "total_s": round(total, 1),
        "wall_s": round(ran["wall"], 1), "peak_rss_mib": round(ran["peak_mib"], 0),
        "read_s": round(read_s, 1), "read_mib": round(read_bytes / 2**20, 0), "write_s": round(write_s, 1),
        "ratio": round(total / (read_s + write_s), 1),
    }
    print(json.dumps(record), flush=True)
    return record


def references(server: PostgresServer, factor: float) -> dict:
    """The two reference writes of the source's own rows (as many as a shadow of scale 1)."""
    tag = str(factor).replace(".", "_")
    source = server.create_database(f"ref_src_{tag}")
    built = generate.build(source, factor, **SHAPE)
    rows = sum(v for k, v in built.items() if k != "seconds")
    read_s, _ = read_reference(source)
    into = write_reference(source, server.create_database(f"ref_into_{tag}"))
    after = write_reference(source, server.create_database(f"ref_after_{tag}"), constraints_after=True)
    record = {"factor": factor, "rows": rows, "read_s": round(read_s, 1), "write_into_constraints_s": round(into, 1),
              "write_then_constraints_s": round(after, 1)}
    print(json.dumps(record), flush=True)
    return record


def table(records: list[dict]) -> str:
    stages = ["introspect", "measure", "fit", "sample", "write"]
    head = ("| factor | source rows | " + " | ".join(f"{s} s" for s in stages)
            + " | dbsynth total s | peak RSS MiB | read s (COPY out) | write s (COPY in) | ratio |")
    lines = [head, "|" + "---:|" * (head.count("|") - 1)]
    for r in records:
        rows = sum(v for k, v in r["source_rows"].items())
        lines.append(f"| {r['factor']:g} | {rows:,} | " + " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in stages)
                     + f" | {r['total_s']:.1f} | {r['peak_rss_mib'] or '–'} | {r['read_s']:.1f} | {r['write_s']:.1f}"
                     f" | {r['ratio']:.1f}× |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--factors", nargs="+", type=float, default=[1.0])
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--json", help="write the records here")
    ap.add_argument("--references-only", action="store_true",
                    help="no dbsynth run: the read and the two writes (constraints in place / added after) of "
                         "the source's own rows")
    args = ap.parse_args()
    os.environ.setdefault("DBSYNTH_LOCK_TIMEOUT", "600")
    records = []
    if args.references_only:
        with PostgresServer() as server:
            records = [references(server, f) for f in sorted(args.factors)]
        if args.json:
            Path(args.json).write_text(json.dumps(records, indent=2))
        return
    with PostgresServer() as server:
        for factor in sorted(args.factors):
            records.append(one(server, factor, args.epsilon))
            if args.json:
                Path(args.json).write_text(json.dumps(records, indent=2))
    print(table(records))


if __name__ == "__main__":
    main()
