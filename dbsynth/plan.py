"""From a Schema to the default Spec. Reads no rows: every choice here is made from public DDL.

Owners (DESIGN §2): each private table has at most one owning FK edge; a unit is a row with
everything it owns. Units are people by default: every private table with an FK to an earlier
private table is owned, nullable FKs included (a row whose owner FK is NULL is a unit of its
own). Among several candidate parents the one that best stands for a person is chosen (see
`choose_owners`); a name heuristic may rank candidates but never leaves a table unowned.
"""

from __future__ import annotations

import re

from dbsynth.schema import Column, Schema, Table
from dbsynth.schema.checks import domain_from_checks
from dbsynth.errors import SpecError
from dbsynth.spec import BudgetSpec, ColumnSpec, ForeignKeySpec, Spec, TableSpec

DEFAULT_CAP = 8
DEFAULT_BINS = 8

# Column-name tokens -> Faker provider. Names are matched on whole tokens of snake/camel case.
_PII = [
    (("first", "name"), "first_name"),
    (("firstname",), "first_name"),
    (("given", "name"), "first_name"),
    (("last", "name"), "last_name"),
    (("lastname",), "last_name"),
    (("surname",), "last_name"),
    (("company",), "company"),
    (("email",), "email"),
    (("e", "mail"), "email"),
    (("phone",), "phone_number"),
    (("fax",), "phone_number"),
    (("mobile",), "phone_number"),
    (("address",), "street_address"),
    (("street",), "street_address"),
    (("city",), "city"),
    (("state",), "state"),
    (("postal",), "postcode"),
    (("postcode",), "postcode"),
    (("zip",), "postcode"),
    (("homepage",), "url"),
    (("url",), "url"),
    (("website",), "url"),
    (("username",), "user_name"),
    (("login",), "user_name"),
    (("password",), "password"),
    (("ssn",), "ssn"),
    (("iban",), "iban"),
    (("card", "number"), "credit_card_number"),
    (("ip",), "ipv4"),
    (("full", "name"), "name"),
    (("contact", "name"), "name"),
    (("customer", "name"), "name"),
]
# Providers that say a row describes a person: such tables anchor units (see choose_owners).
_PERSON = {"first_name", "last_name", "email", "phone_number", "street_address", "ssn", "user_name",
           "credit_card_number", "iban", "name"}
_FREE_TEXT = {"notes", "note", "comment", "comments", "description", "desc", "body", "review", "bio", "remarks", "message"}
_STRING_GENERICS = {"String", "Unicode", "Text", "UnicodeText", "CLOB", "VARCHAR", "CHAR", "NVARCHAR", "NCHAR"}
_NUMERIC_GENERICS = {"Integer", "SmallInteger", "BigInteger", "Numeric", "Float", "Double", "REAL", "DOUBLE_PRECISION"}
_DATETIME_GENERICS = {"Date", "DateTime", "Time", "TIMESTAMP", "DATETIME", "DATE", "TIME"}


def tokens(name: str) -> tuple[str, ...]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return tuple(t for t in re.split(r"[^a-zA-Z0-9]+", spaced.lower()) if t)


def pii_type(name: str) -> str | None:
    toks = tokens(name)
    for pattern, provider in _PII:
        n = len(pattern)
        if any(toks[i : i + n] == pattern for i in range(len(toks) - n + 1)):
            return provider
    return None


def classify(table: Table, col: Column) -> ColumnSpec:
    """The kind of a column and where its domain comes from, from DDL alone."""
    if col.computed is not None:  # the target computes it from the row: nothing to model or write
        how = "STORED" if col.computed_stored else "VIRTUAL"
        return ColumnSpec(kind="generated", domain="none",
                          note=f"GENERATED ALWAYS AS ({col.computed}) {how}: computed by the target, costs no budget")
    if col.name in table.fk_columns():
        return ColumnSpec(kind="key", domain="none")  # assigned by the linker
    if table.primary_key == (col.name,):
        return ColumnSpec(kind="key", domain="generated")  # a surrogate key: fresh values
    # a non-FK part of a composite key is an attribute; uniqueness is repaired after linking
    checks = [c.sqltext for c in table.checks]
    found = domain_from_checks(col.name, checks)
    if col.enum_labels:
        return ColumnSpec(kind="categorical", domain="schema", values=list(col.enum_labels))
    if found.values:
        return ColumnSpec(kind="categorical", domain="schema", values=list(found.values))
    g = col.generic
    if g == "Boolean":
        return ColumnSpec(kind="boolean", domain="schema")
    if g == "SmallInteger" and _MYSQL_YEAR.match(col.type):
        return ColumnSpec(kind="numeric", domain="schema", bounds=(1901, 2155), bins=DEFAULT_BINS)
    members = _mysql_set_members(col.type)
    if members is not None and len(members) <= _MAX_SET_MEMBERS:
        # Every value of a SET is a subset of its members, written in their order: a public domain.
        subsets = [",".join(m for j, m in enumerate(members) if mask >> j & 1) for mask in range(1 << len(members))]
        return ColumnSpec(kind="categorical", domain="schema", values=subsets)
    if g in _NUMERIC_GENERICS:
        if found.lower is not None and found.upper is not None:
            return ColumnSpec(kind="numeric", domain="schema", bounds=(found.lower, found.upper), bins=DEFAULT_BINS)
        half = (found.lower, found.upper) if (found.lower is not None or found.upper is not None) else None
        # bins: none given, so as many as the noise and the rows support (measure/domains.py)
        return ColumnSpec(kind="numeric", domain="dp", bounds=half)
    if g in _DATETIME_GENERICS:
        return ColumnSpec(kind="datetime", domain="dp")
    if g in _STRING_GENERICS and members is None:
        provider = pii_type(col.name)
        if provider:
            return ColumnSpec(kind="pii", domain="generated", faker=provider)
        if set(tokens(col.name)) & _FREE_TEXT:  # notes, comments, descriptions: free text by name
            return ColumnSpec(kind="text", domain="generated", faker="text")
        # Whether a string is a category (status, gender as TEXT) or free text is decided from the
        # data under DP, never from its type: categorical when the released values cover most rows.
        return ColumnSpec(kind="categorical", domain="dp", when_sparse="text")
    if g in ("Uuid", "UUID"):
        return ColumnSpec(kind="pii", domain="generated", faker="uuid4")
    fallback = "set_null" if col.nullable else "default_value"
    return ColumnSpec(
        kind="unsupported",
        domain="none",
        fallback=fallback,
        note=f"type {col.type} cannot be modelled; written as "
        + ("NULL" if fallback == "set_null" else "one data-independent value of its type")
        + " (set kind/values in the spec to change this)",
    )


# MySQL/MariaDB YEAR: SQLAlchemy's type prints as YEAR or YEAR(4).
_MYSQL_YEAR = re.compile(r"^YEAR(\(\d+\))?$", re.IGNORECASE)
_MYSQL_SET = re.compile(r"^SET\s*\((.*)\)$", re.IGNORECASE | re.DOTALL)
_SQL_STRING = re.compile(r"'((?:[^'\\]|''|\\.)*)'")
# A SET of up to 8 members has at most 256 values: small enough to be a categorical domain.
# Larger ones are `unsupported`, written as NULL or the empty set.
_MAX_SET_MEMBERS = 8


def _mysql_set_members(spelled: str) -> list[str] | None:
    """The members of a MySQL/MariaDB SET('a','b',...) type, in their order; None for other types."""
    m = _MYSQL_SET.match(spelled.strip())
    if m is None:
        return None
    return [re.sub(r"\\(.)", r"\1", v).replace("''", "'") for v in _SQL_STRING.findall(m.group(1))]


def _has_pii(table: Table) -> bool:
    return any(pii_type(c.name) in _PERSON for c in table.columns if c.generic in _STRING_GENERICS)


def choose_owners(schema: Schema, private: set[str]) -> dict[str, str | None]:
    """One owning FK per private table, forming a forest (no cycles, no self references).

    Every FK to a private parent earlier in FK order is a candidate (NULLs become roots), except
    one case: a table that itself holds personal data, linked by an optional (nullable) FK to
    another table of people (a customer and the employee who may support her), describes people
    of its own and stays a root. The candidates are ranked: a parent whose owner chain reaches a
    person-like table (personal-data columns), then the parent with the longer owner chain (the
    larger unit: a track belongs to an album of an artist, not to its media type), then a NOT NULL
    FK, then the parent with more non-key columns (an entity rather than a lookup), then the FK's
    name: deterministic, and shown by `plan`."""
    order = schema.topological_order()
    position = {t: i for i, t in enumerate(order)}
    owner: dict[str, str | None] = {}
    reaches_person: dict[str, bool] = {}
    depth: dict[str, int] = {}
    for name in order:
        table = schema.tables[name]
        person = _has_pii(table)

        def nullable(fk) -> bool:
            return any(table.column(c).nullable for c in fk.columns)

        candidates = [fk for fk in owner_candidates(schema, name, private, position)
                      if not (person and nullable(fk) and reaches_person.get(fk.ref_table))] if name in private else []

        def rank(fk):
            parent = schema.tables[fk.ref_table]
            attributes = len([c for c in parent.columns if c.name not in parent.fk_columns()
                              and c.name not in parent.primary_key])
            return (reaches_person.get(fk.ref_table, False), depth.get(fk.ref_table, 0), not nullable(fk), attributes)

        best = max(sorted(candidates, key=lambda fk: fk.key), key=rank, default=None)
        owner[name] = best.key if best else None
        depth[name] = depth.get(best.ref_table, 0) + 1 if best else 0
        reaches_person[name] = (name in private and person) or bool(best and reaches_person[best.ref_table])
    return owner


def owner_candidates(schema: Schema, name: str, private: set[str] | frozenset[str],
                     position: dict[str, int] | None = None) -> list:
    """FKs of `name` that could own it: to a private parent earlier in FK order, not a self reference."""
    position = position or {t: i for i, t in enumerate(schema.topological_order())}
    return [fk for fk in schema.tables[name].foreign_keys
            if not fk.is_self_reference and fk.ref_table in private
            and position.get(fk.ref_table, 1 << 30) < position[name]]


def make_spec(schema: Schema, public: frozenset[str] | set[str] = frozenset()) -> Spec:
    """The default spec; `public` names the tables you declare public (copied verbatim, owning
    nothing: the owners are chosen among the private ones). Nothing is public by default (DESIGN §2)."""
    unknown = sorted(set(public) - set(schema.tables))
    if unknown:
        raise SpecError(f"no table named {unknown[0]!r} to make public")
    private = set(schema.tables) - set(public)
    owners = choose_owners(schema, private)
    tables = {}
    for name in schema.topological_order():
        table = schema.tables[name]
        tables[name] = TableSpec(
            private=name in private,
            method="aim",
            owner=owners[name],
            foreign_keys={fk.key: ForeignKeySpec(cap=DEFAULT_CAP) for fk in table.foreign_keys},
            columns={c.name: classify(table, c) for c in table.columns},
        )
    return Spec(dialect=schema.dialect, budget=BudgetSpec(), tables=tables)
