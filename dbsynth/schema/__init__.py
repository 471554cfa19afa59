"""The public description of a database: tables, columns, keys, constraints, the FK graph."""

from dbsynth.schema.model import (
    CheckConstraint,
    Column,
    EnumType,
    ForeignKey,
    Index,
    Schema,
    Table,
    UniqueConstraint,
)

__all__ = ["CheckConstraint", "Column", "EnumType", "ForeignKey", "Index", "Schema", "Table", "UniqueConstraint"]
