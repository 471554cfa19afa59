"""Pushdown counts what in-memory counting counts: the same kept rows, marginals, domain counts
and degree histograms, on PostgreSQL, MariaDB and SQLite, with caps small enough to bite.

The in-memory side reads the private tables whole (`read_table`), bounds them with
`units.bound` and counts with numpy; the pushdown side asks the database. They must agree
exactly, cell for cell.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import dbsynth.dialects.base as dialects_base
from dbsynth.connect import source_engine
from dbsynth.measure import measure as measure_module
from dbsynth.measure.degrees import degree_histogram
from dbsynth.measure.domains import (FrameCounts, as_type, coarse_edges, histogram_grid, quantile_grid,
                                     sorted_numbers, type_range)
from dbsynth.measure.encoders import BinEncoder, BooleanEncoder, CategoricalEncoder, NullIndicator
from dbsynth.measure.measure import Budget, measure, null_column
from dbsynth.measure.pushdown import Pushdown, SqlMarginalSource
from dbsynth.measure.read import read_table
from dbsynth.plan import make_spec
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.units import Units, bound, is_fixed_char, key_text, row_identity
from dbsynth.schema.introspect import introspect
from dbsynth.tabular.base import EncodedTable, MarginalSource

SECRET = bytes(range(32))


def table_named(schema, *names: str) -> str:
    """The schema's table whose name, lowercased without underscores, is one of `names`."""
    norm = {t.lower().replace("_", ""): t for t in schema.tables}
    return next(norm[n] for n in names if n in norm)


def fk_to(schema, table: str, parent: str) -> str:
    return next(fk.key for fk in schema.tables[table].foreign_keys if fk.ref_table == parent)


def setup(dsn: str, cap: int, owners: dict[tuple[str, ...], tuple[str, ...]] | None = None):
    """Source engine, schema, spec with every cap = `cap`, extra owners by (table, parent) names."""
    engine = source_engine(dsn)
    schema = introspect(engine)
    spec = make_spec(schema)
    for ts in spec.tables.values():
        for f in ts.foreign_keys.values():
            f.cap = cap
    for child_names, parent_names in (owners or {}).items():
        child, parent = table_named(schema, *child_names), table_named(schema, *parent_names)
        spec.tables[child].owner = fk_to(schema, child, parent)
    return engine, schema, spec, Units.from_spec(schema, spec)


def encoders_from_data(schema, spec, name: str, rows: pd.DataFrame) -> dict:
    """Encoders for every modelled column, from the data itself (a test needs no privacy): half
    the values released (the rest fall in `other`), bin edges on data values."""
    table = schema.tables[name]
    out: dict = {}
    for col in table.columns:
        kind = spec.tables[name].columns[col.name].kind
        values = rows[col.name]
        if kind == "categorical":
            distinct = sorted({v for v in values.tolist() if v is not None}, key=str)
            out[col.name] = CategoricalEncoder(distinct[::2], col.nullable, other=True)
        elif kind in ("numeric", "datetime"):
            x = sorted_numbers(values, as_type(col))
            edges = np.unique(np.quantile(x, np.linspace(0, 1, 6), method="nearest")) if len(x) else np.array([0.0])
            # the two most frequent exact values as points of their own (as partition selection releases them)
            vals, counts = np.unique(x, return_counts=True)
            points = [float(v) for v in vals[np.argsort(-counts, kind="stable")][:2]]
            out[col.name] = BinEncoder(list(map(float, edges)), col.nullable, as_type(col), points=points)
        elif kind == "boolean":
            out[col.name] = BooleanEncoder(col.nullable)
    for fk in table.foreign_keys:
        if any(table.column(c).nullable for c in fk.columns):
            out[null_column(fk.key)] = NullIndicator(fk.columns)
    return out


def encode(model: dict, rows: pd.DataFrame) -> EncodedTable:
    codes = {c: (m.encode(rows) if isinstance(m, NullIndicator) else m.encode(rows[c])) for c, m in model.items()}
    return EncodedTable("t", codes, {c: m.size for c, m in model.items()}, rows=len(rows))


def kept_keys_in_database(push: Pushdown, schema, name: str) -> list[str]:
    """Identities of the rows the database keeps (test only: a private read, to compare)."""
    table = schema.tables[name]
    cols = list(table.primary_key) or list(table.column_names)
    with push.connect("test") as conn:
        frame = pd.DataFrame(conn.execute(sa.select(push.bounded.rows(name, cols))).fetchall(), columns=cols,
                             dtype=object)
    return sorted(row_identity(frame, table))


def assert_pushdown_matches_memory(engine, schema, spec, units, max_three_ways: int = 30) -> dict[str, int]:
    frames = {t: read_table(engine, schema, t) for t in schema.tables}
    kept = bound(frames, schema, units, SECRET)
    bounded = {t: frames[t][kept[t]].reset_index(drop=True) for t in units.private}
    push = Pushdown(engine, schema, units, SECRET)
    kept_rows = {}
    for name in units.order():
        rows = bounded[name]
        kept_rows[name] = len(rows)
        assert push.row_count(name) == len(rows), name
        assert kept_keys_in_database(push, schema, name) == sorted(row_identity(rows, schema.tables[name])), name

        model = encoders_from_data(schema, spec, name, frames[name])
        memory = encode(model, rows)
        source = SqlMarginalSource(push, name, model, rows=push.row_count(name))
        assert isinstance(source, MarginalSource)
        cols = list(model)
        cliques = [(), *[(c,) for c in cols], *itertools.combinations(cols, 2),
                   *list(itertools.combinations(cols, 3))[:max_three_ways]]
        cliques += [tuple(reversed(c)) for c in cliques if len(c) == 2][:3]  # axes follow the clique
        for clique, got, want in zip(cliques, source.marginals(cliques), memory.marginals(cliques)):
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {clique}")

        table = schema.tables[name]
        kinds = {c.name: spec.tables[name].columns[c.name].kind for c in table.columns}
        values = [c for c, k in kinds.items() if k == "categorical"]
        buckets = []
        for col in table.columns:
            if kinds[col.name] in ("numeric", "datetime"):
                t = as_type(col)
                coarse = coarse_edges(t, *type_range(col))
                x = sorted_numbers(rows[col.name], t)
                buckets += [(col.name, t, histogram_grid(coarse)), (col.name, t, quantile_grid(t, coarse[0], coarse[-1]))]
                buckets += [(col.name, t, quantile_grid(t, float(x.min()), float(x.max())))] if len(x) else []
        got_values: dict = {c: [] for c in values}
        want_values: dict = {c: [] for c in values}
        got = push.counts(name).count(values, buckets, lambda c, chunk: got_values[c].extend(chunk))
        want = FrameCounts(rows).count(values, buckets, lambda c, chunk: want_values[c].extend(chunk))
        assert push.known_row_count(name) == len(rows), "the kept row count, counted in the same pass"
        for c in values:
            assert len(got_values[c]) == len(dict(got_values[c])), f"{c}: a value counted twice"
            assert dict(got_values[c]) == dict(want_values[c]), c
        for (c, t, grid), g, w in zip(buckets, got, want):
            np.testing.assert_array_equal(g, w, err_msg=f"{c} on {len(grid.candidates)} candidates")
        # Floors, as partition selection asks for them: the engine drops the rarer values, keeps
        # every bucket, and still says how many rows hold a value.
        if values:
            floors = {c: 2 + i for i, c in enumerate(values)}
            got_values, want_values = {c: [] for c in values}, {c: [] for c in values}
            got_rows, want_rows = {}, {}
            got = push.counts(name).count(values, buckets, lambda c, chunk: got_values[c].extend(chunk), floors,
                                          got_rows.__setitem__)
            want = FrameCounts(rows).count(values, buckets, lambda c, chunk: want_values[c].extend(chunk), floors,
                                           want_rows.__setitem__)
            for c in values:
                assert dict(got_values[c]) == dict(want_values[c]), f"{c} with floor {floors[c]}"
                assert min((n for _, n in got_values[c]), default=floors[c]) >= floors[c], c
                assert got_rows[c] == want_rows[c] == int(rows[c].notna().sum()), c
            for (c, t, grid), g, w in zip(buckets, got, want):
                np.testing.assert_array_equal(g, w, err_msg=f"{c} with floors on {len(grid.candidates)} candidates")
        for fk in table.foreign_keys:
            parent = bounded.get(fk.ref_table, frames[fk.ref_table])
            children = frames[name] if units.is_owner_edge(fk) else rows  # owner edge: all children
            np.testing.assert_array_equal(push.degree_histogram(fk),
                                          degree_histogram(children, parent, fk), err_msg=fk.key)
    return kept_rows


CHINOOK_OWNERS = {("playlisttrack",): ("playlist",)}  # a composite key ranked under its playlist


def check_chinook(dsn: str, cap: int) -> None:
    engine, schema, spec, units = setup(dsn, cap, CHINOOK_OWNERS)
    line, invoice = table_named(schema, "invoiceline"), table_named(schema, "invoice")
    assert units.owner[line].ref_table == invoice
    assert units.owner[invoice].ref_table == table_named(schema, "customer")
    kept = assert_pushdown_matches_memory(engine, schema, spec, units)
    # the caps bite: 59 customers with up to `cap` invoices, each with up to `cap` lines
    assert kept[invoice] <= 59 * cap < 412
    assert kept[line] <= kept[invoice] * cap < 2240


def sum_where(sums: str, monkeypatch) -> None:
    """Marginals summed from the joint cells in numpy (small joints), or in SQL (any size)."""
    if sums == "sql":
        monkeypatch.setattr(dialects_base, "JOINT_CELLS_IN_MEMORY", 0)


@pytest.mark.parametrize("cap, sums", [(2, "numpy"), (3, "sql")])
def test_pushdown_equals_memory_on_chinook_postgres(chinook_pg, cap, sums, monkeypatch):
    sum_where(sums, monkeypatch)
    check_chinook(chinook_pg, cap)


@pytest.mark.parametrize("cap, sums", [(2, "numpy"), (3, "sql")])
def test_pushdown_equals_memory_on_chinook_mariadb(chinook_maria, cap, sums, monkeypatch):
    sum_where(sums, monkeypatch)
    check_chinook(chinook_maria, cap)


@pytest.mark.parametrize("cap, sums", [(2, "numpy"), (3, "sql")])
def test_pushdown_equals_memory_on_chinook_sqlite(chinook_sqlite, cap, sums, monkeypatch):
    sum_where(sums, monkeypatch)
    check_chinook(chinook_sqlite, cap)


def test_pushdown_equals_memory_on_northwind_string_and_composite_keys(northwind_pg):
    """customers has a string key; orders (owned by customers, nullable FK: NULL = root) rank by
    integer keys; order_details has a composite key (order_id, product_id)."""
    engine, schema, spec, units = setup(northwind_pg, 2, {("orders",): ("customers",),
                                                         ("orderdetails",): ("orders",)})
    kept = assert_pushdown_matches_memory(engine, schema, spec, units, max_three_ways=10)
    assert kept["orders"] < 830 and kept["order_details"] < 2155


# -- a database made to trip the dialects: case, trailing spaces, non-ASCII keys, microseconds,
# dates before 1970, NULL owners, a keyless owned table, booleans and a nullable FK ------------

DDL = """
CREATE TABLE person (code VARCHAR(20) NOT NULL PRIMARY KEY, tier VARCHAR(10), score NUMERIC(8,2),
                     born DATE, vip BOOLEAN, email VARCHAR(40));
CREATE TABLE visit (id INTEGER NOT NULL PRIMARY KEY, person_code VARCHAR(20) REFERENCES person(code),
                    at {ts}, kind VARCHAR(10) NOT NULL, amount DOUBLE PRECISION);
CREATE TABLE note (visit_id INTEGER NOT NULL REFERENCES visit(id), tag VARCHAR(10), n INTEGER);
"""
TIMESTAMP = {"postgresql": "TIMESTAMP", "mysql": "DATETIME(6)", "sqlite": "DATETIME"}
CODES = ["Ann", "bob", "Zoë", "x ", "Ω-7", "ann2", "Łukasz", "  lead", "日本", "Q'uote"]
KINDS = ["a", "A", "a ", "b", "é", "ß", "É"]


def build_tricky(dsn: str) -> None:
    engine = sa.create_engine(dsn)
    rng = random.Random(5)
    with engine.begin() as conn:
        for stmt in DDL.format(ts=TIMESTAMP[engine.dialect.name]).split(";"):
            if stmt.strip():
                conn.exec_driver_sql(stmt)
        md = sa.MetaData()
        md.reflect(conn)
        person, visit, note = (md.tables[t] for t in ("person", "visit", "note"))
        conn.execute(person.insert(), [
            {"code": c, "tier": rng.choice(["gold", "Gold", None, "tin"]),
             "score": Decimal(rng.randint(-5000, 5000)) / 100, "email": f"p{i}@x",
             "born": rng.choice([None, dt.date(1960, 5, 5), dt.date(2000, 2, 29), dt.date(1999, 12, 31)]),
             "vip": rng.choice([True, False, None])} for i, c in enumerate(CODES)])
        moments = [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 1, 23, 59, 59, 999999), dt.datetime(1969, 12, 31, 12),
                   dt.datetime(2021, 6, 1, 8, 30, 0, 250000), None]
        visits = [{"id": i, "person_code": None if i % 9 == 0 else rng.choice(CODES),
                   "at": rng.choice(moments), "kind": rng.choice(KINDS),
                   "amount": rng.choice([None, 0.1, 2.5, -3.0, 1e6, 12.25])} for i in range(1, 121)]
        conn.execute(visit.insert(), visits)
        notes = [{"visit_id": rng.randint(1, 120), "tag": rng.choice(["x", "y", None]), "n": rng.choice([1, 2, None])}
                 for _ in range(400)]
        conn.execute(note.insert(), notes)


@pytest.mark.parametrize("engine_name", ["pg", "maria", "sqlite"])
def test_pushdown_equals_memory_on_tricky_values(engine_name, new_pg_db, new_maria_db, new_sqlite_path):
    dsn = {"pg": new_pg_db, "maria": new_maria_db, "sqlite": new_sqlite_path}[engine_name]()
    build_tricky(dsn)
    engine, schema, spec, units = setup(dsn, 2, {("visit",): ("person",), ("note",): ("visit",)})
    assert spec.tables["visit"].columns["kind"].kind == "categorical"
    kept = assert_pushdown_matches_memory(engine, schema, spec, units)
    assert 0 < kept["visit"] < 120 and 0 < kept["note"] < 400
    # exactly as many NULL-owner visits (roots) are kept as exist
    assert kept["visit"] >= 13


def test_key_text_is_canonical():
    assert key_text(7) == "7" and key_text(True) == "1" and key_text(None) == "\x1e"
    assert key_text(Decimal("1E-7")) == "0.0000001"
    assert key_text("ab  ", fixed_char=True) == "ab" and key_text("ab  ") == "ab  "
    assert key_text(dt.datetime(2020, 1, 2, 3, 4, 5)) == "2020-01-02 03:04:05"
    assert key_text(dt.datetime(2020, 1, 2, 3, 4, 5, 60)) == "2020-01-02 03:04:05.000060"
    assert key_text(b"\x01\xff") == "01ff"


def test_measure_stage_reads_no_private_table_whole(chinook_sqlite, monkeypatch):
    """Only public tables are read row by row; every private statistic is a GROUP BY."""
    engine, schema, spec, units = setup(chinook_sqlite, 3)
    genre = table_named(schema, "genre")
    spec.tables[genre].private = False
    units = Units.from_spec(schema, spec)
    read = []
    real = measure_module.read_table

    def spy(source, schema_, name):
        read.append(name)
        return real(source, schema_, name)

    monkeypatch.setattr(measure_module, "read_table", spy)
    ledger = Ledger(1.0, 1e-9)
    rho = {t: 0.05 for t in units.private}
    out = measure(engine, schema, spec, units, ledger, Budget(1.0, 1e-11), rho)
    assert read == [genre]
    line = table_named(schema, "invoiceline")
    assert isinstance(out[line].encoded, SqlMarginalSource)
    (one_way,) = out[line].encoded.marginals([(next(iter(out[line].encoded.sizes)),)])
    assert one_way.sum() == out[line].encoded.rows <= 59 * 3 * 3
    # Numeric and datetime bins are ordered (NULL outside the order); categories are not.
    for name, data in out.items():
        if not isinstance(data.encoded, SqlMarginalSource):
            continue
        kinds = {c: cs.kind for c, cs in spec.tables[name].columns.items()}
        for col in data.encoded.sizes:
            assert (col in data.encoded.ordered) == (kinds.get(col) in ("numeric", "datetime")), (name, col)


KEY_TYPES = {  # column -> type per engine
    "i": ("BIGINT", "BIGINT", "INTEGER"),
    "s": ("VARCHAR(20)", "VARCHAR(20)", "VARCHAR(20)"),
    "c": ("CHAR(6)", "CHAR(6)", "CHAR(6)"),
    "d": ("NUMERIC(10,3)", "DECIMAL(10,3)", "NUMERIC(10,3)"),
    "day": ("DATE", "DATE", "DATE"),
    "ts": ("TIMESTAMP", "DATETIME(6)", "DATETIME"),
    "flag": ("BOOLEAN", "BOOLEAN", "BOOLEAN"),
    "raw": ("BYTEA", "VARBINARY(8)", "BLOB"),
}
KEY_ROWS = [
    {"i": -7, "s": "Zoë ", "c": "ab", "d": Decimal("-1.500"), "day": dt.date(1969, 7, 20),
     "ts": dt.datetime(2020, 2, 29, 23, 59, 59, 999999), "flag": True, "raw": b"\x00\xff"},
    {"i": 2**40, "s": "", "c": "abcdef", "d": Decimal("0.001"), "day": dt.date(2000, 1, 1),
     "ts": dt.datetime(1999, 12, 31), "flag": False, "raw": b""},
]


@pytest.mark.parametrize("engine_name", ["pg", "maria", "sqlite"])
def test_every_engine_writes_the_key_text_python_writes(engine_name, new_pg_db, new_maria_db, new_sqlite_path):
    """The bounding's ranks agree only if the database spells each key as `units.key_text` does."""
    dsn = {"pg": new_pg_db, "maria": new_maria_db, "sqlite": new_sqlite_path}[engine_name]()
    which = {"pg": 0, "maria": 1, "sqlite": 2}[engine_name]
    writer = sa.create_engine(dsn)
    with writer.begin() as conn:
        cols = ", ".join(f"{c} {types[which]}" for c, types in KEY_TYPES.items())
        conn.exec_driver_sql(f"CREATE TABLE k (n INTEGER NOT NULL PRIMARY KEY, {cols})")
        md = sa.MetaData()
        md.reflect(conn)
        conn.execute(md.tables["k"].insert(), [{"n": i, **r} for i, r in enumerate(KEY_ROWS)])
    check_key_text(dsn, list(KEY_TYPES), engine_name)


def check_key_text(dsn: str, columns: list[str], label: str) -> None:
    """Table `k` of `dsn` (key `n`): the key text the database computes for each of `columns`
    equals `units.key_text` of the value the driver returns."""
    engine, schema, spec, units = setup(dsn, 2)
    push = Pushdown(engine, schema, units, SECRET)
    table, t = schema.tables["k"], push.bounded.table("k")
    frame = read_table(engine, schema, "k").sort_values("n").reset_index(drop=True)
    query = sa.select(*[push.dialect.key_text(t.c[c], table.column(c)).label(c) for c in columns]).order_by(t.c.n)
    with push.connect("test") as conn:
        got = [dict(r._mapping) for r in conn.execute(query)]
    for i, row in enumerate(got):
        for c in columns:
            want = key_text(frame[c][i], is_fixed_char(table.column(c)))
            assert row[c] == want, (label, c, row[c], want)


def test_a_deep_owner_chain_is_counted_in_sqlite_as_in_memory(tmp_path):
    """Seven owner levels nest seven kept-row selects: SQLite's parser stack overflowed past four
    (now a flat WITH clause); the database keeps exactly the rows the in-memory bounding keeps."""
    import sqlite3

    from dbsynth.pipeline import load_spec
    from dbsynth.privacy.units import bound

    rng = np.random.default_rng(0)
    con = sqlite3.connect(tmp_path / "deep.db")
    con.execute("CREATE TABLE t0 (id INTEGER PRIMARY KEY, email TEXT, n INTEGER)")
    con.executemany("INSERT INTO t0 VALUES (?, ?, ?)", [(i, f"p{i}@x", i % 5) for i in range(1, 6)])
    for level in range(1, 8):
        con.execute(f"CREATE TABLE t{level} (id INTEGER PRIMARY KEY, "
                    f"p_id INTEGER NOT NULL REFERENCES t{level - 1}(id), n INTEGER)")
        parents = [r[0] for r in con.execute(f"SELECT id FROM t{level - 1}")]
        con.executemany(f"INSERT INTO t{level} VALUES (?, ?, ?)",
                        [(i, int(rng.choice(parents)), i % 7) for i in range(1, 13)])
    con.commit()
    con.close()
    engine = source_engine(f"sqlite:///{tmp_path / 'deep.db'}")
    schema = introspect(engine)
    spec = load_spec(schema, None)
    for ts in spec.tables.values():
        for f in ts.foreign_keys.values():
            f.cap = 2
    units = Units.from_spec(schema, spec)
    assert len(units.chain("t7")) == 7
    frames = {t: read_table(engine, schema, t) for t in schema.tables}
    kept = bound(frames, schema, units, SECRET)
    push = Pushdown(engine, schema, units, SECRET)
    for level in range(8):
        assert push.row_count(f"t{level}") == int(kept[f"t{level}"].sum())
    grid = histogram_grid(np.array([-1.0, 2.0, 4.0, 100.0]))
    (counts,) = push.counts("t7").count([], [("n", "int", grid)])
    assert counts.sum() == kept["t7"].sum()


def test_a_row_count_follows_from_owner_degrees_already_counted(chinook_pg):
    """Sizing counts the owner edges' degrees; a table's kept rows then follow from them
    (Σ min(d, cap) over kept parents, plus NULL owners) without another scan, and equal the count
    the database gives."""
    engine, schema, spec, units = setup(chinook_pg, 3, CHINOOK_OWNERS)
    fresh = Pushdown(engine, schema, units, SECRET)
    want = {name: fresh.row_count(name) for name in units.order()}
    push = Pushdown(engine, schema, units, SECRET)
    for name in units.order():
        if units.owner.get(name) is not None:
            push.degree_counts(units.owner[name], all_children=True)
    statements: list[str] = []

    def seen(conn, cursor, statement, *rest):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        got = {name: push.row_count(name) for name in units.order()}
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    owned = [n for n in units.order() if units.owner.get(n) is not None]
    assert got == want and owned
    # Owned tables: no bounding scan (a root's count has no rank either: it keeps every row).
    assert not [s for s in statements if "dbsynth_rank" in s], statements
