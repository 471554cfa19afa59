"""The SQL the measure stage pushes into a source database, in standard SQL.

An engine module (postgres.py, mysql.py, sqlite.py, duckdb.py, spark.py) subclasses `Dialect` and overrides what its
engine spells differently; nothing outside `dbsynth.dialects` knows which engine it talks to.
Every value that comes from data or from a release is a bound parameter, never pasted text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.privacy.units import NULL_TEXT
from dbsynth.schema import Column

Counts = list[tuple[tuple[int, ...], int]]  # (group codes, rows) per group

# SQLite allows 500 terms in a compound SELECT (the set index is a UNION ALL).
_SETS_PER_STATEMENT = 256
# A batch's joint cells (its rows counted per combination of all its codes) come back whole when
# there are at most this many, and each set is summed from them in numpy: on Adult's 469 sets
# SQLite took 167 s to sum them in SQL (a CASE per set for every joint cell), numpy a second.
# They are counts per cell of codes, never rows; above the limit the sums stay in the database.
JOINT_CELLS_IN_MEMORY = 1 << 18


class Dialect:
    """Standard SQL; an engine module overrides only what its engine does differently."""

    name = "standard"

    def prepare(self, conn: sa.Connection) -> None:
        """Per-connection setup before measuring; reads stay read-only."""

    def value_type(self, type_: sa.types.TypeEngine) -> sa.types.TypeEngine:
        """The type a column's values are compared and grouped as (a PostgreSQL DOMAIN: its base)."""
        return type_

    # -- text and keyed hashes (contribution bounding) ---------------------------------------

    def concat(self, *parts: ColumnElement) -> ColumnElement:
        out = parts[0]
        for p in parts[1:]:
            out = out.op("||")(p)
        return sa.type_coerce(out, sa.String)

    def text(self, expr: ColumnElement) -> ColumnElement:
        return sa.cast(expr, sa.Text)

    def key_text(self, expr: ColumnElement, col: Column) -> ColumnElement:
        """`units.key_text` of a column's value, in SQL; NULL becomes `units.NULL_TEXT`."""
        return sa.func.coalesce(self._key_text(expr, col), sa.literal(NULL_TEXT, sa.String))

    def _key_text(self, expr: ColumnElement, col: Column) -> ColumnElement:
        return self.text(expr)

    def keyed_hash(self, text: ColumnElement) -> ColumnElement:
        """md5 of `text` as lowercase hex, ordered bytewise (see `units.keyed_hash`)."""
        raise NotImplementedError

    # -- values as numbers and codes (discretisation) ----------------------------------------

    def exact(self, expr: ColumnElement, col: Column) -> ColumnElement:
        """The column in a form that compares and groups exactly as Python's == on the values
        the driver returns (case- and trailing-space-sensitive)."""
        return expr

    def number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        """`encoders.to_number` in SQL: a float, epoch seconds for dates and datetimes (wall
        time), seconds since midnight for times, NULL where Python gets NaN."""
        raise NotImplementedError

    def day_number(self, expr: ColumnElement, as_type: str) -> ColumnElement:
        """Whole days since 1970-01-01 of a date or datetime (its wall date)."""
        raise NotImplementedError

    def is_true(self, expr: ColumnElement) -> ColumnElement:
        return expr != 0

    def any_order(self, partition: ColumnElement) -> ColumnElement | None:
        """The ORDER BY of a ROW_NUMBER() over `partition` whose order does not matter (rows
        that tie are interchangeable); None: the engine accepts the window without one."""
        return None

    def searchsorted(self, x: ColumnElement, edges: Sequence[float]) -> ColumnElement:
        """How many of the sorted `edges` are ≤ x (numpy's searchsorted, side='right'); NULL for
        NULL: a binary tree of CASEs, so a row costs log2(len(edges)) comparisons."""
        edges = [float(e) for e in edges]

        def tree(lo: int, hi: int) -> ColumnElement:
            if lo == hi:
                return sa.literal_column(str(lo), sa.Integer)
            mid = (lo + hi) // 2
            return sa.case((x < sa.literal(edges[mid], sa.Float), tree(lo, mid)), else_=tree(mid + 1, hi))

        return sa.case((x.is_(None), sa.null()), else_=tree(0, len(edges)))

    # -- counting -------------------------------------------------------------------------------

    def stream_groups(self, conn: sa.Connection, rows: sa.Subquery, sets: Sequence[Sequence[str]],
                      chunk: int = 10_000, floors: Mapping[str, int] | None = None,
                      ) -> Iterator[tuple[int, tuple[Any, ...], int]]:
        """(set index, group key, rows) for every group of each column set of `rows`, streamed:
        one GROUP BY per set (engines without GROUPING SETS). Keys are the values as the driver
        returns them; NULL groups included. `floors`: a group of a set that holds one of these
        columns is left in the engine unless it has at least that many rows or a NULL there."""
        for i, cols in enumerate(sets):
            keys = [rows.c[c] for c in cols]
            query = sa.select(*keys, sa.func.count()).select_from(rows).group_by(*keys)  # no keys: the row count
            if (kept := above_floors(rows, cols, floors)) is not None:
                query = query.having(kept)
            result = conn.execution_options(yield_per=chunk).execute(query)
            for part in result.partitions():
                for row in part:
                    yield i, tuple(row[:-1]), int(row[-1])

    def group_counts(self, conn: sa.Connection, rows: sa.Subquery, sets: Sequence[Sequence[str]]) -> list[Counts]:
        """Rows per group of each column set of `rows`. Only these counts leave the database.

        First the joint cells of every column the batch names (one scan, one evaluation of the
        codes per row); when there are at most `JOINT_CELLS_IN_MEMORY` of them they come back and
        each set is summed in numpy. Above that the sets are summed inside the database
        (`sum_in_database`), which scans the rows a second time."""
        joint = self.joint_counts(conn, rows, sets)
        if joint is not None:
            return sum_sets(*joint, sets)
        return self.sum_in_database(conn, rows, sets)

    def sum_in_database(self, conn: sa.Connection, rows: sa.Subquery, sets: Sequence[Sequence[str]]) -> list[Counts]:
        """Each set's groups summed in SQL, for engines without GROUPING SETS: the joint counts
        (a derived table, materialised because it aggregates) cross joined with a small set index
        and grouped by set, one statement per batch of sets."""
        out: list[Counts] = [[] for _ in sets]
        for start in range(0, len(sets), _SETS_PER_STATEMENT):
            batch = [list(s) for s in sets[start:start + _SETS_PER_STATEMENT]]
            for i, groups in enumerate(self._group_batch(conn, rows, batch)):
                out[start + i] = groups
        return out

    def joint_counts(self, conn: sa.Connection, rows: sa.Subquery, sets: Sequence[Sequence[str]],
                     ) -> tuple[list[str], "np.ndarray", "np.ndarray"] | None:
        """(columns, codes per joint cell, rows per cell) over every column the sets name, or
        None when there are more than `JOINT_CELLS_IN_MEMORY` cells (one scan either way)."""
        columns = [c.name for c in rows.c if any(c.name in s for s in sets)]
        keys = [rows.c[c] for c in columns]
        query = sa.select(*keys, sa.func.count()).select_from(rows)
        if keys:
            query = query.group_by(*keys)
        fetched = conn.execute(query.limit(JOINT_CELLS_IN_MEMORY + 1)).all()
        if len(fetched) > JOINT_CELLS_IN_MEMORY:
            return None
        cells = np.array(fetched, dtype=np.int64).reshape(len(fetched), len(columns) + 1)
        if not keys and cells.size and cells[0, -1] == 0:  # no rows: COUNT(*) without GROUP BY is 0
            cells = cells[:0]
        return columns, cells[:, :-1], cells[:, -1]

    def _group_batch(self, conn: sa.Connection, rows: sa.Subquery, sets: list[list[str]]) -> list[Counts]:
        columns = [c.name for c in rows.c if any(c.name in s for s in sets)]
        keys = [rows.c[c] for c in columns]
        joint = sa.select(*keys, sa.func.count().label("dbsynth_n")).group_by(*keys).subquery()
        index = sa.union_all(*[sa.select(sa.literal_column(str(i), sa.Integer).label("dbsynth_set"))
                               for i in range(len(sets))]).subquery()
        which = index.c.dbsynth_set
        width = max(len(s) for s in sets)
        # Key k of set i is that set's k-th column; NULL past the end of a shorter set.
        picked = [sa.case(*[(which == sa.literal_column(str(i)), joint.c[s[k]])
                            for i, s in enumerate(sets) if len(s) > k], else_=sa.null()).label(f"dbsynth_k{k}")
                  for k in range(width)]
        query = (sa.select(which, *picked, sa.func.sum(joint.c.dbsynth_n))
                 .select_from(joint.join(index, sa.true())).group_by(which, *picked))
        out: list[Counts] = [[] for _ in sets]
        for row in conn.execute(query):
            i = int(row[0])
            out[i].append((tuple(int(v) for v in row[1:1 + len(sets[i])]), int(row[-1])))
        return out


def above_floors(rows: sa.Subquery, columns: Sequence[str], floors: Mapping[str, int] | None,
                 count: ColumnElement | None = None) -> ColumnElement | None:
    """The HAVING condition that keeps a group only where each floored column among `columns` is
    NULL in it (grouped by another set, or the NULL group itself) or the group has at least its
    floor of rows; None when no column is floored. Where a set groups by a column, a NULL there
    is that set's NULL group, which is kept: its rows say how many values the column holds."""
    count = sa.func.count() if count is None else count
    terms = [sa.or_(count >= int(floors[c]), rows.c[c].is_(None))
             for c in columns if floors and floors.get(c, 1) > 1]
    return sa.and_(*terms) if terms else None


def sum_sets(columns: Sequence[str], codes: np.ndarray, rows: np.ndarray, sets: Sequence[Sequence[str]]) -> list[Counts]:
    """Each set's groups and rows, summed from joint cells (`Dialect.joint_counts`)."""
    position = {c: j for j, c in enumerate(columns)}
    out: list[Counts] = []
    for s in sets:
        if not s:
            out.append([((), int(rows.sum()))] if rows.size else [])
            continue
        sub = codes[:, [position[c] for c in s]]
        if not len(sub):
            out.append([])
            continue
        shape = tuple(int(m) + 1 for m in sub.max(axis=0))
        totals = np.bincount(np.ravel_multi_index(tuple(sub.T), shape), weights=rows)
        cells = np.flatnonzero(totals)
        keys = np.stack(np.unravel_index(cells, shape), axis=1).tolist()
        out.append([(tuple(k), int(n)) for k, n in zip(keys, totals[cells].tolist())])
    return out
