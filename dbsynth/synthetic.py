"""The synthetic database as it travels from sampling to writing: per column a list of Python
values or a compact column (`dbsynth.columns`) that makes them per chunk."""

from __future__ import annotations

from collections.abc import Sequence
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
    tables: dict[str, SyntheticTable] = field(default_factory=dict)
