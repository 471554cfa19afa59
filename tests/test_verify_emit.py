"""`dbsynth verify --emit-sql`: the hard checks as a plain .sql file that runs unchanged in the real
psql and mysql clients, reports 0 violations on a sound target, and the same non-zero counts as
`verify` itself on a broken one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dbsynth.connect import engine_kind
from dbsynth.verify import emit_sql, verify
from dbsynth.verify.structure import expected_metadata
from tests.test_verify_checks import BREAKS, chinook_plus_maria, chinook_plus_pg, copy_of  # noqa: F401 (fixtures)


def run_psql(pg_server, database: str, path: Path) -> list[list[str]]:
    res = subprocess.run(
        [str(pg_server.bindir / "psql"), "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1",
         "-h", str(pg_server.root), "-p", str(pg_server.port), "-U", pg_server.user, "-d", database, "-f", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
    return [line.split("|") for line in res.stdout.splitlines() if line.strip()]


def run_mysql(maria_server, database: str, path: Path) -> list[list[str]]:
    client = shutil.which("mysql") or shutil.which("mariadb")
    assert client, "the mysql client is not installed"
    res = subprocess.run(
        [client, "--no-defaults", f"--socket={maria_server.socket}", "--user=root", "--batch", "--skip-column-names",
         "--default-character-set=utf8mb4", database],
        input=path.read_text(encoding="utf-8"), capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
    return [line.split("\t") for line in res.stdout.splitlines() if line.strip()]


def violations(rows: list[list[str]]) -> dict[tuple[str, str], int]:
    """{(check, subject): violations}, each row being check | table | subject | violations."""
    assert all(len(r) == 4 for r in rows), rows
    return {(r[0], r[2]): int(r[3]) for r in rows}


def test_emitted_file_runs_in_psql_with_zero_violations_then_counts_each_break(
    copy_of, pg_server, chinook_plus_pg, tmp_path  # noqa: F811
):
    t = copy_of("pg", target_epsilon=2.0)
    path = tmp_path / "verify_pg.sql"
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "verify", chinook_plus_pg, str(t.engine.url.render_as_string(hide_password=False)),
                          "--emit-sql", str(path), "--epsilon", "2"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    text = path.read_text(encoding="utf-8")
    assert any(line.startswith("--   psql -X") for line in text.splitlines()[:10])
    assert ":labels" not in text and "${" not in text
    database = make_url(t.engine.url).database
    counts = violations(run_psql(pg_server, database, path))
    assert len(counts) == text.count("\n-- [") > 30
    assert set(counts.values()) == {0}, {k: v for k, v in counts.items() if v}
    checks = {c for c, _ in counts}
    assert checks == {"orphan_fk", "duplicate_key", "not_null", "check_constraint", "enum", "sequence", "ledger"}

    for case in ("orphan", "enum_label", "changed_check", "ledger_over_epsilon", "sequence"):  # sequence last: it breaks INSERTs
        t.run_sql(BREAKS[case]["pg"])
    broken = {k: v for k, v in violations(run_psql(pg_server, database, path)).items() if v}
    assert broken == {
        ("orphan_fk", "invoice_line(track_id) -> track(track_id) [invoice_line_track_id_fkey]"): 1,
        ("enum", "track_review.mood in ['calm', 'upbeat', 'dark']"): 200,
        ("sequence", "identity sequence of track_review.review_id past max key"): 1,
        ("ledger", "_dbsynth_ledger present, epsilon <= 2.0"): 1,
        ("check_constraint", "CHECK track_review_stars_range on track_review"): 1,
    }
    # The same queries inside `verify` give the same counts.
    report = verify(t.source, t.engine, t.schema, fidelity=False, epsilon=2.0)
    runtime = {(f.check, f.count) for f in report.findings if f.check != "schema_diff"}
    assert runtime == {(check, n) for (check, _), n in broken.items()}


def test_emitted_file_runs_in_mysql_with_zero_violations_then_counts_each_break(
    copy_of, maria_server, tmp_path  # noqa: F811
):
    t = copy_of("maria", target_epsilon=2.0)
    assert engine_kind(t.engine) == "mysql"
    path = tmp_path / "verify_maria.sql"
    path.write_text(emit_sql(t.schema, expected_metadata(t.schema, "mysql"), t.engine.dialect,
                             source="mariadb://chinook", filename=path.name), encoding="utf-8")
    database = make_url(t.engine.url).database
    counts = violations(run_mysql(maria_server, database, path))
    assert len(counts) == path.read_text().count("\n-- [")
    assert set(counts.values()) == {0}, {k: v for k, v in counts.items() if v}
    assert {c for c, _ in counts} >= {"orphan_fk", "duplicate_key", "not_null", "check_constraint", "enum", "sequence"}

    for case in ("orphan", "enum_label", "changed_check", "sequence"):
        t.run_sql(BREAKS[case]["maria"])
    broken = {k[0]: v for k, v in violations(run_mysql(maria_server, database, path)).items() if v}
    assert broken == {"orphan_fk": 1, "enum": 200, "sequence": 1, "check_constraint": 1}


@pytest.mark.parametrize("kind", ["postgresql", "mysql", "sqlite"])
def test_emitted_sql_quotes_labels_for_each_dialect(kind):
    """Labels are schema data: a quote or a backslash in one must not end the string early."""
    import sqlalchemy as sa

    from dbsynth.verify.queries import enum_membership
    from dbsynth.verify.templates import Quoter

    dialect = sa.create_engine({"postgresql": "postgresql+psycopg://", "mysql": "mysql+pymysql://",
                                "sqlite": "sqlite://"}[kind]).dialect
    check = enum_membership(Quoter(dialect), kind, "t", "c", ("it's", "back\\slash"))
    assert "'it''s'" in check.sql
    assert ("'back\\\\slash'" if kind == "mysql" else "'back\\slash'") in check.sql
