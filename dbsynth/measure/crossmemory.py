"""Cross-table marginals counted in memory: the reference the pushdown is tested against.

`crossjoin.py` counts the same statistic inside the source database, which is what the measure
stage runs; this module reads bounded rows held as frames (tests, and the sensitivity property
test, which removes units from frames and recounts). Both must agree cell for cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dbsynth.measure.crossplan import Encoders, Feature, admits
from dbsynth.privacy.units import Units, fk_tuples, row_order
from dbsynth.schema import ForeignKey, Schema


def encode_tables(frames: dict[str, pd.DataFrame], encoders: Encoders) -> dict[str, dict[str, np.ndarray]]:
    """Codes of every row of every table, per encoded column (encoded once, indexed per join)."""
    return {t: {c: np.asarray(enc.encode(frames[t][c]), dtype=np.int64) for c, enc in encoders.get(t, {}).items()}
            for t in frames}


def _parent_index(child: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey, parent_ok: np.ndarray) -> np.ndarray:
    """Row index into `parent` of each child's referenced row; -1 when NULL or not an allowed parent."""
    keys = fk_tuples(parent, fk.ref_columns).tolist()
    index = {k: i for i, k in enumerate(keys) if k is not None and parent_ok[i]}
    refs = fk_tuples(child, fk.columns).tolist()
    return np.fromiter((index.get(r, -1) if r is not None else -1 for r in refs), dtype=np.int64, count=len(refs))


def _kept(frames: dict[str, pd.DataFrame], kept: dict[str, np.ndarray], table: str) -> np.ndarray:
    return kept[table] if table in kept else np.ones(len(frames[table]), dtype=bool)  # public: all rows


def join_rows(frames: dict[str, pd.DataFrame], kept: dict[str, np.ndarray], schema: Schema, units: Units,
              fk: ForeignKey, secret: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(child rows, parent rows) of the bounded join of `fk`: kept child, kept parent, admitted."""
    child = frames[fk.table]
    pidx = _parent_index(child, frames[fk.ref_table], fk, _kept(frames, kept, fk.ref_table))
    rows = np.flatnonzero(_kept(frames, kept, fk.table) & (pidx >= 0))
    prow = pidx[rows]
    if admits(fk, units) and len(rows):
        # Rank each parent's kept children by the keyed hash of their own key (the bounding's
        # identity over the whole table, so a keyless row's occurrence number is the bounding's
        # too): whether a child is admitted depends on its siblings only through their hashes.
        keys = row_order(child, schema.tables[fk.table], secret)
        order = pd.DataFrame({"p": prow, **{f"k{i}": k[rows] for i, k in enumerate(keys)}})
        rank = (order.sort_values(["p", *[f"k{i}" for i in range(len(keys))]])
                .groupby("p", sort=False).cumcount().sort_index().to_numpy())
        admit = rank < units.caps[fk.key]
        rows, prow = rows[admit], prow[admit]
    return rows, prow


def join_codes(frames: dict[str, pd.DataFrame], kept: dict[str, np.ndarray], schema: Schema, fk: ForeignKey,
               features: dict[str, Feature], codes: dict[str, dict[str, np.ndarray]],
               rows: np.ndarray, prow: np.ndarray) -> dict[str, np.ndarray]:
    """Each feature's code on each join row."""
    out: dict[str, np.ndarray] = {}
    owners: dict[str, np.ndarray] = {}
    for f in features.values():
        at = prow if f.side == "parent" else rows
        if f.via is None:
            out[f.name] = codes[f.table][f.column][at]
            continue
        if f.via not in owners:
            via = next(e for e in schema.edges() if e.key == f.via)
            allowed = _kept(frames, kept, via.ref_table)
            owners[f.via] = _parent_index(frames[via.table], frames[via.ref_table], via, allowed)
        up = owners[f.via][at]
        out[f.name] = np.where(up >= 0, codes[f.table][f.column][np.maximum(up, 0)], f.none_code)
    return out


def marginal_counts(join: dict[str, np.ndarray], features: dict[str, Feature], clique: tuple[str, ...],
                    n_rows: int) -> np.ndarray:
    shape = tuple(features[f].size for f in clique)
    if n_rows == 0:
        return np.zeros(shape)
    flat = np.ravel_multi_index(tuple(join[f] for f in clique), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(float)


def join_marginals(frames, kept, schema: Schema, units: Units, fk: ForeignKey, features: dict[str, Feature],
                   cliques: list[tuple[str, ...]], codes: dict[str, dict[str, np.ndarray]],
                   secret: bytes) -> list[np.ndarray]:
    """True counts of each clique over the bounded join (the statistic the property test checks)."""
    rows, prow = join_rows(frames, kept, schema, units, fk, secret)
    join = join_codes(frames, kept, schema, fk, features, codes, rows, prow)
    return [marginal_counts(join, features, q, len(rows)) for q in cliques]
