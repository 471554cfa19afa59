"""How many rows each synthetic table gets: one number per table, consistent with its parents.

A root table (no owner) gets its model's noisy row count. An owned table's size follows from its
owner's synthetic size and the released degree distribution of the owner edge, tail above the
cap included, plus its rows with a NULL owner FK: the same number the linker will realise, not
a second count that disagrees with it. `--scale` multiplies the roots (children follow through
their degrees); a table's `rows:` fixes its size and `scale:` multiplies it. Post-processing.
"""

from __future__ import annotations

from typing import Any

from dbsynth.measure.measure import TableMeasurements
from dbsynth.measure.sizing import Sizing
from dbsynth.privacy.units import Units
from dbsynth.schema import Schema
from dbsynth.spec import Spec


def table_sizes(schema: Schema, spec: Spec, units: Units, measured: dict[str, TableMeasurements],
                models: dict[str, Any], sizing: Sizing | None = None, scale: float = 1.0) -> dict[str, int]:
    n: dict[str, float] = {}
    for name, tm in measured.items():
        if not tm.private:
            n[name] = len(tm.public_rows)  # copied verbatim, whatever the scale
    for name in units.order():
        ts = spec.tables[name]
        fk = units.owner.get(name)
        release = measured[name].degrees.get(fk.key) if fk is not None else None
        if fk is None or release is None or sizing is None:
            size = max(0.0, float(models[name].estimated_rows)) * scale
        else:
            roots = sizing.null_roots.get(name, 0.0)
            size = n[fk.ref_table] * release.mean(kept_mean(name, fk.ref_table, models, sizing)) + roots * scale
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
    return counts


def kept_mean(table: str, parent: str, models: dict[str, Any], sizing: Sizing) -> float | None:
    """Kept children per kept parent on the owner edge, from the two models' noisy row counts
    (the bounded rows they learned); None when either is too small to say."""
    children = float(models[table].estimated_rows) - sizing.null_roots.get(table, 0.0)
    parents = float(models[parent].estimated_rows)
    if parents < 1 or children < 0:
        return None
    return children / parents


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
