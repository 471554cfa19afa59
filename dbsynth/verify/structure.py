"""Structural checks on the target: its DDL against the schema the writer meant to create.

The expected DDL is `translate_metadata(schema, target_kind)` (the writer's own translation),
compared through alembic's `compare_metadata`. Alembic does not compare primary keys, so they
are compared here as well; what else alembic misses (enum labels, CHECK texts, index shapes) is
in `catalog`, and sequence positions are row-level SQL checks (`queries`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dbsynth.schema.introspect import INTERNAL_TABLES
from dbsynth.schema.model import Schema
from dbsynth.verify.integrity import CheckRunner


def expected_metadata(schema: Schema, target_kind: str) -> sa.MetaData:
    from dbsynth.write.ddl import translate_metadata  # lazy: verify must import without the writer

    return translate_metadata(schema, target_kind)


def schema_diff_findings(runner: CheckRunner, metadata: sa.MetaData) -> set[str]:
    """Each difference between the target and the expected DDL, one hard finding.

    Returns the subjects reported ("table:t", "column:t.c", "index:name", "constraint:name"), so
    that `catalog` does not report the same object a second time in its own words."""
    from dbsynth.write.ddl import schema_diff

    runner.checks_run += 1
    subjects: set[str] = set()
    try:
        diffs = schema_diff(runner.engine, metadata)
    except sa.exc.DBAPIError as exc:
        runner.add("schema_diff", None, f"schema comparison could not run: {str(exc.orig).strip()}", 0)
        return subjects
    seen: set[str] = set()
    for diff in _flatten(diffs):
        table, detail = describe_diff(diff)
        if table in INTERNAL_TABLES or detail in seen:
            continue
        seen.add(detail)
        subjects.update(diff_subjects(diff))
        runner.add("schema_diff", table, detail, 1)
    _primary_keys(runner, metadata, seen)
    return subjects


def diff_subjects(diff: Any) -> set[str]:
    """The schema objects one alembic directive is about."""
    if not isinstance(diff, tuple) or not diff:
        return set()
    op = diff[0]
    if op in ("add_table", "remove_table"):
        return {f"table:{diff[1].name}"}
    if op in ("add_column", "remove_column") or (op.startswith("modify_") and len(diff) >= 4):
        column = diff[3].name if op.endswith("_column") else diff[3]
        return {f"column:{diff[2]}.{column}"}
    if op in ("add_index", "remove_index"):
        return {f"index:{diff[1].name}"}
    if op in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        return {f"constraint:{diff[1].name}"} if diff[1].name else set()
    return set()


def _primary_keys(runner: CheckRunner, metadata: sa.MetaData, seen: set[str]) -> None:
    runner.checks_run += 1
    insp = sa.inspect(runner.engine)
    present = set(insp.get_table_names())
    for table in metadata.tables.values():
        if table.name not in present:
            continue  # already reported as a missing table
        want = [c.name for c in table.primary_key.columns]
        have = list(insp.get_pk_constraint(table.name).get("constrained_columns") or [])
        if want != have:
            detail = f"primary key of {table.name} differs: target ({', '.join(have)}), expected ({', '.join(want)})"
            if not have:
                detail = f"missing in target: primary key ({', '.join(want)}) of {table.name}"
            if detail not in seen:
                seen.add(detail)
                runner.add("schema_diff", table.name, detail, 1)


def _flatten(diffs: Any) -> list[Any]:
    """Alembic groups column modifications in lists; flatten to single directives."""
    out: list[Any] = []
    for d in diffs or []:
        if isinstance(d, list):
            out.extend(d)
        else:
            out.append(d)
    return out


def describe_diff(diff: Any) -> tuple[str | None, str]:
    """(table, sentence) for one alembic diff directive; unknown shapes fall back to repr.

    Alembic phrases a diff as the operation that would bring the database to the metadata:
    "add_*" is missing from the target, "remove_*" is extra in the target."""
    if isinstance(diff, str):
        return None, diff
    if not isinstance(diff, tuple) or not diff:
        return None, repr(diff)
    op = diff[0]
    if op in ("add_table", "remove_table"):
        t = diff[1]
        return t.name, f"{_where(op)} table {t.name}"
    if op in ("add_column", "remove_column"):
        _, _schema, tname, col = diff[:4]
        return tname, f"{_where(op)} column {tname}.{col.name} {col.type}"
    if op in ("add_index", "remove_index"):
        ix = diff[1]
        cols = ", ".join(_column_names(ix))
        kind = "unique index" if ix.unique else "index"
        return ix.table.name, f"{_where(op)} {kind} {ix.name} on {ix.table.name}({cols})"
    if op in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        c = diff[1]
        tname = c.table.name if getattr(c, "table", None) is not None else None
        cols = ", ".join(_column_names(c))
        label = _constraint_label(c)
        return tname, f"{_where(op)} {label} {c.name or ''} on {tname}({cols})".replace("  ", " ")
    if op.startswith("modify_") and len(diff) >= 7:
        _, _schema, tname, cname, _existing, have, want = diff[:7]
        if op == "modify_nullable":
            state = "NULL allowed" if have else "NOT NULL"
            return tname, f"column {tname}.{cname} is {state} in target, expected {'NULL allowed' if want else 'NOT NULL'}"
        what = op.removeprefix("modify_")
        return tname, f"column {tname}.{cname} {what} differs: target {_show(have)}, expected {_show(want)}"
    if op in ("add_table_comment", "remove_table_comment"):
        t = diff[1]
        return t.name, f"table comment of {t.name} differs"
    return None, repr(diff)


def _show(value: Any) -> str:
    """A server default as its SQL text, a type as its name, None as "none"."""
    if value is None:
        return "none"
    arg = getattr(value, "arg", None)  # DefaultClause
    if arg is not None:
        return str(getattr(arg, "text", arg))
    if isinstance(value, sa.Enum):  # str() of a MySQL ENUM leaves its labels out: they are the point
        return f"{value.name or 'ENUM'}({', '.join(repr(x) for x in value.enums)})"
    return str(value)


def _where(op: str) -> str:
    return "missing in target:" if op.startswith("add") else "unexpected in target:"


def _column_names(obj: Any) -> list[str]:
    if isinstance(obj, sa.ForeignKeyConstraint):
        return [c if isinstance(c, str) else c.name for c in obj.column_keys]
    try:
        return [c.name for c in obj.columns]
    except Exception:
        return []


def _constraint_label(c: Any) -> str:
    if isinstance(c, sa.ForeignKeyConstraint):
        return f"foreign key to {c.referred_table.name}" if c.elements else "foreign key"
    if isinstance(c, sa.UniqueConstraint):
        return "unique constraint"
    if isinstance(c, sa.CheckConstraint):
        return "check constraint"
    return type(c).__name__
