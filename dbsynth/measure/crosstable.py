"""Cross-table marginals: noisy counts over each FK edge's join of bounded rows, for the pgd linker.

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
row leaving too. In memory for now; the pushdown stage may compute the same counts in SQL.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dbsynth.errors import SpecError
from dbsynth.measure.domains import as_type, public_encoder
from dbsynth.measure.encoders import BinEncoder, CategoricalEncoder, to_number
from dbsynth.measure.measure import TableMeasurements
from dbsynth.measure.read import read_table
from dbsynth.privacy import mechanisms
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.units import Units, bound, fk_tuples, keyed_hash, row_identity
from dbsynth.schema import ForeignKey, Schema
from dbsynth.spec import ForeignKeySpec, Spec

MODELLED = ("categorical", "numeric", "datetime", "boolean")
# Default selection (data-independent: domain sizes are public). More marginals split the budget
# thinner; 3-ways above a few thousand cells are mostly noise at the sizes we see.
MAX_TWO_WAY = 16
MAX_THREE_WAY = 4
MAX_ONE_WAY = 6
MAX_CELLS = 4096
PUBLIC_TOP_VALUES = 30  # a public parent's columns: its most frequent values, the rest "other"
PUBLIC_BINS = 8


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


@dataclass(frozen=True)
class CrossTableMarginal:
    """A released marginal over an edge's join: parent features first, then child features."""

    features: tuple[str, ...]
    noisy: np.ndarray  # shaped by the features' sizes
    sigma: float


@dataclass
class EdgeMeasurements:
    """What the pgd linker gets for one FK edge: features, their encoders, the noisy marginals."""

    fk: ForeignKey
    features: dict[str, Feature]
    marginals: list[CrossTableMarginal] = field(default_factory=list)
    sensitivity: float = 0.0
    public_encoders: dict[str, dict[str, Any]] = field(default_factory=dict)  # public table -> col -> encoder
    degree_sigma: float | None = None  # noise σ of the edge's degree histogram (from its ledger charge)


def fk_spec(spec: Spec, fk: ForeignKey) -> ForeignKeySpec:
    return spec.tables[fk.table].foreign_keys.get(fk.key) or ForeignKeySpec(cap=8)


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


# -- counting over bounded rows ----------------------------------------------------------------


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
        # Rank each parent's kept children by the keyed hash of their own key (as the bounding does),
        # so whether a child is admitted depends on its siblings only through their hashes.
        ident = row_identity(child.iloc[rows], schema.tables[fk.table])
        order = pd.DataFrame({"p": prow, "h": keyed_hash(ident, secret)})
        rank = order.sort_values(["p", "h"]).groupby("p", sort=False).cumcount().sort_index().to_numpy()
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


# -- the measure step ---------------------------------------------------------------------------


def public_table_encoders(schema: Schema, spec: Spec, name: str, frame: pd.DataFrame) -> dict[str, Any]:
    """Encoders for a public table's modelled columns, fitted on its rows (public: costs nothing)."""
    table = schema.tables[name]
    fks = table.fk_columns()
    out: dict[str, Any] = {}
    for col in table.columns:
        cs = spec.tables[name].columns.get(col.name)
        if cs is None or cs.kind not in MODELLED or col.name in fks:
            continue
        enc = public_encoder(col, cs)
        if enc is None and cs.kind == "categorical":
            counts = frame[col.name].dropna().value_counts()
            top = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:PUBLIC_TOP_VALUES]
            enc = CategoricalEncoder([v for v, _ in top], col.nullable, other=len(counts) > len(top))
        elif enc is None:
            t = as_type(col)
            x = to_number(frame[col.name], t)
            x = x[~np.isnan(x)]
            edges = np.unique(np.quantile(x, np.linspace(0, 1, PUBLIC_BINS + 1))) if len(x) else np.array([0.0])
            if len(edges) < 2:
                edges = np.array([edges[0], edges[0] + 1.0])
            enc = BinEncoder(list(map(float, edges)), col.nullable, t, col.scale)
        out[col.name] = enc
    return out


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


def measure_links(
    source: sa.Engine,
    schema: Schema,
    spec: Spec,
    units: Units,
    ledger: Ledger,
    measured: dict[str, TableMeasurements],
    rho_per_table: dict[str, float],
    rng: np.random.Generator,
    progress: Callable[[str], None] | None = None,
) -> dict[str, EdgeMeasurements]:
    """Noisy cross-table marginals per pgd edge, paid from each child table's `cross_share`
    (taken out of its model's ρ, which `measure` left there)."""
    encoders: dict[str, dict[str, Any]] = {}
    public: dict[str, dict[str, Any]] = {}
    for name, tm in measured.items():
        if tm.private:
            encoders[name] = dict(tm.encoders)
        else:
            public[name] = public_table_encoders(schema, spec, name, tm.public_rows)
            encoders[name] = public[name]
    plans = plan_edges(schema, spec, units, encoders)
    if not plans:
        return {}
    frames: dict[str, pd.DataFrame] = {}
    for name in schema.tables:
        if progress:
            progress(name)
        frames[name] = measured[name].public_rows if not measured[name].private else read_table(source, schema, name)
    secret = secrets.token_bytes(32)
    kept = bound({t: frames[t] for t in units.private}, schema, units, secret)
    tables_used = {f.table for _, feats, _ in plans.values() for f in feats.values()}
    codes = encode_tables({t: frames[t] for t in tables_used}, {t: encoders[t] for t in tables_used})

    by_child: dict[str, list[str]] = {}
    for key, (fk, _, _) in plans.items():
        by_child.setdefault(fk.table, []).append(key)
    out: dict[str, EdgeMeasurements] = {}
    for child, keys in by_child.items():
        rho_child = rho_per_table[child] * spec.budget.cross_share
        if rho_child <= 0:
            continue
        tm = measured[child]
        if tm.rho_model - rho_child <= 0:
            raise SpecError(f"spec: budget shares leave nothing for the model of {child!r}")
        tm.rho_model -= rho_child
        for key in keys:
            fk, features, cliques = plans[key]
            sens = join_sensitivity(fk, units)
            counts = join_marginals(frames, kept, schema, units, fk, features, cliques, codes, secret)
            involved = {f.table for f in features.values()}
            em = EdgeMeasurements(fk, features, sensitivity=sens,
                                  public_encoders={t: public[t] for t in involved if t in public},
                                  degree_sigma=_degree_sigma(ledger, fk))
            for clique, true in zip(cliques, counts):
                noisy, sigma = mechanisms.gaussian(
                    ledger, true.ravel(), sensitivity=sens, rho=rho_child / len(keys) / len(cliques), rng=rng,
                    table=child, what=f"cross-table {' x '.join(clique)} over {fk.key}",
                )
                em.marginals.append(CrossTableMarginal(clique, noisy.reshape(true.shape), sigma))
            out[key] = em
    return out


def _degree_sigma(ledger: Ledger, fk: ForeignKey) -> float | None:
    """The noise σ the measure stage gave `fk`'s degree histogram (public: it is in the ledger)."""
    what = f"degree histogram of {fk.key}"
    return next((c.sigma for c in ledger.charges if c.table == fk.table and c.what == what), None)
