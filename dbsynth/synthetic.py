"""The synthetic database as it travels from sampling to writing: plain Python values per column."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SyntheticTable:
    """Rows of one table, column-major. Values are Python objects the drivers accept
    (int, float, Decimal, str, bytes, bool, date, datetime, time) or None for NULL."""

    name: str
    columns: dict[str, list[Any]]

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def rows(self, order: list[str] | None = None) -> list[tuple[Any, ...]]:
        names = order or list(self.columns)
        return list(zip(*(self.columns[c] for c in names))) if names else []


@dataclass
class SyntheticDatabase:
    tables: dict[str, SyntheticTable] = field(default_factory=dict)
