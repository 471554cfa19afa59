"""Units, contribution bounding and the sensitivities derived from them (DESIGN §2).

A unit is one private row together with every row it owns through owning FK edges (one owner
per table, a forest). Why one owner and not every FK: with several owning parents a removed
unit can delete unboundedly many rows that are not its own under *another* parent's cap, and
freed slots let unboundedly many other rows in; no per-edge cap bounds that. With a forest,
bounding is: a row is kept iff its owner parent is kept and it ranks below the edge's cap among
that parent's children by a keyed hash of its own key (`row_order`), so other units' rows never
decide it.

Sensitivity Δ(T): removing a unit rooted at level j of T's owner chain T=T0→T1→…→Tk removes at
most Π_{i≤j} cap_i kept T rows; if that root itself has an owner, its freed slot admits one
sibling with as many again (the "doubling"). Δ(T) is the maximum over j.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from dbsynth.schema import Column, ForeignKey, Schema, Table
from dbsynth.schema.model import INTEGER_GENERICS
from dbsynth.spec import Spec


PLACEHOLDER_CAP = 8  # the cap of an edge whose cap is still to be chosen (plan shows Δ with it)


@dataclass(frozen=True)
class Units:
    owner: dict[str, ForeignKey | None]  # private table -> its owning edge
    caps: dict[str, int]  # fk.key -> cap
    private: frozenset[str]

    @classmethod
    def from_spec(cls, schema: Schema, spec: Spec) -> "Units":
        private = frozenset(t for t, ts in spec.tables.items() if ts.private)
        owner: dict[str, ForeignKey | None] = {}
        caps: dict[str, int] = {}
        for name, ts in spec.tables.items():
            table = schema.tables[name]
            for fk in table.foreign_keys:
                # No cap in the spec: a placeholder until the sizing stage picks one from the data (DP quantile).
                spec_cap = ts.foreign_keys[fk.key].cap if fk.key in ts.foreign_keys else None
                caps[fk.key] = spec_cap if spec_cap is not None else PLACEHOLDER_CAP
            if name in private:
                owner[name] = next((fk for fk in table.foreign_keys if fk.key == ts.owner), None)
        return cls(owner, caps, private)

    def chain(self, table: str) -> list[ForeignKey]:
        """The owning edges from `table` up to its root."""
        out: list[ForeignKey] = []
        seen = {table}
        fk = self.owner.get(table)
        while fk is not None:
            out.append(fk)
            if fk.ref_table in seen:  # a cycle would make units unbounded; the spec check refuses it
                raise ValueError(f"owner cycle through {fk.ref_table}")
            seen.add(fk.ref_table)
            fk = self.owner.get(fk.ref_table)
        return out

    def sensitivity(self, table: str) -> int:
        """Δ(T): the most kept rows of `table` that adding or removing one unit can change."""
        if table not in self.private:
            return 0
        chain = self.chain(table)
        best, product = 0, 1
        levels = [table] + [fk.ref_table for fk in chain]
        for j, level in enumerate(levels):
            if j > 0:
                product *= self.caps[chain[j - 1].key]
            doubling = 2 if self.owner.get(level) is not None else 1
            best = max(best, doubling * product)
        return best

    def is_owner_edge(self, fk: ForeignKey) -> bool:
        owner = self.owner.get(fk.table)
        return owner is not None and owner.key == fk.key

    def degree_sensitivity(self, fk: ForeignKey) -> int:
        """Δ of the parent-degree histogram of `fk`: each changed parent leaves or enters one bin
        (1); on a reference edge each changed child also moves one parent between two bins (2).
        On the owner edge a parent's degree counts all its children, which are in its own unit:
        a unit rooted at a child moves that one parent between two bins (2), a unit rooted at the
        parent or above changes at most Δ(parent) parents, and no unit does both."""
        if self.is_owner_edge(fk):
            return max(2, self.sensitivity(fk.ref_table))
        return 2 * self.sensitivity(fk.table) + self.sensitivity(fk.ref_table)

    def excess_sensitivity(self, fk: ForeignKey, lo: int, hi: int) -> int:
        """Δ of an owner edge's children in a band (lo, hi] of degrees, summed with each parent's
        clipped to the band: a unit rooted at a child changes one parent's degree by one (1); a
        unit rooted at the parent or above changes at most Δ(parent) kept parents, each by up to
        hi − lo."""
        return max(1, self.sensitivity(fk.ref_table)) * max(1, hi - lo)

    def with_caps(self, caps: dict[str, int]) -> "Units":
        return Units(self.owner, {**self.caps, **caps}, self.private)

    def order(self) -> list[str]:
        """Private tables, owners before the tables they own."""
        done: list[str] = []
        pending = sorted(self.private)
        while pending:
            progressed = False
            for t in list(pending):
                fk = self.owner.get(t)
                if fk is None or fk.ref_table in done:
                    done.append(t)
                    pending.remove(t)
                    progressed = True
            if not progressed:
                raise ValueError(f"owner cycle among {pending}")
        return done


# Row identity text: the same string in Python and in every engine's SQL (dbsynth/dialects), so
# the in-memory and the pushed-down bounding keep exactly the same rows.
KEY_SEPARATOR = "\x1f"  # between the parts of a composite key (or a keyless row's columns)
NULL_TEXT = "\x1e"  # a NULL part (only keyless rows have NULL parts)
OCCURRENCE_SEPARATOR = "\x1d"  # before a keyless row's occurrence number

_FIXED_CHAR = re.compile(r"^(NATIONAL\s+)?(N?CHAR|CHARACTER|BPCHAR)\s*(\(|$)", re.IGNORECASE)


def is_fixed_char(col: Column) -> bool:
    """CHAR(n): its key text drops trailing pad spaces (PostgreSQL's cast to text does)."""
    return bool(_FIXED_CHAR.match(col.type.strip()))


def key_text(value: Any, fixed_char: bool = False) -> str:
    """A key value as canonical text. Agreed on every engine for integers, strings, decimals,
    booleans, dates, datetimes, times, UUIDs and bytes; other types (floats) use the engine's own
    text, which then only matters for keyless tables."""
    if value is None or (isinstance(value, float) and value != value):
        return NULL_TEXT
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return value.rstrip(" ") if fixed_char else value
    if isinstance(value, dt.datetime):  # wall time, as the engines' timestamp-to-text sees it
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def row_identity(frame: pd.DataFrame, table: Table) -> list[str]:
    """A stable identity per row: its primary key as text, or (keyless) its whole content plus an
    occurrence number. Identical keyless rows are interchangeable, so numbering them in any
    order keeps the same multiset of rows."""
    cols = list(table.primary_key) or list(table.column_names)
    fixed = [is_fixed_char(table.column(c)) for c in cols]
    columns = [frame[c].tolist() for c in cols]
    texts = [KEY_SEPARATOR.join(key_text(v, f) for v, f in zip(vals, fixed)) for vals in zip(*columns)]
    ident = pd.Series(texts if columns else [""] * len(frame), dtype=object)
    if not table.primary_key:
        ident = ident + OCCURRENCE_SEPARATOR + ident.groupby(ident).cumcount().astype(str)
    return ident.tolist()


def keyed_hash(identities: list[str], secret: bytes) -> list[str]:
    """md5(secret hex ‖ separator ‖ identity) as hex: ranks that depend on nothing but the row's own
    key and a run secret. Every engine computes the same digest in SQL; ranking compares the hex
    strings bytewise. Equal digests need equal identities (a key is unique), so no tie is ever
    decided by row order. DP does not rest on the secret (any fixed ranking of a row by its own
    key gives the bound); the secret only keeps which rows are dropped unpredictable."""
    prefix = secret.hex() + KEY_SEPARATOR
    return [hashlib.md5((prefix + s).encode("utf-8")).hexdigest() for s in identities]


# A table keyed by one integer column is ranked by a keyed cubic modulo the prime 2^31 - 1 instead
# of md5: about ten integer operations a row in SQL against hashing the key's text, which was a
# third of a bounded statement's time in PostgreSQL (1.1 µs a row). A random cubic is a 4-wise
# independent hash family, so which siblings a capped parent keeps is as unpredictable as with
# md5, and consecutive ids get unrelated ranks (a linear map would keep a parent's first or last
# children more often). Intermediate values stay below 2^62, inside every engine's BIGINT.
# Two keys may share a value; the key itself orders them, so no tie is decided by row order.
MODULUS = 2**31 - 1


def integer_key(table: Table) -> str | None:
    """The column a table is ranked by with `integer_rank`: its primary key when that is one
    integer column; None (md5 of the row's identity) otherwise."""
    if len(table.primary_key) != 1:
        return None
    name = table.primary_key[0]
    return name if table.column(name).generic in INTEGER_GENERICS else None


def cubic(secret: bytes) -> tuple[int, int, int, int]:
    """The run's coefficients (c3, c2, c1, c0) of the rank polynomial, from the secret; c3 ≠ 0."""
    digest = hashlib.sha256(b"dbsynth integer rank\x00" + secret).digest()
    c = [int.from_bytes(digest[8 * i:8 * i + 8], "big") % MODULUS for i in range(4)]
    return (c[0] or 1, c[1], c[2], c[3])


def integer_rank(keys, secret: bytes) -> np.ndarray:
    """c3·x³ + c2·x² + c1·x + c0 mod P (Horner) with x = key mod P, for each integer key."""
    c3, c2, c1, c0 = cubic(secret)
    x = np.array([int(k) % MODULUS for k in keys], dtype=np.int64)
    h = (c3 * x + c2) % MODULUS
    h = (h * x + c1) % MODULUS
    return (h * x + c0) % MODULUS


def row_order(frame: pd.DataFrame, table: Table, secret: bytes) -> list[np.ndarray]:
    """What the bounding ranks a table's rows by, most significant first (the SQL twin is
    `measure.bounding.BoundedRows`): the integer rank and the key, or the md5 of the identity."""
    key = integer_key(table)
    if key is not None:
        values = frame[key].tolist()
        return [integer_rank(values, secret), np.array([int(v) for v in values], dtype=object)]
    return [np.asarray(keyed_hash(row_identity(frame, table), secret), dtype=object)]


def fk_text(values) -> str | None:
    """An FK value (or the parent key it references) as one hashable string; None where any part
    is NULL."""
    if any(v is None or v != v for v in values):
        return None
    return "\x1f".join(map(str, values))


def fk_tuples(frame: pd.DataFrame, cols: tuple[str, ...]) -> pd.Series:
    """FK values as one hashable string per row (`fk_text`); None where any part is NULL (a root)."""
    columns = [frame[c].tolist() for c in cols]
    out = [fk_text(vals) for vals in zip(*columns)]
    return pd.Series(out if columns else [None] * len(frame), index=frame.index, dtype=object)


def bound(frames: dict[str, pd.DataFrame], schema: Schema, units: Units, secret: bytes) -> dict[str, np.ndarray]:
    """Kept mask per private table: owner kept and rank under the owner's cap (the in-memory twin
    of `dbsynth.measure.bounding`, which does the same inside the database)."""
    kept: dict[str, np.ndarray] = {}
    for name in units.order():
        frame = frames[name]
        fk = units.owner.get(name)
        if fk is None:
            kept[name] = np.ones(len(frame), dtype=bool)
            continue
        parent = frames[fk.ref_table]
        parent_keys = set(fk_tuples(parent[kept[fk.ref_table]], fk.ref_columns).dropna())
        ref = fk_tuples(frame, fk.columns)
        # Roots (NULL owner FK) are kept whatever their rank; the sentinel keeps them in a group
        # of their own, as SQL's PARTITION BY does with NULLs.
        keys = row_order(frame, schema.tables[name], secret)
        order = pd.DataFrame({"group": ref.fillna("\x00root").to_numpy(), **{f"k{i}": k for i, k in enumerate(keys)}})
        ranks = (order.sort_values(["group", *[f"k{i}" for i in range(len(keys))]])
                 .groupby("group", sort=False).cumcount().sort_index().to_numpy())
        is_root = ref.isna().to_numpy()
        parent_ok = ref.map(lambda v: v in parent_keys).to_numpy(dtype=bool)
        kept[name] = is_root | (parent_ok & (ranks < units.caps[fk.key]))
    return kept


def check_referenced_keys(schema: Schema) -> None:
    """Refuse FKs onto columns that are not unique in the parent: every join (degree histograms,
    cross-table marginals, bounding) assumes one parent row per key, and with duplicates one
    unit's rows are counted once per matching parent row, past every declared sensitivity."""
    from dbsynth.errors import UnsupportedSchema

    bad = schema.non_unique_references()
    if bad:
        fk = bad[0]
        raise UnsupportedSchema(
            f"foreign key {fk.key} references {fk.ref_table}({', '.join(fk.ref_columns)}), which is not a primary "
            f"key or UNIQUE: add a UNIQUE constraint on those columns in the source, or drop the foreign key"
            + (f" ({len(bad) - 1} more such keys)" if len(bad) > 1 else ""))


def describe_units(schema: Schema, spec: Spec, units: Units) -> dict:
    """Who is protected, for people: the owner forest, the caps, and each table's unit in words
    (what `plan` shows and the ledger stores)."""
    children: dict[str, list[str]] = {}
    for name, fk in units.owner.items():
        if fk is not None:
            children.setdefault(fk.ref_table, []).append(name)

    def owned(table: str) -> str:
        kids = sorted(children.get(table, []))
        return ", ".join(f"its {k} rows" + (f" ({owned(k)})" if children.get(k) else "") for k in kids)

    tables: dict[str, dict] = {}
    for name, ts in spec.tables.items():
        if not ts.private:
            tables[name] = {"unit": "public: copied verbatim, not protected"}
            continue
        chain = units.chain(name)
        root = chain[-1].ref_table if chain else name
        unit = f"one {root} row" + (f" with {owned(root)}" if children.get(root) else "")
        entry: dict = {"unit": unit if not chain else f"part of a unit: {unit}"}
        fk = units.owner.get(name)
        if fk is not None:
            entry["owner"] = fk.key
            if any(schema.tables[name].column(c).nullable for c in fk.columns):
                entry["roots"] = f"a {name} row whose {', '.join(fk.columns)} is NULL is a unit of its own"
        others = [o for o in schema.tables[name].foreign_keys
                  if o.ref_table in units.private and o is not fk and not o.is_self_reference]
        if others:
            entry["other_parents"] = {
                o.key: (f"not the owner: a {o.ref_table} row's unit does not contain these rows (they belong to "
                        f"{'their ' + fk.ref_table + ' unit' if fk else 'their own units'}); statistics that join "
                        f"{name} to {o.ref_table} count at most {units.caps[o.key]} of them per {o.ref_table} row")
                for o in others}
        tables[name] = entry
    return {
        "forest": {name: (fk.key if fk else None) for name, fk in units.owner.items()},
        "caps": dict(units.caps),
        "sensitivity": {name: units.sensitivity(name) for name in sorted(units.private)},
        "tables": tables,
    }
