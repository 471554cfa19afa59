"""MySQL/MariaDB types, bit and boolean variants, dates and time zones (issue 14): every column
looks like the real one, against real servers at ε = 4 on 3,000 rows (6,000 for the dates).

- UNSIGNED integers (TINYINT, SMALLINT, MEDIUMINT, BIGINT up to 2^64 - 1) reach their real range
  and never go below 0; a signed TINYINT stays inside -128..127;
- BIT(1), TINYINT(1) and BOOLEAN are flags written as 0/1, BIT(n) a number 0..2^n - 1, and
  PostgreSQL's bit(1) a flag, its bit(n) a number, both written as valid bits;
- YEAR keeps the real frequent years, inside 1901-2155;
- ENUM and SET keep their values, NULLs and the empty set;
- TIMESTAMP stays inside 1970-01-01 00:00:01 .. 2038-01-19 03:14:07 UTC with real rows at both
  edges; timestamptz and TIMESTAMP keep their instants when the source and the target sessions
  run in different time zones; a DATE stays a date, whole seconds stay whole, a constant stays.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from dbsynth.connect import source_engine
from dbsynth.measure.encoders import BinEncoder
from dbsynth.pipeline import RunOptions, run
from dbsynth.plan import make_spec
from dbsynth.schema.introspect import introspect
from dbsynth.verify.realism import column_realism, ks_distance

ROWS = 3000
TIMED_ROWS = 6000  # 50 a day over 120 days: at ε = 4 each end of the span is known to a few days
YEARS = (1999, 2021, 2022)
TS_FIRST, TS_LAST = dt.datetime(1970, 1, 1, 0, 0, 1), dt.datetime(2038, 1, 19, 3, 14, 7)
AUDIT = dt.datetime(2023, 5, 4, 3, 2, 1)  # an instant every row shares
START, DAYS = dt.datetime(2024, 3, 1), 120


def _tvd(a: pd.Series, b: pd.Series) -> float:
    pa = a.astype(object).where(a.notna(), "<NULL>").value_counts(normalize=True)
    pb = b.astype(object).where(b.notna(), "<NULL>").value_counts(normalize=True)
    return 0.5 * float(pa.subtract(pb, fill_value=0).abs().sum())


def _ks(a: pd.Series, b: pd.Series) -> float:
    return ks_distance(a.dropna().astype(float).to_numpy(), b.dropna().astype(float).to_numpy())


def _in_zone(dsn: str, zone: str, kind: str) -> str:
    """The DSN with every session in `zone`: how a user's DSN or server may differ."""
    if kind == "mysql":
        return dsn + "?init_command=" + quote(f"SET time_zone = '{zone}'", safe="")
    return dsn + "?options=" + quote(f"-c timezone={zone}", safe="")


def _frame(dsn: str, table: str) -> pd.DataFrame:
    """The rows as a UTC session sees them, values as the driver gives them (BIT as bytes)."""
    engine = sa.create_engine(dsn)
    with engine.connect() as conn:
        utc = "SET time_zone = '+00:00'" if engine.dialect.name != "postgresql" else "SET TIME ZONE 'UTC'"
        conn.execute(sa.text(utc))
        rows = conn.execute(sa.text(f"SELECT * FROM {table}"))
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(rows.keys()), dtype=object)
    engine.dispose()
    return frame


def _bits(series: pd.Series) -> pd.Series:
    return series.map(lambda v: None if v is None else int.from_bytes(v, "big") if isinstance(v, bytes) else int(v))


def _utc(series: pd.Series) -> pd.Series:
    def naive(v):
        if v is None:
            return None
        v = v.to_pydatetime() if isinstance(v, pd.Timestamp) else v
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v.tzinfo else v
    return series.map(naive)


def _same_span(real: pd.Series, syn: pd.Series) -> None:
    """The synthetic values span the real ones: their 1% and 99% quantiles within 10 days of the
    real min and max, 95% of them inside the real range (a day either side), 99% inside its
    months: at ε = 4 the ends of a spread column are known to a few days, not to the second."""
    real, syn = real.dropna(), syn.dropna()
    day, month = dt.timedelta(days=1), dt.timedelta(days=31)
    lo, hi = real.min(), real.max()
    assert syn.between(lo - day, hi + day).mean() >= 0.95, (syn.min(), syn.max())
    assert syn.between(lo - month, hi + month).mean() >= 0.99, (syn.min(), syn.max())
    ends = syn.sort_values().iloc[[len(syn) // 100, -(len(syn) // 100)]]
    assert abs(ends.iloc[0] - lo) <= 10 * day and abs(ends.iloc[1] - hi) <= 10 * day, (ends, lo, hi)


def _seconds(series: pd.Series) -> pd.Series:
    return series.dropna().map(lambda v: (v - dt.datetime(1970, 1, 1)).total_seconds())


# -- MariaDB: numbers and flags ----------------------------------------------------------------------

MARIA_NUMBERS = """
CREATE TABLE item (
  id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT,
  qty SMALLINT UNSIGNED NOT NULL, med MEDIUMINT UNSIGNED NOT NULL, big BIGINT UNSIGNED, small TINYINT NOT NULL
) ENGINE=InnoDB;
CREATE TABLE sale (id INT PRIMARY KEY, price DECIMAL(8,2) UNSIGNED NOT NULL, made YEAR) ENGINE=InnoDB;
CREATE TABLE flags (
  id INT PRIMARY KEY, b BIT(1) NOT NULL, bits BIT(8), active TINYINT(1) NOT NULL, isnew BOOLEAN,
  colors SET('red','green','blue'), size ENUM('S','M','L','XL')
) ENGINE=InnoDB;
"""


def _numbers(rng: np.random.Generator) -> list[dict]:
    return [{"qty": int(rng.integers(0, 60001)), "med": int(rng.integers(0, 2**24)),
             "big": None if rng.random() < 0.1 else int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2)),
             "small": int(rng.integers(-128, 128))} for _ in range(ROWS)]


def _sales(rng: np.random.Generator) -> list[dict]:
    return [{"id": i + 1, "price": float(rng.choice([4.5, 9.99, 19.99])),
             "made": None if rng.random() < 0.05 else int(rng.choice(YEARS, p=[0.2, 0.5, 0.3]))} for i in range(ROWS)]


def _flags(rng: np.random.Generator) -> list[dict]:
    members = ["red", "green", "blue"]
    return [{"id": i + 1, "b": int(rng.random() < 0.3), "bits": None if rng.random() < 0.2 else int(rng.choice([0, 5, 255])),
             "active": int(rng.random() < 0.8), "isnew": None if rng.random() < 0.15 else int(rng.random() < 0.5),
             "colors": None if rng.random() < 0.1 else ",".join(m for m in members if rng.random() < 0.4),
             "size": None if rng.random() < 0.1 else str(rng.choice(["S", "M", "L", "XL"]))} for i in range(ROWS)]


@pytest.fixture(scope="module")
def maria_numbers(maria_server):
    source, target = maria_server.create_database("mt_numbers_src"), maria_server.create_database("mt_numbers_dst")
    maria_server.sql(MARIA_NUMBERS, "mt_numbers_src")
    rng = np.random.default_rng(7)
    engine = sa.create_engine(source)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO item (qty, med, big, small) VALUES (:qty, :med, :big, :small)"), _numbers(rng))
        conn.execute(sa.text("INSERT INTO sale VALUES (:id, :price, :made)"), _sales(rng))
        conn.execute(sa.text("INSERT INTO flags VALUES (:id, :b, :bits, :active, :isnew, :colors, :size)"), _flags(rng))
    engine.dispose()
    run(RunOptions(source, target, 4.0, 1e-9, seed=1))
    spec = make_spec(introspect(source_engine(source)))
    return spec, {t: (_frame(source, t), _frame(target, t)) for t in ("item", "sale", "flags")}


def test_unsigned_integers_reach_their_real_range_and_never_go_below_zero(maria_numbers):
    _, frames = maria_numbers
    real, syn = frames["item"]
    for column, top in (("qty", 2**16 - 1), ("med", 2**24 - 1), ("big", 2**64 - 1)):
        values = syn[column].dropna()
        assert values.map(lambda v: 0 <= v <= top).all(), column
        # the real top, not the signed type's half of it (SMALLINT UNSIGNED once stopped at 32765)
        assert values.max() > 0.8 * real[column].dropna().max(), column
        # uniform over the whole range is the hardest shape for DP bins (0.02-0.16 over 20 runs;
        # up to 0.37 before the fine grid followed the coarse mass); bounded as signed, SMALLINT
        # UNSIGNED gave 0.45 and BIGINT UNSIGNED 0.6
        assert _ks(real[column], syn[column]) < 0.25, column
    assert syn["small"].map(lambda v: -128 <= v <= 127).all() and _ks(real["small"], syn["small"]) < 0.15
    assert (frames["sale"][1]["price"].astype(float) >= 0).all()


def test_bigint_unsigned_ends_and_frequent_values_stay_exact():
    """Above 2^53 a double is not an integer's value: 2^64 - 1 as a double is 2^64, one past the
    type. Bounds and frequent values are kept as exact ints."""
    top = 2**64 - 1
    enc = BinEncoder([0.0, 1e19, float(top)], False, "int", lower=0, upper=top, points=[top, 12345678901234567891])
    values = enc.decode(np.array([1, 1, 2, 3] * 50), np.random.default_rng(0))
    assert all(isinstance(v, int) and 0 <= v <= top for v in values)
    assert {top, 12345678901234567891} <= set(values)


def test_flags_reach_a_smallint_as_numbers_and_a_postgres_bit_as_its_digits():
    """A TINYINT(1) modelled as a flag is cloned as SMALLINT on another engine, where COPY would
    get 't'; a PostgreSQL bit(n) takes its digits, never True."""
    from sqlalchemy.dialects import postgresql

    from dbsynth.write.rows import value_adapters

    table = sa.Table("t", sa.MetaData(), sa.Column("flag", sa.SmallInteger), sa.Column("b", postgresql.BIT(1)),
                     sa.Column("mask", postgresql.BIT(8)))
    flag, b, mask = value_adapters(table, ["flag", "b", "mask"])
    assert (flag(True), flag(False), flag(7)) == (1, 0, 7)
    assert (b(True), b(False), mask(170), mask("00000001")) == ("1", "0", "10101010", "00000001")


def test_year_keeps_the_real_years_inside_its_type(maria_numbers):
    spec, frames = maria_numbers
    real, syn = frames["sale"]
    made = spec.tables["sale"].columns["made"]
    assert made.kind == "numeric" and made.domain == "dp" and "1901-2155" in made.note
    years = syn["made"].dropna()
    assert years.between(1901, 2155).all()
    assert years.isin(YEARS).mean() >= 0.95
    assert _tvd(real["made"], syn["made"]) < 0.05


def test_bit_and_boolean_columns_come_out_as_flags(maria_numbers):
    spec, frames = maria_numbers
    real, syn = frames["flags"]
    kinds = {c: spec.tables["flags"].columns[c].kind for c in ("b", "bits", "active", "isnew")}
    assert kinds == {"b": "boolean", "bits": "numeric", "active": "boolean", "isnew": "boolean"}
    b, bits = _bits(syn["b"]), _bits(syn["bits"])
    assert set(b) <= {0, 1} and _tvd(_bits(real["b"]), b) < 0.05
    assert bits.dropna().between(0, 255).all() and _tvd(_bits(real["bits"]), bits) < 0.1
    assert set(syn["active"]) <= {0, 1} and _tvd(real["active"], syn["active"]) < 0.05
    assert set(syn["isnew"].dropna()) <= {0, 1} and _tvd(real["isnew"], syn["isnew"]) < 0.05


def test_enum_and_set_keep_their_values_nulls_and_the_empty_set(maria_numbers):
    spec, frames = maria_numbers
    real, syn = frames["flags"]
    assert spec.tables["flags"].columns["size"].values == ["S", "M", "L", "XL"]
    assert "" in spec.tables["flags"].columns["colors"].values
    for column in ("colors", "size"):
        assert set(syn[column].dropna()) <= set(spec.tables["flags"].columns[column].values)
        assert _tvd(real[column], syn[column]) < 0.05, column
    assert syn["colors"].isna().mean() > 0.05 and (syn["colors"] == "").mean() > 0.1


# -- MariaDB: TIMESTAMP, dates and time zones -------------------------------------------------------

MARIA_TIMES = """
CREATE TABLE event (
  id INT PRIMARY KEY, edge TIMESTAMP NULL, at TIMESTAMP NULL, audit TIMESTAMP NULL,
  day DATE NOT NULL, whole DATETIME(6) NOT NULL, last_update DATETIME NOT NULL
) ENGINE=InnoDB;
"""


def _times(rng: np.random.Generator) -> list[dict]:
    out = []
    for i in range(TIMED_ROWS):
        u = rng.random()
        # real rows at both ends of TIMESTAMP's range, the rest within days of them
        edge = (TS_FIRST if u < 0.25 else TS_LAST if u < 0.5
                else TS_FIRST + dt.timedelta(seconds=int(rng.integers(0, 5 * 86400))) if u < 0.75
                else TS_LAST - dt.timedelta(seconds=int(rng.integers(0, 5 * 86400))))
        at = START + dt.timedelta(seconds=int(rng.integers(0, DAYS * 86400)))
        out.append({"id": i + 1, "edge": edge, "at": at, "audit": AUDIT,
                    "day": (START + dt.timedelta(days=int(rng.integers(0, DAYS)))).date(),
                    "whole": START + dt.timedelta(seconds=int(rng.integers(0, DAYS * 86400))),
                    "last_update": AUDIT})
    return out


@pytest.fixture(scope="module")
def maria_times(maria_server):
    """Source sessions at +05:00, target sessions at -07:00 (rows inserted in UTC)."""
    source, target = maria_server.create_database("mt_times_src"), maria_server.create_database("mt_times_dst")
    maria_server.sql(MARIA_TIMES, "mt_times_src")
    engine = sa.create_engine(source)
    with engine.begin() as conn:
        conn.execute(sa.text("SET time_zone = '+00:00'"))
        conn.execute(sa.text("INSERT INTO event VALUES (:id, :edge, :at, :audit, :day, :whole, :last_update)"),
                     _times(np.random.default_rng(11)))
    engine.dispose()
    run(RunOptions(_in_zone(source, "+05:00", "mysql"), _in_zone(target, "-07:00", "mysql"), 4.0, 1e-9, seed=1))
    return _frame(source, "event"), _frame(target, "event")


def test_timestamp_stays_inside_1970_to_2038_with_real_rows_at_both_edges(maria_times):
    real, syn = maria_times
    edge = syn["edge"].dropna()
    assert len(edge) > 0.9 * TIMED_ROWS
    assert edge.between(TS_FIRST, TS_LAST).all(), (edge.min(), edge.max())
    # both ends are released as frequent values: the real instants, not one second off
    assert (edge == TS_FIRST).mean() > 0.15 and (edge == TS_LAST).mean() > 0.15


def test_mariadb_timestamps_keep_their_instants_across_time_zones(maria_times):
    real, syn = maria_times
    assert (syn["audit"] == AUDIT).mean() >= 0.95  # a 12-hour shift would miss every row
    _same_span(real["at"], syn["at"])
    assert _ks(_seconds(real["at"]), _seconds(syn["at"])) < 0.1


def test_dates_stay_dates_whole_seconds_stay_whole_and_a_constant_stays_constant(maria_times):
    real, syn = maria_times
    assert all(type(v) is dt.date for v in syn["day"])
    _same_span(real["day"].map(lambda d: dt.datetime(d.year, d.month, d.day)),
               syn["day"].map(lambda d: dt.datetime(d.year, d.month, d.day)))
    assert all(v.microsecond == 0 for v in syn["whole"])  # DATETIME(6), real values whole seconds
    assert _ks(_seconds(real["whole"]), _seconds(syn["whole"])) < 0.1
    assert (syn["last_update"] == AUDIT).mean() >= 0.95


# -- PostgreSQL: timestamptz across time zones, bit(1) ----------------------------------------------

PG_EVENTS = """
CREATE TABLE event (id int PRIMARY KEY, at timestamptz NOT NULL, audit timestamptz NOT NULL,
                    flag bit(1) NOT NULL, mask bit(8) NOT NULL, wide bit(80) NOT NULL);
"""
MASKS = ("00000101", "11111111", "00010000")  # 5, 255 and 16 as a bit(8) spells them


@pytest.fixture(scope="module")
def pg_events(pg_server):
    """Source sessions in Asia/Kolkata (+05:30), target sessions in America/Los_Angeles."""
    source, target = pg_server.create_database("mt_events_src"), pg_server.create_database("mt_events_dst")
    pg_server.psql("mt_events_src", PG_EVENTS)
    rng = np.random.default_rng(13)
    rows = [{"id": i + 1, "at": START + dt.timedelta(seconds=int(rng.integers(0, DAYS * 86400))), "audit": AUDIT,
             "flag": "1" if rng.random() < 0.3 else "0", "mask": str(rng.choice(MASKS, p=[0.5, 0.3, 0.2])),
             "wide": "1" * 80} for i in range(TIMED_ROWS)]
    engine = sa.create_engine(source)
    with engine.begin() as conn:
        conn.execute(sa.text("SET TIME ZONE 'UTC'"))
        conn.execute(sa.text("INSERT INTO event VALUES (:id, :at, :audit, CAST(:flag AS bit(1)), CAST(:mask AS bit(8)), CAST(:wide AS bit(80)))"),
                     rows)
    engine.dispose()
    run(RunOptions(_in_zone(source, "Asia/Kolkata", "postgresql"), _in_zone(target, "America/Los_Angeles", "postgresql"),
                   4.0, 1e-9, seed=1))
    schema = introspect(source_engine(source))
    return make_spec(schema), schema, _frame(source, "event"), _frame(target, "event")


def test_postgres_timestamptz_keeps_its_instants_across_time_zones(pg_events):
    _, _, real, syn = pg_events
    real_at, syn_at = _utc(real["at"]), _utc(syn["at"])
    assert (_utc(syn["audit"]) == AUDIT).mean() >= 0.95  # a 12.5-hour shift would miss every row
    _same_span(real_at, syn_at)
    assert _ks(_seconds(real_at), _seconds(syn_at)) < 0.1


def test_postgres_bit1_is_a_flag_and_bit8_a_number_written_as_valid_bits(pg_events):
    spec, schema, real, syn = pg_events
    columns = spec.tables["event"].columns
    assert (columns["flag"].kind, columns["mask"].kind, columns["wide"].kind) == ("boolean", "numeric", "unsupported")
    assert set(syn["flag"]) <= {"0", "1"} and _tvd(real["flag"], syn["flag"]) < 0.05
    # bit(8) as the number its digits spell: the frequent values found, written back as 8 digits
    assert syn["mask"].map(lambda v: len(v) == 8 and set(v) <= {"0", "1"}).all()
    assert _tvd(real["mask"], syn["mask"]) < 0.1, (real["mask"].value_counts(), syn["mask"].value_counts())
    # verify reads it as the same number: 5, 16 and 255, compared by value
    realism = column_realism("event", schema.tables["event"].column("mask"), real["mask"], syn["mask"])
    assert (realism.kind, realism.real_distinct) == ("number", 3) and realism.tvd < 0.1 and realism.ks < 0.1
    # wider than bigint: not modelled, a data-independent valid value
    assert set(syn["wide"]) <= {"0" * 80, "1" * 80} and len(set(syn["wide"])) == 1
