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
from dbsynth.schema.reflection import install as _install_reflection_fixes

# SQLAlchemy's SQLite and MySQL reflection keep quotes doubled in names: see `reflection`.
_install_reflection_fixes()

__all__ = ["CheckConstraint", "Column", "EnumType", "ForeignKey", "Index", "Schema", "Table", "UniqueConstraint"]
