"""Does a live target hold exactly the DDL `translate_metadata` meant? alembic's `compare_metadata`,
less the differences that are alembic's own and not the target's.

Used by the write tests and by the verify stage (which imports it from `dbsynth.write.ddl`).
"""

from __future__ import annotations

import warnings
from typing import Any

import sqlalchemy as sa

from dbsynth.schema.introspect import INTERNAL_TABLES
from dbsynth.write.portable import serial_sequence_text


def _register_duckdb_impl() -> None:
    """alembic knows no DuckDB (duckdb-engine registers nothing with it): its generic
    comparison, over the catalog reflection of `dbsynth.schema.duckdb_catalog`."""
    from alembic.ddl.impl import _impls, DefaultImpl

    if "duckdb" not in _impls:
        type("DuckDBImpl", (DefaultImpl,), {"__dialect__": "duckdb", "transactional_ddl": True})


def schema_diff(target: sa.Engine, metadata: sa.MetaData) -> list[Any]:
    """alembic's structured differences between the target's live schema and `metadata`
    (an empty list: the target holds exactly that DDL). dbsynth's own tables are left out."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    partitions = _partitions(target)
    if target.dialect.name == "duckdb":
        _register_duckdb_impl()

    def include_name(name: str | None, type_: str, _parents: dict[str, Any]) -> bool:
        # A partition is part of its partitioned table; verify's catalog compares partitioning.
        return not (type_ == "table" and (name in INTERNAL_TABLES or name in partitions))

    opts = {"compare_type": True, "compare_server_default": True, "include_name": include_name}
    with target.connect() as conn, warnings.catch_warnings():
        # FK cycles make alembic's table sort warn; the comparison itself is unaffected.
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        # Generated columns: alembic compares their expressions as text and only warns (each engine
        # spells them its own way); verify's catalog checks they are generated, STORED or VIRTUAL.
        warnings.filterwarnings("ignore", message="Computed default on ")
        diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
        live = _LiveDefaults(sa.inspect(conn))
        out: list[Any] = []
        for diff in diffs:
            if isinstance(diff, list):  # column-level changes come grouped per column
                diff = [d for d in diff if not _same_default(d, live)]
                if not diff:
                    continue
            out.append(diff)
    return out


def _partitions(target: sa.Engine) -> set[str]:
    """The tables of the target's schema that are partitions of another (PostgreSQL)."""
    if target.dialect.name != "postgresql":
        return set()
    from dbsynth.schema.partitions import partition_names, read_partitions

    with target.connect() as conn:
        return partition_names(read_partitions(conn))


class _LiveDefaults:
    """Server defaults as SQLAlchemy reflects them, per table (read on demand)."""

    def __init__(self, inspector: Any):
        self.inspector = inspector
        self.tables: dict[str, dict[str, str | None]] = {}

    def get(self, table: str, column: str) -> str | None:
        if table not in self.tables:
            self.tables[table] = {c["name"]: c.get("default") for c in self.inspector.get_columns(table)}
        return self.tables[table].get(column)


def _same_default(diff: tuple[Any, ...], live: _LiveDefaults) -> bool:
    """The default differences that are alembic's, not the target's: it compares PostgreSQL
    defaults by evaluating them (two identical `nextval(...)` differ), hides the default of a
    column that owns its sequence, and MySQL spells a numeric default its own way (`'0.00'`)."""
    if diff[0] != "modify_default":
        return False
    a, b = (_default_text(d) for d in diff[5:7])
    if b is None:
        return False
    if a is None and serial_sequence_text(b):
        a = live.get(diff[2], diff[3])
    if a is None:
        return False
    if " ".join(a.split()) == " ".join(b.split()):
        return True
    x, y = _as_number(a), _as_number(b)
    return x is not None and x == y


def _default_text(default: Any) -> str | None:
    arg = getattr(default, "arg", None)
    text = getattr(arg, "text", arg)
    return text if isinstance(text, str) else None


def _as_number(text: str) -> float | None:
    text = text.strip().strip("()").strip("'\"")
    try:
        return float(text)
    except ValueError:
        return None
