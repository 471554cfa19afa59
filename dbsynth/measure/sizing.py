"""The sizing stage: caps from the data and noisy table sizes, under DP, before anything else.

It runs first, on a small share of ρ (`budget.sizing_share`), because everything after depends
on it: a table's sensitivity is the product of the caps up its owner chain, and the rest of the
budget is split over tables by what each needs, which depends on its size.

- **Caps.** Each FK edge of a private table whose spec gives no cap gets the `cap_quantile`
  quantile of its parents' degrees (parents with at least one child), read off a noisy histogram
  over the public degree buckets, and no more than `max_cap`: a cap multiplies the sensitivity
  of every table below it, and the tail above it is released anyway (degree histograms), so the
  table's size does not depend on it. Where the histogram is mostly noise the cap stays at the
  placeholder. Owner edges go first, parents before children, since a parent's Δ (the
  histogram's sensitivity) depends on the caps above it.
- **Sizes.** Each private table's kept rows are counted with noise, and so are the rows whose
  nullable owner FK is NULL (units of their own, one row each: sensitivity 1); that second count
  is kept only where it stands out of its noise (3σ), since most nullable owner FKs are never NULL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from dbsynth.measure.degrees import BUCKETS, bucket_counts
from dbsynth.measure.pushdown import Pushdown
from dbsynth.privacy import mechanisms
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.units import Units
from dbsynth.schema import ForeignKey, Schema
from dbsynth.spec import Spec

MAX_CAP = 64
_STANDS_OUT = float(norm.isf(0.01 / len(BUCKETS)))  # ≈ 3.4σ
NULL_Z = 3.0  # a count of NULL FKs under this many σ is none: noise alone passes once in 740


@dataclass(frozen=True)
class Sizing:
    units: Units  # every cap set
    chosen_caps: dict[str, int] = field(default_factory=dict)  # fk.key -> cap chosen from the data
    rows: dict[str, float] = field(default_factory=dict)  # private table -> noisy kept rows
    rows_sigma: dict[str, float] = field(default_factory=dict)
    null_roots: dict[str, float] = field(default_factory=dict)  # owned table -> noisy rows with a NULL owner FK


def open_edges(schema: Schema, spec: Spec, units: Units) -> list[ForeignKey]:
    """Edges of private tables with no cap in the spec: owner edges in owner order, then the rest
    between private tables (an edge into a public table has no cap: its children are released
    parent by parent, `parents.py`)."""
    def uncapped(fk: ForeignKey) -> bool:
        fs = spec.tables[fk.table].foreign_keys.get(fk.key)
        return fs is None or fs.cap is None

    owners = [units.owner[t] for t in units.order() if units.owner.get(t) is not None]
    owners = [fk for fk in owners if uncapped(fk)]
    rest = [fk for t in schema.topological_order() if t in units.private for fk in schema.tables[t].foreign_keys
            if uncapped(fk) and not units.is_owner_edge(fk) and fk.ref_table in units.private]
    return owners + rest


def size_up(pushdown: Pushdown, schema: Schema, spec: Spec, units: Units, ledger: Ledger, rho: float) -> Sizing:
    """Caps for the open edges, then noisy sizes, spending `rho` in all."""
    edges = open_edges(schema, spec, units)
    private = units.order()
    rho_caps = rho * 2 / 3 if edges else 0.0  # a cap sets Δ for everything below it
    rho_rows = rho - rho_caps
    chosen: dict[str, int] = {}
    for fk in edges:
        push = pushdown.with_units(units)
        owner_edge = units.is_owner_edge(fk)
        degrees = push.degree_counts(fk, all_children=owner_edge)
        sens = units.degree_sensitivity(fk)  # the same histogram, parents with no child left out
        cap = _cap_from_degrees(ledger, degrees, spec.budget.cap_quantile, sensitivity=max(sens, 1),
                                rho=rho_caps / len(edges), table=fk.table, what=f"cap of {fk.key}",
                                fallback=units.caps[fk.key])
        chosen[fk.key] = cap
        units = units.with_caps({fk.key: cap})
    push = pushdown.with_units(units)
    rows, sigmas, roots = {}, {}, {}
    for name in private:
        owner = units.owner.get(name)
        nullable = owner is not None and any(schema.tables[name].column(c).nullable for c in owner.columns)
        share = rho_rows / len(private) / (2 if nullable else 1)
        (noisy,), sigma = mechanisms.gaussian(ledger, np.array([float(push.row_count(name))]),
                                              sensitivity=units.sensitivity(name), rho=share, table=name,
                                              what="row count (sizing)")
        rows[name], sigmas[name] = float(noisy), sigma
        if nullable:
            (n_roots,), roots_sigma = mechanisms.gaussian(ledger, np.array([float(push.null_owner_count(name, owner))]),
                                                          sensitivity=1.0, rho=share, table=name,
                                                          what=f"rows with NULL {', '.join(owner.columns)} (sizing)")
            # A count that does not stand out of its noise is taken as none. Clipped at 0 instead,
            # it was 0.4σ on average and above σ one time in six: Northwind's orders, whose nullable
            # customer_id is never NULL, came out a third to a half ownerless at ε = 1 (σ in the hundreds).
            roots[name] = float(n_roots) if n_roots >= NULL_Z * roots_sigma else 0.0
    return Sizing(units, chosen, rows, sigmas, roots)


def _cap_from_degrees(ledger: Ledger, degrees: dict[int, int], q: float, *, sensitivity: float, rho: float,
                      table: str, what: str, fallback: int) -> int:
    """The smallest bucket end covering a share q of the parents with children, by a noisy
    histogram; `fallback` when no bucket stands out of the noise."""
    hist = bucket_counts({d: n for d, n in degrees.items() if d > 0})
    noisy, sigma = mechanisms.gaussian(ledger, hist, sensitivity=sensitivity, rho=rho, table=table, what=what)
    # Degree 0 is not counted; a bucket must stand out of the noise of all of them (Bonferroni
    # at 1%): clipped noise alone would put parents in every wide bucket and push the quantile up.
    noisy = noisy[1:]
    noisy = np.where(noisy >= _STANDS_OUT * sigma, noisy, 0.0)
    if noisy.sum() <= 0:
        return fallback
    reached = int(np.searchsorted(np.cumsum(noisy), q * noisy.sum()))
    upper = np.append(BUCKETS[2:], BUCKETS[-1]) - 1  # the largest degree of each bucket from degree 1 on
    return int(min(max(1, upper[min(reached, len(upper) - 1)]), MAX_CAP))
