"""Counting inside the source database: only aggregates of bounded private rows come back.

`Pushdown` runs GROUP BYs over the kept rows (`bounding.py`) of a source: row counts, value
counts and histograms for domain discovery, degree histograms, and marginals of the released
encoders (`discretise.py`), which `SqlMarginalSource` serves to the fitting methods. Results
are counts per cell, value or bucket, never rows, so memory does not grow with the table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Union

import numpy as np
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.connect import translate_errors
from dbsynth.dialects import Counts, Dialect, dialect_for
from dbsynth.measure.bounding import BoundedRows
from dbsynth.measure.degrees import bucket_counts
from dbsynth.measure.discretise import Encoder, code_of, null_indicator
from dbsynth.measure.domains import Bucketing, RowSink, ValueSink
from dbsynth.measure.encoders import NullIndicator, canonical, codes_outside_order
from dbsynth.privacy.units import Units, fk_text
from dbsynth.schema import ForeignKey, Schema

ModelColumn = Union[Encoder, NullIndicator]  # a model column: an encoded column or an FK's NULL flag


class Pushdown:
    """Aggregates over one source's bounded rows, computed by the source.

    Exact counts that depend only on which rows are kept are asked once per run: sizing asks
    for a table's kept rows and an edge's degrees, and measuring asks for them again under the
    same caps. The cache is keyed by the caps the bounding uses (`_caps`), so a statement is
    only skipped when the database would return the same answer; each release still draws its
    own noise over the counts (`mechanisms`)."""

    def __init__(self, engine: sa.Engine, schema: Schema, units: Units, secret: bytes,
                 _cache: dict[tuple, Any] | None = None):
        self.engine = engine
        self.schema = schema
        self.dialect: Dialect = dialect_for(engine)
        self.units = units
        self.bounded = BoundedRows(schema, units, self.dialect, secret)
        self._secret = secret
        self._cache: dict[tuple, Any] = {} if _cache is None else _cache

    def with_units(self, units: Units) -> "Pushdown":
        """The same source and secret, bounded by other caps (chosen from the data, `sizing.py`);
        counts already made under the caps both share are not asked again."""
        return Pushdown(self.engine, self.schema, units, self._secret, self._cache)

    def _caps(self, table: str) -> tuple[tuple[str, int], ...]:
        """What decides which rows of `table` are kept: the caps up its owner chain."""
        if table not in self.units.private:
            return ()
        return tuple((fk.key, self.units.caps[fk.key]) for fk in self.units.chain(table))

    def _rows_key(self, table: str) -> tuple:
        return ("rows", table, self._caps(table))

    def _cached(self, key: tuple, count: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = count()
        return self._cache[key]

    def note_row_count(self, table: str, n: int) -> None:
        """Kept rows of `table`, counted in passing (domain discovery's pass)."""
        self._cache[self._rows_key(table)] = n

    def known_row_count(self, table: str) -> int | None:
        """Kept rows of `table` if already counted under these caps, without asking the source."""
        return self._cache.get(self._rows_key(table))

    @contextlib.contextmanager
    def connect(self, what: str) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, translate_errors(self.engine, what):
            self.dialect.prepare(conn)
            try:
                yield conn
            finally:
                conn.rollback()

    # -- counts of one table ------------------------------------------------------------------

    def row_count(self, table: str) -> int:
        """Kept rows of `table` (known already if domain discovery or sizing passed over them)."""
        def count() -> int:
            derived = self._from_owner_degrees(table)
            if derived is not None:
                return derived
            rows = self.bounded.rows(table, [self.schema.tables[table].columns[0].name])
            with self.connect(f"table {table!r}") as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(rows)).scalar_one())

        return self._cached(self._rows_key(table), count)

    def _from_owner_degrees(self, table: str) -> int | None:
        """Kept rows of `table` from its owner edge's degrees when sizing counted them already:
        a kept parent with d children keeps min(d, cap) of them, and rows with a NULL owner are
        kept whatever. One scan of the largest tables' bounding less; None when not counted."""
        fk = self.units.owner.get(table) if table in self.units.private else None
        if fk is None:
            return None
        degrees = self._cache.get(self._degrees_key(fk, True))
        if degrees is None:
            return None
        cap = self.units.caps[fk.key]
        kept = sum(n * min(d, cap) for d, n in degrees.items())
        if any(self.schema.tables[table].column(c).nullable for c in fk.columns):
            kept += self.null_owner_count(table, fk)
        return kept

    def null_owner_count(self, table: str, owner: ForeignKey) -> int:
        """Rows of `table` whose owner FK is NULL: units of their own, every one kept."""
        def count() -> int:
            t = self.bounded.table(table)
            null = sa.or_(*[t.c[c].is_(None) for c in owner.columns])
            with self.connect(f"table {table!r}") as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(null)).scalar_one())

        return self._cached(("null owner", table, owner.key), count)

    def counts(self, table: str) -> "TableCounts":
        return TableCounts(self, table)

    def degree_histogram(self, fk: ForeignKey) -> np.ndarray:
        """Kept parents per degree bucket (`degrees.BUCKETS`): the SQL twin of
        `degrees.degree_histogram`. On the owner edge a parent's degree counts all its children
        (its unit holds them all, kept or not: the tail above the cap is what corrects the
        table's size); on another edge, the kept children that reference it."""
        return bucket_counts(self.degree_counts(fk, all_children=self.units.is_owner_edge(fk)))

    def degree_counts(self, fk: ForeignKey, all_children: bool) -> dict[int, int]:
        """Kept parents per exact degree: never released as such (bucketed, then noised). The
        caller's dict is its own."""
        def count() -> dict[int, int]:
            degrees = self._degrees(fk, all_children)
            out: dict[int, int] = {}
            with self.connect(f"degrees of {fk.key}") as conn:
                d = degrees.c.dbsynth_degree
                for d, n in conn.execute(sa.select(d, sa.func.count()).group_by(d)):
                    out[int(d)] = out.get(int(d), 0) + int(n)
            return out

        return dict(self._cached(self._degrees_key(fk, all_children), count))

    def _degrees_key(self, fk: ForeignKey, all_children: bool) -> tuple:
        children = () if all_children else self._caps(fk.table)
        return ("degrees", fk.key, all_children, self._caps(fk.ref_table), children)

    def parent_degrees(self, fk: ForeignKey) -> dict[str, int]:
        """Kept children of every parent row, by the parent's key (`units.fk_text`): for edges
        into a public table, whose rows are copied as they are (released parent by parent)."""
        degrees = self._degrees(fk, all_children=False)
        out: dict[str, int] = {}
        with self.connect(f"degrees of {fk.key}") as conn:
            for row in conn.execute(sa.select(degrees)):
                key = fk_text(row[:-1])
                if key is not None:
                    out[key] = int(row[-1])
        return out

    def _degrees(self, fk: ForeignKey, all_children: bool) -> sa.Subquery:
        """(parent key columns..., degree) per kept parent row."""
        if all_children:
            t = self.bounded.table(fk.table)
            child = sa.select(*[t.c[c] for c in fk.columns]).subquery()
        else:
            child = self.bounded.rows(fk.table, fk.columns)
        keys = [child.c[c] for c in fk.columns]
        per_parent = (sa.select(*keys, sa.func.count().label("dbsynth_children"))
                      .where(sa.and_(*[k.is_not(None) for k in keys])).group_by(*keys).subquery())
        parent = self.bounded.rows(fk.ref_table, fk.ref_columns)
        on = sa.and_(*[parent.c[rc] == per_parent.c[c] for c, rc in zip(fk.columns, fk.ref_columns)])
        degree = sa.func.coalesce(per_parent.c.dbsynth_children, 0).label("dbsynth_degree")
        return sa.select(*[parent.c[rc] for rc in fk.ref_columns], degree).select_from(
            parent.outerjoin(per_parent, on)).subquery()

    def unit_rows(self, table: str, model: dict[str, ModelColumn]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The codes of every kept row of `table`, and the unit each row belongs to (0..k-1: the
        top of its owner chain; a row with a NULL owner is a unit of its own).

        The one place where bounded private rows leave the database, as codes: the llm method
        trains on rows, not on counts, and DP-SGD (per-unit clipping) is what protects them."""
        spec = self.schema.tables[table]
        chain = self.bounded.units.chain(table)
        names = list(model)
        raw = [c for m in names for c in (model[m].columns if isinstance(model[m], NullIndicator) else (m,))]
        own = list(chain[0].columns) if chain else []
        rows = self.bounded.rows(table, [*raw, *own])
        exprs = [(null_indicator(model[m], rows) if isinstance(model[m], NullIndicator)
                  else code_of(model[m], rows.c[m], spec.column(m), self.dialect)).label(f"c{i}")
                 for i, m in enumerate(names)]
        exprs += [rows.c[c].label(f"k{j}") for j, c in enumerate(own)]
        with self.connect(f"table {table!r}") as conn:
            fetched = conn.execute(sa.select(*exprs)).fetchall()
        codes = {m: np.array([r[i] for r in fetched], dtype=np.int64) for i, m in enumerate(names)}
        keys: list[tuple | None] = [tuple(r[len(names):]) for r in fetched] if chain else [None] * len(fetched)
        # Walk up the owner chain: each level maps a kept parent's key to its own owner's key.
        units: list[Any] = [None] * len(keys)
        level_keys = [None if k is None or any(v is None for v in k) else k for k in keys]
        for i, k in enumerate(level_keys):
            if k is None:
                units[i] = ("row", i)  # a root of its own (no owner, or a NULL owner FK)
        for depth, fk in enumerate(chain):
            nxt = chain[depth + 1] if depth + 1 < len(chain) else None
            parent = self.bounded.rows(fk.ref_table, [*fk.ref_columns, *(nxt.columns if nxt else ())])
            with self.connect(f"table {fk.ref_table!r}") as conn:
                up = {tuple(r[: len(fk.ref_columns)]): tuple(r[len(fk.ref_columns):])
                      for r in conn.execute(sa.select(*parent.c)).fetchall()}
            for i, k in enumerate(level_keys):
                if k is None:
                    continue
                above = up.get(k)
                if nxt is None or above is None or any(v is None for v in above):
                    units[i], level_keys[i] = (depth, k), None  # k's row is the top of this unit
                else:
                    level_keys[i] = above
        index: dict[Any, int] = {}
        unit = np.array([index.setdefault(u, len(index)) for u in units], dtype=np.int64)
        return codes, unit

    def group_counts(self, table: str, model: dict[str, ModelColumn], sets: Sequence[Sequence[str]]) -> list[Counts]:
        """Rows per cell of each set of model columns, as the dialect's (codes, count) lists."""
        needed = list(dict.fromkeys(c for s in sets for c in s))
        raw = [c for m in needed for c in (model[m].columns if isinstance(model[m], NullIndicator) else (m,))]
        rows = self.bounded.rows(table, raw)
        label = {m: f"c{i}" for i, m in enumerate(needed)}
        spec = self.schema.tables[table]
        exprs = [(null_indicator(model[m], rows) if isinstance(model[m], NullIndicator)
                  else code_of(model[m], rows.c[m], spec.column(m), self.dialect)).label(label[m]) for m in needed]
        codes = sa.select(*exprs).subquery()
        with self.connect(f"table {table!r}") as conn:
            return self.dialect.group_counts(conn, codes, [[label[m] for m in s] for s in sets])


class TableCounts:
    """`domains.ColumnCounts` of one table's kept rows: each pass is one statement (GROUPING
    SETS) on PostgreSQL, one GROUP BY per column elsewhere. Also counts the kept rows."""

    def __init__(self, pushdown: Pushdown, table: str):
        self.pushdown = pushdown
        self.table = table

    def count(self, values: Sequence[str], buckets: Sequence[Bucketing], on_values: ValueSink | None = None,
              floors: Mapping[str, int] | None = None, on_rows: RowSink | None = None) -> list[np.ndarray]:
        if not values and not buckets:
            return []
        push, dialect = self.pushdown, self.pushdown.dialect
        spec = push.schema.tables[self.table]
        rows = push.bounded.rows(self.table, [*values, *[c for c, _, _ in buckets]])
        exprs: list[ColumnElement] = []
        sets: list[list[str]] = []
        for i, column in enumerate(values):
            col = rows.c[column]
            exprs.append(sa.type_coerce(dialect.exact(col, spec.column(column)), col.type).label(f"v{i}"))
            sets.append([f"v{i}"])
        for j, (column, as_type, grid) in enumerate(buckets):
            keys = []
            if grid.days:  # a value's place among 70,000 midnights comes from its date
                exprs.append(dialect.day_number(rows.c[column], as_type).label(f"d{j}"))
                keys.append(f"d{j}")
            x = dialect.number(rows.c[column], as_type)
            exprs.append(dialect.searchsorted(x, grid.explicit).label(f"b{j}"))
            sets.append([*keys, f"b{j}"])
        sets.append([])  # the kept row count, in the same pass where the engine allows
        codes = sa.select(*exprs).subquery()
        pending: dict[int, list[tuple[Any, int]]] = {i: [] for i in range(len(values))}
        groups: dict[int, list[tuple[tuple[int, ...], int]]] = {j: [] for j in range(len(buckets))}
        nulls, kept = [0] * len(values), 0
        floored = {f"v{i}": int(floors[c]) for i, c in enumerate(values) if floors and c in floors}
        with push.connect(f"table {self.table!r}") as conn:
            for i, key, n in dialect.stream_groups(conn, codes, sets, floors=floored):
                if i == len(sets) - 1:
                    push.note_row_count(self.table, n)
                    kept = n
                elif i < len(values) and key[0] is None:
                    nulls[i] = n  # kept by any floor: the rows with a value are the rest
                elif any(k is None or k != k for k in key):
                    continue  # NULL (or NaN) values and numbers are never counted, as in memory
                elif i < len(values):
                    pending[i].append((canonical(key[0]), n))
                    if len(pending[i]) >= _CHUNK and on_values is not None:
                        on_values(values[i], pending[i])
                        pending[i] = []
                else:
                    groups[i - len(values)].append((tuple(int(k) for k in key), n))
        if on_values is not None:
            for i, column in enumerate(values):
                on_values(column, pending[i])
        if on_rows is not None:
            for i, column in enumerate(values):
                on_rows(column, kept - nulls[i])
        out = []
        for j, (_, _, grid) in enumerate(buckets):
            counts = np.zeros(len(grid.candidates) + 1)
            if groups[j]:
                keys = np.array([k for k, _ in groups[j]], dtype=np.int64)
                np.add.at(counts, grid.bucket(keys[:, 0] if grid.days else None, keys[:, -1]),
                          [n for _, n in groups[j]])
            out.append(counts)
        return out


_CHUNK = 10_000


class SqlMarginalSource:
    """The `MarginalSource` of one private table in the source database: true counts of the
    bounded, encoded rows for any cliques, one scan per batch (GROUPING SETS where the engine
    has them, a joint GROUP BY inside the database elsewhere)."""

    def __init__(self, pushdown: Pushdown, table: str, model: dict[str, ModelColumn], rows: int):
        self.table = table
        self.sizes: dict[str, int] = {c: int(m.size) for c, m in model.items()}
        self.ordered: dict[str, tuple[int, ...]] = {
            c: codes for c, m in model.items() if (codes := codes_outside_order(m)) is not None}
        self.rows: int | None = rows
        self._pushdown = pushdown
        self._model = model

    @property
    def columns(self) -> list[str]:
        return list(self.sizes)

    def marginals(self, cliques: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
        """Counts per clique (axes in clique order); () gives the row count."""
        order = {c: i for i, c in enumerate(self.sizes)}
        canonical = []
        for clique in cliques:
            if any(c not in order for c in clique) or len(set(clique)) != len(clique):
                raise ValueError(f"{self.table}: bad clique {clique!r} (columns: {self.columns})")
            canonical.append(tuple(sorted(clique, key=order.__getitem__)))
        # A clique asked twice, or in another column order, is counted once.
        distinct = list(dict.fromkeys(c for c in canonical if c))
        counted: dict[tuple[str, ...], np.ndarray] = {}
        if distinct:
            for clique, groups in zip(distinct, self._pushdown.group_counts(self.table, self._model, distinct)):
                counts = np.zeros(tuple(self.sizes[c] for c in clique))
                for codes, n in groups:
                    counts[codes] += n
                counted[clique] = counts
        out = []
        handed: set[tuple[str, ...]] = set()
        for clique, key in zip(cliques, canonical):
            if not clique:
                out.append(np.array(float(self.rows)))
            elif tuple(clique) == key:  # every array handed out is the caller's own
                out.append(counted[key].copy() if key in handed else counted[key])
                handed.add(key)
            else:
                out.append(np.ascontiguousarray(np.transpose(counted[key], [key.index(c) for c in clique])))
        return out
