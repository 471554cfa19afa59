"""Neighbouring databases (DESIGN §2): removing one unit changes every statistic that `run`
counts inside the source database by at most the sensitivity the product declares for it.

Per trial a random schema is drawn (keyless tables, composite keys and FKs, nullable FKs,
tables with two private parents, chains of three levels, self references, sometimes a public
catalogue), loaded with small data whose fan-outs are skewed or flat (caps 1..3 bind), and the
spec is the default one from `pipeline.load_spec` with random caps (and, for half the tables,
another owner among their FKs into private parents). A *unit* is a private row that is a root
(no owner edge, or a NULL owner FK) together with, recursively, every row it owns through
`Units.owner`; an owned row with what it owns is removed too (DESIGN §2 protects it as well; it
frees a slot under its owner's cap, the doubling in Δ). The test finds those rows itself,
deletes them with SQL (FK checks off: rows outside the unit keep dangling references) and
recounts through the SQL path `run` executes, with the sensitivities `measure` and
`measure_links` charge:

- `Pushdown.row_count`, Δ(T);
- domain discovery (`Pushdown.counts`): partition-selection value counts (L1 ≤ Δ(T), which
  bounds every single value's count too), and the same with a floor (the engine drops rarer
  values): the shared values' changes plus, for a value on one side only, its rows above
  floor − 1, at most Δ(T) (what `PartitionSelection`'s raised threshold rests on), coarse range histograms (L1) and the fine bucket
  counts DP quantiles rank by (ranks, L∞ ≤ Δ(T));
- marginals of the encoded bounded rows from `SqlMarginalSource` (FK NULL flags included), Δ(T);
- `Pushdown.degree_histogram` per FK into a private parent, `Units.degree_sensitivity`; into a
  public parent, `Pushdown.parent_degrees` (children per parent row), Δ(T); on an owner edge,
  the children in each band above the cap (`degrees.excess` of `Pushdown.degree_counts` over
  `degrees.tail_bands`, clipped per parent), `Units.excess_sensitivity`; on a nullable FK that is
  not the owner's, the kept rows with it NULL (its NULL indicator's 1-way), Δ(T);
- each FK edge's cross-table marginals from `crossjoin.join_counts`, `join_sensitivity`.

The worst ratio change / declared Δ is tracked per statistic family over every trial; it must
never exceed 1, and it must come near the bound (≥ 0.5) for per-table and for cross-table
statistics, so that the test can fail. Also here: the keyless-row regression (rows that differ
only in case or trailing spaces) and the refusal of FKs onto non-unique columns.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from dbsynth.connect import source_engine
from dbsynth.errors import UnsupportedSchema
from dbsynth.measure.crossjoin import join_counts
from dbsynth.measure.crossplan import admits, default_marginals, edge_features, join_sensitivity
from dbsynth.measure.crosstable import public_table_encoders
from dbsynth.measure.degrees import excess, tail_bands
from dbsynth.measure.domains import (Grid, as_type, coarse_edges, histogram_grid, public_encoder, quantile_grid,
                                     type_range)
from dbsynth.measure.encoders import EPOCH, BinEncoder, CategoricalEncoder, NullIndicator, to_number
from dbsynth.measure.measure import MODELLED, null_column, paid_columns
from dbsynth.measure.pushdown import Pushdown, SqlMarginalSource
from dbsynth.measure.read import read_table
from dbsynth.pipeline import load_spec
from dbsynth.privacy.units import Units
from dbsynth.schema.introspect import introspect

ENGINES = ("sqlite", "pg", "maria")
DSN_FIXTURE = {"sqlite": "new_sqlite_path", "pg": "new_pg_db", "maria": "new_maria_db"}
TRIALS = 3  # per engine; every trial draws a new schema, new data, new caps and new owners
REMOVALS_PER_TABLE = 2  # units removed per private table and trial (one at a time)
PER_TABLE = ("row count", "partition counts", "floored partition counts", "range histogram", "quantile ranks", "marginals",
             "degree histogram", "children per public parent",
             "children above the cap", "rows with a NULL FK")
MAX_DEPTH = 4  # tables on the longest FK path (a chain of 3 owner edges at most)
CROSS = ("cross-table owner edge", "cross-table reference edge", "cross-table public parent")


# -- random schemas ------------------------------------------------------------------------------


@dataclass
class Col:
    name: str
    kind: str  # int | str | email | bool | date | level (CHECK IN) | key (a string key part)
    nullable: bool = True


@dataclass
class Fk:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    nullable: bool


@dataclass
class TableDef:
    name: str
    pk: tuple[str, ...]  # () = keyless
    columns: list[Col]
    fks: list[Fk] = field(default_factory=list)
    indexed: tuple[str, ...] = ()  # a non-unique index (what MariaDB needs under an FK's target)

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)


SQL_TYPE = {"int": "INTEGER", "str": "VARCHAR(8)", "email": "VARCHAR(40)", "bool": "BOOLEAN", "date": "DATE",
            "level": "VARCHAR(4)", "key": "VARCHAR(4)"}
# Case and trailing-space variants: MariaDB's default collations call them equal, Python does not.
STRINGS = ["a", "b", "A", "a ", "c"]
DATES = [dt.date(2020, 1, 1), dt.date(2020, 2, 29), dt.date(2021, 7, 4), dt.date(2019, 12, 31)]


def attributes(rng: np.random.Generator, n: int) -> list[Col]:
    kinds = rng.choice(["str", "int", "bool", "date", "level"], size=n, replace=False)
    return [Col(f"{k}_v", str(k), nullable=bool(rng.random() < 0.4)) for k in kinds]


def random_schema(rng: np.random.Generator) -> list[TableDef]:
    """users (PII, maybe a self reference), maybe a catalogue, then 4..6 tables whose parents are
    drawn among the tables before them (so the owner forest is acyclic whatever the spec picks).
    Redrawn until it has every shape the property must cover."""
    while True:
        tables = _draw_schema(rng)
        if _covers(tables):
            return tables


def _draw_schema(rng: np.random.Generator) -> list[TableDef]:
    users = TableDef("users", ("id",), [Col("id", "int", False), Col("email", "email", False),
                                        *attributes(rng, int(rng.integers(1, 3)))])
    if rng.random() < 0.6:
        users.columns.append(Col("referrer_id", "int"))
        users.fks.append(Fk(("referrer_id",), "users", ("id",), True))
    tables = [users]
    if rng.random() < 0.7:
        tables.append(TableDef("product", ("id",), [Col("id", "int", False), *attributes(rng, 1)]))
    for i in range(int(rng.integers(4, 7))):
        name = f"t{i + 1}"
        shape = rng.choice(["int", "int", "composite", "keyless"])
        cols: list[Col] = []
        if shape == "int":
            pk: tuple[str, ...] = ("id",)
            cols.append(Col("id", "int", False))
        elif shape == "composite":
            pk = ("k1", "k2")
            cols += [Col("k1", "int", False), Col("k2", "key", False)]
        else:
            pk = ()
        table = TableDef(name, pk, cols)
        # at most 4 levels of FKs: SQLite's parser overflows on the bounding of longer owner
        # chains (a chain of 5 owner edges fails even for a row count; see the report)
        referable = [t for t in tables if t.pk and depth(tables, t.name) <= MAX_DEPTH - 1]
        # the latest tables are likelier parents: chains grow
        weights = np.arange(1, len(referable) + 1, dtype=float) ** 1.5
        parents = [referable[int(rng.choice(len(referable), p=weights / weights.sum()))]
                   for _ in range(2 if rng.random() < 0.45 else 1)]
        for j, parent in enumerate(parents):
            nullable = bool(rng.random() < 0.35)
            fk_cols = tuple(f"{parent.name}_{c}{'_' + str(j) if j else ''}" for c in parent.pk)
            for c, rc in zip(fk_cols, parent.pk):
                table.columns.append(Col(c, parent.col(rc).kind, nullable))
            table.fks.append(Fk(fk_cols, parent.name, parent.pk, nullable))
        if shape == "int" and rng.random() < 0.25:
            table.columns.append(Col("up_id", "int"))
            table.fks.append(Fk(("up_id",), name, ("id",), True))
        table.columns += attributes(rng, int(rng.integers(1, 3)))
        tables.append(table)
    return tables


def depth(tables: list[TableDef], name: str) -> int:
    by = {t.name: t for t in tables}
    return 1 + max((depth(tables, fk.ref_table) for fk in by[name].fks if fk.ref_table != name), default=0)


def _covers(tables: list[TableDef]) -> bool:
    fks = [fk for t in tables for fk in t.fks]
    return (any(not t.pk and t.fks for t in tables)
            and any(len(fk.columns) == 2 for fk in fks)
            and any(fk.nullable and fk.ref_table != t.name for t in tables for fk in t.fks)
            and any(len([fk for fk in t.fks if fk.ref_table not in (t.name, "product")]) >= 2 for t in tables)
            and any(fk.ref_table == t.name for t in tables for fk in t.fks)
            and max(depth(tables, t.name) for t in tables) >= 3)


def ddl(tables: list[TableDef], engine: str) -> list[str]:
    out = []
    for t in tables:
        parts = []
        for c in t.columns:
            check = f" CHECK ({c.name} IN ('lo', 'hi'))" if c.kind == "level" else ""
            parts.append(f"{c.name} {SQL_TYPE[c.kind]}{'' if c.nullable else ' NOT NULL'}{check}")
        if t.pk:
            parts.append(f"PRIMARY KEY ({', '.join(t.pk)})")
        if t.indexed and engine == "maria":
            parts.append(f"INDEX ({', '.join(t.indexed)})")
        for fk in t.fks:
            parts.append(f"FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES {fk.ref_table} ({', '.join(fk.ref_columns)})")
        out.append(f"CREATE TABLE {t.name} (\n  " + ",\n  ".join(parts) + "\n)")
    return out


def value(rng: np.random.Generator, col: Col, i: int) -> Any:
    if col.nullable and rng.random() < 0.2:
        return None
    if col.kind == "int":
        return int(rng.choice([0, 1, 1, 2, 3, 5, 8, 13, 21, 40]))
    if col.kind == "str":
        return str(rng.choice(STRINGS, p=[0.35, 0.25, 0.15, 0.15, 0.1]))
    if col.kind == "email":
        return f"u{i}@example.org"
    if col.kind == "bool":
        return bool(rng.random() < 0.6)
    if col.kind == "date":
        return DATES[int(rng.integers(len(DATES)))]
    if col.kind == "level":
        return str(rng.choice(["lo", "hi"]))
    raise AssertionError(col.kind)


def random_rows(rng: np.random.Generator, tables: list[TableDef]) -> dict[str, list[dict]]:
    """Tens of rows per table; children pick parents with a skewed (Zipf-like) law, so some
    parents have many more children than any cap, or with a flat one. Keyless tables draw from small pools: some
    rows repeat exactly."""
    rows: dict[str, list[dict]] = {}
    for t in tables:
        # per FK a skewed law (caps bind) or a flat one (degrees stay under the histogram's cap)
        skew = {fk.columns: float(rng.choice([0.0, 1.3, 1.3])) for fk in t.fks}
        n = int(rng.integers(6, 11)) if not [fk for fk in t.fks if fk.ref_table != t.name] else int(rng.integers(12, 28))
        out: list[dict] = []
        for i in range(n):
            r: dict[str, Any] = {}
            if t.pk == ("id",):
                r["id"] = i + 1
            elif t.pk:
                r["k1"], r["k2"] = i // 2 + 1, "pq"[i % 2]
            for fk in t.fks:
                if fk.ref_table == t.name:  # a self reference: an earlier row, or none
                    r[fk.columns[0]] = int(rng.integers(1, i + 1)) if i and rng.random() < 0.6 else None
                    continue
                parent = rows[fk.ref_table]
                if fk.nullable and rng.random() < 0.25:
                    ref = None
                else:
                    weights = 1.0 / np.arange(1, len(parent) + 1) ** skew[fk.columns]
                    order = rng.permutation(len(parent))
                    ref = parent[int(order[rng.choice(len(parent), p=weights / weights.sum())])]
                for c, rc in zip(fk.columns, fk.ref_columns):
                    r[c] = None if ref is None else ref[rc]
            for c in t.columns:
                if c.name not in r:
                    r[c.name] = value(rng, c, i)
            out.append(r)
        if not t.pk:  # exact duplicates of some rows
            out += [dict(out[int(k)]) for k in rng.integers(0, len(out), size=len(out) // 4)]
        rows[t.name] = out
    return rows


# -- the database and the removal ------------------------------------------------------------------


class Database:
    """One source database holding D; `without` swaps in D minus some rows, `restore` brings D back."""

    def __init__(self, dsn: str, engine_name: str, tables: list[TableDef], rows: dict[str, list[dict]]):
        self.engine_name = engine_name
        self.writer = sa.create_engine(dsn)
        self.tables = tables
        self.rows = rows
        with self.writer.begin() as conn:
            for stmt in ddl(tables, engine_name):
                conn.exec_driver_sql(stmt)
        self.md = sa.MetaData()
        self.md.reflect(self.writer)
        self._replace({t.name: rows[t.name] for t in tables})
        self.source = source_engine(dsn)  # what `run` reads through: read-only sessions

    def _replace(self, contents: dict[str, list[dict]]) -> None:
        with self.writer.begin() as conn:
            # D' has dangling references (rows outside the unit that pointed into it): the
            # database must not refuse them, so FK checks are off for this session.
            if self.engine_name == "pg":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            elif self.engine_name == "maria":
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            for name, rows in contents.items():
                conn.execute(self.md.tables[name].delete())
                if rows:
                    conn.execute(self.md.tables[name].insert(), rows)
            if self.engine_name == "maria":
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
        if self.engine_name == "pg":
            # Fresh statistics, as a live source has: without them the planner's estimates of
            # the nested bounding queries pass jit_above_cost and each statement pays ~1 s of JIT.
            with self.writer.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "ANALYZE " + ", ".join(contents))

    def without(self, doomed: dict[str, set[int]]) -> None:
        self._replace({t: [r for i, r in enumerate(self.rows[t]) if i not in gone] for t, gone in doomed.items()})

    def restore(self, doomed: dict[str, set[int]]) -> None:
        self._replace({t: self.rows[t] for t in doomed})


def unit_of(rows: dict[str, list[dict]], units: Units, table: str, index: int) -> dict[str, set[int]]:
    """Row indexes of the unit rooted at rows[table][index]: that row and, recursively, every row
    whose owner FK (all parts non-NULL) equals the referenced key of a row already in the unit."""
    doomed: dict[str, set[int]] = {table: {index}}
    queue = [(table, index)]
    while queue:
        parent, i = queue.pop()
        prow = rows[parent][i]
        for child, fk in units.owner.items():
            if fk is None or fk.ref_table != parent:
                continue
            key = tuple(prow[c] for c in fk.ref_columns)
            for j, crow in enumerate(rows[child]):
                ref = tuple(crow[c] for c in fk.columns)
                if None not in ref and ref == key and j not in doomed.setdefault(child, set()):
                    doomed[child].add(j)
                    queue.append((child, j))
    return doomed


def is_root(rows: dict[str, list[dict]], units: Units, table: str, index: int) -> bool:
    fk = units.owner.get(table)
    return fk is None or any(rows[table][index][c] is None for c in fk.columns)


# -- statistics, through the SQL path `run` executes ------------------------------------------------


@dataclass
class Stat:
    family: str
    values: Any  # np.ndarray, or {value: count} for partition-selection counts
    delta: float
    norm: str  # "l1" | "linf"


def data_encoders(schema, spec, name: str, rows: list[dict]) -> dict[str, Any]:
    """Fixed encoders (released domains are fixed between neighbours): public ones from the
    schema, the rest from D's values, every distinct value released (the finest cells)."""
    table = schema.tables[name]
    out: dict[str, Any] = {}
    fks = table.fk_columns()
    for col in table.columns:
        cs = spec.tables[name].columns[col.name]
        if cs.kind not in MODELLED or col.name in fks:
            continue
        enc = public_encoder(col, cs)
        values = [r[col.name] for r in rows]
        if enc is None and cs.kind == "categorical":
            enc = CategoricalEncoder(sorted({v for v in values if v is not None}, key=str), col.nullable, other=True)
        elif enc is None:
            x = to_number(np.array(values, dtype=object), as_type(col))
            x = np.unique(x[~np.isnan(x)])
            edges = np.unique(np.quantile(x, np.linspace(0, 1, 5), method="nearest")) if len(x) else np.array([0.0])
            enc = BinEncoder(list(map(float, edges)), col.nullable, as_type(col))
        out[col.name] = enc
    return out


def fine_grid(col_type: str) -> Grid:
    """A fine candidate grid as `private_encoders` builds inside a released range (thinned for
    dates: the ranks' sensitivity does not depend on how many candidates there are)."""
    if col_type in ("date", "datetime"):
        lo, hi = ((dt.datetime(d.year, d.month, d.day) - EPOCH).total_seconds() for d in (min(DATES), max(DATES)))
        grid = quantile_grid(col_type, lo - 86400 * 30, hi + 86400 * 30)
        return Grid(grid.explicit[::16], grid.first_day, grid.days)
    return quantile_grid(col_type, -2.0, 45.0)


def statistics(db: Database, schema, spec, units: Units, encoders: dict[str, dict], secret: bytes) -> dict[str, Stat]:
    push = Pushdown(db.source, schema, units, secret)  # a fresh one: it caches row counts
    stats: dict[str, Stat] = {}
    for name in units.order():
        table = schema.tables[name]
        ts = spec.tables[name]
        d = units.sensitivity(name)
        stats[f"{name}: rows"] = Stat("row count", np.array([push.row_count(name)], dtype=float), d, "l1")

        # domain discovery: partition-selection value counts, coarse range histograms, then the
        # fine bucket counts DP quantiles rank candidates by (as `private_encoders` asks them)
        paid = paid_columns(schema, spec, name)  # what `measure` discovers with DP
        values = [c.name for c, cs in paid if cs.kind == "categorical"]
        numeric = [(c.name, as_type(c)) for c, cs in paid if cs.kind != "categorical"]
        if values or numeric:
            seen: dict[str, dict] = {c: {} for c in values}

            def sink(column, chunk):
                for v, n in chunk:
                    assert v not in seen[column], f"{name}.{column}: value {v!r} counted twice"
                    seen[column][v] = n

            coarse = []
            for c, t in numeric:
                coarse.append((c, t, histogram_grid(coarse_edges(t, *type_range(table.column(c))))))
            hists = push.counts(name).count(values, coarse, sink)
            for c in values:
                stats[f"{name}.{c}: values"] = Stat("partition counts", seen[c], d, "l1")
            # the same with a floor, as partition selection asks for them (the engine drops the
            # values under it): see `change` for what the release's argument needs of them
            seen = {c: {} for c in values}
            push.counts(name).count(values, [], sink, {c: FLOOR for c in values})
            for c in values:
                stats[f"{name}.{c}: values over the floor"] = Stat("floored partition counts", seen[c], d, "floored")
            for (c, _, _), h in zip(coarse, hists):
                stats[f"{name}.{c}: range"] = Stat("range histogram", h, d, "l1")
            fine = [(c, t, fine_grid(t)) for c, t in numeric]
            for (c, _, _), bc in zip(fine, push.counts(name).count([], fine)):
                stats[f"{name}.{c}: ranks"] = Stat("quantile ranks", np.cumsum(bc), d, "linf")

        # the model's input: marginals of the encoded bounded rows (FK NULL flags included)
        model: dict[str, Any] = dict(encoders[name])
        for fk in table.foreign_keys:
            if any(table.column(c).nullable for c in fk.columns):
                model[null_column(fk.key)] = NullIndicator(fk.columns)
        source = SqlMarginalSource(push, name, model, rows=push.row_count(name))
        cols = list(model)
        cliques = [(), *[(c,) for c in cols], *itertools.combinations(cols, 2), *itertools.combinations(cols, 3)]
        for clique, counts in zip(cliques, source.marginals(cliques)):
            stats[f"{name}: marginal {clique}"] = Stat("marginals", np.asarray(counts, dtype=float), d, "l1")

        # degrees, with the sensitivity `measure` charges: a histogram under a private parent,
        # each parent's own count under a public one
        for fk in table.foreign_keys:
            if all(table.column(c).nullable for c in fk.columns) and not units.is_owner_edge(fk):
                (indicator,) = source.marginals([(null_column(fk.key),)])
                stats[f"{fk.key}: NULL"] = Stat("rows with a NULL FK", np.array([indicator[1]], dtype=float), d, "l1")
            if fk.ref_table in units.private:
                stats[f"{fk.key}: degrees"] = Stat("degree histogram", push.degree_histogram(fk),
                                                   units.degree_sensitivity(fk), "l1")
                if units.is_owner_edge(fk):
                    degrees = push.degree_counts(fk, all_children=True)
                    for lo, hi in tail_bands(units.caps[fk.key]):
                        above = np.array([excess(degrees, lo, hi)], dtype=float)
                        stats[f"{fk.key}: above the cap, {lo} to {hi}"] = Stat(
                            "children above the cap", above, units.excess_sensitivity(fk, lo, hi), "l1")
            else:
                stats[f"{fk.key}: degrees"] = Stat("children per public parent", push.parent_degrees(fk), d, "l1")

    # cross-table marginals of every edge with a private child, counted in the database
    for fk in schema.edges():
        if fk.table not in units.private:
            continue
        features = edge_features(fk, schema, units, encoders)
        if not any(f.side == "parent" for f in features.values()):
            continue
        parent, child = ([n for n, f in features.items() if f.side == s] for s in ("parent", "child"))
        cliques = list(dict.fromkeys([*default_marginals(features), *[(p,) for p in parent],
                                      *itertools.product(parent, child)]))
        family = ("cross-table public parent" if fk.ref_table not in units.private
                  else "cross-table reference edge" if admits(fk, units) else "cross-table owner edge")
        sens = join_sensitivity(fk, units)
        for clique, counts in zip(cliques, join_counts(push, fk, features, encoders, cliques)):
            stats[f"{fk.key}: cross {clique}"] = Stat(family, counts.ravel(), sens, "l1")
    return stats


FLOOR = 2  # the floor of the floored partition counts (`mechanisms.PartitionSelection.floor`)


def change(a: Stat, b: Stat) -> float:
    if a.norm == "floored":
        # A value counted on both sides changes by its count's change; a value that is a candidate
        # on one side only must have lost or gained at least (its count − (floor − 1)) rows. The
        # unit's rows bound the sum: so each such value has at most floor − 1 + Δ rows (what τ's
        # raise by floor − 1 covers) and the shared ones stay within Δ.
        both = set(a.values) & set(b.values)
        one = [(a.values if k in a.values else b.values)[k] for k in set(a.values) ^ set(b.values)]
        return float(sum(abs(a.values[k] - b.values[k]) for k in both) + sum(n - (FLOOR - 1) for n in one))
    if isinstance(a.values, dict):
        keys = set(a.values) | set(b.values)
        diff = np.array([abs(a.values.get(k, 0) - b.values.get(k, 0)) for k in keys], dtype=float)
    else:
        assert a.values.shape == b.values.shape
        diff = np.abs(np.asarray(a.values, dtype=float) - np.asarray(b.values, dtype=float)).ravel()
    if not len(diff):
        return 0.0
    return float(diff.max() if a.norm == "linf" else diff.sum())


# -- the spec of a trial ----------------------------------------------------------------------------


def trial_spec(schema, rng: np.random.Generator, tmp_path, trial: int):
    """The default spec (`load_spec` with no file), then random caps 1..3, the catalogue public in
    odd trials, and for half the tables another owner among their FKs into private parents
    (NULLable ones included) or none (every row its own unit: all its FKs are reference edges),
    as a user's spec file may say; checked again by `load_spec` as a spec file."""
    spec = load_spec(schema, None)
    if "product" in spec.tables:
        spec.tables["product"].private = trial % 2 == 1
    private = {t for t, ts in spec.tables.items() if ts.private}
    for name, ts in spec.tables.items():
        for f in ts.foreign_keys.values():
            f.cap = int(rng.integers(1, 4))
        owner = next((fk for fk in schema.tables[name].foreign_keys if fk.key == ts.owner), None)
        if owner is not None and owner.ref_table not in private:
            ts.owner = None  # an owner must be private: the catalogue just became public
        candidates = [fk.key for fk in schema.tables[name].foreign_keys
                      if not fk.is_self_reference and fk.ref_table in private]
        if name in private and candidates and rng.random() < 0.5:
            options = [*candidates, *candidates, None]
            ts.owner = options[int(rng.integers(len(options)))]
    path = tmp_path / f"spec{trial}.yaml"
    spec.save(path)
    return load_spec(schema, str(path))


# -- the property ---------------------------------------------------------------------------------


@dataclass
class Worst:
    ratio: float = 0.0
    where: str = ""


def report(worst: dict[str, Worst]) -> str:
    return "\n".join(f"  {fam:34s} {w.ratio:5.2f}  {w.where}" for fam, w in sorted(worst.items()))


def trial_encoders(db, schema, spec, units: Units, rows) -> dict[str, dict]:
    """Each table's encoders as a run would release them: from the rows of a private table, from
    the source (read whole) for a public one."""
    return {t: (data_encoders(schema, spec, t, rows[t]) if t in units.private
                else public_table_encoders(schema, spec, t, read_table(db.source, schema, t)))
            for t in schema.tables}


def remove_and_compare(db, schema, spec, units: Units, encoders, secret: bytes, rows, before: dict[str, Stat],
                       table: str, index: int, label: str, worst: dict[str, Worst], violations: list[str]) -> None:
    """Take the unit (or owned subtree) of `table` row `index` out of `db`, recount every
    statistic, put it back, and record each change against its declared Δ: the largest per
    family in `worst`, every one above Δ in `violations`."""
    doomed = unit_of(rows, units, table, index)
    db.without(doomed)
    after = statistics(db, schema, spec, units, encoders, secret)
    db.restore(doomed)
    size = {t: len(v) for t, v in doomed.items()}
    what = "unit" if is_root(rows, units, table, index) else "owned subtree"
    for key, stat in before.items():
        ratio = change(stat, after[key]) / stat.delta
        where = (f"{label}, {what} of {table} row {rows[table][index]} ({size} rows): {key}, "
                 f"change {change(stat, after[key]):g} vs Δ {stat.delta:g}")
        if ratio > worst.setdefault(stat.family, Worst()).ratio:
            worst[stat.family] = Worst(ratio, where)
        if ratio > 1 + 1e-9:
            violations.append(where)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_removing_one_unit_changes_every_pushed_down_statistic_by_at_most_its_declared_delta(
        engine_name, request, tmp_path):
    new_db = request.getfixturevalue(DSN_FIXTURE[engine_name])
    rng = np.random.default_rng(20240611 + ENGINES.index(engine_name))
    worst: dict[str, Worst] = {}
    violations: list[str] = []
    shapes: set[str] = set()
    for trial in range(TRIALS):
        tables = random_schema(rng)
        rows = random_rows(rng, tables)
        db = Database(new_db(), engine_name, tables, rows)
        schema = introspect(db.source)
        spec = trial_spec(schema, rng, tmp_path, trial)
        units = Units.from_spec(schema, spec)
        shapes |= covered(schema, units, rows)
        encoders = trial_encoders(db, schema, spec, units, rows)
        secret = bytes(rng.integers(0, 256, 32, dtype=np.uint8))
        before = statistics(db, schema, spec, units, encoders, secret)
        # Units (roots with what they own) and, as DESIGN §2 protects every row with what depends
        # on it, subtrees rooted at an owned row too: those free a slot under their owner's cap
        # (the doubling in Δ).
        removals = [(t, int(i)) for t in sorted(units.private)
                    for i in rng.permutation(len(rows[t]))[:REMOVALS_PER_TABLE]]
        for table, index in removals:
            remove_and_compare(db, schema, spec, units, encoders, secret, rows, before, table, index,
                               f"trial {trial}", worst, violations)
        again = statistics(db, schema, spec, units, encoders, secret)
        unstable = [k for k in before if change(before[k], again[k]) != 0]
        assert not unstable, f"statistics of D are not a function of D's rows: {unstable[:5]}"

    summary = f"{engine_name}: worst change / declared Δ per family\n{report(worst)}"
    print(summary)
    assert not violations, f"{len(violations)} declared sensitivities violated, e.g.\n  " + "\n  ".join(
        violations[:10]) + "\n" + summary
    assert max(worst.get(f, Worst()).ratio for f in PER_TABLE) >= 0.5, summary
    assert max(worst.get(f, Worst()).ratio for f in CROSS) >= 0.5, summary
    assert worst.get("floored partition counts", Worst()).ratio >= 0.5, summary
    missing = {"keyless", "composite FK", "nullable owner FK", "two private parents", "chain of 3 owners",
               "self reference", "public parent", "reference edge"} - shapes
    assert not missing, f"the random schemas never had: {missing}"


def covered(schema, units: Units, rows) -> set[str]:
    """The shapes a trial exercised (as the product sees them: introspected schema, spec's units)."""
    out = set()
    for name, table in schema.tables.items():
        fk = units.owner.get(name)
        private_parents = [f for f in table.foreign_keys if f.ref_table in units.private and not f.is_self_reference]
        if not table.primary_key and table.foreign_keys:
            out.add("keyless")
        if any(len(f.columns) == 2 for f in table.foreign_keys):
            out.add("composite FK")
        if fk is not None and any(r[c] is None for r in rows[name] for c in fk.columns):
            out.add("nullable owner FK")
        if len(private_parents) >= 2:
            out.add("two private parents")
        if name in units.private and len(units.chain(name)) >= 2:
            out.add("chain of 3 owners")
        if any(f.is_self_reference for f in table.foreign_keys):
            out.add("self reference")
        if any(f.ref_table not in units.private for f in table.foreign_keys) and name in units.private:
            out.add("public parent")
        if name in units.private and any(admits(f, units) for f in table.foreign_keys):
            out.add("reference edge")
    return out


@pytest.mark.parametrize("engine_name", ["sqlite", "maria"])
def test_an_fk_onto_a_non_unique_column_is_refused_at_spec_check(engine_name, request):
    """SQLite and MariaDB/InnoDB accept an FK whose referenced columns are not unique; a unit
    would then not be a tree. The product refuses it before reading a row (exit code 6)."""
    new_db = request.getfixturevalue(DSN_FIXTURE[engine_name])
    rng = np.random.default_rng(7 + ENGINES.index(engine_name))
    for _ in range(2):
        tables = random_schema(rng)
        target = tables[int(rng.integers(0, len(tables)))]
        code = Col("grp_code", "str", False)
        target.columns.append(code)
        target.indexed = ("grp_code",)
        tables.append(TableDef("member", ("id",), [Col("id", "int", False), Col("grp", "str", False), Col("n", "int")],
                               [Fk(("grp",), target.name, ("grp_code",), False)]))
        rows = random_rows(rng, tables)
        for r in rows[target.name]:
            r["grp_code"] = "g"  # every row shares the code: the FK's target is not unique
        for r in rows["member"]:
            r["grp"] = "g"
        db = Database(new_db(), engine_name, tables, rows)
        schema = introspect(db.source)
        assert any(fk.ref_table == target.name and fk.ref_columns == ("grp_code",)
                   for fk in schema.tables["member"].foreign_keys), "the FK was introspected"
        with pytest.raises(UnsupportedSchema) as err:
            load_spec(schema, None)
        assert err.value.exit_code == 6
        message = str(err.value)
        assert "member" in message and target.name in message and "grp_code" in message, message


@pytest.mark.parametrize("engine_name", ENGINES)
def test_removing_one_keyless_row_does_not_reorder_rows_that_differ_only_in_case_or_trailing_spaces(
        engine_name, request, tmp_path):
    """Keyless rows are told apart by their whole text and an occurrence number among identical
    texts. Where the engine's collation calls 'a', 'A' and 'a ' equal (MariaDB's defaults), a
    numbering by that collation makes one row's number, so its hash and rank, depend on other
    units' rows: removing one note re-ranked its siblings and swapped every kept (or admitted)
    row at once. note: owned rows ranked under their person (cap 2); memo: rows of their own
    (roots) admitted under their person on the cross-table join (cap 3)."""
    new_db = request.getfixturevalue(DSN_FIXTURE[engine_name])
    variants = ["a", "A", "a ", "A ", "a  ", "A  ", "a   "]
    tables = [TableDef("person", ("id",), [Col("id", "int", False), Col("email", "email", False),
                                           Col("level_v", "level", False)]),
              TableDef("note", (), [Col("person_id", "int", False), Col("str_v", "str")],
                       [Fk(("person_id",), "person", ("id",), False)]),
              TableDef("memo", (), [Col("person_id", "int", False), Col("str_v", "str")],
                       [Fk(("person_id",), "person", ("id",), False)])]
    rows = {"person": [{"id": 1, "email": "p@x", "level_v": "lo"}, {"id": 2, "email": "q@x", "level_v": "hi"}],
            "note": [{"person_id": 1, "str_v": v} for v in variants[:5]],
            "memo": [{"person_id": 1, "str_v": v} for v in variants]}
    db = Database(new_db(), engine_name, tables, rows)
    schema = introspect(db.source)
    spec = load_spec(schema, None)
    spec.tables["note"].owner = "note(person_id)->person"
    spec.tables["note"].foreign_keys["note(person_id)->person"].cap = 2
    spec.tables["memo"].owner = None
    spec.tables["memo"].foreign_keys["memo(person_id)->person"].cap = 3
    units = Units.from_spec(schema, spec)
    encoders = {t: data_encoders(schema, spec, t, rows[t]) for t in schema.tables}
    violations = []
    for s in range(5):
        secret = bytes([s, 0]) * 16
        before = statistics(db, schema, spec, units, encoders, secret)
        for table in ("note", "memo"):
            for index in range(len(rows[table])):
                doomed = unit_of(rows, units, table, index)
                assert doomed == {table: {index}}
                db.without(doomed)
                after = statistics(db, schema, spec, units, encoders, secret)
                db.restore(doomed)
                violations += [f"secret {secret[:2].hex()}…, removing {table} row {rows[table][index]}: {key} changed by "
                               f"{change(stat, after[key]):g} > Δ {stat.delta:g}"
                               for key, stat in before.items() if change(stat, after[key]) > stat.delta]
    assert not violations, "\n".join(violations[:10])
