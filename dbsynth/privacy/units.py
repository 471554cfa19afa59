"""Units, contribution bounding and the sensitivities derived from them (DESIGN §2).

A unit is one private row together with every row it owns through owning FK edges (one owner
per table, a forest). Why one owner and not every FK: with several owning parents a removed
unit can delete unboundedly many rows that are not its own under *another* parent's cap, and
freed slots let unboundedly many other rows in; no per-edge cap bounds that. With a forest,
bounding is: a row is kept iff its owner parent is kept and it ranks below the edge's cap among
that parent's children by a keyed hash of its own key, so other units' rows never decide it.

Sensitivity Δ(T): removing a unit rooted at level j of T's owner chain T=T0→T1→…→Tk removes at
most Π_{i≤j} cap_i kept T rows; if that root itself has an owner, its freed slot admits one
sibling with as many again (the "doubling"). Δ(T) is the maximum over j.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dbsynth.schema import ForeignKey, Schema
from dbsynth.spec import Spec


@dataclass(frozen=True)
class Units:
    owner: dict[str, ForeignKey | None]  # private table -> its owning edge
    caps: dict[str, int]  # fk.key -> cap
    private: frozenset[str]

    @classmethod
    def from_spec(cls, schema: Schema, spec: Spec) -> "Units":
        private = frozenset(t for t, ts in spec.tables.items() if ts.private)
        owner: dict[str, ForeignKey | None] = {}
        caps: dict[str, int] = {}
        for name, ts in spec.tables.items():
            table = schema.tables[name]
            for fk in table.foreign_keys:
                caps[fk.key] = ts.foreign_keys[fk.key].cap if fk.key in ts.foreign_keys else 8
            if name in private:
                owner[name] = next((fk for fk in table.foreign_keys if fk.key == ts.owner), None)
        return cls(owner, caps, private)

    def chain(self, table: str) -> list[ForeignKey]:
        """The owning edges from `table` up to its root."""
        out: list[ForeignKey] = []
        seen = {table}
        fk = self.owner.get(table)
        while fk is not None:
            out.append(fk)
            if fk.ref_table in seen:  # a cycle would make units unbounded; the spec check refuses it
                raise ValueError(f"owner cycle through {fk.ref_table}")
            seen.add(fk.ref_table)
            fk = self.owner.get(fk.ref_table)
        return out

    def sensitivity(self, table: str) -> int:
        """Δ(T): the most kept rows of `table` that adding or removing one unit can change."""
        if table not in self.private:
            return 0
        chain = self.chain(table)
        best, product = 0, 1
        levels = [table] + [fk.ref_table for fk in chain]
        for j, level in enumerate(levels):
            if j > 0:
                product *= self.caps[chain[j - 1].key]
            doubling = 2 if self.owner.get(level) is not None else 1
            best = max(best, doubling * product)
        return best

    def degree_sensitivity(self, fk: ForeignKey) -> int:
        """Δ of the parent-degree histogram of `fk`: each changed child moves one parent between
        two bins (2), each changed parent leaves or enters one bin (1)."""
        return 2 * self.sensitivity(fk.table) + self.sensitivity(fk.ref_table)

    def order(self) -> list[str]:
        """Private tables, owners before the tables they own."""
        done: list[str] = []
        pending = sorted(self.private)
        while pending:
            progressed = False
            for t in list(pending):
                fk = self.owner.get(t)
                if fk is None or fk.ref_table in done:
                    done.append(t)
                    pending.remove(t)
                    progressed = True
            if not progressed:
                raise ValueError(f"owner cycle among {pending}")
        return done


def row_identity(frame: pd.DataFrame, key: tuple[str, ...]) -> list[str]:
    """A stable identity per row: its key, or its whole content plus an occurrence number."""
    cols = list(key) if key else list(frame.columns)
    ident = pd.Series(_joined(frame, cols), dtype=object)
    if not key:
        ident = ident + "\x1e" + ident.groupby(ident).cumcount().astype(str)
    return ident.tolist()


# 52 bits: ranks are taken on float64, which holds them exactly (no ties decided by row order).
_MASK52 = (1 << 52) - 1


def keyed_hash(identities: list[str], secret: bytes) -> np.ndarray:
    """HMAC of each identity: ranks that depend on nothing but the row itself and a run secret."""
    out = np.empty(len(identities), dtype=np.uint64)
    for i, s in enumerate(identities):
        out[i] = int.from_bytes(hmac.new(secret, s.encode(), hashlib.blake2b).digest()[:8], "little") & _MASK52
    return out


def fk_tuples(frame: pd.DataFrame, cols: tuple[str, ...]) -> pd.Series:
    """FK values as one hashable string per row; None where any part is NULL (a root)."""
    columns = [frame[c].tolist() for c in cols]
    out = [None if any(v is None or v != v for v in vals) else "\x1f".join(map(str, vals)) for vals in zip(*columns)]
    return pd.Series(out if columns else [None] * len(frame), index=frame.index, dtype=object)


def _joined(frame: pd.DataFrame, cols: list[str]) -> list[str]:
    # Built by hand: pandas' string dtype keeps NULL as NaN, which str.join refuses.
    columns = [frame[c].tolist() for c in cols]
    return ["\x1f".join(map(str, vals)) for vals in zip(*columns)] if columns else [""] * len(frame)


def bound(frames: dict[str, pd.DataFrame], schema: Schema, units: Units, secret: bytes) -> dict[str, np.ndarray]:
    """Kept mask per private table: owner kept and rank under the owner's cap."""
    kept: dict[str, np.ndarray] = {}
    for name in units.order():
        frame = frames[name]
        fk = units.owner.get(name)
        if fk is None:
            kept[name] = np.ones(len(frame), dtype=bool)
            continue
        parent = frames[fk.ref_table]
        parent_keys = set(fk_tuples(parent[kept[fk.ref_table]], fk.ref_columns).dropna())
        ref = fk_tuples(frame, fk.columns)
        h = keyed_hash(row_identity(frame, schema.tables[name].primary_key), secret)
        ranks = pd.Series(h.astype(np.float64)).groupby(ref.fillna("\x00root").values).rank(method="first").to_numpy() - 1
        is_root = ref.isna().to_numpy()
        parent_ok = ref.map(lambda v: v in parent_keys).to_numpy(dtype=bool)
        kept[name] = is_root | (parent_ok & (ranks < units.caps[fk.key]))
    return kept
