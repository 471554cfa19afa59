"""Parent-degree distributions per FK: how many children each parent row has, source vs target.

The linker matches DP degree histograms; this measures how well. Degrees are counted in SQL
(parent LEFT JOIN child, GROUP BY the parent key, then a histogram of the counts), so only the
histogram leaves the database. Distances: TVD over buckets fixed from the source (0, 1, 2, 3, 4,
then doubling ranges up to the source's largest degree, and one bucket above it) and the
Kolmogorov-Smirnov distance between the exact degree distributions.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from dbsynth.schema.model import ForeignKey
from dbsynth.verify.results import DegreeFidelity, Marginal


def degree_histogram(engine: sa.Engine, fk: ForeignKey) -> dict[int, int]:
    """{degree: number of parent rows with that many children}, parents without children at 0."""
    p = sa.table(fk.ref_table, *(sa.column(c) for c in fk.ref_columns)).alias("p")
    c = sa.table(fk.table, *(sa.column(x) for x in fk.columns)).alias("c")
    on = sa.and_(*(p.c[b] == c.c[a] for a, b in zip(fk.columns, fk.ref_columns)))
    per_parent = (
        sa.select(sa.func.count(c.c[fk.columns[0]]).label("d"))
        .select_from(p.outerjoin(c, on))
        .group_by(*(p.c[b] for b in fk.ref_columns))
        .subquery("per_parent")
    )
    stmt = sa.select(per_parent.c.d, sa.func.count().label("n")).group_by(per_parent.c.d)
    with engine.connect() as conn:
        return {int(d): int(n) for d, n in conn.execute(stmt)}


def buckets(max_degree: int) -> list[tuple[int, int]]:
    """Inclusive degree ranges covering 0..max_degree: 0-4 one by one, then 5-7, 8-15, 16-31, ..."""
    out = [(d, d) for d in range(min(max_degree, 4) + 1)]
    lo = 5
    while lo <= max_degree:
        hi = min((1 << lo.bit_length()) - 1, max_degree)  # up to the next power of two, less one
        out.append((lo, hi))
        lo = hi + 1
    return out


def degree_fidelity(source: sa.Engine, target: sa.Engine, fk: ForeignKey) -> DegreeFidelity:
    src, tgt = degree_histogram(source, fk), degree_histogram(target, fk)
    ranges = buckets(max(src, default=0))
    top = ranges[-1][1]
    labels = [str(lo) if lo == hi else f"{lo}–{hi}" for lo, hi in ranges] + [f"> {top}"]

    def shares(hist: dict[int, int]) -> np.ndarray:
        counts = np.zeros(len(ranges) + 1)
        for d, n in hist.items():
            i = next((k for k, (lo, hi) in enumerate(ranges) if lo <= d <= hi), len(ranges))
            counts[i] += n
        total = counts.sum()
        return counts / total if total else counts

    p, q = shares(src), shares(tgt)
    both_empty = not src and not tgt
    tvd = 0.0 if both_empty else (1.0 if not src or not tgt else float(0.5 * np.abs(p - q).sum()))
    return DegreeFidelity(
        foreign_key=fk.key,
        child=fk.table,
        parent=fk.ref_table,
        histogram=Marginal(fk.key, tuple(labels), tuple(map(float, p)), tuple(map(float, q)), tvd),
        ks=ks_distance(src, tgt),
        mean_source=_mean_degree(src),
        mean_target=_mean_degree(tgt),
    )


def ks_distance(a: dict[int, int], b: dict[int, int]) -> float:
    """sup over d of |F_a(d) - F_b(d)| for two degree histograms; 0 if both empty, 1 if one is."""
    if not a or not b:
        return 0.0 if not a and not b else 1.0
    support = sorted(set(a) | set(b))
    fa = np.cumsum([a.get(d, 0) for d in support]) / sum(a.values())
    fb = np.cumsum([b.get(d, 0) for d in support]) / sum(b.values())
    return float(np.max(np.abs(fa - fb)))


def _mean_degree(hist: dict[int, int]) -> float | None:
    n = sum(hist.values())
    return sum(d * k for d, k in hist.items()) / n if n else None
