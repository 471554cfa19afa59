"""What alembic's `compare_metadata` does not compare, read from the target's catalog: enum labels
(and their order), CHECK constraint texts, and the columns and uniqueness of each index.

A renamed enum label or a loosened CHECK leaves every alembic diff empty, yet the shadow database
then accepts rows production refuses. Each difference is a hard `schema_diff` finding, except a
CHECK text that differs across engines: engines rewrite CHECKs in their own words, so there the
comparison is loose and a difference is only a warning (the rows are still checked by SQL).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from dbsynth.verify.integrity import CheckRunner

# MariaDB adds CHECK (json_valid(col)) to JSON columns by itself.
_ENGINE_CHECK = re.compile(r"^json_valid\(", re.IGNORECASE)
_CAST = re.compile(
    r"::(?:\"[^\"]+\"|[a-z_][a-z0-9_]*)(?:\s+(?:varying|precision|without\s+time\s+zone|with\s+time\s+zone))?"
    r"(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])?"
)
_BETWEEN = re.compile(r"([\w.`\"]+)\s+between\s+(\S+)\s+and\s+(\S+)")


def catalog_findings(
    runner: CheckRunner, metadata: sa.MetaData, same_engine: bool, reported: set[str]
) -> None:
    """Enum, CHECK and index differences not already in `reported` (alembic's subjects)."""
    insp = sa.inspect(runner.engine)
    present = set(insp.get_table_names())
    tables = [t for t in metadata.tables.values() if t.name in present and f"table:{t.name}" not in reported]
    runner.checks_run += 2
    _enum_types(runner, insp, metadata)
    _partitioning(runner, metadata)
    for table in tables:
        runner.checks_run += 4
        with warnings.catch_warnings():  # types SQLAlchemy does not know (point, inet6): not our finding
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            columns = {c["name"]: c for c in insp.get_columns(table.name)}
        _enum_columns(runner, table, columns, reported)
        _generated_columns(runner, table, columns, reported)
        _checks(runner, insp, table, same_engine, reported)
        _indexes(runner, insp, table, reported)


def _enum_types(runner: CheckRunner, insp: Any, metadata: sa.MetaData) -> None:
    """PostgreSQL enum types: present, with the same labels in the same order (order is what
    `<` and ORDER BY use on an enum)."""
    expected = {e.name: tuple(e.enums) for e in metadata.info.get("enums", [])}
    if not expected or runner.engine.dialect.name != "postgresql":
        return
    have = {e["name"]: tuple(e["labels"]) for e in insp.get_enums()}
    for name, labels in expected.items():
        if name not in have:
            runner.add("schema_diff", None, f"missing in target: enum type {name} {_labels(labels)}", 1)
        elif have[name] != labels:
            runner.add("schema_diff", None, _label_change(f"enum type {name}", have[name], labels), 1)


def _partitioning(runner: CheckRunner, metadata: sa.MetaData) -> None:
    """PostgreSQL partitioned tables: the same PARTITION BY, and the same partitions with the same
    bounds (alembic sees neither: partitions are left out of its comparison)."""
    if runner.engine.dialect.name != "postgresql":
        return
    from dbsynth.schema.partitions import read_partitions

    expected = {name: (t.dialect_kwargs.get("postgresql_partition_by"),
                       {(p.name, p.of, p.bound, p.partitioning.by if p.partitioning else None)
                        for p in metadata.info.get("partitions", []) if _root(p, metadata) == name})
                for name, t in metadata.tables.items()}
    with runner.engine.connect() as conn:
        found = read_partitions(conn)
    for name, (by, parts) in sorted(expected.items()):
        have_by, have = found.get(name, (None, ()))
        have_by = have_by.by if have_by is not None else None
        if by != have_by:
            runner.add("schema_diff", name, f"table {name} is {_partitioned(have_by)} in target, expected "
                                            f"{_partitioned(by)}", 1)
            continue
        actual = {(p.name, p.of, p.bound, p.partitioning.by if p.partitioning else None) for p in have}
        for p in sorted(parts - actual):
            runner.add("schema_diff", name, f"missing in target: partition {p[0]} of {p[1]} {p[2]}", 1)
        for p in sorted(actual - parts):
            runner.add("schema_diff", name, f"unexpected in target: partition {p[0]} of {p[1]} {p[2]}", 1)


def _root(partition: Any, metadata: sa.MetaData) -> str:
    """The partitioned table at the top of a partition's tree."""
    parents = {p.name: p.of for p in metadata.info.get("partitions", [])}
    name = partition.of
    while name in parents:
        name = parents[name]
    return name


def _partitioned(by: str | None) -> str:
    return f"PARTITION BY {by}" if by else "not partitioned"


def _enum_columns(runner: CheckRunner, table: sa.Table, have: dict[str, dict], reported: set[str]) -> None:
    """Enum columns whose type is not a named type (MySQL ENUM): labels per column."""
    if runner.engine.dialect.name == "postgresql":
        return  # native enums are types of their own, compared above
    for col in table.columns:
        if not isinstance(col.type, sa.Enum) or col.name not in have or f"column:{table.name}.{col.name}" in reported:
            continue
        labels = tuple(col.type.enums)
        actual = tuple(getattr(have[col.name]["type"], "enums", ()) or ())
        if actual and actual != labels:
            runner.add("schema_diff", table.name, _label_change(f"enum column {table.name}.{col.name}", actual, labels), 1)


def _generated_columns(runner: CheckRunner, table: sa.Table, have: dict[str, dict], reported: set[str]) -> None:
    """GENERATED ALWAYS AS columns generated in the target too, STORED or VIRTUAL as expected
    (alembic only warns about them). The expression's text is each engine's own spelling."""
    for col in table.columns:
        if col.name not in have or f"column:{table.name}.{col.name}" in reported:
            continue
        live = have[col.name].get("computed")
        where = f"column {table.name}.{col.name}"
        if col.computed is not None and not live:
            runner.add("schema_diff", table.name, f"{where} is not generated in target, expected GENERATED ALWAYS AS "
                                                  f"({col.computed.sqltext})", 1)
        elif col.computed is None and live:
            runner.add("schema_diff", table.name, f"{where} is generated in target ({live.get('sqltext')}), "
                                                  "expected an ordinary column", 1)
        elif col.computed is not None and col.computed.persisted is not None and live.get("persisted") is not None \
                and bool(live["persisted"]) != bool(col.computed.persisted):
            how = {True: "STORED", False: "VIRTUAL"}
            runner.add("schema_diff", table.name, f"{where} is {how[bool(live['persisted'])]} in target, expected "
                                                  f"{how[bool(col.computed.persisted)]}", 1)


def _label_change(what: str, have: Sequence[str], want: Sequence[str]) -> str:
    if sorted(have) == sorted(want):
        return f"{what} has its labels in another order: target {_labels(have)}, expected {_labels(want)}"
    return f"{what} labels differ: target {_labels(have)}, expected {_labels(want)}"


def _labels(labels: Sequence[str]) -> str:
    return "(" + ", ".join(repr(x) for x in labels) + ")"


def _checks(runner: CheckRunner, insp: Any, table: sa.Table, same_engine: bool, reported: set[str]) -> None:
    """CHECK constraints paired by name, then the unnamed ones by text; what stays unpaired is
    missing or unexpected, and a pair whose texts differ is a changed CHECK."""
    dialect = runner.engine.dialect
    want = [(c.name if isinstance(c.name, str) else None, _sql(c.sqltext, dialect)) for c in table.constraints
            if isinstance(c, sa.CheckConstraint)]
    try:
        have = [(c.get("name"), c["sqltext"]) for c in insp.get_check_constraints(table.name)
                if not _ENGINE_CHECK.match(c["sqltext"].strip())]
    except NotImplementedError:
        return
    t = table.name
    kind = dialect.name
    for name, want_text, have_text in _pair(want, have, kind):
        label = f"CHECK {name} on {t}" if name else f"CHECK on {t}"
        if name and f"constraint:{name}" in reported:
            continue
        if have_text is None:
            runner.add("schema_diff", t, f"missing in target: {label} ({want_text})", 1)
        elif want_text is None:
            runner.add("schema_diff", t, f"unexpected in target: {label} ({have_text})", 1)
        elif canonical_check(want_text, kind) != canonical_check(have_text, kind):
            hard = same_engine
            note = "" if same_engine else " (engines spell CHECKs differently: compared loosely)"
            runner.add("schema_diff", t, f"{label} differs: target ({have_text}), expected ({want_text}){note}", 1, hard)


def _pair(
    want: list[tuple[str | None, str]], have: list[tuple[str | None, str]], kind: str | None = None
) -> list[tuple[str | None, str | None, str | None]]:
    """(name, expected text, target text) triples; None on the side where a CHECK is absent."""
    out: list[tuple[str | None, str | None, str | None]] = []
    have_left = list(have)
    want_left = []
    by_name = {n: i for i, (n, _) in enumerate(have_left) if n}
    taken: set[int] = set()
    for name, text in want:
        if name and name in by_name and by_name[name] not in taken:
            taken.add(by_name[name])
            out.append((name, text, have_left[by_name[name]][1]))
        else:
            want_left.append((name, text))
    rest = [h for i, h in enumerate(have_left) if i not in taken]
    for name, text in want_left:
        match = next((i for i, (_, h) in enumerate(rest) if canonical_check(h, kind) == canonical_check(text, kind)),
                     None)
        if match is None:
            out.append((name, text, None))
        else:
            out.append((name or rest[match][0], text, rest.pop(match)[1]))
    out.extend((name, None, text) for name, text in rest)
    return out


def canonical_check(text: str, kind: str | None = None) -> str:
    """A CHECK condition with the engines' spelling differences removed: case, quoting,
    parentheses, whitespace, PostgreSQL casts, `= ANY (ARRAY[...])` for IN, BETWEEN expanded.

    `kind` ('postgresql' | 'mysql' | 'sqlite'), the engine the text is written for: its quoted
    names and string literals are read by that engine's rules first, so MariaDB's `'it\\'s'` and
    the standard `'it''s'` compare equal, and so do `a``b` and "a`b"."""
    if kind is not None:
        from dbsynth.write.portable import quote_literal, quote_name, sql_tokens

        text = "".join(quote_literal(v, "postgresql") if k == "str" else quote_name(v, "postgresql") if k == "ident"
                       else v for k, v in sql_tokens(text, "mysql" if kind in ("mysql", "mariadb") else kind))
    t = text.lower()
    t = _CAST.sub("", t)
    t = _BETWEEN.sub(r"\1 >= \2 and \1 <= \3", t)
    t = re.sub(r"[\"`\[\]()\s]", "", t)
    return t.replace("=anyarray", "in").replace("!=", "<>")


def _indexes(runner: CheckRunner, insp: Any, table: sa.Table, reported: set[str]) -> None:
    """Named indexes: the same columns in the same order, and the same uniqueness. Alembic
    reports a missing index; a same-named index over other columns it may not."""
    have = {ix["name"]: ix for ix in insp.get_indexes(table.name) if ix.get("name")}
    for ix in table.indexes:
        if not ix.name or f"index:{ix.name}" in reported:
            continue
        want_cols = [c.name for c in ix.columns]
        found = have.get(ix.name)
        if found is None:
            runner.add("schema_diff", table.name,
                       f"missing in target: {'unique index' if ix.unique else 'index'} {ix.name} on {table.name}({', '.join(want_cols)})", 1)
            continue
        have_cols = [c for c in found.get("column_names") or [] if c is not None]
        if have_cols and have_cols != want_cols:
            runner.add("schema_diff", table.name,
                       f"index {ix.name} on {table.name} covers ({', '.join(have_cols)}) in target, expected ({', '.join(want_cols)})", 1)
        if bool(found.get("unique")) != bool(ix.unique):
            state = "UNIQUE" if found.get("unique") else "not unique"
            runner.add("schema_diff", table.name,
                       f"index {ix.name} on {table.name} is {state} in target, expected {'UNIQUE' if ix.unique else 'not unique'}", 1)


def _sql(clause: Any, dialect: sa.Dialect) -> str:
    """A CHECK's condition as SQL text, bound values inlined (an enum's CHECK binds its labels)."""
    return str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
