"""The pgd linker carries cross-table statistics that the degree linker loses (issue 4, done-when).

A generated shop: a customer's segment decides how many orders she has and what they are; her
region decides the channel. Both linkers run the whole pipeline at the same ε; the 3-way
marginals over the customer ⋈ order join are compared with the source's.
"""

from __future__ import annotations

import itertools
import sqlite3

import numpy as np
import pandas as pd
import pytest

from dbsynth.pipeline import RunOptions, run

SEGMENTS = ["basic", "plus", "premium"]
REGIONS = ["north", "south", "east", "west"]
CATEGORIES = ["books", "toys", "garden", "tech"]
CHANNELS = ["web", "shop", "phone"]
DDL = f"""
CREATE TABLE customer (id INTEGER PRIMARY KEY, email VARCHAR(60) NOT NULL,
  segment VARCHAR(10) NOT NULL CHECK (segment IN ({", ".join(f"'{s}'" for s in SEGMENTS)})),
  region VARCHAR(10) NOT NULL CHECK (region IN ({", ".join(f"'{s}'" for s in REGIONS)})));
CREATE TABLE purchase (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customer(id),
  category VARCHAR(10) NOT NULL CHECK (category IN ({", ".join(f"'{s}'" for s in CATEGORIES)})),
  channel VARCHAR(10) NOT NULL CHECK (channel IN ({", ".join(f"'{s}'" for s in CHANNELS)})));
"""


def build(path, n_customers: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    segment = rng.choice(3, n_customers, p=[0.5, 0.3, 0.2])
    region = rng.integers(0, 4, n_customers)
    # Degree by segment (never above the default cap of 8): basic 0-2, plus 2-5, premium 5-8.
    low, high = np.array([0, 2, 5])[segment], np.array([2, 5, 8])[segment]
    degree = rng.integers(low, high + 1)
    owner = np.repeat(np.arange(n_customers), degree)
    favourite = np.array([[0.8, 0.1, 0.05, 0.05], [0.1, 0.8, 0.05, 0.05], [0.05, 0.05, 0.2, 0.7]])
    category = (rng.random(len(owner))[:, None] > np.cumsum(favourite[segment[owner]], axis=1)).sum(axis=1)
    channel = np.where(rng.random(len(owner)) < 0.85, region[owner] % 3, rng.integers(0, 3, len(owner)))
    con = sqlite3.connect(path)
    con.executescript(DDL)
    con.executemany("INSERT INTO customer VALUES (?,?,?,?)",
                    [(i + 1, f"c{i}@example.org", SEGMENTS[s], REGIONS[r])
                     for i, (s, r) in enumerate(zip(segment, region))])
    con.executemany("INSERT INTO purchase VALUES (?,?,?,?)",
                    [(i + 1, int(o) + 1, CATEGORIES[c], CHANNELS[h])
                     for i, (o, c, h) in enumerate(zip(owner, category, channel))])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def joined(dsn: str) -> tuple[pd.DataFrame, np.ndarray]:
    path = dsn.removeprefix("sqlite:///")
    con = sqlite3.connect(path)
    join = pd.read_sql("SELECT c.segment, c.region, p.category, p.channel FROM purchase p "
                       "JOIN customer c ON c.id = p.customer_id", con)
    degree = pd.read_sql("SELECT COUNT(p.id) AS d FROM customer c LEFT JOIN purchase p ON p.customer_id = c.id "
                         "GROUP BY c.id", con)["d"].to_numpy()
    con.close()
    return join, degree


def tvd3(real: pd.DataFrame, synth: pd.DataFrame) -> float:
    """Mean TVD over every 3-way marginal that spans both tables."""
    out = []
    for cols in itertools.combinations(["segment", "region", "category", "channel"], 3):
        p = real.groupby(list(cols)).size() / len(real)
        q = synth.groupby(list(cols)).size() / len(synth)
        out.append(0.5 * p.sub(q, fill_value=0).abs().sum())
    return float(np.mean(out))


def ks(a: np.ndarray, b: np.ndarray) -> float:
    top = int(max(a.max(), b.max())) + 1
    ca = np.cumsum(np.bincount(a, minlength=top)) / len(a)
    cb = np.cumsum(np.bincount(b, minlength=top)) / len(b)
    return float(np.abs(ca - cb).max())


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> str:
    return build(tmp_path_factory.mktemp("shop") / "shop.db", n_customers=6000)


def synthesise(source: str, tmp_path, link: str, epsilon: float) -> str:
    target = f"sqlite:///{tmp_path / f'{link}.db'}"
    run(RunOptions(source, target, epsilon, 1e-9, seed=11, link=link))
    return target


def test_pgd_halves_the_cross_table_error_of_the_degree_linker_and_keeps_degrees(source, tmp_path):
    real, real_degree = joined(source)
    pgd, pgd_degree = joined(synthesise(source, tmp_path, "pgd", 2.0))
    deg, deg_degree = joined(synthesise(source, tmp_path, "degree", 2.0))
    pgd_tvd, deg_tvd = tvd3(real, pgd), tvd3(real, deg)
    assert pgd_tvd <= 0.5 * deg_tvd, (pgd_tvd, deg_tvd)
    assert ks(real_degree, pgd_degree) <= 0.1
