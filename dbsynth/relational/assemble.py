"""Sampled tables to one consistent synthetic database: keys, links, uniqueness.

Order: every table's own columns and fresh primary keys first (so every parent key exists),
then foreign keys in topological order, cycles included, since all keys already exist; the
writer creates FK constraints after loading, which closes cycles without a special case.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dbsynth.measure.measure import TableMeasurements, null_column
from dbsynth.privacy.units import Units
from dbsynth.relational.keys import fresh_keys, make_unique_rows, unique_sets_with_fks, unique_sets_without_fks
from dbsynth.relational.link import assign_parents, assign_self_parents, degree_distribution
from dbsynth.sample import ValueFactory, decode_column
from dbsynth.schema import ForeignKey, Schema
from dbsynth.spec import Spec
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable


def row_counts(schema: Schema, spec: Spec, measured: dict[str, TableMeasurements], models: dict) -> dict[str, int]:
    """Synthetic sizes: the models' noisy counts, raised to 1 where NOT NULL children need a parent."""
    n = {}
    for name, tm in measured.items():
        n[name] = len(tm.public_rows) if not tm.private else max(0, int(round(models[name].estimated_rows)))
    changed = True
    while changed:
        changed = False
        for fk in schema.edges():
            needs = n[fk.table] > 0 and not all(schema.tables[fk.table].column(c).nullable for c in fk.columns)
            if needs and n[fk.ref_table] == 0 and spec.tables[fk.ref_table].private:
                n[fk.ref_table] = 1
                changed = True
    return n


def assemble(
    schema: Schema,
    spec: Spec,
    units: Units,
    measured: dict[str, TableMeasurements],
    models: dict,
    rng: np.random.Generator,
    seed: int,
) -> SyntheticDatabase:
    counts = row_counts(schema, spec, measured, models)
    values = ValueFactory(seed)
    tables: dict[str, dict[str, list[Any]]] = {}
    nulls: dict[str, dict[str, np.ndarray]] = {}
    for name in schema.topological_order():
        tables[name], nulls[name] = _own_columns(name, schema, spec, measured[name], models.get(name), counts[name],
                                                 values, rng)
    for name in schema.topological_order():
        _link_table(name, schema, spec, units, measured, tables, nulls[name], rng)
    return SyntheticDatabase({n: SyntheticTable(n, cols) for n, cols in tables.items()})


def _own_columns(name, schema, spec, tm, model, n, values, rng):
    table = schema.tables[name]
    if not tm.private:
        frame = tm.public_rows
        return {c.name: [None if _isna(v) else v for v in frame[c.name].tolist()] for c in table.columns}, {}
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
        else:
            cols[col.name] = decode_column(col, cs, tm.encoders.get(col.name), codes.get(col.name), n, values, rng)
    for uset in unique_sets_without_fks(table):
        make_unique_rows(cols, uset, table, rng)
    indicator = {key: np.asarray(codes[key]) for key in tm.null_indicators if key in codes}
    return cols, indicator


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _link_table(name, schema, spec, units, measured, tables, null_codes, rng) -> None:
    table = schema.tables[name]
    cols = tables[name]
    n = len(next(iter(cols.values()))) if cols else 0
    for fk in table.foreign_keys:
        if not spec.tables[name].private and not spec.tables[fk.ref_table].private:
            continue  # public -> public: real keys, kept as they are
        _link_edge(fk, schema, spec, units, measured, tables, null_codes, n, rng)
    for uset in unique_sets_with_fks(table):
        _dedupe_links(name, uset, schema, tables, rng)


def _link_edge(fk: ForeignKey, schema, spec, units, measured, tables, null_codes, n, rng) -> None:
    table = schema.tables[fk.table]
    nullable = all(table.column(c).nullable for c in fk.columns)
    key = null_column(fk.key)
    if nullable and key in null_codes:
        linked = null_codes[key] == 0
    else:
        linked = np.ones(n, dtype=bool)
    hist = measured[fk.table].degrees.get(fk.key) if measured[fk.table].private else None
    probs = degree_distribution(hist, units.caps.get(fk.key, 8))
    parent = tables[fk.ref_table]
    parent_keys = list(zip(*(parent[c] for c in fk.ref_columns))) if fk.ref_columns else []
    out: list[tuple | None] = [None] * n
    if fk.is_self_reference:
        idx = assign_self_parents(linked, probs, rng, nullable)
        for i, p in enumerate(idx.tolist()):
            out[i] = parent_keys[p] if p >= 0 else None
    else:
        valid = [i for i, k in enumerate(parent_keys) if all(v is not None for v in k)]
        rows = np.flatnonzero(linked)
        if len(valid) == 0:
            if not nullable and len(rows):
                raise ValueError(f"{fk.table}: no rows in {fk.ref_table} to reference")
            rows = rows[:0]
        idx = assign_parents(len(rows), len(valid), probs, rng)
        for r, p in zip(rows.tolist(), idx.tolist()):
            out[r] = parent_keys[valid[p]]
    for j, c in enumerate(fk.columns):
        tables[fk.table][c] = [None if k is None else k[j] for k in out]


def _dedupe_links(name, uset, schema, tables, rng, tries: int = 20) -> None:
    """A junction table's key (e.g. playlist_id, track_id) must stay unique: re-draw the last FK
    of a duplicate among the parent's other rows, and drop rows that still collide."""
    table = schema.tables[name]
    cols = tables[name]
    n = len(cols[uset[0]])
    fk = next((f for f in reversed(table.foreign_keys) if set(f.columns) <= set(uset)), None)
    seen: set[tuple] = set()
    keep = np.ones(n, dtype=bool)
    parent_keys = list(zip(*(tables[fk.ref_table][c] for c in fk.ref_columns))) if fk else []
    for i in range(n):
        tup = tuple(cols[c][i] for c in uset)
        if any(v is None for v in tup):
            continue
        if tup in seen and fk is not None and parent_keys:
            for _ in range(tries):
                cand = parent_keys[int(rng.integers(len(parent_keys)))]
                for j, c in enumerate(fk.columns):
                    cols[c][i] = cand[j]
                tup = tuple(cols[c][i] for c in uset)
                if tup not in seen:
                    break
        if tup in seen:
            keep[i] = False
        else:
            seen.add(tup)
    if not keep.all():
        for c in cols:
            cols[c] = [v for v, k in zip(cols[c], keep) if k]
