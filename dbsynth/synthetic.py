"""The synthetic database as it travels from sampling to writing: per column a list of Python
values or a compact column (`dbsynth.columns`) that makes them per chunk."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


class _Fallback:
    """The data-independent value of a NOT NULL column dbsynth does not model (`fallback:
    default_value`). Which value that is depends on the column's type on the target engine
    (`point '(0,0)'`, `inet '0.0.0.0'`, `'{}'` for an array, ...), so the writer puts it in
    (`dbsynth.write.fallback`); nothing before the writer looks at it."""

    _instance: "_Fallback | None" = None

    def __new__(cls) -> "_Fallback":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FALLBACK"

    def __reduce__(self) -> str:
        return "FALLBACK"


FALLBACK = _Fallback()


@dataclass
class SyntheticTable:
    """Rows of one table, column-major. Each column is a list or a `columns.ColumnValues` (codes,
    key arrays, parent indices: read like a list, by slices). Values are Python objects the
    drivers accept (int, float, Decimal, str, bytes, bool, date, datetime, time), None for NULL,
    or FALLBACK (the writer's data-independent value for the column's type)."""

    name: str
    columns: dict[str, Sequence[Any]]

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def rows(self, order: list[str] | None = None) -> list[tuple[Any, ...]]:
        names = order or list(self.columns)
        return list(zip(*(self.columns[c] for c in names))) if names else []


@dataclass
class SyntheticDatabase:
    """Every table's rows, all final: what a writer loads, in the order it chooses."""

    tables: dict[str, SyntheticTable] = field(default_factory=dict)

    def arriving(self, names: Iterable[str]) -> Iterator[str]:
        """`names`, each once its rows are final: here all are, in the order given."""
        yield from names

    def wait_all(self) -> None:
        """Return once every table is final (here: at once)."""

    def each_table(self, prepare: Callable[[SyntheticTable], None]) -> None:
        """Run `prepare` on every table, before a writer sees it (checks, the writer's values)."""
        for table in list(self.tables.values()):
            prepare(table)


class SamplingStopped(Exception):
    """The writer gave up (its own error, an interrupt): the sampler stops at its next table."""


class _End:
    def __init__(self, error: BaseException | None):
        self.error = error


class StreamedDatabase(SyntheticDatabase):
    """Tables handed over one by one as the sampler finishes them (`put`, in its thread), to a
    writer that loads each as it comes (`arriving`): the write of the parents overlaps the
    linking of their children. The sampler's error (`end(error)`) is raised in the writer, inside
    its transaction, so the target is left as it was."""

    def __init__(self) -> None:
        super().__init__({})
        self._handed: queue.SimpleQueue = queue.SimpleQueue()
        self._seen: list[str] = []  # names taken off the queue, in arrival order
        self._ended = False
        self._stopped = False
        self._prepare: Callable[[SyntheticTable], None] | None = None
        self._lock = threading.Lock()  # a table is prepared exactly once, whichever side gets it

    # -- the sampler's side
    def put(self, table: SyntheticTable) -> None:
        if self._stopped:
            raise SamplingStopped()
        with self._lock:
            if self._prepare is not None:
                self._prepare(table)
            self.tables[table.name] = table
        self._handed.put(table.name)

    def end(self, error: BaseException | None = None) -> None:
        self._handed.put(_End(error))

    # -- the writer's side
    def stop(self) -> None:
        self._stopped = True

    def each_table(self, prepare: Callable[[SyntheticTable], None]) -> None:
        with self._lock:
            self._prepare = prepare
            for table in list(self.tables.values()):
                prepare(table)

    def arriving(self, names: Iterable[str]) -> Iterator[str]:
        left = list(names)
        for name in [n for n in left if n in self._seen]:  # arrived already: in the order asked
            left.remove(name)
            yield name
        while left and not self._ended:
            name = self._next()
            if name in left:
                left.remove(name)
                yield name
        yield from left  # tables the sampler made no rows for

    def wait_all(self) -> None:
        while not self._ended:
            self._next()

    def _next(self) -> str | None:
        item = self._handed.get()
        if isinstance(item, _End):
            self._ended = True
            if item.error is not None:
                raise item.error
            return None
        self._seen.append(item)
        return item
