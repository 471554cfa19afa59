"""Children per public parent (issue 15): an edge into a public table is released parent by
parent, so each country keeps about its own number of customers, the largest stays the largest,
and the degree distribution has no bucket widths to lose. On real PostgreSQL and SQLite.
"""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from scipy.stats import spearmanr

import shop
from dbsynth.pipeline import RunOptions, run
from dbsynth.schema.introspect import introspect
from dbsynth.verify.stage import VerifyOptions, verify

EDGE = "customer(country_id)->country"
DDL = [
    "CREATE TABLE country (id INTEGER PRIMARY KEY, code VARCHAR(3) NOT NULL UNIQUE)",
    """CREATE TABLE customer (id INTEGER PRIMARY KEY, email VARCHAR(80) NOT NULL,
        segment VARCHAR(10) NOT NULL, country_id INTEGER NOT NULL REFERENCES country(id))""",
]


def _build(dsn: str, customers: int = 8000, countries: int = 40, seed: int = 3) -> np.ndarray:
    """Customers spread over countries by a Zipf law (1,900 in the first, 48 in the 40th, and
    ten countries with none): returns the real customers per country id 1..countries."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, countries + 1)
    weights[-10:] = 0.0  # lookup rows nobody uses
    country = rng.choice(countries, size=customers, p=weights / weights.sum()) + 1
    shop.load(dsn, DDL, {
        "country": [{"id": i + 1, "code": f"C{i:02d}"} for i in range(countries)],
        "customer": [{"id": i + 1, "email": f"c{i}@example.org", "segment": str(rng.choice(["retail", "pro"])),
                      "country_id": int(c)} for i, c in enumerate(country)]})
    return np.bincount(country, minlength=countries + 1)[1:]


def _per_country(dsn: str, countries: int) -> np.ndarray:
    engine = sa.create_engine(dsn)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT country_id, COUNT(*) FROM customer GROUP BY country_id")).all()
    engine.dispose()
    out = np.zeros(countries, dtype=int)
    for c, n in rows:
        out[int(c) - 1] = int(n)
    return out


@pytest.mark.parametrize("engine_name, linker", [("pg", "pgd"), ("sqlite", "pgd"), ("sqlite", "degree")])
def test_a_public_parent_keeps_its_own_children(engine_name, linker, request, tmp_path):
    if engine_name == "pg":
        source = request.getfixturevalue("pg_server").create_database("public_parents")
    else:
        source = f"sqlite:///{tmp_path / 'source.db'}"
    real = _build(source)
    target = f"sqlite:///{tmp_path / 'shadow.db'}"
    result = run(RunOptions(source, target, 4.0, seed=0, public=("country",), link=linker))

    charged = {c["what"] for c in result.ledger["charges"]}
    assert f"children per country row of {EDGE}" in charged
    assert f"degree histogram of {EDGE}" not in charged, "the edge is released parent by parent, not binned"
    assert f"cap of {EDGE}" not in charged, "an edge into a public table needs no cap"
    assert EDGE not in result.ledger["caps_from_data"]

    shadow = _per_country(target, len(real))
    assert shadow.sum() == result.rows["customer"]
    scaled = real * shadow.sum() / real.sum()
    # Which country is which is kept: the histogram of degrees alone would scatter them.
    assert spearmanr(real[real > 0], shadow[real > 0]).statistic > 0.9, (real, shadow)
    assert int(np.argmax(shadow)) == int(np.argmax(real))
    assert abs(shadow[0] / scaled[0] - 1) < 0.1, (shadow[0], scaled[0])
    assert (shadow[real == 0] <= 0.01 * shadow.sum()).all(), "countries nobody lives in stay (nearly) empty"

    src, tgt = sa.create_engine(source), sa.create_engine(target)
    report = verify(src, tgt, introspect(src), options=VerifyOptions(workload_queries=0, privacy=False))
    assert not report.hard_findings(), report.hard_findings()
    degrees = {d.foreign_key: d for d in report.degrees}
    assert degrees[EDGE].ks <= 0.15, degrees[EDGE]  # 40 parents, σ ≈ 6: 0.05 typical, 0.1 at the 99th percentile
