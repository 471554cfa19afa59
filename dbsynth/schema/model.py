"""Typed, engine-neutral description of a schema, and its foreign-key graph.

The schema is public (DESIGN §2): everything here may be printed, saved and planned on.
`Schema.metadata` keeps the reflected SQLAlchemy MetaData so the writer can clone DDL exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

INTEGER_GENERICS = frozenset({"Integer", "SmallInteger", "BigInteger"})  # `Column.generic` of integer types


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the type as the source engine spells it, e.g. "VARCHAR(40)"
    generic: str  # SQLAlchemy generic family: Integer, String, Numeric, Date, ...
    nullable: bool
    default: str | None = None
    identity: bool = False  # GENERATED ... AS IDENTITY / AUTO_INCREMENT
    sequence: str | None = None  # sequence behind a serial default
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    enum: str | None = None  # name of the enum type, when the column has one
    enum_labels: tuple[str, ...] | None = None
    comment: str | None = None
    # GENERATED ALWAYS AS (computed): the expression as the source spells it; the database
    # computes the values, so dbsynth never writes them. computed_stored: STORED, else VIRTUAL.
    computed: str | None = None
    computed_stored: bool | None = None
    # The values the type holds where its generic family says less or nothing: MySQL/MariaDB
    # UNSIGNED, TINYINT, MEDIUMINT, YEAR, BIT(n), and TIMESTAMP (epoch seconds, UTC sessions);
    # PostgreSQL bit(n), n ≤ 63, as the number its digits spell.
    value_range: tuple[float | None, float | None] | None = None
    # A PostgreSQL DOMAIN type: its name (`type` spells it, `generic` is its base type's family, and
    # `nullable` includes the domain's NOT NULL) and every CHECK of it and of the domains under it,
    # written over VALUE as the catalog prints them.
    domain: str | None = None
    domain_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    name: str | None
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str | None = None
    deferrable: bool = False

    @property
    def key(self) -> str:
        """A stable identifier for the edge, used in specs: child(cols)->parent."""
        return f"{self.table}({','.join(self.columns)})->{self.ref_table}"

    @property
    def is_self_reference(self) -> bool:
        return self.table == self.ref_table


@dataclass(frozen=True)
class UniqueConstraint:
    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class CheckConstraint:
    name: str | None
    sqltext: str


@dataclass(frozen=True)
class Index:
    name: str | None
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class EnumType:
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Partitioning:
    """A PostgreSQL PARTITION BY: `by` as pg_get_partkeydef prints it ("RANGE (at)"), the
    strategy (range, list, hash) and the key's columns (None for an expression)."""

    by: str
    strategy: str
    key: tuple[str | None, ...]


@dataclass(frozen=True)
class Partition:
    """One partition: a table holding the rows of `of` (its parent table or a partition above it)
    whose key falls in `bound` ("FOR VALUES FROM (...) TO (...)", "FOR VALUES IN (...)",
    "FOR VALUES WITH (...)" or "DEFAULT", as pg_get_expr prints it). A partition partitioned
    further has its own `partitioning`."""

    name: str
    of: str
    bound: str
    partitioning: Partitioning | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    uniques: tuple[UniqueConstraint, ...] = ()
    checks: tuple[CheckConstraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    comment: str | None = None
    # A partitioned table is one table: reading it reads every partition, and its partitions
    # (every level, parents first) are schema of it, never tables of their own.
    partitioning: Partitioning | None = None
    partitions: tuple[Partition, ...] = ()

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name}.{name}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def fk_columns(self) -> set[str]:
        return {c for fk in self.foreign_keys for c in fk.columns}

    def unique_sets(self) -> list[tuple[str, ...]]:
        """Every column set that must stay unique: the PK, UNIQUE constraints, unique indexes."""
        sets = [self.primary_key] if self.primary_key else []
        sets += [u.columns for u in self.uniques]
        sets += [i.columns for i in self.indexes if i.unique]
        out: list[tuple[str, ...]] = []
        for s in sets:
            if s and s not in out:
                out.append(s)
        return out


@dataclass
class Schema:
    dialect: str
    tables: dict[str, Table]
    enums: tuple[EnumType, ...] = ()
    sequences: tuple[str, ...] = ()
    metadata: sa.MetaData | None = field(default=None, repr=False, compare=False)

    # -- the FK graph -------------------------------------------------------------------------

    def edges(self) -> list[ForeignKey]:
        return [fk for t in self.tables.values() for fk in t.foreign_keys]

    def children_of(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.edges() if fk.ref_table == table]

    def non_unique_references(self) -> list[ForeignKey]:
        """FKs whose referenced columns hold no PK or UNIQUE set (SQLite and InnoDB accept them):
        one child row would join several parent rows, multiplying what a unit contributes."""
        out = []
        for fk in self.edges():
            parent = self.tables.get(fk.ref_table)
            if parent is not None and not any(set(u) <= set(fk.ref_columns) for u in parent.unique_sets()):
                out.append(fk)
        return out

    def cycles(self) -> list[list[str]]:
        """Strongly connected components with more than one table (FK cycles between tables)."""
        return [c for c in _strongly_connected(self._graph()) if len(c) > 1]

    def topological_order(self) -> list[str]:
        """Parents before children; inside a cycle, tables in name order (self-references ignored)."""
        graph = self._graph()
        comps = _strongly_connected(graph)
        comp_of = {t: i for i, comp in enumerate(comps) for t in comp}
        # Kahn's algorithm on the condensation, deterministic by name.
        deps: dict[int, set[int]] = {i: set() for i in range(len(comps))}
        for child, parents in graph.items():
            for p in parents:
                if comp_of[p] != comp_of[child]:
                    deps[comp_of[child]].add(comp_of[p])
        order: list[str] = []
        done: set[int] = set()
        while len(done) < len(comps):
            ready = sorted((i for i in deps if i not in done and deps[i] <= done), key=lambda i: min(comps[i]))
            i = ready[0]
            done.add(i)
            order.extend(sorted(comps[i]))
        return order

    def _graph(self) -> dict[str, set[str]]:
        graph: dict[str, set[str]] = {t: set() for t in self.tables}
        for fk in self.edges():
            if not fk.is_self_reference and fk.ref_table in self.tables:
                graph[fk.table].add(fk.ref_table)
        return graph

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "tables": {name: asdict(t) for name, t in self.tables.items()},
            "enums": [asdict(e) for e in self.enums],
            "sequences": list(self.sequences),
            "topological_order": self.topological_order(),
            "cycles": self.cycles(),
        }


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so deep schemas do not hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp))
    return out
