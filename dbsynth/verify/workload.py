"""A fixed workload of random aggregate queries, run on both databases, and their relative errors.

The queries are what developers will run on the shadow database: COUNT(*), SUM(x) or AVG(x),
optionally GROUP BY one low-cardinality column, over one table or one FK join (child ⋈ parent).
They are drawn from the schema with a seed (numeric columns are the measures; a column with at
most 50 distinct source values may be grouped by), so the same database and seed give the same
workload.

Groups are folded onto the group column's source bins (its 20 most frequent source values,
"(other)", "(null)", or its source deciles) so that a rare value does not make a query's answer
incomparable; AVG is therefore computed as SUM / COUNT per folded group, and the SQL fetches both.

A query's error is the relative L1 error over its groups, sum |synthetic - real| / sum |real|
(0 when both are all zero, 1 when only the real one is): raw answers, so a shadow database
with too few rows shows it in every COUNT and SUM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from dbsynth.schema.model import ForeignKey, Schema
from dbsynth.verify.fidelity import TableData
from dbsynth.verify.results import WorkloadQuery, WorkloadResult

N_QUERIES = 200
AGGREGATES = ("COUNT", "SUM", "AVG")
P_GROUP_BY = 0.8  # share of queries with a GROUP BY, when the base has a column to group by
# GROUP BY columns are those with at most this many distinct source values: what reports group by
# (country, genre, status), not names; it also keeps every answer small.
MAX_GROUPS = 50


@dataclass(frozen=True)
class Shape:
    """What several queries can share: the base table, its join, the GROUP BY column."""

    base: str
    join: ForeignKey | None
    group: tuple[int, str] | None

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.base, self.join.ref_table) if self.join else (self.base,)


@dataclass(frozen=True)
class QuerySpec:
    """One workload query. Columns are (level, name): level 0 the base table, 1 the joined parent."""

    aggregate: str
    base: str
    join: ForeignKey | None
    group: tuple[int, str] | None
    measure: tuple[int, str] | None

    @property
    def tables(self) -> tuple[str, ...]:
        return self.shape.tables

    @property
    def shape(self) -> Shape:
        return Shape(self.base, self.join, self.group)

    def column_label(self, col: tuple[int, str] | None) -> str | None:
        return None if col is None else f"{self.tables[col[0]]}.{col[1]}"


def generate_workload(schema: Schema, data: dict[str, TableData], n: int = N_QUERIES, seed: int = 0) -> list[QuerySpec]:
    """Up to `n` distinct queries (fewer when the schema allows fewer), drawn with `seed`."""
    tables = [t for t in schema.tables if t in data and data[t].n_source > 0]
    edges = [fk for fk in schema.edges() if fk.table in tables and fk.ref_table in tables]
    bases: list[tuple[str, ForeignKey | None]] = [(t, None) for t in tables] + [(fk.table, fk) for fk in edges]
    if not bases:
        return []
    groupable = {t: {k.name for k in data[t].kinds
                     if data[t].source[k.name].nunique(dropna=True) <= MAX_GROUPS}
                 for t in tables}
    rng = np.random.default_rng(seed)
    out: dict[tuple, QuerySpec] = {}
    for _ in range(n * 20):
        if len(out) >= n:
            break
        base, join = bases[int(rng.integers(len(bases)))]
        levels = [base] + ([join.ref_table] if join else [])
        groups = [(i, k.name) for i, t in enumerate(levels) for k in data[t].kinds if k.name in groupable[t]]
        measures = [(i, k.name) for i, t in enumerate(levels) for k in data[t].kinds if k.numeric]
        aggregate = AGGREGATES[int(rng.integers(3))] if measures else "COUNT"
        measure = measures[int(rng.integers(len(measures)))] if aggregate != "COUNT" else None
        group = groups[int(rng.integers(len(groups)))] if groups and rng.random() < P_GROUP_BY else None
        spec = QuerySpec(aggregate, base, join, group, measure)
        out.setdefault((aggregate, base, join.key if join else None, group, measure), spec)
    return list(out.values())


def run_workload(source: sa.Engine, target: sa.Engine, specs: list[QuerySpec], data: dict[str, TableData],
                 seed: int = 0) -> WorkloadResult:
    """Every query on both databases (one connection each), compared group by group.

    Queries that share their FROM and GROUP BY are answered by one statement computing all their
    aggregates (the same numbers, a fraction of the scans); the report shows each query's own SQL."""
    shapes = sorted({spec.shape for spec in specs}, key=repr)
    real, synthetic = _answers(source, shapes, specs), _answers(target, shapes, specs)
    results: list[WorkloadQuery] = []
    for spec in specs:
        r, s = real.get(spec.shape), synthetic.get(spec.shape)
        if r is None or s is None:
            continue  # a column the target lacks: the schema diff already says so
        a, b = fold(spec, r, data), fold(spec, s, data)
        sql = " ".join(str(build(spec).compile(dialect=target.dialect)).split())
        results.append(WorkloadQuery(spec.aggregate, spec.tables, spec.column_label(spec.group),
                                     spec.column_label(spec.measure), sql, len(set(a) | set(b)), relative_error(a, b)))
    return WorkloadResult(seed=seed, queries=results)


Answers = dict[str, list[object]]  # "g", "n" and per measure "total:<level>.<col>", "n:<level>.<col>"


def _answers(engine: sa.Engine, shapes: list[Shape], specs: list[QuerySpec]) -> dict[Shape, Answers | None]:
    measures: dict[Shape, set[tuple[int, str]]] = {shape: set() for shape in shapes}
    for spec in specs:
        if spec.measure is not None:
            measures[spec.shape].add(spec.measure)
    out: dict[Shape, Answers | None] = {}
    with engine.connect() as conn:
        for shape in shapes:
            stmt = select(shape, COUNT_ALL, sorted(measures[shape]))
            try:
                result = conn.execute(stmt)
                keys = list(result.keys())
                columns = list(zip(*result.all())) or [() for _ in keys]
                out[shape] = dict(zip(keys, map(list, columns)))
            except sa.exc.DBAPIError:
                conn.rollback()
                out[shape] = None
    return out


COUNT_ALL = object()  # select(): include COUNT(*)


def build(spec: QuerySpec) -> sa.Select:
    """One query as SQL would spell it on its own (what the report shows)."""
    if spec.aggregate == "COUNT":
        return select(spec.shape, COUNT_ALL, [])
    return select(spec.shape, None, [spec.measure], with_count=spec.aggregate == "AVG")


def select(shape: Shape, count_all: object, measures: list[tuple[int, str]], with_count: bool = True) -> sa.Select:
    """SELECT [g,] [COUNT(*) AS n,] SUM(m) AS "total:m" [, COUNT(m) AS "n:m"] ... [GROUP BY g], as
    SQLAlchemy Core, so each engine gets its own quoting."""
    levels = list(shape.tables)
    needed: list[set[str]] = [set() for _ in levels]
    for col in (shape.group, *measures):
        if col is not None:
            needed[col[0]].add(col[1])
    if shape.join:
        needed[0].update(shape.join.columns)
        needed[1].update(shape.join.ref_columns)
    aliases = [sa.table(t, *(sa.column(c) for c in sorted(needed[i]))).alias(f"t{i}") for i, t in enumerate(levels)]
    source = aliases[0]
    if shape.join:
        fk = shape.join
        source = source.join(aliases[1], sa.and_(*(aliases[0].c[a] == aliases[1].c[b]
                                                  for a, b in zip(fk.columns, fk.ref_columns))))
    aggs: list[sa.ColumnElement] = []
    if count_all is COUNT_ALL:
        aggs.append(sa.func.count().label("n"))
    for level, col in measures:
        m = aliases[level].c[col]
        aggs.append(sa.func.sum(m).label("total" if len(measures) == 1 and count_all is None else f"total:{level}.{col}"))
        if with_count:
            aggs.append(sa.func.count(m).label("n" if len(measures) == 1 and count_all is None else f"n:{level}.{col}"))
    if shape.group is None:
        return sa.select(*aggs).select_from(source)
    g = aliases[shape.group[0]].c[shape.group[1]]
    return sa.select(g.label("g"), *aggs).select_from(source).group_by(g)


def fold(spec: QuerySpec, answers: Answers, data: dict[str, TableData]) -> dict[int, float]:
    """{source bin of the group value: answer}; a scalar query is the single group 0."""
    if spec.group is None:
        keys = [0] * len(answers["n"])
    else:
        table = data[spec.tables[spec.group[0]]]
        keys = table.coders[spec.group[1]].codes(answers["g"]).tolist()
    if spec.aggregate == "COUNT":
        return _sum_by(keys, answers["n"])
    m = f"{spec.measure[0]}.{spec.measure[1]}"
    totals = _sum_by(keys, answers[f"total:{m}"])
    if spec.aggregate == "SUM":
        return totals
    counts = _sum_by(keys, answers[f"n:{m}"])
    return {k: totals[k] / counts[k] for k in totals if counts.get(k)}


def _sum_by(keys: list[int], values: list[object]) -> dict[int, float]:
    out: dict[int, float] = {}
    for k, v in zip(keys, values):
        out[k] = out.get(k, 0.0) + _number(v)
    return out


def relative_error(real: dict[int, float], synthetic: dict[int, float]) -> float:
    groups = set(real) | set(synthetic)
    scale = sum(abs(real.get(g, 0.0)) for g in groups)
    diff = sum(abs(synthetic.get(g, 0.0) - real.get(g, 0.0)) for g in groups)
    if scale == 0:
        return 0.0 if diff == 0 else 1.0
    return diff / scale


def _number(value: object) -> float:
    if value is None:
        return 0.0
    try:
        x = float(value)  # Decimal, int, numeric strings from SQLite
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0
