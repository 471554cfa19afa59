"""Cross-table features of an FK edge, the marginals chosen over them, and their sensitivity.

For an edge child C → parent P, the join holds one row per kept child whose parent is kept;
each row carries *features*: released codes of P's and C's modelled columns, and of the columns
of P's and C's owners (a grandparent reaches a grandchild through the chain, and a child's owner
conditions its other links). Sensitivity (DESIGN §2), with Δ = `Units.sensitivity`:

- owner edge: a kept child's parent is always kept and at most `cap` children are kept per
  parent, so the join rows are exactly the kept C rows: Δ_join = Δ(C).
- reference edge into a private table: at most `cap` kept children per parent are *admitted*,
  ranked by the same keyed hash as the bounding. A changed child changes its own row and frees or
  takes one admission slot (2 rows); a changed parent carries ≤ cap rows: Δ_join = 2Δ(C) + cap·Δ(P).
- reference edge into a public table: public rows never change: Δ_join = Δ(C).

Owner features are free: a kept row's owner is kept and its values cannot change without the
row leaving too. Everything here is decided from the schema, the spec and released encoders:
no row is read.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from dbsynth.errors import SpecError
from dbsynth.privacy.units import Units
from dbsynth.schema import ForeignKey, Schema
from dbsynth.spec import ForeignKeySpec, Spec

MODELLED = ("categorical", "numeric", "datetime", "boolean")
# Default selection (data-independent: domain sizes are public). More marginals split the budget
# thinner; 3-ways above a few thousand cells are mostly noise at the sizes we see.
MAX_TWO_WAY = 16
MAX_THREE_WAY = 4
MAX_ONE_WAY = 6
MAX_CELLS = 4096


@dataclass(frozen=True)
class Feature:
    """One coded attribute of a join row: a column of the parent, the child, or an owner of either."""

    name: str  # "parent.x", "parent.owner.x", "child.x", "child.owner.x"
    side: str  # "parent" | "child"
    table: str
    column: str
    via: str | None  # the owner edge (fk.key) it is reached through; None: the row's own column
    size: int  # codes 0..size-1; through a nullable owner FK the last code means "no owner"

    @property
    def none_code(self) -> int:
        return self.size - 1



def fk_spec(spec: Spec, fk: ForeignKey) -> ForeignKeySpec:
    return spec.tables[fk.table].foreign_keys.get(fk.key) or ForeignKeySpec()


def admits(fk: ForeignKey, units: Units) -> bool:
    """Whether the join caps the children per parent itself: private parents on reference edges."""
    owner = units.owner.get(fk.table)
    return fk.ref_table in units.private and (owner is None or owner.key != fk.key)


def join_sensitivity(fk: ForeignKey, units: Units) -> int:
    """Δ of every cross-table marginal of `fk` (see the module docstring)."""
    delta_c = units.sensitivity(fk.table)
    if fk.ref_table not in units.private:
        return delta_c
    if not admits(fk, units):
        return delta_c
    return 2 * delta_c + units.caps[fk.key] * units.sensitivity(fk.ref_table)


def owner_edge(fk: ForeignKey, units: Units, side: str) -> ForeignKey | None:
    """The owner edge whose parent's columns join this edge's features on `side`."""
    if side == "parent":
        return units.owner.get(fk.ref_table)
    own = units.owner.get(fk.table)
    return own if own is not None and own.key != fk.key else None


Encoders = dict[str, dict[str, Any]]  # table -> column -> released (or public) encoder
EdgePlan = tuple[ForeignKey, dict[str, Feature], list[tuple[str, ...]]]  # an edge, its features, its cliques


def edge_features(fk: ForeignKey, schema: Schema, units: Units, encoders: Encoders) -> dict[str, Feature]:
    """Every feature of `fk`'s join, from the released (or public) encoders of the tables involved."""
    out: dict[str, Feature] = {}

    def add(side: str, table: str, via: ForeignKey | None, prefix: str) -> None:
        extra = via is not None and any(schema.tables[via.table].column(c).nullable for c in via.columns)
        for col, enc in encoders.get(table, {}).items():
            if enc.size > 1:  # a one-value column says nothing
                name = f"{prefix}.{col}"
                out[name] = Feature(name, side, table, col, via.key if via else None, enc.size + int(extra))

    add("parent", fk.ref_table, None, "parent")
    if (up := owner_edge(fk, units, "parent")) is not None:
        add("parent", up.ref_table, up, "parent.owner")
    add("child", fk.table, None, "child")
    if (up := owner_edge(fk, units, "child")) is not None:
        add("child", up.ref_table, up, "child.owner")
    return out


def _cells(features: dict[str, Feature], clique: tuple[str, ...]) -> int:
    return int(np.prod([features[f].size for f in clique]))


def default_marginals(features: dict[str, Feature]) -> list[tuple[str, ...]]:
    """A few 3-ways over own columns (2 parent × 1 child and 1 parent × 2 child, smallest first),
    then a 2-way for every parent × child pair they leave out (own columns before owners').
    Parent 1-ways if the child has no features (they say which parents get the children); none
    if the parent has none. Each marginal splits the budget further: covered pairs are not
    measured twice."""
    order = sorted(features.values(), key=lambda f: (f.via is not None, f.size, f.name))
    parent = [f.name for f in order if f.side == "parent"]
    child = [f.name for f in order if f.side == "child"]
    if not parent:
        return []
    if not child:
        return [(p,) for p in parent[:MAX_ONE_WAY]]
    own_p = [p for p in parent if features[p].via is None]
    own_c = [c for c in child if features[c].via is None]
    two_one = sorted(((a, b, c) for a, b in itertools.combinations(own_p, 2) for c in own_c
                      if _cells(features, (a, b, c)) <= MAX_CELLS), key=lambda q: _cells(features, q))
    one_two = sorted(((p, a, b) for p in own_p for a, b in itertools.combinations(own_c, 2)
                      if _cells(features, (p, a, b)) <= MAX_CELLS), key=lambda q: _cells(features, q))
    threes: list[tuple[str, ...]] = []
    for pair in itertools.zip_longest(two_one, one_two):  # alternate the two shapes
        threes += [q for q in pair if q is not None]
    threes = threes[:MAX_THREE_WAY]
    covered = {(a, b) for q in threes for a in q for b in q if features[a].side == "parent" != features[b].side}
    twos = [(p, c) for p, c in itertools.product(parent, child)
            if (p, c) not in covered and _cells(features, (p, c)) <= MAX_CELLS]
    twos.sort(key=lambda q: (sum(features[f].via is not None for f in q), _cells(features, q)))
    return threes + twos[:MAX_TWO_WAY]


def select_marginals(fk: ForeignKey, spec: Spec, features: dict[str, Feature]) -> list[tuple[str, ...]]:
    """The spec's marginals for `fk` (parent features first) or the default selection. Names were
    checked by `check_link_spec`; a feature missing here has one released value and is dropped."""
    chosen = fk_spec(spec, fk).marginals
    if chosen is None:
        return default_marginals(features)
    out = []
    for names in chosen:
        kept = tuple(sorted((n for n in names if n in features), key=lambda n: features[n].side != "parent"))
        if any(features[n].side == "parent" for n in kept) and kept not in out:
            out.append(kept)
    return out


def spec_feature_names(fk: ForeignKey, schema: Schema, spec: Spec, units: Units) -> set[str]:
    """The features `fk` could have, from the spec's column kinds alone (before any row is read)."""
    def cols(table: str) -> list[str]:
        fks = schema.tables[table].fk_columns()
        return [c for c, cs in spec.tables[table].columns.items() if cs.kind in MODELLED and c not in fks]

    names = {f"parent.{c}" for c in cols(fk.ref_table)} | {f"child.{c}" for c in cols(fk.table)}
    for side in ("parent", "child"):
        if (up := owner_edge(fk, units, side)) is not None:
            names |= {f"{side}.owner.{c}" for c in cols(up.ref_table)}
    return names


def check_link_spec(spec: Spec, schema: Schema) -> None:
    """Refuse spec marginals that name an unknown feature, repeat one, or have no parent feature."""
    import difflib

    units = Units.from_spec(schema, spec)
    for fk in schema.edges():
        chosen = spec.tables[fk.table].foreign_keys.get(fk.key)
        if chosen is None or not chosen.marginals:
            continue
        known = spec_feature_names(fk, schema, spec, units)
        for names in chosen.marginals:
            for name in names:
                if name not in known:
                    hint = difflib.get_close_matches(name, sorted(known), n=1)
                    tail = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(sorted(known)) or 'none'})"
                    raise SpecError(f"spec: marginal of {fk.key} names unknown feature {name!r}{tail}")
            if len(set(names)) != len(names):
                raise SpecError(f"spec: marginal {names} of {fk.key} repeats a feature")
            if not any(n.startswith("parent.") for n in names):
                raise SpecError(f"spec: marginal {names} of {fk.key} needs a parent feature (parent.x)")


def plan_edges(schema: Schema, spec: Spec, units: Units, encoders: Encoders) -> dict[str, EdgePlan]:
    """The pgd edges with something to measure: fk.key -> (fk, features, cliques). Reads no rows."""
    out = {}
    for fk in schema.edges():
        if not spec.tables[fk.table].private or fk_spec(spec, fk).linker != "pgd":
            continue
        features = edge_features(fk, schema, units, encoders)
        cliques = select_marginals(fk, spec, features)
        if cliques:
            out[fk.key] = (fk, features, cliques)
    return out
