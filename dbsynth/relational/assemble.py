"""Sampled tables to one consistent synthetic database: keys, links, uniqueness.

Order: every table's own columns and fresh primary keys first (so every parent key exists),
then foreign keys edge by edge (`problem.link_order`), each by its spec's linker (`pgd` or
`degree`), a table's key uniqueness repaired right after its own edges; FK cycles need no
special case since all keys already exist and the writer creates FK constraints after loading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dbsynth.columns import (ArrayValues, CodedValues, ConstantValues, LinkedValues, as_list, column_seed, narrow,
                             not_null, select, take)
from dbsynth.measure.crossplan import fk_spec
from dbsynth.measure.crosstable import EdgeMeasurements
from dbsynth.measure.measure import TableMeasurements, null_column
from dbsynth.measure.sizing import Sizing
from dbsynth.privacy.units import Units, fk_text
from dbsynth.relational.keys import fresh_keys, make_unique_rows, unique_sets_with_fks, unique_sets_without_fks
from dbsynth.relational.linker import linker_for
from dbsynth.relational.partition_keys import fit_partitions, partition_keys_first
from dbsynth.relational.sizes import OwnerTarget, owner_targets, table_sizes
from dbsynth.relational.problem import SyntheticState, edge_problem, link_order
from dbsynth.sample import ValueFactory, block_decoder
from dbsynth.schema import ForeignKey, Schema
from dbsynth.spec import Spec
from dbsynth.schema.partitions import levels
from dbsynth.synthetic import FALLBACK, SyntheticDatabase, SyntheticTable


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
    ready: Callable[[SyntheticTable], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SyntheticDatabase:
    """`links`: the cross-table measurements of pgd edges (`measure_links`); an edge without them
    is linked by degree only. `sizing`, `scale`, `noise`: see `sizes.table_sizes`. `ready` is
    handed each table as soon as it is final (its rows, links and unique sets; nothing later
    changes it), parents before children; `progress(table)` as a table's links begin."""
    targets = owner_targets(units, measured, models, sizing, noise)
    counts, null_rows = table_sizes(schema, spec, units, measured, models, sizing, scale, targets, noise)
    values = ValueFactory(seed)
    state = SyntheticState({}, {})
    for name in schema.topological_order():
        state.columns[name], state.codes[name] = _own_columns(name, schema, spec, measured[name], models.get(name),
                                                              counts[name], values, rng, seed)
    order = link_order(schema, units)
    tables = {}
    for name in schema.topological_order():
        if progress is not None:
            progress(name)
        for fk in (e for e in order if e.table == name):
            if not spec.tables[name].private and not spec.tables[fk.ref_table].private:
                continue  # public -> public: real keys, kept as they are
            _link_edge(fk, schema, spec, units, measured, (links or {}).get(fk.key), state, rng, targets.get(fk.key),
                       null_rows.get(fk.key))
        for uset in unique_sets_with_fks(schema.tables[name]):
            if set(uset) <= set(state.columns[name]):  # a set with a generated column: the target's to enforce
                _dedupe_links(name, uset, schema, state, rng)
        tables[name] = SyntheticTable(name, state.columns[name])
        if ready is not None:
            ready(tables[name])
    return SyntheticDatabase(tables)


def _own_columns(name, schema, spec, tm, model, n, values, rng, seed):
    """One table's own columns, compact (`dbsynth.columns`): the model's codes decoded when the
    writer asks, integer keys as arrays; only what is repaired value by value (unique sets,
    partition keys) is a list."""
    table = schema.tables[name]
    if not tm.private:
        frame = tm.public_rows
        return {c.name: [None if _isna(v) else v for v in frame[c.name].tolist()]
                for c in table.columns if c.computed is None}, {}  # generated columns: the target computes them
    # The sampled codes stay with the rows: the pgd linker matches them against cross-table
    # marginals. Narrowed (most fit int8), and shared with the columns that decode them.
    codes = {c: narrow(np.asarray(v)) for c, v in model.sample(n, rng).items()}
    ts = spec.tables[name]
    cols: dict[str, Sequence] = {}
    fk_cols = table.fk_columns()
    for col in table.columns:
        cs = ts.columns[col.name]
        if col.name in fk_cols:
            cols[col.name] = ConstantValues(None, n)  # linked later
        elif cs.kind == "key":
            cols[col.name] = fresh_keys(col, n, rng)
        elif cs.kind == "generated":
            continue  # GENERATED ALWAYS AS: the target computes it from the row
        else:
            cols[col.name] = _sampled(col, cs, tm.encoders.get(col.name), codes.get(col.name), n, values,
                                      column_seed(seed, name, col.name))
    # What is changed value by value becomes a list: partition keys (an integer key is numbered
    # inside the ranges) and unique sets, except fresh integer keys, which are distinct already.
    partition_keys = {level.column for level in levels(table)}
    for c in set(cols) & (partition_keys | {c for s in unique_sets_without_fks(table) for c in s}):
        if c in partition_keys or not isinstance(cols[c], ArrayValues):
            cols[c] = as_list(cols[c])
    fit_partitions(table, ts, cols, rng)  # before linking: children reference the keys it numbers
    for uset in unique_sets_without_fks(table):
        if set(uset) <= set(cols) and not any(isinstance(cols[c], ArrayValues) for c in uset):
            make_unique_rows(cols, partition_keys_first(table, uset), table, rng)
    return cols, codes


def _sampled(col, cs, encoder, codes, n, values, seed) -> Sequence:
    """A modelled or made-up column, decoded block by block when the writer asks for it."""
    if cs.kind == "unsupported" and not cs.values:  # NULL, or the writer's value for the type
        return ConstantValues(None if cs.fallback == "set_null" else FALLBACK, n)
    if codes is None:  # made-up values (Faker, spec literals): the blocks need only their length
        codes = np.zeros(n, dtype=np.int8)
    return CodedValues(codes, block_decoder(col, cs, encoder, values), seed)


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _link_edge(fk: ForeignKey, schema: Schema, spec: Spec, units: Units, measured: dict[str, TableMeasurements],
               edge: EdgeMeasurements | None, state: SyntheticState, rng: np.random.Generator,
               target: OwnerTarget | None = None, nulls: int | None = None) -> None:
    """`nulls`: on a nullable FK, how many rows stay unlinked (`sizes.table_sizes`)."""
    table = schema.tables[fk.table]
    n = state.n_rows(fk.table)
    nullable = all(table.column(c).nullable for c in fk.columns)
    indicator = state.codes.get(fk.table, {}).get(null_column(fk.key))
    linked = indicator == 0 if nullable and indicator is not None else np.ones(n, dtype=bool)
    if nullable and nulls is not None:
        linked = ~_first_nulls(indicator, min(nulls, n), n, rng)
    refs = [state.columns[fk.ref_table][c] for c in fk.ref_columns]
    valid = _complete_rows(refs)
    children = np.flatnonzero(linked)
    if len(valid) == 0 and len(children):
        if not nullable:
            raise ValueError(f"{fk.table}: no rows in {fk.ref_table} to reference")
        children = children[:0]
    tm = measured[fk.table]
    degrees = tm.degrees.get(fk.key) if tm.private else None
    counts = tm.parent_counts.get(fk.key) if tm.private else None
    targets = counts.targets(fk_text(k) for k in zip(*(take(r, valid) for r in refs))) if counts is not None else None
    pgd = fk_spec(spec, fk).linker == "pgd" and edge is not None
    problem = edge_problem(fk, edge if pgd else None, degrees, units, state, children, valid, rng, target,
                           targets)
    # Without cross-table marginals (none measured, or inside an FK cycle none resolvable) there
    # is nothing for pgd to match beyond degrees: the degree linker does that directly.
    chosen = linker_for("pgd" if problem.marginals else "degree").link(problem, rng)
    # A row index per child until the write: int32 where the parent table allows (half the bytes).
    parent = np.full(n, -1, dtype=np.int32 if state.n_rows(fk.ref_table) < 2**31 else np.int64)
    has = chosen >= 0
    parent[children[has]] = valid[chosen[has]]
    lone = children[~has]
    if fk.is_self_reference and not nullable:
        parent[lone] = lone  # the first row of the order has nobody earlier: it refers to itself (a root)
    elif not fk.is_self_reference and len(lone):  # a linker that found no parent: any parent will do
        parent[lone] = valid[rng.integers(len(valid), size=len(lone))]
    _set_links(fk, state, parent)


def _first_nulls(indicator: np.ndarray | None, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of k rows: those the model drew with a NULL FK first, then others, at random within each."""
    order = rng.permutation(n)
    if indicator is not None:
        order = order[np.argsort(np.asarray(indicator)[order] == 0, kind="stable")]
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def _complete_rows(refs: list[Sequence]) -> np.ndarray:
    """The parent rows whose referenced key columns `refs` are all non-NULL: the ones a child may
    reference (none when the edge has no key columns)."""
    if not refs:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.logical_and.reduce([not_null(r) for r in refs]))


def _set_links(fk: ForeignKey, state: SyntheticState, parent: np.ndarray) -> None:
    """The edge's FK columns as parent row indices into the parent's key columns (no key values
    copied: the writer resolves them per chunk)."""
    state.parents[fk.key] = parent
    for c, rc in zip(fk.columns, fk.ref_columns):
        state.columns[fk.table][c] = LinkedValues(parent, state.columns[fk.ref_table][rc])


TRADES_PER_PASS = 100_000  # duplicate keys one pass of `_swap_parents` mends at most


def _dedupe_links(name: str, uset: tuple[str, ...], schema: Schema, state: SyntheticState, rng: np.random.Generator,
                  tries: int = 20) -> None:
    """A junction table's key (e.g. playlist_id, track_id) must stay unique. First the last FK of
    each duplicate is traded with the same FK of another linked row, so that every parent, on
    either side, keeps the children the linker gave it. (Drawn again among all parents instead, a
    quarter of Chinook's playlist tracks went to playlists at random, the empty ones included.)
    Where trades stop helping, the parents that have rows cannot take them (Chinook at ε = 1:
    only its two large playlists released, tracks in three), and the rest is drawn again among
    all parents of the key's FK whose rows sit in the fewest parents (a self reference is drawn
    again too: a trade could close a cycle). Rows that still collide are dropped."""
    table = schema.tables[name]
    cols = state.columns[name]
    fks = [f for f in reversed(table.foreign_keys) if set(f.columns) <= set(uset)]
    dup = np.flatnonzero(_duplicates(cols, uset))
    trading, before, rest = True, None, None
    # Trades mend at most TRADES_PER_PASS rows a pass: as many more passes as that takes.
    for _ in range(tries + len(dup) // TRADES_PER_PASS if fks else 0):
        if not len(dup):
            return
        # A pass that mends under a twentieth of what is left: the trades have stalled.
        trading = trading and (before is None or len(dup) < 0.95 * before)
        before = len(dup)
        fk = fks[0]
        if trading and fk.key in state.parents and not fk.is_self_reference:
            if rest is None:  # the key's other columns: trades on fk leave them as they are
                rest = _key_codes(cols, [c for c in uset if c not in fk.columns], len(state.parents[fk.key]))
            if _swap_parents(fk, rest, dup, state, rng):
                dup = np.flatnonzero(_duplicates(cols, uset))
                continue
        trading = False
        # The side that holds its rows in the fewest parents is the one that has run out of
        # room (two playlists against three thousand tracks): its parents are drawn again.
        fk = min(fks, key=lambda f: len(np.unique(state.parents[f.key])) if f.key in state.parents else np.inf)
        refs = [state.columns[fk.ref_table][c] for c in fk.ref_columns]
        valid = _complete_rows(refs)
        if not len(valid):
            break
        drawn = valid[rng.integers(len(valid), size=len(dup))]
        if fk.key in state.parents:
            parent = state.parents[fk.key].copy()
            parent[dup] = drawn
            _set_links(fk, state, parent)
        else:  # an edge kept as it is (public to public): its real key values
            for c, ref in zip(fk.columns, refs):
                column = cols[c] = as_list(cols[c])
                for i, v in zip(dup.tolist(), take(ref, drawn)):
                    column[i] = v
        dup = np.flatnonzero(_duplicates(cols, uset))
    keep = np.ones(state.n_rows(name), dtype=bool)
    keep[dup] = False
    if not keep.all():
        for c in cols:
            cols[c] = select(cols[c], keep)
        state.codes[name] = {c: v[keep] for c, v in state.codes.get(name, {}).items()}
        for f in table.foreign_keys:
            if f.key in state.parents:
                state.parents[f.key] = state.parents[f.key][keep]
                if not f.is_self_reference:
                    _set_links(f, state, state.parents[f.key])
        for f in table.foreign_keys:
            if f.is_self_reference and f.key in state.parents:
                _unlink_dropped(f, table, state, keep)


def _key_codes(cols: dict[str, Sequence], names: list[str], n: int) -> np.ndarray:
    """The values of columns `names` per row as one integer code (equal values, equal codes);
    zeros where there are none."""
    if not names:
        return np.zeros(n, np.int64)
    frame = pd.DataFrame({c: pd.Series(list(cols[c]), dtype=object) for c in names}).astype(str)
    return frame.groupby(names, sort=False).ngroup().to_numpy(dtype=np.int64)


def _swap_parents(fk: ForeignKey, other: np.ndarray, dup: np.ndarray, state: SyntheticState,
                  rng: np.random.Generator, candidates: int = 64) -> bool:
    """Each duplicate row (at most TRADES_PER_PASS: the candidates are that many × `candidates`
    integers, 51 MB) trades its parent on `fk` with another linked row whose parent differs,
    where neither new key is taken (of `candidates` drawn, the first that fits): both parents keep
    their number of children. `other`: each row's code for the rest of its key (`_key_codes`).
    False where no duplicate found a partner."""
    parent = state.parents[fk.key].copy()
    # A row's key as one integer: the rest of the key and the parent on fk.
    width = np.int64(max(int(parent.max()), 0) + 1)
    taken = np.unique(other * width + parent)
    pool = np.setdiff1d(np.flatnonzero(parent >= 0), dup)
    if not len(pool):
        return False
    rows = rng.permutation(dup)[:TRADES_PER_PASS]
    cand = pool[rng.integers(len(pool), size=(len(rows), candidates))]
    new_row = other[rows, None] * width + parent[cand]
    new_partner = other[cand] * width + parent[rows, None]
    fits = (parent[cand] != parent[rows, None]) & ~np.isin(new_row, taken) & ~np.isin(new_partner, taken)
    has = fits.any(axis=1)
    rows, partner = rows[has], cand[has, fits[has].argmax(axis=1)]
    # One trade per partner (a partner chosen twice would give its parent away twice).
    partner, first = np.unique(partner, return_index=True)
    rows = rows[first]
    if not len(rows):
        return False
    parent[rows], parent[partner] = parent[partner], parent[rows].copy()
    _set_links(fk, state, parent)
    return True


def _unlink_dropped(fk: ForeignKey, table, state: SyntheticState, keep: np.ndarray) -> None:
    """After rows of a self-referencing table were dropped: links to them go (NULL, or the row
    itself where the FK is NOT NULL), so no reference is left dangling."""
    new_index = np.cumsum(keep) - 1
    parent = state.parents[fk.key]
    gone = (parent >= 0) & ~keep[np.maximum(parent, 0)]
    parent = np.where(parent >= 0, new_index[np.maximum(parent, 0)], -1)
    nullable = all(table.column(c).nullable for c in fk.columns)
    rows = np.flatnonzero(gone)
    parent[rows] = -1 if nullable else rows
    _set_links(fk, state, parent)


def _duplicates(cols: dict[str, Sequence], uset: tuple[str, ...]) -> np.ndarray:
    """Rows whose unique-set tuple (no NULL part) appeared in an earlier row."""
    frame = pd.DataFrame({c: pd.Series(list(cols[c]), dtype=object) for c in uset})
    complete = frame.notna().all(axis=1).to_numpy()
    try:
        repeated = frame.duplicated().to_numpy()
    except TypeError:  # an unhashable value (a JSON document): compared as text
        repeated = frame.astype(str).duplicated().to_numpy()
    return repeated & complete
