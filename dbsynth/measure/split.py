"""The budget split over tables, by need, and the noise each table is left with.

After sizing, the rest of ρ is split so that no table is left to noise for being small: a
table's statistics have relative error about σ/n with σ = Δ·√m / √(2ρ_t) (m statistics of
sensitivity Δ over n rows). Minimising the sum of those relative errors under Σρ_t = ρ gives
ρ_t ∝ (Δ²·m/n²)^(1/3): small tables and tables of large Δ get more, without starving the rest.
`budget_weight` in the spec multiplies a table's need. Post-processing of the noisy sizes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from dbsynth.measure.sizing import Sizing
from dbsynth.schema import Schema
from dbsynth.spec import MODELLED_KINDS, Spec

NOISY = 0.1  # σ per statistic above this share of a table's rows: the table is mostly noise


@dataclass(frozen=True)
class TableShare:
    table: str
    rho: float
    share: float  # of the split ρ
    rows: float  # noisy kept rows (sizing)
    sensitivity: int
    statistics: int  # m: modelled columns, FK edges and the count
    noise: float  # σ of one statistic at the model's share
    warning: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def statistics(schema: Schema, spec: Spec, name: str) -> int:
    ts = spec.tables[name]
    modelled = sum(1 for cs in ts.columns.values() if cs.kind in MODELLED_KINDS)
    return modelled + len(schema.tables[name].foreign_keys) + 1


def split_by_need(schema: Schema, spec: Spec, sizing: Sizing, rho: float) -> dict[str, TableShare]:
    units = sizing.units
    private = [t for t in schema.tables if t in units.private]
    need = {}
    for t in private:
        n = max(sizing.rows.get(t, 0.0), sizing.rows_sigma.get(t, 1.0), 1.0)
        need[t] = spec.tables[t].budget_weight * (units.sensitivity(t) ** 2 * statistics(schema, spec, t) / n**2) ** (1 / 3)
    total = sum(need.values()) or 1.0
    model_share = 1.0 - spec.budget.domain_share - spec.budget.link_share
    out = {}
    for t in private:
        rho_t = rho * need[t] / total
        m, d = statistics(schema, spec, t), units.sensitivity(t)
        n = max(sizing.rows.get(t, 0.0), 1.0)
        noise = d * math.sqrt(m) / math.sqrt(2 * rho_t * model_share)
        warning = None
        # Against the fewest rows the noisy size makes plausible (2σ below it): an 8-row table
        # whose size came out at 150 (σ ≈ 110 at ε = 1) is still swamped, and said so only
        # when the noise happened to keep its size small.
        plausible = max(n - 2 * sizing.rows_sigma.get(t, 0.0), 1.0)
        if noise > NOISY * plausible:
            # How much more ε, against the noisy size itself: against the plausible floor (1 row
            # where the size's own σ is large) Northwind's 830 orders were told 1,750×, not 2.3×.
            more = noise / (NOISY * n)
            much = f"about {min(more, 1e6):.3g}×" if more > 1.05 else "somewhat"
            owner = units.owner.get(t)
            fix = [f"a larger --epsilon ({much}, for σ at {NOISY:.0%} of ≈ {n:.0f} rows)",
                   f"--public {t} if it is reference data"]
            if d > 1 and owner is not None:
                fix.append(f"smaller caps on its owner chain (spec: foreign_keys.{owner.key}.cap; Δ = {d})")
            warning = (f"{t}: noise σ ≈ {noise:.3g} per statistic against ≈ {n:.0f} rows: its statistics are "
                       f"mostly noise. Fix: " + "; or ".join(fix))
        out[t] = TableShare(t, rho_t, need[t] / total, float(sizing.rows.get(t, 0.0)), d, m, noise, warning)
    return out


def planned_split(schema: Schema, spec: Spec, units) -> dict:
    """What `plan` can say about the split before any row is read: the sizing share, which caps
    will come from the data, and each private table's statistics and Δ (at the spec's caps, or
    the placeholder where the data will choose)."""
    from dbsynth.measure.sizing import open_edges

    return {
        "sizing_share": spec.budget.sizing_share,
        "caps_from_data": [fk.key for fk in open_edges(schema, spec, units)],
        "rule": "rho_t proportional to (sensitivity^2 * statistics / noisy rows^2)^(1/3) * budget_weight",
        "tables": {t: {"statistics": statistics(schema, spec, t), "sensitivity": units.sensitivity(t),
                       "budget_weight": spec.tables[t].budget_weight}
                   for t in schema.tables if t in units.private},
    }
