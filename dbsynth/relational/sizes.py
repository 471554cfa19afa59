"""How many rows each synthetic table gets: one number per table, consistent with its parents.

A root table (no owner) gets its model's noisy row count. An owned table's size follows from its
owner's synthetic size and the released degree distribution of the owner edge, tail above the
cap included, plus its rows with a NULL owner FK: the same number the linker will realise, not
a second count that disagrees with it. `--scale` multiplies the roots (children follow through
their degrees); a table's `rows:` fixes its size and `scale:` multiplies it. Post-processing.

The owner edge's kept children per parent, E[min(d, cap)], is known twice: from the degree
histogram and from the two models' row counts; the two are combined by their noise, and the
degree distribution is tilted to the result, so the size and the linker's degrees stay one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from dbsynth.measure.degrees import DegreeRelease
from dbsynth.measure.measure import TableMeasurements
from dbsynth.measure.sizing import NULL_Z, Sizing
from dbsynth.privacy.units import Units
from dbsynth.schema import Schema
from dbsynth.spec import Spec


@dataclass(frozen=True)
class OwnerTarget:
    """What an owner edge's releases and the two models' row counts say together: kept children
    per kept parent, E[min(d, cap)], and how many parents were kept (what the children above the
    cap are divided by). Either may be None: the degree histogram's own estimate is used."""

    kept_mean: float | None = None
    kept_parents: float | None = None


def table_sizes(schema: Schema, spec: Spec, units: Units, measured: dict[str, TableMeasurements],
                models: dict[str, Any], sizing: Sizing | None = None, scale: float = 1.0,
                targets: dict[str, OwnerTarget] | None = None, noise: dict[str, float] | None = None
                ) -> tuple[dict[str, int], dict[str, int]]:
    """Rows per table, and per nullable FK (fk.key) the rows whose FK is NULL where a count says
    so; the linker leaves that many unlinked, those the model drew with a NULL first. On the
    owner edge: the same share of the size as the noisy count of such rows (units of their own)
    is of the size here. On another edge: none where the edge's noisy NULL count does not stand
    out of its noise (`NULL_Z`); where it does, the model's NULL indicator says how many (it has
    far more ρ than the count, which only tells whether). The model's indicator alone made half
    of Northwind's orders ownerless at ε = 4, and half their employees and shippers NULL, where
    none are.

    `targets`: each owner edge's `OwnerTarget` (`owner_targets`); `noise`: σ per
    statistic of each table's model (`split.py`), below which a root's noisy size is not told
    from nothing."""
    n: dict[str, float] = {}
    ownerless_share: dict[str, float] = {}
    for name, tm in measured.items():
        if not tm.private:
            n[name] = len(tm.public_rows)  # copied verbatim, whatever the scale
    for name in units.order():
        ts = spec.tables[name]
        fk = units.owner.get(name)
        release = measured[name].degrees.get(fk.key) if fk is not None else None
        if fk is None or release is None or sizing is None:
            size = _at_least_zero(float(models[name].estimated_rows), (noise or {}).get(name) if fk is None else None)
            size *= scale
        else:
            roots = sizing.null_roots.get(name, 0.0)
            target = (targets or {}).get(fk.key, OwnerTarget())
            size = n[fk.ref_table] * release.mean(target.kept_mean, target.kept_parents) + roots * scale
            if name in sizing.null_roots:
                ownerless_share[name] = roots * scale / size if size > 0 else 0.0
        if ts.scale is not None:
            size *= ts.scale
        n[name] = float(ts.rows) if ts.rows is not None else size
    counts = {name: int(round(v)) for name, v in n.items()}
    # A NOT NULL FK needs a parent row: a private parent that came out empty gets one.
    changed = True
    while changed:
        changed = False
        for fk in schema.edges():
            needs = counts[fk.table] > 0 and not all(schema.tables[fk.table].column(c).nullable for c in fk.columns)
            if needs and counts[fk.ref_table] == 0 and spec.tables[fk.ref_table].private:
                counts[fk.ref_table] = 1
                changed = True
    nulls = {units.owner[name].key: int(round(share * counts[name])) for name, share in ownerless_share.items()}
    for name in units.order():
        nulls.update({key: 0 for key, (noisy, sigma) in measured[name].null_rows.items() if noisy < NULL_Z * sigma})
    return counts, nulls


def _at_least_zero(noisy: float, sigma: float | None) -> float:
    """A row count from its noisy estimate: the mean of the true count given the estimate, for
    a count that cannot be negative (a flat prior on n ≥ 0, Gaussian noise σ): x + σ·φ(x/σ)/Φ(x/σ).
    Clipping at 0 instead emptied a root whose count drowned in its noise (Chinook's 59
    customers at ε = 1, σ ≈ 25, now and then), and every table it owns with it; this is x
    itself a few σ above 0, and a fraction of σ below it. σ is public: post-processing."""
    if not sigma or sigma <= 0:
        return max(0.0, noisy)
    z = noisy / sigma
    return max(0.0, noisy + sigma * float(np.exp(norm.logpdf(z) - norm.logcdf(z))))


def owner_targets(units: Units, measured: dict[str, TableMeasurements], models: dict[str, Any],
                  sizing: Sizing | None, noise: dict[str, float] | None) -> dict[str, OwnerTarget]:
    """fk.key -> `OwnerTarget` for every owner edge with a degree release."""
    out: dict[str, OwnerTarget] = {}
    for name in units.order():
        fk = units.owner.get(name)
        release = measured[name].degrees.get(fk.key) if fk is not None else None
        if release is not None and sizing is not None:
            out[fk.key] = OwnerTarget(kept_mean(name, fk.ref_table, release, models, sizing, noise or {}),
                                      kept_parents(fk.ref_table, release, models, noise or {}))
    return out


def kept_parents(parent: str, release: DegreeRelease, models: dict[str, Any], noise: dict[str, float]) -> float:
    """The kept parents of an owner edge: the degree histogram's total and the parent model's
    noisy row count (the kept parent rows it learned), each weighed by the inverse of its
    variance. The histogram's total carries the noise of every bucket; the model's count
    usually far less."""
    by_hist, hist_sigma = release.kept_parents()
    if parent not in noise or parent not in models or noise[parent] <= 0:
        return by_hist
    by_model, model_sigma = float(models[parent].estimated_rows), noise[parent]
    w_hist, w_model = 1.0 / max(hist_sigma, 1e-12) ** 2, 1.0 / model_sigma ** 2
    return (w_hist * by_hist + w_model * by_model) / (w_hist + w_model)


def kept_mean(table: str, parent: str, release: DegreeRelease, models: dict[str, Any], sizing: Sizing,
              noise: dict[str, float]) -> float | None:
    """Kept children per kept parent on the owner edge: the degree histogram's estimate and the
    two models' noisy row counts (the bounded rows they learned), each weighed by the inverse of
    its variance (`noise`: σ per statistic of each table's model, `split.py`).

    Each count is taken as the mean of the true count given its noisy value (`_at_least_zero`):
    a child count at or below zero says "few children", and is weighed as such. Before, it was
    set aside, and an all-noise histogram left the degrees uniform up to the cap: Northwind's
    empty customer_customer_demo came out with four rows per customer."""
    by_hist, hist_error = release.kept_mean()
    if table not in noise or parent not in noise:
        return by_hist if np.isfinite(hist_error) else None
    children = _at_least_zero(float(models[table].estimated_rows) - sizing.null_roots.get(table, 0.0), noise[table])
    parents = _at_least_zero(float(models[parent].estimated_rows), noise[parent])
    if parents < 1:
        return by_hist if np.isfinite(hist_error) else None
    by_models = children / parents
    # σ of a ratio of two independent noisy counts, to first order.
    models_sigma = (noise[table] + by_models * noise[parent]) / parents
    if not np.isfinite(hist_error):
        return by_models
    hist_sigma = hist_error * max(by_hist, 1e-12)
    w_hist, w_models = 1.0 / max(hist_sigma, 1e-12) ** 2, 1.0 / max(models_sigma, 1e-12) ** 2
    return (w_hist * by_hist + w_models * by_models) / (w_hist + w_models)


def size_factors(spec: Spec, units: Units, scale: float) -> dict[str, float | None]:
    """What each table's size should be against the real one, for `verify`: 1 for public tables,
    the scales along the owner chain for private ones, None where `rows:` fixed the size."""
    out: dict[str, float | None] = {name: 1.0 for name, ts in spec.tables.items() if not ts.private}
    for name in units.order():
        ts = spec.tables[name]
        fk = units.owner.get(name)
        base = scale if fk is None else out.get(fk.ref_table)
        out[name] = None if ts.rows is not None or base is None else base * (ts.scale or 1.0)
    return out
