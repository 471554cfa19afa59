"""Cross-table marginals: noisy counts over each FK edge's join of bounded rows, for the pgd linker.

What is measured per edge and with which sensitivity is planned in `crossplan.py` (from the
schema, the spec and released encoders); the true counts come from the source database
(`crossjoin.py`: the join of bounded rows, discretised and counted in SQL, with the same
bounding and secret as the per-table measurement); here they get their noise and their charge
to the ledger. No private row is read into Python on this path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from dbsynth.errors import SpecError
from dbsynth.measure.crossjoin import join_counts
from dbsynth.measure.crossplan import MODELLED, Feature, join_sensitivity, plan_edges
from dbsynth.measure.domains import as_type, public_encoder
from dbsynth.measure.encoders import BinEncoder, CategoricalEncoder, to_number
from dbsynth.measure.measure import TableMeasurements
from dbsynth.measure.pushdown import Pushdown
from dbsynth.privacy import mechanisms
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.units import Units
from dbsynth.schema import ForeignKey, Schema
from dbsynth.spec import Spec

__all__ = ["CrossTableMarginal", "EdgeMeasurements", "Feature", "measure_links", "public_table_encoders"]

PUBLIC_TOP_VALUES = 30  # a public parent's columns: its most frequent values, the rest "other"
PUBLIC_BINS = 8


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


def measure_links(
    pushdown: Pushdown,
    schema: Schema,
    spec: Spec,
    units: Units,
    ledger: Ledger,
    measured: dict[str, TableMeasurements],
    rho_per_table: dict[str, float],
    progress: Callable[[str], None] | None = None,
) -> dict[str, EdgeMeasurements]:
    """Noisy cross-table marginals per pgd edge, paid from each child table's `cross_share`
    (taken out of its model's ρ, which `measure` left there). `pushdown` must be the one the
    per-table measurement used: its secret decides the kept rows, so a unit contributes to the
    joins exactly the rows the sensitivities of `crossplan` count."""
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
            if progress:
                progress(key)
            sens = join_sensitivity(fk, units)
            counts = join_counts(pushdown, fk, features, encoders, cliques)
            involved = {f.table for f in features.values()}
            em = EdgeMeasurements(fk, features, sensitivity=sens,
                                  public_encoders={t: public[t] for t in involved if t in public},
                                  degree_sigma=_degree_sigma(ledger, fk))
            for clique, true in zip(cliques, counts):
                noisy, sigma = mechanisms.gaussian(
                    ledger, true.ravel(), sensitivity=sens, rho=rho_child / len(keys) / len(cliques),
                    table=child, what=f"cross-table {' x '.join(clique)} over {fk.key}",
                )
                em.marginals.append(CrossTableMarginal(clique, noisy.reshape(true.shape), sigma))
            out[key] = em
    return out


def _degree_sigma(ledger: Ledger, fk: ForeignKey) -> float | None:
    """The noise σ the measure stage gave `fk`'s degree histogram (public: it is in the ledger)."""
    what = f"degree histogram of {fk.key}"
    return next((c.sigma for c in ledger.charges if c.table == fk.table and c.what == what), None)
