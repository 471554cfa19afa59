"""Contribution bounding inside the source database: each table's kept rows as a SELECT.

The SQL twin of `units.bound`: a row of an owned table is kept iff its owner FK is NULL (a
root), or it ranks below the edge's cap among its parent's children by the keyed hash of its own
key (ROW_NUMBER() over the parent's partition) and its parent is itself kept (recursively, up
the owner chain). The order agrees with `units.row_order` (a keyed cubic of an integer key, else
the md5 of the key's text), so both keep the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dbsynth.dialects import Dialect
from dbsynth.privacy.units import KEY_SEPARATOR, MODULUS, OCCURRENCE_SEPARATOR, Units, cubic, integer_key
from dbsynth.schema import ForeignKey, Schema

_RANK = "dbsynth_rank"
HASH = "dbsynth_hash"  # a row's keyed hash, when asked for
TIE = "dbsynth_tie"  # and, for an integer key, the key, which orders rows whose hashes are equal
_OCCURRENCE = "dbsynth_occurrence"


class BoundedRows:
    """Builds SELECTs of kept rows; runs nothing. The secret travels as a bound parameter."""

    def __init__(self, schema: Schema, units: Units, dialect: Dialect, secret: bytes):
        if schema.metadata is None:
            raise ValueError("bounding in SQL needs the reflected schema (Schema.metadata)")
        self.schema = schema
        self.units = units
        self.dialect = dialect
        self._prefix = sa.bindparam("dbsynth_secret", secret.hex() + KEY_SEPARATOR, type_=sa.String)
        self._cubic = cubic(secret)
        self._ctes = 0  # CTE names are unique per BoundedRows (SQLite only, see `rows`)
        self._tables: dict[str, sa.TableClause] = {}

    def table(self, name: str) -> sa.TableClause:
        """`name` as measuring reads it, one object per table: a DOMAIN-typed column as its base
        type, whose values are what is compared and grouped (SQLAlchemy has no operators of a
        DOMAIN's own)."""
        if name not in self._tables:
            t = self.schema.metadata.tables[name]
            columns = [sa.column(c.name, self.dialect.value_type(c.type)) for c in t.columns]
            self._tables[name] = sa.table(name, *columns)
        return self._tables[name]

    def rows(self, name: str, columns: Sequence[str], hashed: bool = False) -> sa.Subquery:
        """`columns` of the kept rows of `name`; every row of a root or public table. `hashed`:
        also each row's keyed hash (column `HASH`), the order the bounding ranks siblings by."""
        columns = list(dict.fromkeys(columns))
        t = self.table(name)
        fk = self.units.owner.get(name) if name in self.units.private else None
        if fk is None:
            if hashed:
                source, order = self._hashed(name)
                return sa.select(*[source.c[c] for c in columns], *_labelled(order)).subquery()
            return sa.select(*[t.c[c] for c in columns]).subquery()
        ranked = self._ranked(name, fk, list(dict.fromkeys([*columns, *fk.columns])), hashed)
        parent = self.rows(fk.ref_table, fk.ref_columns)
        parent_kept = sa.exists().where(
            sa.and_(*[parent.c[rc] == ranked.c[c] for c, rc in zip(fk.columns, fk.ref_columns)]))
        root = sa.or_(*[ranked.c[c].is_(None) for c in fk.columns])
        within_cap = ranked.c[_RANK] <= sa.literal(self.units.caps[fk.key], sa.Integer)
        kept = sa.select(*[ranked.c[c] for c in columns], *(order_by(ranked) if hashed else [])).where(
            sa.or_(root, sa.and_(within_cap, parent_kept)))
        if self.dialect.name == "sqlite":
            # Each owner level nests the one above; SQLite's parser stack overflows past about four
            # levels of nested subqueries, so there every level is a CTE (one flat WITH clause).
            self._ctes += 1
            return kept.cte(name=f"dbsynth_kept_{self._ctes}")
        return kept.subquery()

    def _ranked(self, name: str, fk: ForeignKey, columns: list[str], hashed: bool) -> sa.Subquery:
        """`columns` plus each row's rank among its parent's children by keyed hash (and the hash)."""
        source, order = self._hashed(name)
        rank = sa.func.row_number().over(partition_by=[source.c[c] for c in fk.columns], order_by=order)
        return sa.select(*[source.c[c] for c in columns], *(_labelled(order) if hashed else []),
                         rank.label(_RANK)).subquery()

    def _hashed(self, name: str) -> tuple[sa.FromClause, list[ColumnElement]]:
        """The rows of `name` (a keyless table: with occurrence numbers) and what ranks them
        (`units.row_order`): the keyed cubic of an integer key and the key, else the keyed
        hash of each row's identity (`units.row_identity`)."""
        table = self.schema.tables[name]
        t = self.table(name)
        key = integer_key(table)
        if key is not None:
            return t, [self._integer_rank(t.c[key]), t.c[key]]
        if table.primary_key:
            source, identity = t, self._text(t, table.primary_key, name)
        else:
            # Keyless: the whole row's text plus its occurrence number among identical texts.
            # Rows with equal text are interchangeable, so the numbering order is irrelevant.
            # Identical means bytewise: the rows are numbered within the md5 of their text, not
            # the text itself, which a collation may call equal to a different one ('a' = 'A ' in
            # MariaDB's defaults, and in PostgreSQL's nondeterministic collations). Numbered by
            # such a collation, a row's number (so its hash and rank) would depend on other
            # units' rows: removing one re-ranked its siblings, past every declared Δ.
            content = self._text(t, table.column_names, name)
            same = self.dialect.keyed_hash(content)
            occurrence = sa.func.row_number().over(partition_by=same, order_by=self.dialect.any_order(same)) - 1
            source = sa.select(t, occurrence.label(_OCCURRENCE)).subquery()
            identity = self.dialect.concat(self._text(source, table.column_names, name),
                                           sa.literal(OCCURRENCE_SEPARATOR, sa.String),
                                           self.dialect.text(source.c[_OCCURRENCE]))
        return source, [self.dialect.keyed_hash(self.dialect.concat(self._prefix, identity))]

    def _integer_rank(self, key: ColumnElement) -> ColumnElement:
        """`units.integer_rank` in SQL: x = key mod P (made non-negative: engines keep the
        dividend's sign), then Horner's rule, every step reduced mod P."""
        c3, c2, c1, c0 = (_big(c) for c in self._cubic)
        p = _big(MODULUS)
        x = (sa.cast(key % p, sa.BigInteger) + p) % p
        h = (c3 * x + c2) % p
        h = (h * x + c1) % p
        return (h * x + c0) % p

    def _text(self, source: sa.FromClause, columns: Sequence[str], name: str) -> ColumnElement:
        """`units.row_identity`'s text of these columns: key texts joined by the separator."""
        table = self.schema.tables[name]
        parts: list[ColumnElement] = []
        for i, c in enumerate(columns):
            if i:
                parts.append(sa.literal(KEY_SEPARATOR, sa.String))
            parts.append(self.dialect.key_text(source.c[c], table.column(c)))
        return self.dialect.concat(*parts) if len(parts) > 1 else parts[0]


def order_by(rows: sa.FromClause) -> list[ColumnElement]:
    """The columns a `hashed` SELECT of `rows` ranks its rows by (HASH, and TIE where present)."""
    return [rows.c[HASH], *([rows.c[TIE]] if TIE in rows.c.keys() else [])]


def _labelled(order: list[ColumnElement]) -> list[ColumnElement]:
    return [e.label(name) for e, name in zip(order, (HASH, TIE))]


def _big(value: int) -> ColumnElement:
    # An inline BIGINT literal: as a bound parameter, some engines type it INTEGER and overflow.
    return sa.literal_column(str(int(value)), sa.BigInteger)
