"""Canary units: made-up units that look like real ones, planted in the audit's scratch copy.

A canary is one row of a unit-holding table (a customer) with as many rows under it, through
the owner forest, as a real unit may have (its invoices, their lines): the more rows a unit
holds, the more statistics it moves, the stronger the signal an attacker gets. Every value comes
from the real column (frequent categories, real numbers and dates), so the canary sits inside
the domains the pipeline can release; the values are drawn independently per column and shared
by all of a canary's rows in a table, so the *combination* is rare while each value is ordinary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dbsynth.errors import UnsupportedSchema
from dbsynth.privacy.units import Units, fk_tuples
from dbsynth.schema import ForeignKey, Schema
from dbsynth.schema.model import INTEGER_GENERICS
from dbsynth.spec import Spec

MODELLED = ("categorical", "numeric", "datetime", "boolean")
MAX_DEGREE = 16  # rows per owner row in a canary, when neither the spec nor the data says less
MAX_ROWS = 400  # rows in one canary unit: deep units (artist → album → track → ...) are trimmed
FREQUENT = 16  # categorical values come from the most frequent ones: rare ones are never released


@dataclass(frozen=True)
class UnitShape:
    """Which tables a canary spans and how many rows it holds in each."""

    root: str
    tables: tuple[str, ...]  # the root first, every table after its owner
    owner: dict[str, ForeignKey]  # owned table -> its owning edge
    degree: dict[str, int]  # owned table -> rows per owner row in a canary
    features: dict[str, tuple[str, ...]]  # table -> its modelled columns (what the attacks compare)

    def rows_per_canary(self) -> int:
        total, per = 1, {self.root: 1}
        for t in self.tables[1:]:
            per[t] = per[self.owner[t].ref_table] * self.degree[t]
            total += per[t]
        return total


@dataclass(frozen=True)
class Canary:
    index: int
    rows: dict[str, list[dict[str, Any]]]  # table -> its rows, every column set
    values: dict[str, dict[str, Any]]  # table -> modelled column -> the value all its rows share


def choose_root(schema: Schema, spec: Spec, units: Units, frames: dict[str, pd.DataFrame],
                root: str | None = None) -> str:
    """The table whose rows are the canaries: `root` if given, else the unit root that owns the
    most real rows, preferring tables with personal data (people are who a unit usually is)."""
    roots = [t for t in units.private if units.owner.get(t) is None]
    if root is not None:
        if root not in roots:
            raise UnsupportedSchema(f"--unit {root!r} is not the root of a unit; roots: {', '.join(sorted(roots))}")
        return root
    if not roots:
        raise UnsupportedSchema("no private table holds units: nothing to audit (every table is public)")

    def weight(t: str) -> tuple:
        pii = sum(c.kind in ("pii", "text") for c in spec.tables[t].columns.values())
        owned = sum(len(frames[d]) for d in _descendants(units, t))
        return (bool(owned), pii > 0, owned, t)

    return max(roots, key=weight)


def unit_shape(schema: Schema, spec: Spec, units: Units, frames: dict[str, pd.DataFrame], root: str) -> UnitShape:
    tables = [root] + _descendants(units, root)
    owner = {t: units.owner[t] for t in tables[1:]}
    degree = {}
    for t in tables[1:]:
        fk = owner[t]
        spec_cap = spec.tables[t].foreign_keys.get(fk.key)
        cap = spec_cap.cap if spec_cap is not None and spec_cap.cap is not None else None
        seen = fk_tuples(frames[t], fk.columns).value_counts()
        data_max = int(seen.max()) if len(seen) else 1
        degree[t] = max(1, min(MAX_DEGREE, cap if cap is not None else data_max))
    shape = UnitShape(root, tuple(tables), owner, degree, {})
    while shape.rows_per_canary() > MAX_ROWS:  # halve the deepest edge that still has room
        t = next(t for t in reversed(tables[1:]) if degree[t] > 1)
        degree[t] = max(1, degree[t] // 2)
    features = {t: tuple(c for c in schema.tables[t].column_names
                         if spec.tables[t].columns[c].kind in MODELLED
                         and c not in schema.tables[t].primary_key and c not in schema.tables[t].fk_columns())
                for t in tables}
    return UnitShape(root, tuple(tables), owner, degree, features)


def make_canaries(schema: Schema, spec: Spec, shape: UnitShape, frames: dict[str, pd.DataFrame], n: int,
                  rng: np.random.Generator) -> list[Canary]:
    """`n` canary units with fresh keys, every foreign key resolving to a real row or the canary's own."""
    keys = _KeyMaker(schema, frames)
    pools = {t: {c: _value_pool(frames[t][c], spec.tables[t].columns[c].kind) for c in shape.features[t]}
             for t in shape.tables}
    canaries = []
    for i in range(n):
        values = {t: {c: pool[rng.integers(len(pool))] if len(pool) else None for c, pool in pools[t].items()}
                  for t in shape.tables}
        rows: dict[str, list[dict]] = {}
        for t in shape.tables:
            fk = shape.owner.get(t)
            parents = rows[fk.ref_table] if fk is not None else [None]
            count = shape.degree.get(t, 1)
            rows[t] = [row for parent in parents
                       for row in _rows(schema, spec, t, fk, parent, count, values[t], frames, keys, i, rng)]
        canaries.append(Canary(i, rows, values))
    return canaries


def _descendants(units: Units, root: str) -> list[str]:
    """Tables owned, directly or through others, by `root`, owners first."""
    out, frontier = [], [root]
    while frontier:
        parent = frontier.pop(0)
        kids = sorted(t for t, fk in units.owner.items() if fk is not None and fk.ref_table == parent)
        out += kids
        frontier += kids
    return out


def _value_pool(column: pd.Series, kind: str) -> list:
    values = column.dropna()
    if kind in ("categorical", "boolean"):
        return values.value_counts().index[:FREQUENT].tolist()
    return values.tolist()


def _rows(schema: Schema, spec: Spec, name: str, owner: ForeignKey | None, parent: dict | None, count: int,
          values: dict[str, Any], frames: dict[str, pd.DataFrame], keys: "_KeyMaker", index: int,
          rng: np.random.Generator) -> list[dict]:
    table = schema.tables[name]
    frame = frames[name]
    others = [fk for fk in table.foreign_keys if fk is not owner]
    # References to other tables point at real rows; where they are part of the key, a
    # canary's siblings point at different rows so the key stays unique.
    picks = {fk.key: rng.permutation(len(frames[fk.ref_table])) for fk in others}
    out = []
    for j in range(count):
        template = frame.iloc[int(rng.integers(len(frame)))].to_dict() if len(frame) else {}
        row = {c.name: template.get(c.name) for c in table.columns}
        for c in table.columns:
            kind = spec.tables[name].columns[c.name].kind
            if kind in ("pii", "text") and c.generic in ("String", "Unicode", "Text", "UnicodeText"):
                row[c.name] = f"canary {index}.{j}"[: c.length or None]
        for c in table.primary_key:
            row[c] = keys.fresh(name, c, index, j)
        for unique in table.unique_sets():
            for c in unique:
                if c not in table.primary_key and c not in table.fk_columns():
                    row[c] = keys.fresh(name, c, index, j)
        for fk in others:
            ref = frames[fk.ref_table]
            if len(ref) == 0:
                key = [None] * len(fk.columns)
            else:
                at = int(picks[fk.key][j % len(ref)])
                key = [ref.iloc[at][rc] for rc in fk.ref_columns]
            row.update(dict(zip(fk.columns, key)))
        if owner is not None:
            row.update({c: parent[rc] for c, rc in zip(owner.columns, owner.ref_columns)})
        row.update(values)
        out.append(row)
    return out


class _KeyMaker:
    """Fresh key values: integers past the real maximum, text that no real row has."""

    def __init__(self, schema: Schema, frames: dict[str, pd.DataFrame]):
        self.schema, self.frames = schema, frames
        self.next: dict[tuple[str, str], int] = {}

    def fresh(self, table: str, column: str, index: int, j: int) -> Any:
        col = self.schema.tables[table].column(column)
        if col.generic in INTEGER_GENERICS:
            slot = (table, column)
            if slot not in self.next:
                real = pd.to_numeric(self.frames[table][column], errors="coerce").dropna()
                self.next[slot] = int(real.max()) + 1 if len(real) else 1
            self.next[slot] += 1
            return self.next[slot] - 1
        return f"canary-{index}-{j}"[: col.length or None]
