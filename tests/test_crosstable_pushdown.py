"""Cross-table marginals counted in the database equal counting the same bounded join in memory,
on PostgreSQL, MariaDB and SQLite, with caps that drop rows.

Memory side: every table read whole, bounded with `units.bound` and joined by
`crossmemory.join_marginals`. Database side: `crossjoin.join_counts`, which the measure stage
runs. Same secret, so both must keep, admit and code the same rows, cell for cell. Independently
of both, each edge's join size is checked against the pushed-down kept rows and degree
histograms, and the caps are checked to bite (owner chain customer → invoice → invoice line,
admission under a referenced employee, album and playlist).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sqlalchemy as sa

from dbsynth.measure.crossjoin import join_counts
from dbsynth.measure.crossmemory import encode_tables, join_marginals, join_rows
from dbsynth.measure.crossplan import admits, default_marginals, edge_features
from dbsynth.measure.degrees import degree_buckets
from dbsynth.measure.crosstable import measure_links, public_table_encoders
from dbsynth.measure.encoders import NullIndicator
from dbsynth.measure.measure import Budget, measure
from dbsynth.measure.pushdown import Pushdown
from dbsynth.measure.read import read_table
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.units import KEY_SEPARATOR, Units, bound
from tests.test_pushdown import SECRET, build_tricky, encoders_from_data, setup, table_named

MAX_TEST_CELLS = 50_000  # every parent × child pair up to this size, beyond the default selection


def edge_cliques(features) -> list[tuple[str, ...]]:
    pairs = [(p, c) for p in features for c in features
             if features[p].side == "parent" != features[c].side
             and features[p].size * features[c].size <= MAX_TEST_CELLS]
    return list(dict.fromkeys(default_marginals(features) + pairs))


def assert_cross_tables_match_memory(engine, schema, spec, units) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Every FK edge with a private child: pushed-down counts == in-memory counts. Returns the
    join rows per edge, and the sides whose owner's columns some marginal counted."""
    frames = {t: read_table(engine, schema, t) for t in schema.tables}
    kept = bound({t: frames[t] for t in units.private}, schema, units, SECRET)
    push = Pushdown(engine, schema, units, SECRET)
    encoders = {}
    for name in schema.tables:
        if name in units.private:  # data-derived encoders (a test needs no privacy), no FK NULL flags
            encoders[name] = {c: e for c, e in encoders_from_data(schema, spec, name, frames[name]).items()
                              if not isinstance(e, NullIndicator)}
        else:
            encoders[name] = public_table_encoders(schema, spec, name, frames[name])
    codes = encode_tables(frames, encoders)
    sizes: dict[str, int] = {}
    vias: dict[str, set[str]] = {}
    for fk in schema.edges():
        if fk.table not in units.private:
            continue
        features = edge_features(fk, schema, units, encoders)
        rows, _ = join_rows(frames, kept, schema, units, fk, SECRET)
        sizes[fk.key] = len(rows)
        cliques = edge_cliques(features)
        want = join_marginals(frames, kept, schema, units, fk, features, cliques, codes, SECRET)
        got = join_counts(push, fk, features, encoders, cliques)
        for clique, g, w in zip(cliques, got, want):
            assert g.shape == w.shape, (fk.key, clique)
            np.testing.assert_array_equal(g, w, err_msg=f"{fk.key} {clique}")
            assert g.sum() == len(rows), (fk.key, clique)
        # Independently of the in-memory join: every kept child under a kept parent (owner edge,
        # at most `cap` of them), or Σ min(cap, kept children) over kept parents (admission), is
        # what the pushed-down degree histogram counts.
        if fk.ref_table in units.private:
            cap = units.caps[fk.key]
            kept_per_bucket = np.minimum(degree_buckets(), cap)  # a tail bucket's parents keep `cap` each
            assert len(rows) == int(kept_per_bucket @ push.degree_histogram(fk)), fk.key
        vias[fk.key] = {f.side for f in features.values() if f.via is not None and any(f.name in q for q in cliques)}
    return sizes, vias


def chinook_setup(dsn: str, cap: int):
    engine, schema, spec, _ = setup(dsn, cap, {("playlisttrack",): ("playlist",)})
    for name in ("genre", "mediatype"):  # public parents: a catalogue is read freely
        spec.tables[table_named(schema, name)].private = False
    return engine, schema, spec, Units.from_spec(schema, spec)


def check_chinook(dsn: str) -> None:
    engine, schema, spec, units = chinook_setup(dsn, 2)
    t = {n: table_named(schema, n) for n in ("customer", "employee", "invoice", "invoiceline", "track",
                                              "album", "playlisttrack", "genre")}
    edge = {(fk.table, fk.ref_table): fk for fk in schema.edges()}
    line_invoice = edge[t["invoiceline"], t["invoice"]]
    line_track = edge[t["invoiceline"], t["track"]]
    # the shapes this test must cover
    assert units.owner[t["invoiceline"]] == line_invoice and admits(line_track, units)
    assert admits(edge[t["employee"], t["employee"]], units), "a self reference"
    assert not admits(edge[t["track"], t["genre"]], units) and t["genre"] not in units.private

    sizes, vias = assert_cross_tables_match_memory(engine, schema, spec, units)
    assert "parent" in vias[line_invoice.key], "a customer's columns reach her invoice lines"
    assert "child" in vias[line_track.key], "a line's invoice conditions its track link"
    # the caps bite: ≤ 2 invoices per customer, ≤ 2 lines per invoice, ≤ 2 customers per support
    # employee, ≤ 2 tracks per album, ≤ 2 tracks per playlist
    assert sizes[line_invoice.key] <= 59 * 2 * 2 < 2240
    assert sizes[edge[t["customer"], t["employee"]].key] <= 3 * 2 < 59
    assert sizes[edge[t["track"], t["album"]].key] <= 347 * 2 < 3503
    assert sizes[edge[t["playlisttrack"], t["track"]].key] < 8715


def test_cross_tables_pushdown_equal_memory_on_chinook_postgres(chinook_pg):
    check_chinook(chinook_pg)


def test_cross_tables_pushdown_equal_memory_on_chinook_mariadb(chinook_maria):
    check_chinook(chinook_maria)


def test_cross_tables_pushdown_equal_memory_on_chinook_sqlite(chinook_sqlite):
    check_chinook(chinook_sqlite)


@pytest.mark.parametrize("engine_name", ["pg", "maria", "sqlite"])
def test_cross_tables_pushdown_equal_memory_on_tricky_values(engine_name, new_pg_db, new_maria_db, new_sqlite_path):
    """String keys that differ by case and trailing space, a nullable owner FK (root visits: the
    grandparent feature takes its "no owner" code), a keyless table (notes), owned by its visit
    and ranked under it, or a root admitted under its visit by content and occurrence."""
    dsn = {"pg": new_pg_db, "maria": new_maria_db, "sqlite": new_sqlite_path}[engine_name]()
    build_tricky(dsn)
    engine, schema, spec, units = setup(dsn, 2, {("visit",): ("person",), ("note",): ("visit",)})
    sizes, vias = assert_cross_tables_match_memory(engine, schema, spec, units)
    assert 0 < sizes["note(visit_id)->visit"] < 400
    assert "parent" in vias["note(visit_id)->visit"], "a note's visit's person (or none, for a root visit)"

    spec.tables["note"].owner = None
    units = Units.from_spec(schema, spec)
    assert admits(schema.tables["note"].foreign_keys[0], units)
    sizes, _ = assert_cross_tables_match_memory(engine, schema, spec, units)
    assert 0 < sizes["note(visit_id)->visit"] < 400


def test_measure_links_counts_in_the_database_with_the_measure_stage_secret(chinook_sqlite):
    """The pipeline's path: one pushdown for both stages. Every statement that touches a private
    table aggregates, and all of them bound with one secret."""
    engine, schema, spec, units = chinook_setup(chinook_sqlite, 3)
    statements: list[tuple[str, object]] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: statements.append((statement, params)))
    ledger = Ledger(1.0, 1e-9)
    rho = {t: 0.05 for t in units.private}
    push = Pushdown(engine, schema, units, SECRET)
    measured = measure(engine, schema, spec, units, ledger, Budget(1.0, 1e-11), rho, pushdown=push)
    first = len(statements)
    links = measure_links(push, schema, spec, units, ledger, measured, rho)
    assert links and all(em.marginals for em in links.values())
    assert any(c.what.startswith("cross-table") for c in ledger.charges)
    cross = statements[first:]
    assert cross, "the cross-table marginals are counted by the database"
    private = [re.compile(rf'\b"?{re.escape(t)}"?\b', re.IGNORECASE) for t in units.private]
    for statement, _ in cross:
        if any(p.search(statement) for p in private):
            assert re.search(r"GROUP BY|count\(", statement, re.IGNORECASE), statement
    secrets_seen = {p for _, params in statements for p in (params if isinstance(params, (tuple, list)) else
                                                             (params or {}).values())
                    if isinstance(p, str) and p.endswith(KEY_SEPARATOR) and len(p) == 65}
    assert secrets_seen == {SECRET.hex() + KEY_SEPARATOR}
