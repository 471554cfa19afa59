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
from dbsynth.schema.checks import column_domain, is_integral, text_pattern
from dbsynth.schema.partitions import key_domain
from dbsynth.errors import SpecError
from dbsynth.spec import BudgetSpec, ColumnSpec, ForeignKeySpec, Spec, TableSpec

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
    found = column_domain(table, col)  # the table's CHECKs and a DOMAIN's (over VALUE)
    if col.enum_labels:
        return ColumnSpec(kind="categorical", domain="schema", values=list(col.enum_labels))
    if found.values:
        if col.generic in _NUMERIC_GENERICS and all(_is_number(v) for v in found.values):
            # CHECK (c IN (0, 1, …, 9)) on a number: an ordinal scale, as its range twin is
            return ColumnSpec(kind="categorical", domain="schema", ordered=True,
                              values=sorted(found.values, key=lambda v: float(v)))
        return ColumnSpec(kind="categorical", domain="schema", values=list(found.values))
    g = col.generic
    if g == "Boolean":
        return ColumnSpec(kind="boolean", domain="schema")
    if g == "SmallInteger" and _MYSQL_YEAR.match(col.type):
        # Real years crowd a few values: found like any integer (frequent years, DP bins); 255
        # public cells would each hold noise, and the model would write years nobody entered.
        return ColumnSpec(kind="numeric", domain="dp", note="YEAR: frequent years and bins from DP, inside 1901-2155")
    bits = _fixed_bits(col.type) if g == "BIT" else None
    if bits == 1:  # a flag (MySQL BIT(1), PostgreSQL bit(1)): written back as 0 or 1
        return ColumnSpec(kind="boolean", domain="schema", note="BIT(1): a flag, 0 or 1")
    if bits and col.value_range is not None:  # BIT(n): a number 0..2^n-1 (MySQL in numeric contexts, PostgreSQL cast)
        return ColumnSpec(kind="numeric", domain="dp", note=f"BIT({bits}): a number 0..{2**bits - 1}")
    if g == "Integer" and _MYSQL_FLAG.match(col.type):
        # MySQL/MariaDB spell BOOLEAN as TINYINT(1); drivers and ORMs read it as a flag. As a
        # number its few 0/1 would share the model with bins of made-up 2s and 3s.
        return ColumnSpec(kind="boolean", domain="schema",
                          note="TINYINT(1), MySQL's BOOLEAN: written as 0 or 1 (say kind: numeric to keep other values)")
    members = _mysql_set_members(col.type)
    if members is not None and len(members) <= _MAX_SET_MEMBERS:
        # Every value of a SET is a subset of its members, written in their order: a public domain.
        subsets = [",".join(m for j, m in enumerate(members) if mask >> j & 1) for mask in range(1 << len(members))]
        return ColumnSpec(kind="categorical", domain="schema", values=subsets)
    if g in _NUMERIC_GENERICS:
        if found.lower is not None and found.upper is not None:
            if is_integral(col) and found.upper - found.lower + 1 <= _PUBLIC_INT_CELLS:
                # a small integer range: one cell per value, public, as an IN list would be
                return ColumnSpec(kind="numeric", domain="schema", bounds=(found.lower, found.upper))
            # a wide or decimal range: bins and frequent values from the data, inside the bounds
            return ColumnSpec(kind="numeric", domain="dp", bounds=(found.lower, found.upper))
        half = (found.lower, found.upper) if (found.lower is not None or found.upper is not None) else None
        # bins: none given, so as many as the noise and the rows support (measure/domains.py)
        return ColumnSpec(kind="numeric", domain="dp", bounds=half)
    if g in _DATETIME_GENERICS:
        if col.value_range is not None:  # MySQL's TIMESTAMP: seconds since 1970 in 32 bits
            return ColumnSpec(kind="datetime", domain="dp",
                              note="TIMESTAMP: inside 1970-01-01 00:00:01 .. 2038-01-19 03:14:07 UTC")
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
    if g == "ARRAY":
        return _array_spec(col)
    fallback = "set_null" if col.nullable else "default_value"
    return ColumnSpec(
        kind="unsupported",
        domain="none",
        fallback=fallback,
        note=f"type {col.type} cannot be modelled; written as "
        + ("NULL" if fallback == "set_null" else "one data-independent value of its type")
        + " (set kind/values in the spec to change this)",
    )


_PUBLIC_INT_CELLS = 256  # as measure/domains.py: an integer range this small gets a cell per value


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


# MySQL/MariaDB YEAR: SQLAlchemy's type prints as YEAR or YEAR(4).
_MYSQL_YEAR = re.compile(r"^YEAR(\(\d+\))?$", re.IGNORECASE)
_MYSQL_FLAG = re.compile(r"^TINYINT\(1\)$", re.IGNORECASE)
_FIXED_BIT = re.compile(r"^BIT(?:\((\d+)\))?$", re.IGNORECASE)  # not BIT VARYING
_MYSQL_SET = re.compile(r"^SET\s*\((.*)\)$", re.IGNORECASE | re.DOTALL)
_SQL_STRING = re.compile(r"'((?:[^'\\]|''|\\.)*)'")
# A SET of up to 8 members has at most 256 values: small enough to be a categorical domain.
# Larger ones are `unsupported`, written as NULL or the empty set.
_MAX_SET_MEMBERS = 8


def _fixed_bits(spelled: str) -> int | None:
    """n of a fixed-width BIT(n) type (BIT alone is BIT(1)); None for BIT VARYING and other types."""
    m = _FIXED_BIT.match(spelled.strip())
    return int(m.group(1) or 1) if m else None


def _mysql_set_members(spelled: str) -> list[str] | None:
    """The members of a MySQL/MariaDB SET('a','b',...) type, in their order; None for other types."""
    m = _MYSQL_SET.match(spelled.strip())
    if m is None:
        return None
    return [re.sub(r"\\(.)", r"\1", v).replace("''", "'") for v in _SQL_STRING.findall(m.group(1))]


def _has_pii(table: Table) -> bool:
    return any(pii_type(c.name) in _PERSON for c in table.columns if c.generic in _STRING_GENERICS)


# Table-name words that say a row describes a person. Matched on whole tokens, a plural `s` dropped.
# The first set names the people a database is about; the second its staff, who handle their rows.
CLIENT_TABLE_WORDS = {
    "person", "people", "customer", "client", "user", "member", "patient", "student", "contact", "account",
    "profile", "owner", "guest", "subscriber", "buyer", "passenger", "visitor", "applicant", "candidate",
}
PERSON_TABLE_WORDS = CLIENT_TABLE_WORDS | {"employee", "staff", "seller", "author", "driver", "worker", "manager",
                                           "doctor"}
# Providers that say who somebody is. An address alone (an order's ship_address, an invoice's
# billing_address) says where something went, not that the row is a person.
_IDENTITY = {"first_name", "last_name", "email", "user_name", "ssn", "name"}


def singular(token: str) -> str:
    # Crude on purpose: enough for customers/users/employees; "people" is in the word list itself.
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


def words(name: str) -> tuple[str, ...]:
    """A name's tokens, each singular."""
    return tuple(singular(t) for t in tokens(name))


def _is_somebody(table: Table) -> bool:
    """Whether a row of `table` is a person (a customer, an employee): its name says so, or it has
    a column that says who (a name, an email), not only where (an address)."""
    return bool(set(words(table.name)) & PERSON_TABLE_WORDS) or any(
        pii_type(c.name) in _IDENTITY for c in table.columns if c.generic in _STRING_GENERICS)


def choose_owners(schema: Schema, private: set[str]) -> dict[str, str | None]:
    """One owning FK per private table, forming a forest (no cycles, no self references).

    Every FK to a private parent earlier in FK order is a candidate (NULLs become roots), except
    one case: a person (a customer: a table named so, or with a name or email column) linked by an
    optional (nullable) FK to another table of people (the employee who may support her) stays a
    root: she is somebody of her own. An order with a delivery address is not a person: it is
    owned by its customer. The candidates are ranked:
    1. a parent whose owner chain reaches a person-like table (personal-data columns);
    2. a parent whose chain reaches the people the database is about (customers, users, patients)
       rather than its staff or suppliers (an order belongs to its customer, not to the employee
       who took it; an order line to its order, not to a product whose chain runs to a supplier's
       contact), and of those the nearer (a marketplace's order item belongs to its order, one
       step from the buyer, not to the product, two steps from a seller who is also a user);
    3. the longer owner chain (the larger unit: a track belongs to an album of an artist, not to
       its media type);
    4. a NOT NULL FK, then the parent with more non-key columns (an entity rather than a lookup),
       then the FK's name: deterministic, and shown by `plan`.
    A table holding personal data is never owned by a parent whose chain reaches no person (a
    customer by her country): it stays a root."""
    order = schema.topological_order()
    position = {t: i for i, t in enumerate(order)}
    owner: dict[str, str | None] = {}
    reaches_person: dict[str, bool] = {}
    to_client: dict[str, int] = {}  # steps up the owner chain to a table of the people the data is about
    depth: dict[str, int] = {}
    for name in order:
        table = schema.tables[name]
        person = _has_pii(table)
        somebody = _is_somebody(table)

        def nullable(fk) -> bool:
            return any(table.column(c).nullable for c in fk.columns)

        # A table of people is owned only by other people's rows (a customer's orders, not her
        # country): owned by a lookup, a whole country of customers would be one unit.
        candidates = [fk for fk in owner_candidates(schema, name, private, position)
                      if not (somebody and nullable(fk) and reaches_person.get(fk.ref_table))
                      and not (person and not reaches_person.get(fk.ref_table))] if name in private else []

        def rank(fk):
            parent = schema.tables[fk.ref_table]
            attributes = len([c for c in parent.columns if c.name not in parent.fk_columns()
                              and c.name not in parent.primary_key])
            steps = to_client.get(fk.ref_table)
            return (reaches_person.get(fk.ref_table, False), steps is not None, -(steps or 0),
                    depth.get(fk.ref_table, 0), not nullable(fk), attributes)

        best = max(sorted(candidates, key=lambda fk: fk.key), key=rank, default=None)
        owner[name] = best.key if best else None
        depth[name] = depth.get(best.ref_table, 0) + 1 if best else 0
        reaches_person[name] = (name in private and person) or bool(best and reaches_person[best.ref_table])
        if name in private and set(words(name)) & CLIENT_TABLE_WORDS:
            to_client[name] = 0
        elif best is not None and best.ref_table in to_client:
            to_client[name] = to_client[best.ref_table] + 1
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
            foreign_keys={fk.key: ForeignKeySpec() for fk in table.foreign_keys},  # caps: from the data
            columns={c.name: column_spec(table, c) for c in table.columns},
        )
    return Spec(dialect=schema.dialect, budget=BudgetSpec(), tables=tables)


def column_spec(table: Table, col: Column) -> ColumnSpec:
    """`classify`, with what else the DDL says of the column: a partition key's bounds or listed
    values (public, like a CHECK), and why a DOMAIN-typed column is modelled as it is."""
    cs = _inside_partitions(table, col, classify(table, col))
    return _domain_note(col, cs) if col.domain else cs


def _array_spec(col: Column) -> ColumnSpec:
    """Each row's whole array is one categorical value, the frequent ones released by partition
    selection (a row adds one value: the sensitivity of any category)."""
    return ColumnSpec(kind="categorical", domain="dp", when_sparse="empty",
                      note=f"{col.type}: each row's array is one category, the frequent arrays from DP; any other "
                           "array is written empty")


def _inside_partitions(table: Table, col: Column, cs: ColumnSpec) -> ColumnSpec:
    found = key_domain(table, col.name)
    if found is None or cs.kind in ("key", "generated", "unsupported"):
        return cs
    if found.values is not None and cs.kind in ("categorical", "numeric", "pii", "text"):
        values = [v for v in found.values if cs.values is None or v in cs.values]
        return ColumnSpec(kind="categorical", domain="schema", values=values, note=found.note)
    if cs.kind not in ("numeric", "datetime") or (found.lower is None and found.upper is None):
        return cs
    lo, hi = cs.bounds or (None, None)
    lo = found.lower if lo is None else lo if found.lower is None else max(lo, found.lower)
    hi = found.upper if hi is None else hi if found.upper is None else min(hi, found.upper)
    # The bounds are public, but the bins inside them stay the data's (domain dp): a range of years
    # in equal public bins would spread rows the data keeps in a few months.
    return cs.model_copy(update={"bounds": (lo, hi), "note": _joined(cs.note, found.note)})


def _domain_note(col: Column, cs: ColumnSpec) -> ColumnSpec:
    checks = " AND ".join(f"({c})" for c in col.domain_checks)
    said = f"domain {col.domain}, modelled as its base type" + (f"; CHECK {checks} holds every value" if checks else "")
    if text_pattern("VALUE", list(col.domain_checks)) is not None:
        said += ", made-up values follow its pattern"
    return cs.model_copy(update={"note": _joined(said, cs.note)})


def _joined(*notes: str | None) -> str:
    return "; ".join(n for n in notes if n)
