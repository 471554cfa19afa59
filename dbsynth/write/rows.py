"""Feeding the synthetic rows to a writer: which columns, in what order, in chunks.

`SyntheticTable` is column-major; drivers want rows. Rows are built one chunk at a time so the
memory a load adds stays flat however large the table: a compact column (`dbsynth.columns`:
model codes, key arrays, parent indices) makes its Python values only for the chunk's slice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from dbsynth.errors import WriteFailed
from dbsynth.synthetic import SyntheticDatabase, SyntheticTable

CHUNK_ROWS = 5_000  # a multiple of columns.BLOCK: no block of codes is decoded for two chunks

Progress = Callable[[str, int, int], None]
Adapter = Callable[[Any], Any]


def check_table(metadata: sa.MetaData, table: SyntheticTable) -> None:
    """Refuse, before the write commits anything, rows that do not fit the table they are meant for."""
    name = table.name
    if name not in metadata.tables:
        raise WriteFailed(f"synthetic table {name} is not in the schema; nothing was written")
    known = metadata.tables[name].c
    unknown = [c for c in table.columns if c not in known]
    if unknown:
        raise WriteFailed(
            f"synthetic table {name} has columns the schema lacks: {', '.join(unknown)}; nothing was written"
        )
    lengths = {len(v) for v in table.columns.values()}
    if len(lengths) > 1:
        raise WriteFailed(
            f"synthetic table {name} has columns of different lengths {sorted(lengths)}; nothing was written"
        )


def arriving(data: SyntheticDatabase, tables: list[sa.Table]) -> Iterator[sa.Table]:
    """`tables` as their rows are final (a streamed database hands them over while it samples the
    rest): the order a writer loads them in."""
    by_name = {t.name: t for t in tables}
    for name in data.arriving(by_name):
        yield by_name[name]


def columns_to_write(table: sa.Table, data: SyntheticTable | None) -> list[str]:
    """The data's columns in the table's column order (absent ones get their defaults); never a
    generated column (GENERATED ALWAYS AS): the target computes it, and refuses a value for it."""
    if data is None:
        return []
    return [c.name for c in table.columns if c.name in data.columns and c.computed is None]


def value_adapters(table: sa.Table, columns: list[str]) -> list[Adapter | None]:
    """Per column, what a value needs before any driver sees it (None: nothing).

    A timezone-aware datetime bound for a column without time zone is stored as UTC: drivers
    would otherwise write its wall-clock time and drop the offset (MySQL, SQLite) or PostgreSQL
    would ignore the offset while parsing it. A flag or number for PostgreSQL's bit(n) goes in as
    its digits, a flag for a SMALLINT as 0 or 1.
    """
    return [_adapter(table.c[name].type) for name in columns]


def _adapter(type_: sa.types.TypeEngine) -> Adapter | None:
    if isinstance(type_, sa.DateTime) and not getattr(type_, "timezone", False):
        return _utc_naive
    if _is_pg_bit(type_):
        return _bit_string(type_.length or 1)
    if isinstance(type_, sa.SmallInteger):
        return _flag_number
    return None


def _flag_number(value: Any) -> Any:
    # A flag modelled as boolean (MySQL's TINYINT(1)) written into the SMALLINT another engine
    # clones it as (write/portable.py): PostgreSQL's COPY would get 't' for a smallint.
    return int(value) if isinstance(value, bool) else value


def _is_pg_bit(type_: sa.types.TypeEngine) -> bool:
    # A flag or number sampled for PostgreSQL's bit(n) goes in as its digits: COPY would write
    # True as 't', which bit's input refuses. (MySQL's BIT takes the number itself.)
    return isinstance(type_, postgresql.BIT) and not type_.varying


def _bit_string(length: int) -> Adapter:
    return lambda value: value if isinstance(value, str) else format(int(value), f"0{length}b")


def _utc_naive(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def chunks(
    data: SyntheticTable | None,
    columns: list[str],
    adapters: list[Adapter | None] | None = None,
    size: int = CHUNK_ROWS,
) -> Iterator[list[tuple[Any, ...]]]:
    """Row tuples, `size` at a time, each value passed through its column's adapter."""
    if data is None or not columns:
        return
    n = data.n_rows
    values = [data.columns[c] for c in columns]
    fns = adapters or [None] * len(columns)
    for start in range(0, n, size):
        parts = [v[start : start + size] for v in values]
        parts = [p if f is None else [None if x is None else f(x) for x in p] for f, p in zip(fns, parts)]
        yield list(zip(*parts))


def report(progress: Progress | None, table: str, done: int, total: int) -> None:
    if progress is not None:
        progress(table, done, total)
