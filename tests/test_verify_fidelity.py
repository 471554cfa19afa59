"""Fidelity beyond single tables, privacy sanity and the CI gate, on Chinook copies (SQLite files:
fast, and the SQL is the same as on the servers).

The properties: an identical target is at distance 0 everywhere and copies every row; moving
children between parents leaves every table's own marginals alone but shows in the joins and the
degree distributions; the workload is a fixed, seeded set of at most one-join aggregates; the
gate fails the run exactly when a metric is above its limit.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy.engine import make_url

from dbsynth.connect import source_engine, target_engine
from dbsynth.errors import UsageError
from dbsynth.schema.introspect import introspect
from dbsynth.verify import VerifyOptions, render_text, verify
from dbsynth.verify.binning import fit_binning
from dbsynth.verify.degrees import buckets, ks_distance
from dbsynth.verify.fidelity import load_table
from dbsynth.verify.gate import parse_thresholds
from dbsynth.verify.report import METRICS
from dbsynth.verify.workload import generate_workload
from tests.test_verify import add_ledger


@pytest.fixture
def chinook_copy(chinook_sqlite, new_sqlite_path):
    """(source engine, target engine, schema, target path): an exact copy of Chinook with a ledger."""
    dsn = new_sqlite_path()
    path = make_url(dsn).database
    shutil.copyfile(make_url(chinook_sqlite).database, path)
    src, tgt = source_engine(chinook_sqlite), target_engine(dsn)
    add_ledger(tgt)
    yield src, tgt, introspect(src), path
    src.dispose()
    tgt.dispose()


def sql(path: str, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for s in statements:
            conn.execute(s)


def test_identical_target_is_at_distance_zero_everywhere_and_copies_every_row(chinook_copy):
    src, tgt, schema, _ = chinook_copy
    report = verify(src, tgt, schema)
    assert report.passed(), render_text(report)
    metrics = report.metrics()
    for key in ("tvd1", "tvd2", "tvd3", "join_tvd1", "join_tvd2", "join_tvd3", "degree_tvd", "degree_ks",
                "row_count_error", "workload_median", "workload_p90"):
        assert metrics[key] == pytest.approx(0.0, abs=1e-12), key
    assert metrics["exact_copy"] == 1.0 and metrics["tstr_gap"] is None
    assert len(report.degrees) == len(schema.edges()) == 11
    assert len(report.workload.queries) == 200
    # grandparent chains: InvoiceLine -> Invoice -> Customer, its triples one column per table
    chain = next(j for j in report.joins if j.path == ("InvoiceLine", "Invoice", "Customer"))
    assert chain.tvd_3way and all(len({c.split(".")[0] for c in k.split("|")}) == 3 for k in chain.tvd_3way)
    assert chain.rows_source == chain.rows_target == 2240
    for p in report.privacy:
        # Synthetic rows are compared with a real reference half: copies of it sit at distance 0.
        half = (p.synthetic_rows // 2) / p.synthetic_rows
        assert p.exact_copy_rate == 1.0 and np.mean(np.asarray(p.dcr_synthetic) == 0) >= min(half, 0.45), p.table
        assert p.median_dcr_synthetic <= p.median_dcr_baseline, p.table
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data["fidelity_summary"]["metrics"]) == set(METRICS)


def test_moving_children_between_parents_shows_in_joins_and_degrees_not_in_tables(chinook_copy):
    src, tgt, schema, path = chinook_copy
    # Every invoice line now belongs to one of ten invoices: no table's own columns change.
    sql(path, "UPDATE InvoiceLine SET InvoiceId = 1 + InvoiceLineId % 10")
    report = verify(src, tgt, schema, options=VerifyOptions(workload_queries=20, privacy=False))
    assert report.passed(), render_text(report)
    assert all(max(t.tvd_1way.values(), default=0.0) == 0.0 for t in report.fidelity.values())
    assert report.metrics()["tvd2"] == 0.0
    line_invoice = next(j for j in report.joins if j.path == ("InvoiceLine", "Invoice"))
    assert line_invoice.tvd_1way["Invoice.Total"] > 0.2
    assert line_invoice.tvd_1way["InvoiceLine.UnitPrice"] == 0.0  # the child's own column is unmoved
    assert max(line_invoice.tvd_2way.values()) > 0.2
    degrees = {d.foreign_key: d for d in report.degrees}
    moved = degrees["InvoiceLine(InvoiceId)->Invoice"]
    assert moved.tvd > 0.9 and moved.ks > 0.9 and moved.mean_source == pytest.approx(2240 / 412)
    assert moved.histogram.labels[0] == "0" and moved.histogram.target[0] == pytest.approx(402 / 412)
    assert all(d.tvd == 0.0 for k, d in degrees.items() if k != moved.foreign_key)


def test_workload_is_seeded_distinct_and_at_most_one_join_one_group(chinook_copy):
    src, tgt, schema, _ = chinook_copy
    data = {n: load_table(src, tgt, t, set(t.column_names)) for n, t in schema.tables.items()}
    first, again, other = (generate_workload(schema, data, 200, seed) for seed in (0, 0, 1))
    assert first == again and first != other
    assert len(first) == len(set(first)) == 200
    assert {q.aggregate for q in first} == {"COUNT", "SUM", "AVG"}
    assert any(q.join is not None for q in first) and any(q.group is not None for q in first)
    for q in first:
        assert len(q.tables) <= 2 and (q.measure is None) == (q.aggregate == "COUNT")


def test_fewer_rows_show_as_workload_error_and_row_count_error(chinook_copy):
    src, tgt, schema, path = chinook_copy
    sql(path, "DELETE FROM InvoiceLine WHERE InvoiceLineId % 2 = 0")
    report = verify(src, tgt, schema, options=VerifyOptions(workload_queries=60, privacy=False))
    errors = [q.error for q in report.workload.queries if "InvoiceLine" in q.tables and q.aggregate == "COUNT"]
    assert errors and min(errors) == pytest.approx(0.5, abs=0.02)
    assert report.metrics()["row_count_error"] == pytest.approx(0.5, abs=0.01)
    assert report.workload.p90 > 0


def test_train_on_synthetic_test_on_real_against_the_majority_floor(chinook_copy):
    src, tgt, schema, path = chinook_copy
    report = verify(src, tgt, schema, options=VerifyOptions(tstr="Track.UnitPrice", workload_queries=5, privacy=False))
    t = report.tstr
    assert t.features == ("Name", "Composer", "Milliseconds", "Bytes") and t.test_rows_real == round(0.3 * 3503)
    assert t.accuracy_tstr >= t.accuracy_trtr - 0.02 and t.accuracy_tstr > t.accuracy_majority
    # A target whose prices carry no signal: the synthetic-trained model is no better than guessing.
    sql(path, "UPDATE Track SET UnitPrice = CASE WHEN TrackId % 2 = 0 THEN 0.99 ELSE 1.99 END")
    worse = verify(src, tgt, schema, options=VerifyOptions(tstr="Track.UnitPrice", workload_queries=5, privacy=False))
    assert worse.tstr.accuracy_tstr < t.accuracy_tstr - 0.3 and worse.metrics()["tstr_gap"] > 0.3
    for bad in ("Track", "Nope.UnitPrice", "Track.Nope", "Track.TrackId"):
        with pytest.raises(UsageError):
            verify(src, tgt, schema, options=VerifyOptions(tstr=bad, workload_queries=5, privacy=False))


def test_privacy_sanity_tells_copies_from_new_rows_against_a_real_holdout(chinook_copy):
    src, tgt, schema, path = chinook_copy
    sql(path, "UPDATE Track SET Milliseconds = Milliseconds + 7919, Bytes = Bytes * 3 + 1")
    report = verify(src, tgt, schema, options=VerifyOptions(workload_queries=5))
    privacy = {p.table: p for p in report.privacy}
    track, invoice = privacy["Track"], privacy["Invoice"]
    assert track.exact_copies == 0 and track.baseline_exact_copy_rate == 0.0
    assert track.median_dcr_synthetic > 0 and len(track.dcr_synthetic) == 1000
    assert invoice.exact_copy_rate == 1.0 and invoice.median_dcr_synthetic == 0.0
    assert "NOT part of the differential-privacy guarantee" in render_text(report)


def test_fail_under_gates_the_exit_code_and_refuses_unknown_keys(chinook_copy, chinook_sqlite):
    _, _, _, path = chinook_copy
    sql(path, "UPDATE Invoice SET Total = 0 WHERE InvoiceId % 2 = 0")
    source, target = chinook_sqlite, f"sqlite:///{path}"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dbsynth.cli", "verify", source, target, *args],
                              capture_output=True, text=True, timeout=300)

    res = run("--json", "--workload", "20", "--fail-under", "tvd1=0.5", "--fail-under", "tvd3=0.001,degree_ks=1")
    assert res.returncode == 1, res.stderr
    gate = {g["key"]: g for g in json.loads(res.stdout)["gate"]}
    assert gate["tvd1"]["passed"] and not gate["tvd3"]["passed"] and gate["degree_ks"]["passed"]
    assert json.loads(res.stdout)["hard_failures"] == 0

    res = run("--fail-under", "tvd_2=0.3")
    assert res.returncode == 2 and "did you mean 'tvd2'" in res.stderr
    res = run("--fail-under", "tstr_gap=0.1")
    assert res.returncode == 2 and "--tstr" in res.stderr


def test_thresholds_parse_and_reject_bad_values():
    assert parse_thresholds(["tvd2=0.3, workload_p90=0.5", "exact_copy=0"]) == {
        "tvd2": 0.3, "workload_p90": 0.5, "exact_copy": 0.0}
    for bad in ("tvd2", "tvd2=x", "tvd2=-1", "nope=1"):
        with pytest.raises(UsageError):
            parse_thresholds([bad])


def test_degree_buckets_and_ks_distance():
    assert buckets(0) == [(0, 0)]
    assert buckets(40) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 7), (8, 15), (16, 31), (32, 40)]
    assert ks_distance({1: 10}, {1: 10}) == 0.0
    assert ks_distance({0: 1, 2: 1}, {0: 2}) == pytest.approx(0.5)
    assert ks_distance({}, {1: 1}) == 1.0 and ks_distance({}, {}) == 0.0


def test_bin_labels_name_each_bin_for_the_report():
    import pandas as pd

    dates = fit_binning("d", "ordered", pd.Series(np.linspace(0, 86400 * 365, 50)), unit="epoch")
    labels = dates.labels()
    assert labels[0].startswith("≤ 1970-") and labels[-1] == "(null)" and len(labels) == dates.n_bins
    words = fit_binning("w", "categorical", pd.Series(["a", "b", "b"], dtype=object))
    assert words.labels() == ("b", "a", "(other)", "(null)")
