"""Fidelity across tables: k-way marginals over the rows of FK joins, source vs target.

For every FK edge the child is joined to its parent in SQL (child ⋈ parent), and for every pair
of consecutive edges to its grandparent (child ⋈ parent ⋈ grandparent). Each joined row carries
the compared columns of every table on the path, binned with that table's own source bins, so a
parent column's 1-way marginal here is its distribution weighted by how many children point at
each parent: what a within-table comparison cannot see. Pairs and triples must span tables.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from dbsynth.schema.model import ForeignKey, Schema
from dbsynth.verify.fidelity import TableData, random_order
from dbsynth.verify.marginals import MAX_PAIRS, MAX_TRIPLES, key, kway_tvd, seeded_sample
from dbsynth.verify.results import JoinFidelity

MAX_CHAINS = 24


@dataclass(frozen=True)
class JoinPath:
    """tables[i] references tables[i + 1] through fks[i]; child first."""

    tables: tuple[str, ...]
    fks: tuple[ForeignKey, ...]

    def labels(self) -> list[str]:
        """A name per level; a table met twice (self references) is told apart by the FK used."""
        out = []
        for i, t in enumerate(self.tables):
            out.append(t if t not in self.tables[:i] else f"{t}[{','.join(self.fks[i - 1].columns)}]")
        return out


def join_paths(schema: Schema, present: dict[str, set[str]], seed: int, max_chains: int = MAX_CHAINS) -> list[JoinPath]:
    """Every FK edge the target has the columns for, then grandparent chains (seeded sample if many)."""
    edges = [fk for fk in schema.edges() if usable(fk, present)]
    pairs = [JoinPath((fk.table, fk.ref_table), (fk,)) for fk in edges]
    chains = [JoinPath((fk.table, fk.ref_table, up.ref_table), (fk, up))
              for fk in edges for up in edges if up.table == fk.ref_table]
    return pairs + seeded_sample(chains, max_chains, seed, "chains")


def usable(fk: ForeignKey, present: dict[str, set[str]]) -> bool:
    """Both tables on the target with the FK's columns (a missing one is a schema diff already)."""
    return (fk.table in present and fk.ref_table in present and set(fk.columns) <= present[fk.table]
            and set(fk.ref_columns) <= present[fk.ref_table])


def join_fidelity(
    source: sa.Engine,
    target: sa.Engine,
    path: JoinPath,
    data: dict[str, TableData],
    limit: int,
    seed: int = 0,
    max_triples: int = MAX_TRIPLES,
) -> JoinFidelity | None:
    """k-way TVDs over the joined rows of `path`, or None when no table on it has compared columns."""
    columns = [data[t].columns for t in path.tables]
    if not any(columns):
        return None
    labels = path.labels()
    src, tgt = read_join(source, path, columns, limit), read_join(target, path, columns, limit)
    s_codes: dict[str, np.ndarray] = {}
    t_codes: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    level: dict[str, int] = {}
    for i, (table, cols) in enumerate(zip(path.tables, columns)):
        td = data[table]
        for c in cols:
            name, coder = f"{labels[i]}.{c}", td.coders[c]
            s_codes[name], t_codes[name] = coder.codes(src.values[f"c{i}_{c}"]), coder.codes(tgt.values[f"c{i}_{c}"])
            sizes[name], level[name] = td.binnings[c].n_bins, i
    names = list(s_codes)
    depth = len(path.tables)
    spans = lambda combo, need: len({level[c] for c in combo}) >= need  # noqa: E731
    pairs = [p for p in itertools.combinations(names, 2) if spans(p, 2)]
    triples = [c for c in itertools.combinations(names, 3) if spans(c, min(depth, 3))]
    salt = ("join", *path.tables, *(fk.key for fk in path.fks))

    def distance(combo: tuple[str, ...]) -> float:
        return kway_tvd(combo, s_codes, t_codes, sizes, src.weights, tgt.weights)

    return JoinFidelity(
        path=tuple(labels),
        foreign_keys=tuple(fk.key for fk in path.fks),
        rows_source=src.rows,
        rows_target=tgt.rows,
        tvd_1way={c: distance((c,)) for c in names},
        tvd_2way={key(p): distance(p) for p in seeded_sample(pairs, MAX_PAIRS, seed, *salt)},
        tvd_3way={key(c): distance(c) for c in seeded_sample(triples, max_triples, seed, *salt)},
        sampled=src.sampled or tgt.sampled,
    )


@dataclass
class JoinedRows:
    """Distinct combinations of the compared columns along a join path, each with its row count
    (`weights`); or, when there are too many distinct ones, a uniform row sample (weights 1)."""

    values: dict[str, list[object]]  # "c{level}_{column}" -> one value per combination
    weights: np.ndarray
    rows: int  # rows of the join
    sampled: bool


def read_join(engine: sa.Engine, path: JoinPath, columns: list[list[str]], limit: int) -> JoinedRows:
    """The join runs in the database and so does the counting: GROUP BY the compared columns, so
    what comes back is at most one row per distinct combination, never the rows themselves."""
    needed: list[set[str]] = [set(cols) for cols in columns]
    for i, fk in enumerate(path.fks):
        needed[i].update(fk.columns)
        needed[i + 1].update(fk.ref_columns)
    aliases = [sa.table(t, *(sa.column(c) for c in sorted(needed[i]))).alias(f"t{i}") for i, t in enumerate(path.tables)]
    joined = aliases[0]
    for i, fk in enumerate(path.fks):
        on = sa.and_(*(aliases[i].c[a] == aliases[i + 1].c[b] for a, b in zip(fk.columns, fk.ref_columns)))
        joined = joined.join(aliases[i + 1], on)
    exprs = [aliases[i].c[c] for i, cols in enumerate(columns) for c in cols]
    names = [f"c{i}_{c}" for i, cols in enumerate(columns) for c in cols]
    selected = [e.label(n) for e, n in zip(exprs, names)]
    grouped = (sa.select(*selected, sa.func.count().label("w")).select_from(joined).group_by(*exprs)
               .limit(limit + 1))
    with engine.connect() as conn:
        try:
            rows = conn.execute(grouped).all()
        except sa.exc.DBAPIError:  # a type without equality (PostgreSQL json): read rows instead
            conn.rollback()
            rows = None
        if rows is not None and len(rows) <= limit:
            cols = list(zip(*rows)) or [() for _ in range(len(names) + 1)]
            weights = np.asarray([int(w) for w in cols[-1]], dtype=float)
            return JoinedRows(dict(zip(names, map(list, cols[:-1]))), weights, int(weights.sum()), False)
        n = int(conn.execute(sa.select(sa.func.count()).select_from(joined)).scalar_one())
        stmt = sa.select(*selected).select_from(joined)
        if n > limit:
            stmt = stmt.order_by(random_order(engine)).limit(limit)
        sample = conn.execute(stmt).all()
    cols = list(zip(*sample)) or [() for _ in names]
    return JoinedRows(dict(zip(names, map(list, cols))), np.ones(len(sample)), n, n > limit)
