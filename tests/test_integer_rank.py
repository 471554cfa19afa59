"""The bounding ranks a table with one integer key by a keyed cubic modulo 2^31 - 1
(`units.integer_rank`): every engine computes the value Python computes, on keys at the edges of
BIGINT, and the rank is mixed well enough that a capped parent keeps each of its children with the
same chance whatever its position among consecutive ids."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from scipy import stats

from dbsynth.connect import source_engine
from dbsynth.dialects import dialect_for
from dbsynth.measure.bounding import BoundedRows
from dbsynth.plan import make_spec
from dbsynth.privacy.units import MODULUS, Units, integer_key, integer_rank
from dbsynth.schema.introspect import introspect

SECRET = bytes(range(32))
KEYS = [0, 1, -1, 7, MODULUS - 1, MODULUS, MODULUS + 1, 2**32, -(2**31), 2**40 + 3, 2**62 + 5, 2**63 - 1,
        -(2**63), -(2**63) + 1, 123456789012345]


def _database(engine_name: str, new_pg_db, new_maria_db, new_sqlite_path, tmp_path) -> str:
    return {"postgresql": new_pg_db, "mariadb": new_maria_db, "sqlite": new_sqlite_path,
            "duckdb": lambda: f"duckdb:///{tmp_path / 'rank.duckdb'}"}[engine_name]()


def _ranks_in_sql(url: str, type_: str, keys: list[int]) -> dict[int, int]:
    """A table keyed by `keys` (a column of `type_`) in the database at `url`, and the rank the
    bounding's SQL computes for each key there."""
    writer = sa.create_engine(url)
    with writer.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE item (id {type_} NOT NULL PRIMARY KEY, note VARCHAR(10))")
        for k in keys:
            conn.exec_driver_sql(f"INSERT INTO item (id, note) VALUES ({k}, 'x')")
    writer.dispose()
    engine = source_engine(url)
    schema = introspect(engine)
    assert integer_key(schema.tables["item"]) == "id"
    bounded = BoundedRows(schema, Units.from_spec(schema, make_spec(schema)), dialect_for(engine), SECRET)
    t = bounded.table("item")
    with engine.connect() as conn:
        got = dict(conn.execute(sa.select(t.c.id, bounded._integer_rank(t.c.id))).fetchall())
    engine.dispose()
    return {int(k): int(v) for k, v in got.items()}


@pytest.mark.parametrize("engine_name", ["postgresql", "mariadb", "sqlite", "duckdb"])
def test_every_engine_ranks_integer_keys_as_python_does(engine_name, new_pg_db, new_maria_db, new_sqlite_path,
                                                        tmp_path):
    url = _database(engine_name, new_pg_db, new_maria_db, new_sqlite_path, tmp_path)
    want = dict(zip(KEYS, integer_rank(KEYS, SECRET).tolist()))
    assert _ranks_in_sql(url, "BIGINT", KEYS) == want
    assert all(0 <= v < MODULUS for v in want.values())


def test_a_capped_parent_keeps_every_position_among_consecutive_ids_alike():
    # 4,000 parents of 10 children with consecutive ids, cap 3: each position should be kept 30 %
    # of the time. A linear map (a·id + b mod P) keeps positions by a fixed pattern for every
    # parent; the cubic must not.
    children, cap, parents = 10, 3, 4000
    kept = np.zeros(children)
    for secret in (SECRET, bytes(32), b"another run's secret"):
        ranks = integer_rank(range(parents * children), secret).reshape(parents, children)
        order = np.argsort(np.argsort(ranks, axis=1, kind="stable"), axis=1, kind="stable")
        kept += (order < cap).sum(axis=0)
    share = kept / (3 * parents)
    assert np.all(np.abs(share - cap / children) < 0.02), share
    assert stats.chisquare(kept).pvalue > 1e-4


def test_the_rank_changes_with_the_secret_and_needs_an_integer_key():
    a, b = integer_rank(range(1000), SECRET), integer_rank(range(1000), bytes(32))
    assert stats.spearmanr(a, b).statistic < 0.1
    assert len(set(a.tolist())) > 990


@pytest.mark.parametrize("engine_name, type_", [("mariadb", "BIGINT UNSIGNED"), ("duckdb", "UBIGINT")])
def test_unsigned_keys_past_the_signed_range_rank_as_python_does(engine_name, type_, new_pg_db, new_maria_db,
                                                                 new_sqlite_path, tmp_path):
    keys = [0, 5, MODULUS, 2**63 - 1, 2**63, 2**63 + 12345, 2**64 - 1]
    url = _database(engine_name, new_pg_db, new_maria_db, new_sqlite_path, tmp_path)
    assert _ranks_in_sql(url, type_, keys) == dict(zip(keys, integer_rank(keys, SECRET).tolist()))
