"""Reference tables: the lookups (genres, media types, categories, regions) that `plan` suggests
making public, and `--public`, which turns a suggestion or a list of names into public tables.

Nothing becomes public by itself (DESIGN §2): the suggestion is shown, and only `--public` (or
`private: false` in the spec) acts on it. It is made from the DDL alone, like the rest of the plan.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable

from dbsynth.errors import UsageError
from dbsynth.plan import _DATETIME_GENERICS, _NUMERIC_GENERICS, _PERSON, pii_type, tokens
from dbsynth.schema import Schema, Table

SUGGESTED = "suggested"  # the word that stands for the suggestion in `--public`

# Table-name words that say a row describes a person. Matched on whole tokens, a plural `s`
# dropped. A table named so is never suggested, whatever its columns: `customer_demographics`
# may only hold customer types, but a wrong "private" costs fidelity, a wrong "public" leaks rows.
_PERSON_TABLE_WORDS = {
    "person", "people", "customer", "client", "employee", "staff", "user", "member", "patient",
    "student", "contact", "account", "profile", "owner", "guest", "subscriber", "buyer", "seller",
    "author", "driver", "passenger", "visitor", "applicant", "candidate", "worker", "manager", "doctor",
}
# Column-name words that say "person" which pii_type does not know (it names Faker providers).
_PERSON_COLUMN_WORDS = {"birth", "birthday", "dob", "gender", "sex", "salary"}


@dataclass(frozen=True)
class Verdict:
    """Whether `table` looks like reference data, and why (shown by `plan`)."""

    table: str
    reference: bool
    reason: str


def reference_tables(schema: Schema) -> list[str]:
    """The tables that look like reference data, parents first (the order of the FK graph)."""
    return [name for name, v in explain_reference(schema).items() if v.reference]


def explain_reference(schema: Schema) -> dict[str, Verdict]:
    """A verdict for every table, in FK order. A table is reference data when

    - nothing in it says "person": no column whose name is personal data (pii_type's person
      providers: first/last/full name, email, phone, address, ...; birth date, gender, salary)
      and no person word in the table's name. A bare `name` column does not count: a genre's or
      a media type's name is a label; a person's name is spelt first/last/full/contact name, and
      a `person(id, name)` table is caught by its own name;
    - its attributes are labels: no numeric or date/time column outside the keys (a price, a
      duration or a timestamp says a row records or measures something; a code list only names
      things). A numeric column that is UNIQUE by itself is a code, so it is allowed;
    - every FK path from it ends in reference data (a table with an FK to customer describes
      that customer's business, not a vocabulary);
    - another table references it: a lookup is looked up. An unreferenced table is left alone.
    Deterministic: from the DDL only, no rows."""
    order = schema.topological_order()
    verdicts: dict[str, Verdict] = {}
    candidates: set[str] = set()
    for name in order:
        reason = _content_objection(schema.tables[name])
        if reason:
            verdicts[name] = Verdict(name, False, reason)
        else:
            candidates.add(name)
    # Drop, until nothing changes, candidates that point at a table that is not (or no longer) one:
    # the FK graph may have cycles, so one pass in FK order is not enough.
    changed = True
    while changed:
        changed = False
        for name in sorted(candidates):
            bad = sorted({fk.ref_table for fk in schema.tables[name].foreign_keys
                          if not fk.is_self_reference and fk.ref_table not in candidates})
            if bad:
                candidates.discard(name)
                verdicts[name] = Verdict(name, False, f"points at {', '.join(bad)}, which is not reference data")
                changed = True
    for name in order:
        if name not in candidates:
            continue
        table = schema.tables[name]
        referrers = [f"{fk.table}({', '.join(fk.columns)})" for fk in schema.children_of(name)
                     if not fk.is_self_reference]
        if not referrers:
            verdicts[name] = Verdict(name, False, "no other table references it (not a lookup)")
            continue
        labels = _attributes(table)
        parts = [f"referenced by {', '.join(sorted(referrers))}",
                 f"labels only ({', '.join(c.name for c in labels)})" if labels else "a key and nothing else",
                 "no personal-data column"]
        parents = sorted({fk.ref_table for fk in table.foreign_keys if not fk.is_self_reference})
        if parents:
            parts.append(f"points only at reference data ({', '.join(parents)})")
        verdicts[name] = Verdict(name, True, "; ".join(parts))
    return {name: verdicts[name] for name in order}


def _attributes(table: Table):
    """Columns that describe a row: not its primary key, not an FK, not generated by the database."""
    keys = set(table.primary_key) | table.fk_columns()
    return [c for c in table.columns if c.name not in keys and c.computed is None]


def _content_objection(table: Table) -> str | None:
    """Why the table's own name or columns rule it out as reference data; None when they do not."""
    person_words = sorted({t for t in tokens(table.name) if _singular(t) in _PERSON_TABLE_WORDS})
    if person_words:
        return f"its name says it describes people ({', '.join(person_words)})"
    # Every column counts here, keys included and whatever its type: `phone bigint` is still a phone.
    personal = [f"{c.name} ({pii_type(c.name)})" for c in table.columns if pii_type(c.name) in _PERSON]
    personal += [c.name for c in table.columns if set(map(_singular, tokens(c.name))) & _PERSON_COLUMN_WORDS]
    if personal:
        return f"personal data: {', '.join(personal)}"
    codes = {u[0] for u in table.unique_sets() if len(u) == 1}
    measures = [c.name for c in _attributes(table)
                if c.generic in _NUMERIC_GENERICS | _DATETIME_GENERICS and c.name not in codes]
    if measures:
        return f"measurements, not labels: {', '.join(measures)} (numeric or date/time)"
    return None


def _singular(token: str) -> str:
    # Crude on purpose: enough for customers/users/employees; "people" is in the word list itself.
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


def resolve_public(schema: Schema, items: Iterable[str]) -> frozenset[str]:
    """The tables `--public` names: each item a comma-separated list of table names and/or
    `suggested` (the reference tables). A name matches exactly, else case-insensitively when
    that is unambiguous (`genre` for SQLite's `Genre`). An unknown name is a usage error (exit 2)."""
    words = [w.strip() for item in items for w in item.split(",") if w.strip()]
    if not words:
        raise UsageError("--public needs `suggested` or table names, e.g. --public suggested,playlist")
    by_folded: dict[str, list[str]] = {}
    for name in schema.tables:
        by_folded.setdefault(name.casefold(), []).append(name)
    public: set[str] = set()
    for word in words:
        if word.casefold() == SUGGESTED:
            public.update(reference_tables(schema))
        elif word in schema.tables:
            public.add(word)
        else:
            same = by_folded.get(word.casefold(), [])
            if len(same) == 1:
                public.add(same[0])
                continue
            if same:
                raise UsageError(f"--public: {word!r} could be any of {', '.join(sorted(same))}; spell it exactly")
            close = difflib.get_close_matches(word.casefold(), list(by_folded), n=1)
            hint = f" (did you mean {by_folded[close[0]][0]!r}?)" if close else ""
            raise UsageError(f"--public: no table named {word!r}{hint}")
    return frozenset(public)


def refuse_public_with_spec(public: Iterable[str] | None, spec_path: str | None) -> None:
    """`run --spec FILE --public ...` is refused (exit 2): the spec file is the plan that was reviewed,
    and making a table public changes who is protected (owners are chosen among private tables), so
    that change belongs in the file, where it is seen, not in a flag that silently rewrites it."""
    if public and spec_path:
        raise UsageError("--public cannot be combined with --spec: mark the tables `private: false` in the spec, "
                         "or write a new one with `dbsynth plan --public ... -o FILE`")
