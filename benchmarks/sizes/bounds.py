"""What issue 15's goals ask of any DP release: the ε a table's size needs by itself, and the
degree KS a release can reach.

For each private table of at least 1,000 rows (with `--public suggested`, the plan's reference
tables public), the rows each unit holds are counted in the real database (the unit: the root of
the table's owner chain, as `Units` defines it; a row with no owner is a unit of its own). Then:

- **Any mechanism** (group privacy): removing the k largest units takes more than 18.2 % of the
  rows (so no answer is within ±10 % of both sizes); an (ε, δ)-DP release within ±10 % of the
  true size with probability 0.95 on both databases needs e^{kε} ≥ 19 (δ = 1e-9 adds nothing
  visible), so ε ≥ ln 19 / k for that one count, whatever the rest of the run does.
- **Laplace** with the table's largest unit as Δ (an oracle: a run must choose Δ under DP, and a
  cap larger than the largest unit): the ε that puts the count within ±10 % with probability 0.95.
- **Gaussian at the ledger's accounting** (zCDP, δ = 1e-9), same oracle Δ, all of ε = 1's ρ on
  this one count: σ, and the chance of ±10 %.

And what the degree goal (KS ≤ 0.05 at ε = 4) asks of an edge between private tables: its
degree histogram as `measure` releases it (the buckets of `degrees.BUCKETS`, Δ as
`Units.degree_sensitivity` with the largest units as caps), with all of ε = 4's ρ on that one
histogram, read back as `DegreeRelease.distribution` does (noise thresholded, no cap, no tilt),
and its KS against the real degrees (mean over draws). And of an edge into a public parent
(copied as it is, so each synthetic parent is a real one and its children are released parent by
parent): each parent's child count with Gaussian noise σ, nothing else wrong, the KS between the
real and noisy degree distributions (mean over draws), and the share of ε = 4's whole ρ that σ
costs on that one edge (Δ: the child table's largest unit, the oracle again).

    .venv/bin/python benchmarks/sizes/bounds.py [--databases chinook northwind shop] [--epsilon 1]

PostgreSQL 15 is started by the script (tests/servers.py), the databases loaded as
benchmarks/sizes/run.py loads them. Reads rows; releases nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as sizes_run  # noqa: E402  (benchmarks/sizes/run.py: the loaders and the server)

from dbsynth.measure.degrees import DegreeRelease, bucket_counts  # noqa: E402
from dbsynth.measure.read import read_table  # noqa: E402
from dbsynth.plan import make_spec  # noqa: E402
from dbsynth.privacy.ledger import calibrate_rho  # noqa: E402
from dbsynth.privacy.units import Units, fk_tuples  # noqa: E402
from dbsynth.reference import reference_tables  # noqa: E402
from dbsynth.schema.introspect import introspect  # noqa: E402
from dbsynth.verify.degrees import ks_distance as histogram_distance  # noqa: E402
from dbsynth.verify.realism import ks_distance as sample_ks  # noqa: E402

TOLERANCE = 0.10
CONFIDENCE = 0.95
DELTA = 1e-9


def rows_per_unit(read: Callable[[str], pd.DataFrame], units: Units, table: str) -> np.ndarray:
    """Rows of `table` per unit (the root of its owner chain), largest first. A row whose owner FK
    is NULL is a unit of its own; a parent whose owner FK is NULL is the root of its rows' unit.
    `read`: a table's rows by name."""
    frame = read(table)
    unit = pd.Series([f"{table}:{i}" for i in range(len(frame))], dtype=object)
    chain = units.chain(table)
    key = fk_tuples(frame, chain[0].columns).reset_index(drop=True) if chain else None
    for i, fk in enumerate(chain):
        live = key.notna()
        unit[live] = fk.ref_table + ":" + key[live]
        if i + 1 == len(chain):
            break
        parent = read(fk.ref_table)
        up = dict(zip(fk_tuples(parent, fk.ref_columns), fk_tuples(parent, chain[i + 1].columns)))
        key = key.map(lambda k: up.get(k) if k is not None else None)
    return np.sort(unit.value_counts().to_numpy())[::-1]


def bounds(n: int, per_unit: np.ndarray, epsilon: float) -> dict:
    """The three columns of the module's docstring for one table of `n` rows."""
    # Within ±10 % of n and of n' at once is impossible once n' < n · 0.9 / 1.1.
    gap = n * (1 - (1 - TOLERANCE) / (1 + TOLERANCE))
    k = int(np.searchsorted(np.cumsum(per_unit), gap, side="right")) + 1
    any_eps = math.log(CONFIDENCE / (1 - CONFIDENCE)) / k
    delta_oracle = int(per_unit[0])
    within = TOLERANCE * n
    laplace_eps = delta_oracle * math.log(1 / (1 - CONFIDENCE)) / within  # P(|Lap(b)| ≤ w) = 1 − e^(−w/b)
    sigma = delta_oracle / math.sqrt(2 * calibrate_rho(epsilon, DELTA))
    return {"rows": n, "units": len(per_unit), "largest unit": delta_oracle, "k": k, "any mechanism ε ≥": any_eps,
            "Laplace ε": laplace_eps, "Gaussian σ": sigma,
            "Gaussian P(±10 %)": float(2 * norm.cdf(within / sigma) - 1)}


KS_SIGMAS = (1.0, 2.0, 5.0, 10.0, 20.0)


def public_parent_ks(degrees: np.ndarray, sigma: float, rng: np.random.Generator, draws: int = 300) -> float:
    """Mean KS between the real degrees and the same degrees with noise σ (rounded, ≥ 0)."""
    return float(np.mean([sample_ks(degrees, np.maximum(np.rint(degrees + rng.normal(0, sigma, len(degrees))), 0))
                          for _ in range(draws)]))


def histogram_ks(degrees: np.ndarray, delta: float, rho: float, rng: np.random.Generator, draws: int = 100) -> float:
    """Mean KS between the real degrees and the released histogram's distribution, all of `rho`
    on it."""
    values, counts = np.unique(degrees.astype(int), return_counts=True)
    real = dict(zip(values.tolist(), counts.tolist()))
    true = bucket_counts(real)
    sigma = delta / math.sqrt(2 * rho)
    out = []
    for _ in range(draws):
        p = DegreeRelease(int(degrees.max()), true + rng.normal(0, sigma, len(true)), sigma).distribution()
        out.append(histogram_distance(real, dict(enumerate(p.tolist()))))
    return float(np.mean(out))


def edge_degrees(read: Callable[[str], pd.DataFrame], fk) -> np.ndarray:
    """Children per parent row of `fk`, childless parents included."""
    child, parent = read(fk.table), read(fk.ref_table)
    counts = fk_tuples(child, fk.columns).dropna().value_counts()
    return fk_tuples(parent, fk.ref_columns).map(counts).fillna(0).to_numpy(dtype=float)


@dataclass
class Database:
    """One source as the bounds read it: each table read once, its private tables' rows per unit
    (largest first)."""

    name: str
    engine: sa.Engine
    schema: object
    units: Units
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    per_unit: dict[str, np.ndarray] = field(default_factory=dict)

    def read(self, table: str) -> pd.DataFrame:
        if table not in self.frames:
            self.frames[table] = read_table(self.engine, self.schema, table)
        return self.frames[table]

    def largest(self, table: str) -> int:
        return int(self.per_unit[table][0]) if len(self.per_unit[table]) else 0

    def edges(self):
        for table in sorted(self.units.private):
            for fk in self.schema.tables[table].foreign_keys:
                yield fk


def read_database(name: str, dsn: str) -> Database:
    engine = sa.create_engine(dsn)
    schema = introspect(engine)
    db = Database(name, engine, schema, Units.from_spec(schema, make_spec(schema, public=set(reference_tables(schema)))))
    db.per_unit = {t: rows_per_unit(db.read, db.units, t) for t in sorted(db.units.private)}
    return db


def size_rows(db: Database, epsilon: float) -> list[str]:
    out = []
    for table, per_unit in db.per_unit.items():
        n = int(per_unit.sum())
        if n >= sizes_run.BIG:
            b = bounds(n, per_unit, epsilon)
            out.append(f"| {db.name} | {table} | {n:,} | {b['units']:,} | {b['largest unit']} | {b['k']} | "
                       f"{b['any mechanism ε ≥']:.2f} | {b['Laplace ε']:.2f} | {b['Gaussian σ']:,.0f} | "
                       f"{b['Gaussian P(±10 %)']:.2f} |")
    return out


def private_edge_rows(db: Database, rho: float, rng: np.random.Generator) -> list[str]:
    out = []
    for fk in db.edges():
        if fk.ref_table not in db.units.private or not db.largest(fk.table):
            continue
        # Δ as Units.degree_sensitivity, with the largest units where it reads caps.
        if db.units.is_owner_edge(fk):
            delta = max(2, db.largest(fk.ref_table))
        else:
            delta = 2 * db.largest(fk.table) + db.largest(fk.ref_table)
        degrees = edge_degrees(db.read, fk)
        out.append(f"| {db.name} | {fk.key} | {len(degrees):,} | {delta} | {delta / math.sqrt(2 * rho):,.0f} | "
                   f"{histogram_ks(degrees, delta, rho, rng):.3f} |")
    return out


def public_edge_rows(db: Database, rho: float, rng: np.random.Generator) -> list[str]:
    out = []
    for fk in db.edges():
        if fk.ref_table in db.units.private or not db.largest(fk.table):
            continue
        delta, degrees = db.largest(fk.table), edge_degrees(db.read, fk)
        cells = [f"{public_parent_ks(degrees, s, rng):.3f} ({delta ** 2 / (2 * s * s) / rho:.0%})" for s in KS_SIGMAS]
        out.append(f"| {db.name} | {fk.key} | {len(degrees):,} | {delta} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--databases", nargs="+", choices=["chinook", "northwind", "shop"],
                    default=["chinook", "northwind", "shop"])
    ap.add_argument("--epsilon", type=float, default=1.0)
    args = ap.parse_args()
    rho4, rng = calibrate_rho(4.0, DELTA), np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as work, sizes_run.PostgresServer() as server:
        dsns = sizes_run.load_sources(server, args.databases, 1.0, False, Path(work))
        dbs = [read_database(name, dsns[name]) for name in args.databases]
        tables = [
            (f"| database | table | rows | units | largest unit | k units past ±10 % | ε any mechanism needs (95 %) "
             f"| Laplace ε (95 %) | Gaussian σ at ε = {args.epsilon:g} | Gaussian P(±10 %) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|", lambda db: size_rows(db, args.epsilon)),
            ("| database | edge between private tables | parents | histogram Δ (largest units) "
             "| σ with all of ε = 4 | KS of the release |",
             "|---|---|---:|---:|---:|---:|", lambda db: private_edge_rows(db, rho4, rng)),
            ("| database | edge into a public parent | parents | Δ (largest unit) | "
             + " | ".join(f"KS at σ = {s:g} (ρ share)" for s in KS_SIGMAS) + " |",
             "|---|---|---:|---:|" + "---:|" * len(KS_SIGMAS), lambda db: public_edge_rows(db, rho4, rng)),
        ]
        for head, rule, rows in tables:
            print(head)
            print(rule)
            for db in dbs:
                for line in rows(db):
                    print(line, flush=True)
            print()
        for db in dbs:
            db.engine.dispose()


if __name__ == "__main__":
    main()
