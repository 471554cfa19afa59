"""Key repair: unique sets stay unique without touching more than they must."""

import numpy as np
import pytest
import sqlalchemy as sa

from dbsynth.errors import UnsupportedSchema

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


def test_a_short_unique_text_column_with_many_repeats_gets_distinct_values_that_fit():
    # A CHAR(2) country code with 72 generated rows over a handful of values: "~1" … "~9" fit,
    # then every two-character string; this hung (the suffix "~10" cut back to "~1", forever).
    col = Column("code", "VARCHAR(2)", "String", False, length=2)
    values = ["X", "AB", "X", "AB"] * 18 + ["X"] * 200
    out = make_unique(values, col, np.random.default_rng(0))
    assert len(set(out)) == len(out)
    assert all(len(v) <= 2 for v in out)
    assert out[:2] == ["X", "AB"]  # a first occurrence is never changed


def test_many_copies_of_one_value_are_repaired_in_linear_time():
    col = Column("email", "VARCHAR(40)", "String", False, length=40)
    out = make_unique(["a@example.org"] * 50_000, col, np.random.default_rng(0))  # O(n²) tries took minutes
    assert len(set(out)) == 50_000


def test_a_unique_column_too_narrow_for_its_rows_is_an_error_not_a_hang():
    col = Column("flag", "CHAR(1)", "String", False, length=1)
    with pytest.raises(UnsupportedSchema, match="flag"):
        make_unique(["A"] * 100, col, np.random.default_rng(0))  # 36 one-character strings at most
    table = Table("t", (Column("year", "INTEGER", "Integer", False), Column("ok", "BOOLEAN", "Boolean", False)),
                  ("year", "ok"))
    with pytest.raises(UnsupportedSchema, match="ok"):
        make_unique_rows({"year": [1, 1, 1], "ok": [True, True, True]}, ("year", "ok"), table,
                         np.random.default_rng(0))


def test_a_repeated_pair_changes_only_its_last_column_and_keeps_first_occurrences():
    table = _table()
    cols = {"year": [2020] * 30 + [2021], "code": ["ab~1", "ab"] + ["ab"] * 28 + ["ab"]}
    make_unique_rows(cols, ("year", "code"), table, np.random.default_rng(0))
    assert cols["code"][:2] == ["ab~1", "ab"] and cols["code"][-1] == "ab"
    assert len(set(zip(cols["year"], cols["code"]))) == 31


def test_a_run_whose_unique_column_cannot_hold_its_rows_stops_with_exit_6_and_writes_nothing(tmp_path):
    """30 one-letter codes, UNIQUE in a CHAR(1), at --scale 10: the shadow's 300 rows cannot all
    differ in one character of the alphabet the repair uses. One line, exit 6, the target empty."""
    import sqlite3

    from test_bad_input import assert_one_clear_line, dbsynth

    src, tgt = tmp_path / "src.db", tmp_path / "tgt.db"
    with sqlite3.connect(src) as db:
        db.execute("CREATE TABLE code (id INTEGER PRIMARY KEY, letter CHAR(1) NOT NULL UNIQUE, n INTEGER)")
        db.executemany("INSERT INTO code VALUES (?, ?, ?)",
                       [(i, chr(ord("A") + i) if i < 26 else str(i - 26), i % 7) for i in range(30)])
    res = dbsynth("run", f"sqlite:///{src}", f"sqlite:///{tgt}", "--epsilon", "4", "--scale", "10")
    assert_one_clear_line(res, 6, "code.letter", "UNIQUE", "--scale")
    assert not tgt.exists() or not sa.inspect(sa.create_engine(f"sqlite:///{tgt}")).get_table_names()


def test_repeated_integers_take_the_next_free_ones_past_the_largest():
    col = Column("n", "INTEGER", "Integer", False)
    out = make_unique([5, 5, 3, 5, 9, 3], col, np.random.default_rng(0))
    assert (out[0], out[2], out[4]) == (5, 3, 9)  # first occurrences stay
    assert sorted(out) == [3, 5, 9, 10, 11, 12]
    many = make_unique(list(range(0, 100_000, 2)) * 2, col, np.random.default_rng(0))  # dense: one shared walk
    assert len(set(many)) == 100_000 and max(many) == 99_998 + 50_000
