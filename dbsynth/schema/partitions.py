"""PostgreSQL declarative partitioning: which tables are partitions of which, read from the
catalog, and what their bounds say about the partition key's values.

A partitioned table is modelled once, as the table: reading it reads every partition, and a row
written to it lands in the partition its key selects. Its partitions are schema (public), never
tables of their own. Bounds are read as the catalog prints them (`pg_get_expr(relpartbound)`);
`key_domain` turns the top level's bounds into a public domain for the key column (a CHECK in
all but name), and `level_bounds` gives each level's ranges or values to the repair that keeps
every synthetic row inside some partition (`relational/partition_keys.py`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

import sqlalchemy as sa

from dbsynth.schema.model import INTEGER_GENERICS, Column, Partition, Partitioning, Table

_STRATEGY = {"r": "range", "l": "list", "h": "hash"}

# Every table of the current schema that is partitioned or is a partition (partitioned indexes and
# their children are relations too: relkind 'I' and 'i', left out).
_CATALOG = sa.text("""
SELECT c.relname, c.relispartition,
       (SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid) AS of,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS by,
       pt.partstrat,
       ARRAY(SELECT a.attname FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, i)
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.i) AS key
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND (c.relkind = 'p' OR c.relispartition)
""")


def read_partitions(conn: sa.Connection) -> dict[str, tuple[Partitioning, tuple[Partition, ...]]]:
    """Per partitioned table that is not itself a partition: its PARTITION BY and every partition
    under it, parents before children (each level by name)."""
    rows = conn.execute(_CATALOG).all()
    partitioning = {r.relname: Partitioning(r.by, _STRATEGY.get(r.partstrat, r.partstrat), tuple(r.key))
                    for r in rows if r.by}
    children: dict[str, list] = {}
    for r in rows:
        if r.relispartition and r.of:
            children.setdefault(r.of, []).append(r)
    out = {}
    for r in rows:
        if r.relispartition or r.relname not in partitioning:
            continue
        found: list[Partition] = []
        level = [r.relname]
        while level:
            below = sorted((c for name in level for c in children.get(name, [])), key=lambda c: (c.of, c.relname))
            found += [Partition(c.relname, c.of, c.bound, partitioning.get(c.relname)) for c in below]
            level = [c.relname for c in below]
        out[r.relname] = (partitioning[r.relname], tuple(found))
    return out


def partition_names(partitioned: dict[str, tuple[Partitioning, tuple[Partition, ...]]]) -> set[str]:
    return {p.name for _, parts in partitioned.values() for p in parts}


# -- bounds ------------------------------------------------------------------------------------------

MIN, MAX = "MINVALUE", "MAXVALUE"


@dataclass(frozen=True)
class Bound:
    """A partition bound, its literals as text (None for NULL; MIN/MAX for MINVALUE/MAXVALUE)."""

    kind: str  # range | list | hash | default
    lower: tuple[str | None, ...] = ()
    upper: tuple[str | None, ...] = ()
    values: tuple[str | None, ...] = ()


_LITERAL = re.compile(r"'(?:[^']|'')*'|[^,\s()]+")


def _literals(body: str) -> tuple[str | None, ...]:
    out: list[str | None] = []
    for token in _LITERAL.findall(body):
        token = re.sub(r"::[\w\s\"\[\]]+$", "", token) if not token.startswith("'") else token
        if token.startswith("'"):
            out.append(token[1:-1].replace("''", "'"))
        elif token.upper() == "NULL":
            out.append(None)
        elif token.upper() in (MIN, MAX):
            out.append(token.upper())
        else:
            out.append(token)
    return tuple(out)


_RANGE = re.compile(r"^FOR VALUES FROM \((.*)\) TO \((.*)\)$", re.DOTALL)
_LIST = re.compile(r"^FOR VALUES IN \((.*)\)$", re.DOTALL)


def parse_bound(text: str) -> Bound:
    text = text.strip()
    if text.upper() == "DEFAULT":
        return Bound("default")
    m = _RANGE.match(text)
    if m:
        return Bound("range", lower=_literals(m.group(1)), upper=_literals(m.group(2)))
    m = _LIST.match(text)
    if m:
        return Bound("list", values=_literals(m.group(1)))
    return Bound("hash")


@dataclass(frozen=True)
class Level:
    """One level of partitioning under `of`: its key column (None: not one plain column) and
    what each of its `partitions` accepts: [lower, upper) as numbers (±inf for MIN/MAXVALUE) for
    range partitions, the listed values (None for NULL) for list partitions, None for a DEFAULT
    (or hash) partition. `open`: a DEFAULT or hash partition takes every row (hash partitions are
    taken as covering every remainder)."""

    of: str
    strategy: str
    column: str | None
    partitions: tuple[str, ...]
    accepts: tuple[tuple | None, ...] = ()
    open: bool = False

    @property
    def ranges(self) -> tuple[tuple[float, float], ...]:
        return tuple(a for a in self.accepts if a is not None) if self.strategy == "range" else ()

    @property
    def values(self) -> tuple[object, ...]:
        return tuple(v for a in self.accepts if a is not None for v in a) if self.strategy == "list" else ()


def levels(table: Table) -> list[Level]:
    """Each partitioned table of `table`'s tree (the table first) as a `Level`."""
    out = []
    tops = [(table.name, table.partitioning)] + [(p.name, p.partitioning) for p in table.partitions if p.partitioning]
    for of, partitioning in tops:
        if partitioning is None:
            continue
        below = [p for p in table.partitions if p.of == of]
        out.append(_level(table, of, partitioning, below))
    return out


def _level(table: Table, of: str, partitioning: Partitioning, below: list[Partition]) -> Level:
    column = partitioning.key[0] if len(partitioning.key) == 1 else None
    col = table.column(column) if column in table.column_names else None
    bounds = [parse_bound(p.bound) for p in below]
    names = tuple(p.name for p in below)
    is_open = partitioning.strategy == "hash" or any(b.kind == "default" for b in bounds)
    if col is None:
        return Level(of, partitioning.strategy, None, names, open=is_open)
    if partitioning.strategy == "range":
        ranges = [(literal_number(b.lower[0], col), literal_number(b.upper[0], col)) if b.kind == "range" else None
                  for b in bounds]
        if any(r is not None and None in r for r in ranges):
            return Level(of, "range", None, names, open=is_open)  # a key dbsynth cannot order (text)
        return Level(of, "range", column, names, tuple(ranges), open=is_open)
    if partitioning.strategy == "list":
        values = [tuple(literal_value(v, col) for v in b.values) if b.kind == "list" else None for b in bounds]
        return Level(of, "list", column, names, tuple(values), open=is_open)
    return Level(of, partitioning.strategy, column, names, open=is_open)


_NUMBER = INTEGER_GENERICS | {"Numeric", "Float", "Double", "REAL", "DOUBLE_PRECISION"}
_DATE = {"Date", "DATE"}
_DATETIME = {"DateTime", "TIMESTAMP", "DATETIME"}
_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?|Z)$")  # after a time
_EPOCH = dt.datetime(1970, 1, 1)


def literal_number(text: str | None, col: Column) -> float | None:
    """A range bound's literal as the number dbsynth measures the column in (encoders.number):
    epoch seconds of the wall time for dates and datetimes (the catalog prints a timestamptz in
    the session's time zone, the zone its values are read in), the value for numbers; None for
    a key dbsynth does not order (text)."""
    if text == MIN:
        return float("-inf")
    if text == MAX:
        return float("inf")
    if text is None:
        return None
    try:
        if col.generic in _NUMBER:
            return float(text)
        if col.generic in _DATE | _DATETIME:
            wall = dt.datetime.fromisoformat(_OFFSET.sub(r"\1", text.strip()))
            return (wall - _EPOCH) / dt.timedelta(seconds=1)
    except ValueError:
        return None
    return None


def literal_value(text: str | None, col: Column) -> object:
    """A list bound's literal as the value the driver gives for the column: ints for integers,
    text otherwise (the values a categorical encoder compares)."""
    if text is None or col.generic not in INTEGER_GENERICS:
        return text
    try:
        return int(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class KeyDomain:
    """What the top level's partitions say about their key column, like a CHECK: values (list
    partitions), or inclusive bounds (range partitions, the upper one less the type's step)."""

    values: tuple | None = None
    lower: float | None = None
    upper: float | None = None
    note: str = ""


def key_domain(table: Table, column: str) -> KeyDomain | None:
    """The public domain the top level's bounds give `column`, when it is the whole key and no
    DEFAULT partition takes what the bounds leave out."""
    found = levels(table)
    level = found[0] if found else None
    if level is None or level.column != column or level.open:
        return None
    col = table.column(column)
    where = f"partition key of {table.name} ({table.partitioning.by})"
    if level.strategy == "list":
        values = tuple(v for v in dict.fromkeys(level.values) if v is not None)
        if not values or not all(isinstance(v, (str, int)) for v in values):
            return None
        return KeyDomain(values=values, note=f"{where}: its partitions list its values")
    if level.strategy == "range" and level.ranges:
        lo = min(r[0] for r in level.ranges)
        hi = max(r[1] for r in level.ranges)
        lower = lo if lo != float("-inf") else None
        upper = hi - step(col) if hi != float("inf") else None
        gaps = "; a value between two partitions moves into the nearest" if _has_gaps(level.ranges) else ""
        span = f"[{_shown(lo, col)}, {_shown(hi, col)})"
        return KeyDomain(lower=lower, upper=upper, note=f"{where}: kept inside its partitions' ranges {span}{gaps}")
    return None


def step(col: Column) -> float:
    """The smallest step between two values dbsynth writes in `col` (the end of a range is
    exclusive): a day for dates, a second for datetimes (written in whole seconds), one for
    integers, the scale's unit for decimals, a millionth otherwise."""
    if col.generic in _DATE:
        return 86400.0
    if col.generic in _DATETIME | INTEGER_GENERICS:
        return 1.0
    if col.generic == "Numeric" and col.scale is not None:
        return 10.0 ** -col.scale
    return 1e-6


def _shown(x: float, col: Column) -> str:
    """A bound as a reader knows it: a date or a time for dates and datetimes."""
    if not math.isfinite(x):
        return "MINVALUE" if x < 0 else "MAXVALUE"
    if col.generic in _DATE | _DATETIME:
        when = _EPOCH + dt.timedelta(seconds=x)
        return when.date().isoformat() if col.generic in _DATE or when.time() == dt.time() else when.isoformat(" ")
    return f"{x:g}"


def _has_gaps(ranges: tuple[tuple[float, float], ...]) -> bool:
    ordered = sorted(ranges)
    return any(b[0] > a[1] for a, b in zip(ordered, ordered[1:]))
