"""Sampled tables to one consistent synthetic database: keys, links, uniqueness.

Order: every table's own columns and fresh primary keys first (so every parent key exists),
then foreign keys edge by edge (`problem.link_order`), each by its spec's linker (`pgd` or
`degree`), a table's key uniqueness repaired right after its own edges; FK cycles need no
special case since all keys already exist and the writer creates FK constraints after loading.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dbsynth.measure.crossplan import fk_spec
from dbsynth.measure.crosstable import EdgeMeasurements
from dbsynth.measure.measure import TableMeasurements, null_column
from dbsynth.measure.sizing import Sizing
from dbsynth.privacy.units import Units, fk_text
from dbsynth.relational.keys import fresh_keys, make_unique_rows, unique_sets_with_fks, unique_sets_without_fks
from dbsynth.relational.linker import linker_for
from dbsynth.relational.partition_keys import fit_partitions, partition_keys_first
from dbsynth.relational.sizes import owner_targets, table_sizes
from dbsynth.relational.problem import SyntheticState, edge_problem, link_order
from dbsynth.sample import ValueFactory, decode_column
from dbsynth.schema import ForeignKey, Schema
from dbsynth.spec import Spec
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable


def assemble(
    schema: Schema,
    spec: Spec,
    units: Units,
    measured: dict[str, TableMeasurements],
    models: dict,
    rng: np.random.Generator,
    seed: int,
    links: dict[str, EdgeMeasurements] | None = None,
    sizing: Sizing | None = None,
    scale: float = 1.0,
    noise: dict[str, float] | None = None,
) -> SyntheticDatabase:
    """`links`: the cross-table measurements of pgd edges (`measure_links`); an edge without them
    is linked by degree only. `sizing`, `scale`, `noise`: see `sizes.table_sizes`."""
    targets = owner_targets(units, measured, models, sizing, noise)
    counts = table_sizes(schema, spec, units, measured, models, sizing, scale, targets, noise)
    values = ValueFactory(seed)
    state = SyntheticState({}, {})
    for name in schema.topological_order():
        state.columns[name], state.codes[name] = _own_columns(name, schema, spec, measured[name], models.get(name),
                                                              counts[name], values, rng)
    order = link_order(schema, units)
    for name in schema.topological_order():
        for fk in (e for e in order if e.table == name):
            if not spec.tables[name].private and not spec.tables[fk.ref_table].private:
                continue  # public -> public: real keys, kept as they are
            _link_edge(fk, schema, spec, units, measured, (links or {}).get(fk.key), state, rng, targets.get(fk.key))
        for uset in unique_sets_with_fks(schema.tables[name]):
            if set(uset) <= set(state.columns[name]):  # a set with a generated column: the target's to enforce
                _dedupe_links(name, uset, schema, state, rng)
    return SyntheticDatabase({n: SyntheticTable(n, cols) for n, cols in state.columns.items()})


def _own_columns(name, schema, spec, tm, model, n, values, rng):
    table = schema.tables[name]
    if not tm.private:
        frame = tm.public_rows
        return {c.name: [None if _isna(v) else v for v in frame[c.name].tolist()]
                for c in table.columns if c.computed is None}, {}  # generated columns: the target computes them
    # The sampled codes stay with the rows: the pgd linker matches them against cross-table marginals.
    codes = model.sample(n, rng)
    ts = spec.tables[name]
    cols: dict[str, list[Any]] = {}
    fk_cols = table.fk_columns()
    for col in table.columns:
        cs = ts.columns[col.name]
        if col.name in fk_cols:
            cols[col.name] = [None] * n  # linked later
        elif cs.kind == "key":
            cols[col.name] = fresh_keys(col, n, rng)
        elif cs.kind == "generated":
            continue  # GENERATED ALWAYS AS: the target computes it from the row
        else:
            cols[col.name] = decode_column(col, cs, tm.encoders.get(col.name), codes.get(col.name), n, values, rng)
    fit_partitions(table, ts, cols, rng)  # before linking: children reference the keys it numbers
    for uset in unique_sets_without_fks(table):
        if set(uset) <= set(cols):  # a set with a generated column is the target's to enforce
            make_unique_rows(cols, partition_keys_first(table, uset), table, rng)
    return cols, {c: np.asarray(v, dtype=np.int64) for c, v in codes.items()}


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _link_edge(fk: ForeignKey, schema: Schema, spec: Spec, units: Units, measured: dict[str, TableMeasurements],
               edge: EdgeMeasurements | None, state: SyntheticState, rng: np.random.Generator,
               kept_mean: float | None = None) -> None:
    table = schema.tables[fk.table]
    n = state.n_rows(fk.table)
    nullable = all(table.column(c).nullable for c in fk.columns)
    indicator = state.codes.get(fk.table, {}).get(null_column(fk.key))
    linked = indicator == 0 if nullable and indicator is not None else np.ones(n, dtype=bool)
    parent_cols = state.columns[fk.ref_table]
    parent_keys = list(zip(*(parent_cols[c] for c in fk.ref_columns))) if fk.ref_columns else []
    valid = np.array([i for i, k in enumerate(parent_keys) if all(v is not None for v in k)], dtype=np.int64)
    children = np.flatnonzero(linked)
    if len(valid) == 0 and len(children):
        if not nullable:
            raise ValueError(f"{fk.table}: no rows in {fk.ref_table} to reference")
        children = children[:0]
    tm = measured[fk.table]
    degrees = tm.degrees.get(fk.key) if tm.private else None
    counts = tm.parent_counts.get(fk.key) if tm.private else None
    targets = counts.targets(fk_text(parent_keys[i]) for i in valid) if counts is not None else None
    pgd = fk_spec(spec, fk).linker == "pgd" and edge is not None
    problem = edge_problem(fk, edge if pgd else None, degrees, units, state, children, valid, rng, kept_mean,
                           targets)
    # Without cross-table marginals (none measured, or inside an FK cycle none resolvable) there
    # is nothing for pgd to match beyond degrees: the degree linker does that directly.
    chosen = linker_for("pgd" if problem.marginals else "degree").link(problem, rng)
    parent = np.full(n, -1, dtype=np.int64)
    has = chosen >= 0
    parent[children[has]] = valid[chosen[has]]
    lone = children[~has]
    if fk.is_self_reference and not nullable:
        parent[lone] = lone  # the first row of the order has nobody earlier: it refers to itself (a root)
    elif not fk.is_self_reference and len(lone):  # a linker that found no parent: any parent will do
        parent[lone] = valid[rng.integers(len(valid), size=len(lone))]
    state.parents[fk.key] = parent
    for j, c in enumerate(fk.columns):
        state.columns[fk.table][c] = [None if p < 0 else parent_keys[p][j] for p in parent.tolist()]


def _dedupe_links(name: str, uset: tuple[str, ...], schema: Schema, state: SyntheticState, rng: np.random.Generator,
                  tries: int = 20) -> None:
    """A junction table's key (e.g. playlist_id, track_id) must stay unique: re-draw the last FK
    of the duplicates among the parent's other rows, and drop rows that still collide."""
    table = schema.tables[name]
    cols = state.columns[name]
    fk = next((f for f in reversed(table.foreign_keys) if set(f.columns) <= set(uset)), None)
    parent_keys = list(zip(*(state.columns[fk.ref_table][c] for c in fk.ref_columns))) if fk else []
    valid = np.array([i for i, k in enumerate(parent_keys) if all(v is not None for v in k)], dtype=np.int64)
    for _ in range(tries if fk is not None and len(valid) else 0):
        dup = np.flatnonzero(_duplicates(cols, uset))
        if not len(dup):
            return
        drawn = valid[rng.integers(len(valid), size=len(dup))]
        for j, c in enumerate(fk.columns):
            column = cols[c]
            for i, p in zip(dup.tolist(), drawn.tolist()):
                column[i] = parent_keys[p][j]
        if fk.key in state.parents:
            state.parents[fk.key][dup] = drawn
    keep = ~_duplicates(cols, uset)
    if not keep.all():
        for c in cols:
            cols[c] = [v for v, k in zip(cols[c], keep) if k]
        state.codes[name] = {c: v[keep] for c, v in state.codes.get(name, {}).items()}
        for f in table.foreign_keys:
            if f.key in state.parents:
                state.parents[f.key] = state.parents[f.key][keep]
        for f in table.foreign_keys:
            if f.is_self_reference and f.key in state.parents:
                _unlink_dropped(f, table, state, keep)


def _unlink_dropped(fk: ForeignKey, table, state: SyntheticState, keep: np.ndarray) -> None:
    """After rows of a self-referencing table were dropped: links to them go (NULL, or the row
    itself where the FK is NOT NULL), so no reference is left dangling."""
    cols = state.columns[fk.table]
    new_index = np.cumsum(keep) - 1
    parent = state.parents[fk.key]
    gone = (parent >= 0) & ~keep[np.maximum(parent, 0)]
    parent = np.where(parent >= 0, new_index[np.maximum(parent, 0)], -1)
    nullable = all(table.column(c).nullable for c in fk.columns)
    rows = np.flatnonzero(gone)
    parent[rows] = -1 if nullable else rows
    state.parents[fk.key] = parent
    for j, c in enumerate(fk.columns):
        ref = state.columns[fk.table][fk.ref_columns[j]]
        cols[c] = [None if p < 0 else ref[p] for p in parent.tolist()]


def _duplicates(cols: dict[str, list[Any]], uset: tuple[str, ...]) -> np.ndarray:
    """Rows whose unique-set tuple (no NULL part) appeared in an earlier row."""
    frame = pd.DataFrame({c: pd.Series(cols[c], dtype=object) for c in uset})
    complete = frame.notna().all(axis=1).to_numpy()
    return frame.astype(str).duplicated().to_numpy() & complete
