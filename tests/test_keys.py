"""Key repair: unique sets stay unique without touching more than they must."""

import numpy as np

from dbsynth.relational.keys import make_unique, make_unique_rows
from dbsynth.relational.link import assign_parents, assign_self_parents
from dbsynth.schema import Column, Table


def _table():
    cols = (Column("year", "INTEGER", "Integer", False), Column("code", "VARCHAR(4)", "String", False, length=4))
    return Table("t", cols, ("year", "code"))


def test_composite_unique_changes_only_the_last_column():
    table = _table()
    cols = {"year": [2020, 2020, 2020, 2021], "code": ["ab", "ab", "ab", "ab"]}
    make_unique_rows(cols, ("year", "code"), table, np.random.default_rng(0))
    assert cols["year"] == [2020, 2020, 2020, 2021]
    assert len(set(zip(cols["year"], cols["code"]))) == 4
    assert all(len(c) <= 4 for c in cols["code"])


def test_single_unique_column_keeps_nulls():
    col = Column("email", "VARCHAR(10)", "String", True, length=10)
    out = make_unique(["a", "a", None, None, "b"], col, np.random.default_rng(0))
    assert out[2] is None and out[3] is None
    assert len({v for v in out if v is not None}) == 3


def test_every_child_gets_a_parent_and_degrees_follow_the_histogram():
    rng = np.random.default_rng(1)
    probs = np.array([0.5, 0.0, 0.0, 0.5])  # half the parents childless, half with three
    idx = assign_parents(3000, 2000, probs, rng)
    assert idx.min() >= 0 and idx.max() < 2000
    degrees = np.bincount(idx, minlength=2000)
    assert abs((degrees == 0).mean() - 0.5) < 0.05
    assert abs((degrees == 3).mean() - 0.5) < 0.05


def test_self_references_are_acyclic():
    rng = np.random.default_rng(2)
    linked = rng.random(500) < 0.8
    parent = assign_self_parents(linked, np.full(4, 0.25), rng, nullable=True)
    for start in range(500):
        seen, node = set(), start
        while parent[node] >= 0:
            assert node not in seen
            seen.add(node)
            node = parent[node]
    assert ((parent >= 0) == linked).mean() > 0.99  # only the first row in the order loses its link
