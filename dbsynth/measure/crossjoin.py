"""Cross-table marginals counted inside the source database: one FK edge's bounded join as SQL.

The SQL twin of `crossmemory.join_marginals`, which the measure stage runs: the kept rows of
the child (`bounding.py`, the per-table measurement's own secret and caps) joined to their
parent rows; on a reference edge into a private table, the parent's kept rows and at most `cap`
children admitted per parent, ranked by ROW_NUMBER() over the bounding's keyed hash; owners
joined for owner features; every feature discretised in SQL (`discretise.py`) and each clique
counted with GROUP BY (GROUPING SETS on PostgreSQL). Only counts per cell come back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.measure.bounding import order_by
from dbsynth.measure.crossplan import Encoders, Feature, admits, owner_edge
from dbsynth.measure.discretise import code_of
from dbsynth.measure.pushdown import Pushdown
from dbsynth.schema import ForeignKey

_RANK = "dbsynth_admission"


class EdgeJoin:
    """The SELECT of one edge's join rows with one code column per feature; runs nothing."""

    def __init__(self, pushdown: Pushdown, fk: ForeignKey, features: dict[str, Feature], encoders: Encoders):
        self.pushdown = pushdown
        self.fk = fk
        self.features = features
        self.encoders = encoders

    def codes(self, names: Sequence[str]) -> sa.Subquery:
        """Codes of the features `names` (columns "c0", "c1", … in that order) per join row."""
        fk, bounded = self.fk, self.pushdown.bounded
        units, schema = bounded.units, self.pushdown.schema
        used = [self.features[n] for n in names]
        owners = {side: owner_edge(fk, units, side) for side in ("parent", "child")}
        owners = {side: up for side, up in owners.items()
                  if up is not None and any(f.side == side and f.via == up.key for f in used)}

        def own(side: str) -> list[str]:
            cols = [f.column for f in used if f.side == side and f.via is None]
            return [*cols, *(owners[side].columns if side in owners else ())]

        admit = admits(fk, units)
        child = bounded.rows(fk.table, [*fk.columns, *own("child")], hashed=admit)
        if admit:
            parent: sa.FromClause = bounded.rows(fk.ref_table, [*fk.ref_columns, *own("parent")])
        else:
            # Owner edge: a kept child's parent is kept by construction (bounding keeps a row only
            # under a kept parent), and a public parent keeps every row: the table itself will do.
            parent = bounded.table(fk.ref_table).alias()
        joined = child.join(parent, _on(fk, child, parent))
        rows = {"child": child, "parent": parent}
        missing: dict[str, ColumnElement] = {}
        for side, up in owners.items():
            # A kept non-root row's owner is kept too, so the owner table joins as it is; a root
            # (NULL owner FK) finds none and gets the feature's "no owner" code.
            owner = bounded.table(up.ref_table).alias()
            joined = joined.outerjoin(owner, _on(up, rows[side], owner))
            missing[side] = owner.c[up.ref_columns[0]].label(f"dbsynth_{side}_owner")
            rows[f"{side}.owner"] = owner

        values = [rows[f.side if f.via is None else f"{f.side}.owner"].c[f.column].label(f"v{i}")
                  for i, f in enumerate(used)]
        extra: list[ColumnElement] = list(missing.values())
        if admit:
            rank = sa.func.row_number().over(partition_by=[child.c[c] for c in fk.columns], order_by=order_by(child))
            extra.append(rank.label(_RANK))
        inner = sa.select(*values, *extra).select_from(joined).subquery()

        exprs = []
        for i, f in enumerate(used):
            code = code_of(self.encoders[f.table][f.column], inner.c[f"v{i}"],
                           schema.tables[f.table].column(f.column), self.pushdown.dialect)
            if f.via is not None:
                none = sa.literal_column(str(f.none_code), sa.Integer)
                code = sa.case((inner.c[missing[f.side].name].is_(None), none), else_=code)
            exprs.append(code.label(f"c{i}"))
        query = sa.select(*exprs)
        if admit:
            query = query.where(inner.c[_RANK] <= sa.literal(bounded.units.caps[fk.key], sa.Integer))
        return query.subquery()


def _on(fk: ForeignKey, child: sa.FromClause, parent: sa.FromClause) -> ColumnElement:
    return sa.and_(*[parent.c[rc] == child.c[c] for c, rc in zip(fk.columns, fk.ref_columns)])


def join_counts(pushdown: Pushdown, fk: ForeignKey, features: dict[str, Feature], encoders: Encoders,
                cliques: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
    """True counts of each clique (axes in clique order) over `fk`'s bounded join, one statement
    per batch of cliques: the rows are joined, coded and scanned once for all of them."""
    names = list(dict.fromkeys(n for q in cliques for n in q))
    label = {n: f"c{i}" for i, n in enumerate(names)}
    codes = EdgeJoin(pushdown, fk, features, encoders).codes(names)
    with pushdown.connect(f"cross-table marginals of {fk.key}") as conn:
        groups = pushdown.dialect.group_counts(conn, codes, [[label[n] for n in q] for q in cliques])
    out = []
    for clique, cells in zip(cliques, groups):
        counts = np.zeros(tuple(features[n].size for n in clique))
        for key, n in cells:
            counts[key] += n
        out.append(counts)
    return out
