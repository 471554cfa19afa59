"""Compact synthetic columns (dbsynth.columns): decoded per chunk, the same values however sliced.

The writer reads a table a chunk at a time (`write.rows.chunks`); these tests hold that what it
gets is what a full decode gives, so streaming changes the memory of a run and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest

from dbsynth.columns import (BLOCK, ArrayValues, CodedValues, ConstantValues, LinkedValues, as_list, not_null,
                             select)
from dbsynth.synthetic import SyntheticTable
from dbsynth.write.rows import chunks


def _noisy_decoder(codes: np.ndarray, seed: int) -> list:
    """A decoder that draws from its seed, as bins and Faker do: a wrong seed shows in the values."""
    rng = np.random.default_rng(seed)
    return [None if c == 0 else round(float(c) + rng.random(), 6) for c in codes.tolist()]


def _coded(n: int, seed: int = 3) -> CodedValues:
    codes = np.random.default_rng(0).integers(0, 5, size=n)
    return CodedValues(codes, _noisy_decoder, seed)


@pytest.mark.parametrize("size", [1, 7, BLOCK - 1, BLOCK, 5_000, 12_345])
def test_a_coded_column_gives_the_same_values_in_chunks_of_any_size_as_whole(size):
    column = _coded(3 * BLOCK + 17)
    whole = column[:]
    assert len(whole) == len(column)
    pieces = [v for start in range(0, len(column), size) for v in column[start:start + size]]
    assert pieces == whole
    assert list(column) == whole


def test_a_coded_column_row_and_random_access_agree_with_the_whole():
    column = _coded(2 * BLOCK + 5)
    whole = column[:]
    rows = np.random.default_rng(1).permutation(len(column))[:300]
    assert column.take(rows) == [whole[i] for i in rows]
    assert column[-1] == whole[-1] and column[BLOCK] == whole[BLOCK]
    assert column[::7] == whole[::7]
    with pytest.raises(IndexError):
        column[len(column)]


def test_the_same_seed_decodes_the_same_values_and_another_seed_others():
    assert _coded(1500, seed=3)[:] == _coded(1500, seed=3)[:]
    assert _coded(1500, seed=3)[:] != _coded(1500, seed=4)[:]


def test_codes_are_held_in_the_smallest_integer_type():
    assert _coded(10).codes.dtype == np.int8
    assert CodedValues(np.array([0, 40_000]), _noisy_decoder, 0).codes.dtype == np.int32


def test_a_linked_column_resolves_parent_indices_to_the_parents_keys_with_nulls():
    keys = ArrayValues(np.arange(101, 106))
    fk = LinkedValues(np.array([4, -1, 0, 0, 2]), keys)
    assert fk[:] == [105, None, 101, 101, 103]
    assert fk[1:3] == [None, 101]
    assert not_null(fk).tolist() == [True, False, True, True, True]
    by_string = LinkedValues(np.array([1, 1, -1]), ["a", "b"])
    assert list(by_string) == ["b", "b", None]


def test_selecting_rows_keeps_each_kind_of_column_aligned():
    keep = np.array([True, False, True, True, False])
    assert select(ArrayValues(np.arange(5)), keep)[:] == [0, 2, 3]
    assert select(LinkedValues(np.array([1, 0, -1, 1, 0]), ["x", "y"]), keep)[:] == ["y", None, "y"]
    assert len(select(ConstantValues(None, 5), keep)) == 3
    assert select(["a", "b", "c", "d", "e"], keep) == ["a", "c", "d"]
    coded = select(_coded(5), keep)
    assert len(coded) == 3 and coded[:] == coded[:]


def test_the_writers_chunks_are_the_rows_of_a_full_decode():
    n = 2 * 5_000 + 321
    parents = ArrayValues(np.arange(1, 50))
    data = SyntheticTable("t", {
        "id": ArrayValues(np.arange(1, n + 1)),
        "amount": _coded(n),
        "parent_id": LinkedValues(np.random.default_rng(2).integers(-1, 49, size=n), parents),
        "note": ConstantValues("x", n),
        "plain": [f"v{i}" for i in range(n)],
    })
    names = list(data.columns)
    streamed = [row for chunk in chunks(data, names) for row in chunk]
    whole = list(zip(*(as_list(data.columns[c]) for c in names)))
    assert streamed == whole
    assert all(isinstance(v, int) for v in data.columns["id"][:10])  # drivers get Python values, not numpy's


def test_as_list_gives_a_list_that_may_be_changed_without_touching_the_column():
    column = ArrayValues(np.arange(3))
    values = as_list(column)
    values[0] = 9
    assert column[:] == [0, 1, 2] and values == [9, 1, 2]


def test_a_run_hands_the_writer_compact_columns_not_python_values_per_row(chinook_sqlite, tmp_path, monkeypatch):
    """Structural, not a memory measurement: sampled columns stay codes, integer keys arrays,
    foreign keys parent indices until the writer decodes them per chunk."""
    import dbsynth.write
    from dbsynth.pipeline import RunOptions, run

    seen = {}
    real = dbsynth.write.write_database

    def capture(target, schema, data, **kwargs):
        real(target, schema, data, **kwargs)  # the tables arrive while it writes
        seen.update({name: dict(t.columns) for name, t in data.tables.items()})

    monkeypatch.setattr(dbsynth.write, "write_database", capture)
    run(RunOptions(chinook_sqlite, f"sqlite:///{tmp_path / 'shadow.db'}", 2.0, seed=1))
    track = seen["Track"]
    assert isinstance(track["TrackId"], ArrayValues)
    # Parent row indices in 4 bytes, codes in the narrowest type that holds them.
    assert isinstance(track["AlbumId"], LinkedValues) and track["AlbumId"].parent.dtype == np.int32
    assert isinstance(track["Milliseconds"], CodedValues) and isinstance(track["Name"], CodedValues)
    assert track["Milliseconds"].codes.dtype.itemsize <= 2
    assert isinstance(seen["InvoiceLine"]["InvoiceId"], LinkedValues)


@pytest.mark.parametrize("as_type, x", [
    ("int", [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1e15 + 0.5, 2.0**53 + 2, -7.49999]),
    ("datetime", [0.5, 1.5, -0.5, -1.5, 1.7e9 + 0.5, -62_135_596_800.0, 253_402_300_799.4]),
    ("date", [86_399.9999996, 86_399.4999999, -1e-7, -86_400.0, 0.0, -62_135_596_800.0, 253_402_300_799.0]),
    ("decimal", [0.125, 2.675, -1.005, 1e6 / 3]),
    ("time", [0.0, 3_661.7, 86_399.9]),
])
def test_decoding_by_vector_gives_what_decoding_value_by_value_gives(as_type, x):
    from dbsynth.measure.encoders import from_number, from_numbers

    rng = np.random.default_rng(3)
    values = np.r_[np.asarray(x, dtype=float), rng.uniform(-3e9, 4e9, 5_000) if as_type != "time" else []]
    got, want = from_numbers(values, as_type, 2), [from_number(v, as_type, 2) for v in values.tolist()]
    assert got == want and [type(v) for v in got] == [type(v) for v in want]


def test_made_up_values_decode_the_same_while_another_thread_decodes_too():
    """The writer decodes while the sampler, in its own thread, may decode other blocks of the
    same run (a unique set, a parent's keys): a block must come out the same either way."""
    import threading

    from dbsynth.sample import ValueFactory, block_decoder
    from dbsynth.schema import Column
    from dbsynth.spec import ColumnSpec

    col = Column(name="email", type="VARCHAR(80)", generic="string", nullable=False, length=80)
    values = ValueFactory(11)
    decode = block_decoder(col, ColumnSpec(kind="pii", faker="email"), None, values)
    emails = CodedValues(np.zeros(6 * BLOCK, dtype=np.int8), decode, 5)
    alone = emails[:]
    other = CodedValues(np.zeros(6 * BLOCK, dtype=np.int8), decode, 6)
    busy = threading.Thread(target=lambda: [other[:] for _ in range(3)])
    busy.start()
    together = [v for start in range(0, len(emails), BLOCK) for v in emails[start:start + BLOCK]]
    busy.join()
    assert together == alone
