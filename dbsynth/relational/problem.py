"""One FK edge of the synthetic database as a `LinkProblem`, and the order edges are linked in.

Features come from the rows' sampled codes and, for owner features, from links made earlier:
tables go parents first and, inside a table, its owner edge first, so a grandparent's columns
reach a grandchild through the parent's link and a child's other edges see its owner's columns.
Inside an FK cycle a link may not exist yet: marginals that need it are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dbsynth.measure.crossplan import Feature
from dbsynth.measure.degrees import DegreeRelease
from dbsynth.measure.crosstable import EdgeMeasurements
from dbsynth.privacy.units import Units
from dbsynth.relational.linker import LinkProblem, TargetMarginal
from dbsynth.relational.sizes import OwnerTarget
from dbsynth.schema import ForeignKey, Schema


@dataclass
class SyntheticState:
    """The synthetic database while it is being linked."""

    columns: dict[str, dict[str, Sequence[Any]]]  # table -> column -> values (a list or compact: dbsynth.columns)
    codes: dict[str, dict[str, np.ndarray]]  # table -> modelled column -> sampled code per row
    parents: dict[str, np.ndarray] = field(default_factory=dict)  # fk.key -> parent row per child row, -1 NULL

    def n_rows(self, table: str) -> int:
        cols = self.columns[table]
        return len(next(iter(cols.values()))) if cols else 0


def link_order(schema: Schema, units: Units) -> list[ForeignKey]:
    """Every edge once: tables parents first; in a table its owner edge first, self references last."""
    out: list[ForeignKey] = []
    for name in schema.topological_order():
        owner = units.owner.get(name)
        edges = list(schema.tables[name].foreign_keys)
        edges.sort(key=lambda fk: (owner is None or fk.key != owner.key, fk.is_self_reference))
        out.extend(edges)
    return out


def _codes(feature: Feature, rows: np.ndarray, state: SyntheticState, edge: EdgeMeasurements) -> np.ndarray | None:
    table_codes = state.codes.get(feature.table, {})
    base = table_codes.get(feature.column)
    if base is None and feature.table in edge.public_encoders:  # a public table: encode its real rows
        enc = edge.public_encoders[feature.table].get(feature.column)
        if enc is None:
            return None
        base = np.asarray(enc.encode(pd.Series(list(state.columns[feature.table][feature.column]), dtype=object)))
        table_codes[feature.column] = base
        state.codes.setdefault(feature.table, table_codes)
    if base is None:
        return None
    # The sampled codes are kept in their narrowest type (`columns.narrow`); an edge's features
    # are int32, one width for every feature (a code is below a domain size): they are O(rows)
    # for each feature of an edge of millions, and the linker widens them where it multiplies
    # codes into cells (`objective.joint_codes`, `_cells`).
    if feature.via is None:
        return base[rows].astype(np.int32)
    up = state.parents.get(feature.via)
    if up is None:
        return None  # linked later (an FK cycle)
    u = up[rows]
    if not len(base):  # the owner came out empty (noise): no row has one
        return np.full(len(u), feature.none_code, dtype=np.int32)
    return np.where(u >= 0, base[np.maximum(u, 0)].astype(np.int32), np.int32(feature.none_code))


def edge_problem(
    fk: ForeignKey,
    edge: EdgeMeasurements | None,
    degrees: DegreeRelease | None,
    units: Units,
    state: SyntheticState,
    children: np.ndarray,
    parents: np.ndarray,
    rng: np.random.Generator,
    target: OwnerTarget | None = None,
    parent_targets: np.ndarray | None = None,
) -> LinkProblem:
    """The problem of attaching rows `children` of fk.table to rows `parents` of fk.ref_table;
    `target`: what the owner edge's size came from (`sizes.owner_targets`); `parent_targets`:
    expected children of each of `parents` (an edge into a public table)."""
    # Parents per degree, the tail above the cap included (the table's size came from it). Only
    # on the owner edge is the largest released degree a limit; elsewhere the last bin means "≥".
    degree_hist, limit, cap, tail = None, None, units.caps.get(fk.key, 8), None
    if degrees is not None:
        target = target or OwnerTarget()  # the distribution the size came from
        degree_hist, limit, tail = degrees.for_linker(len(parents), target.kept_mean, target.kept_parents)
        cap = len(degree_hist) - 1
        if not units.is_owner_edge(fk):
            limit = None
    child_position = parent_position = None
    if fk.is_self_reference:
        position = rng.permutation(state.n_rows(fk.table))
        child_position, parent_position = position[children], position[parents]
    parent_features: dict[str, np.ndarray] = {}
    child_features: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    marginals: list[TargetMarginal] = []
    resolved: dict[str, np.ndarray | None] = {}
    for mg in edge.marginals if edge is not None else []:
        for f in mg.features:
            if f not in resolved:
                feature = edge.features[f]
                resolved[f] = _codes(feature, parents if feature.side == "parent" else children, state, edge)
        if any(resolved[f] is None for f in mg.features):
            continue
        pf = tuple(f for f in mg.features if edge.features[f].side == "parent")
        cf = tuple(f for f in mg.features if edge.features[f].side == "child")
        counts = mg.noisy
        if parent_targets is not None and pf:
            counts = _rake_to_parents(counts, [resolved[f] for f in pf], [edge.features[f].size for f in pf],
                                      parent_targets)
        marginals.append(TargetMarginal(pf, cf, counts, mg.sigma))
        parent_features.update({f: resolved[f] for f in pf})
        child_features.update({f: resolved[f] for f in cf})
        sizes.update({f: edge.features[f].size for f in mg.features})
    sigma = degrees.sigma_for(len(parents), target.kept_parents) if degrees is not None else 0.0
    return LinkProblem(len(children), len(parents), parent_features, child_features, sizes, marginals,
                       degree_hist=degree_hist, degree_sigma=sigma, cap=cap, limit=limit, degree_tail=tail,
                       parent_targets=parent_targets,
                       child_position=child_position, parent_position=parent_position)


def _rake_to_parents(counts: np.ndarray, codes: list[np.ndarray], sizes: list[int],
                     targets: np.ndarray) -> np.ndarray:
    """A cross-table marginal whose children per parent cell are the parents' own released counts
    summed over the cell (a far less noisy statistic), keeping each cell's split over the child
    features; a cell with no positive count gets the child features' overall split."""
    n_cells = int(np.prod(sizes))
    flat = np.clip(np.asarray(counts, dtype=float), 0.0, None).reshape(n_cells, -1)
    total = flat.sum()
    if total <= 0 or targets.sum() <= 0:
        return counts
    cell = np.ravel_multi_index(tuple(np.asarray(c, dtype=np.int64) for c in codes), tuple(sizes))
    wanted = np.bincount(cell, weights=targets, minlength=n_cells) * total / targets.sum()
    held = flat.sum(axis=1)
    overall = flat.sum(axis=0) / total
    split = np.where(held[:, None] > 0, flat / np.where(held > 0, held, 1.0)[:, None], overall[None, :])
    return (split * wanted[:, None]).reshape(np.shape(counts))
