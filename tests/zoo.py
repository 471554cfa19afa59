"""A zoo of realistic application columns, built by the tests on PostgreSQL, MariaDB and SQLite.

Not tuned to a sample database: TEXT categories, prices with point masses, zero-inflated amounts,
a mass at one integer, a small integer range, timestamps over a few months (timestamptz on
PostgreSQL, TIMESTAMP on MariaDB), a constant audit column, a column mixing NULLs and a few
values, and free text.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import sqlalchemy as sa

PRICES = (0.99, 2.99, 4.99)
STATUSES = ("new", "paid", "shipped", "cancelled")
AUDIT = dt.datetime(2023, 1, 1, 0, 0, 0)
START = dt.datetime(2024, 3, 1)
DAYS = 120

DDL = {
    "postgresql": """
        CREATE TABLE purchase (id integer PRIMARY KEY, price numeric(6,2) NOT NULL, amount numeric(10,2) NOT NULL,
            hours integer NOT NULL, rating integer NOT NULL, created timestamptz NOT NULL,
            last_update timestamp NOT NULL, status text NOT NULL, gender text, note text)""",
    "mysql": """
        CREATE TABLE purchase (id INT PRIMARY KEY, price DECIMAL(6,2) NOT NULL, amount DECIMAL(10,2) NOT NULL,
            hours INT NOT NULL, rating INT NOT NULL, created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            last_update DATETIME NOT NULL, status TEXT NOT NULL, gender TEXT, note TEXT) ENGINE=InnoDB""",
    "sqlite": """
        CREATE TABLE purchase (id INTEGER PRIMARY KEY, price NUMERIC(6,2) NOT NULL, amount NUMERIC(10,2) NOT NULL,
            hours INTEGER NOT NULL, rating INTEGER NOT NULL, created TIMESTAMP NOT NULL,
            last_update TIMESTAMP NOT NULL, status TEXT NOT NULL, gender TEXT, note TEXT)""",
}


def rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    words = np.array(["lorem", "ipsum", "dolor", "sit", "amet", "quick", "brown", "fox", "jumps"])
    out = []
    for i in range(n):
        out.append({
            "id": i + 1,
            "price": float(rng.choice(PRICES, p=[0.5, 0.3, 0.2])),
            "amount": 0.0 if rng.random() < 0.92 else round(float(rng.lognormal(3, 1)), 2),
            "hours": 40 if rng.random() < 0.47 else int(rng.integers(1, 80)),
            "rating": int(rng.integers(0, 10)),
            "created": START + dt.timedelta(seconds=int(rng.integers(0, DAYS * 86400))),
            "last_update": AUDIT,
            "status": str(rng.choice(STATUSES, p=[0.1, 0.5, 0.3, 0.1])),
            "gender": str(rng.choice(["F", "M", "X"], p=[0.49, 0.49, 0.02])) if rng.random() < 0.9 else None,
            "note": " ".join(rng.choice(words, size=int(rng.integers(5, 15)))) + f" #{i}",
        })
    return out


def build(dsn: str, kind: str, n: int = 10_000) -> None:
    engine = sa.create_engine(dsn)
    with engine.begin() as conn:
        conn.execute(sa.text(DDL[kind]))
        if kind == "postgresql":
            conn.execute(sa.text("SET TIME ZONE 'UTC'"))
        table = sa.Table("purchase", sa.MetaData(), autoload_with=conn)
        conn.execute(table.insert(), rows(n))
    engine.dispose()


# -- engine-specific columns (benchmarks/realism): one more table on PostgreSQL and on MariaDB --------
#
# PostgreSQL: a DOMAIN over integer with a CHECK, a text[] of a small vocabulary, and a table
# partitioned by range on a timestamptz (keyless, so the partition key is a measured column).
# MariaDB: UNSIGNED integers, YEAR, SET, ENUM, BIT(1) and a TIMESTAMP.

YEARS = (1999, 2005, 2006, 2010)
TAGS = ((), ("drama",), ("action", "drama"), ("kids",), ("horror", "action", "kids"))
COLORS = ("red", "green", "blue")
SIZES = ("S", "M", "L", "XL")

EXTRA_DDL = {
    "postgresql": """
        CREATE DOMAIN calendar_year AS integer CHECK (VALUE BETWEEN 1900 AND 2100);
        CREATE TABLE listing (listed timestamptz NOT NULL, release_year calendar_year NOT NULL,
            tags text[] NOT NULL, channel text NOT NULL) PARTITION BY RANGE (listed);
        CREATE TABLE listing_2023 PARTITION OF listing FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
        CREATE TABLE listing_2024 PARTITION OF listing FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')""",
    "mysql": """
        CREATE TABLE item (id INT UNSIGNED PRIMARY KEY, qty SMALLINT UNSIGNED NOT NULL, stock INT UNSIGNED NOT NULL,
            made YEAR, colors SET('red','green','blue'), size ENUM('S','M','L','XL'), active BIT(1) NOT NULL,
            seen TIMESTAMP NULL) ENGINE=InnoDB""",
}


def extra_rows(kind: str, n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if kind == "postgresql":
            year = int(rng.choice([2023, 2024], p=[0.6, 0.4]))
            out.append({
                "listed": dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
                + dt.timedelta(seconds=int(rng.integers(0, 365 * 86400))),
                "release_year": int(rng.choice(YEARS, p=[0.4, 0.3, 0.2, 0.1])),
                "tags": list(TAGS[int(rng.choice(len(TAGS), p=[0.4, 0.25, 0.2, 0.1, 0.05]))]),
                "channel": str(rng.choice(["web", "app", "store"], p=[0.6, 0.3, 0.1])),
            })
        else:
            out.append({
                "id": i + 1,
                "qty": 1 if rng.random() < 0.6 else int(rng.integers(2, 13)),
                "stock": int(rng.lognormal(5, 1.5)),
                "made": None if rng.random() < 0.05 else int(rng.choice((1999, 2021, 2022), p=[0.2, 0.5, 0.3])),
                "colors": None if rng.random() < 0.1 else ",".join(c for c in COLORS if rng.random() < 0.4),
                "size": None if rng.random() < 0.1 else str(rng.choice(SIZES, p=[0.2, 0.4, 0.3, 0.1])),
                "active": int(rng.random() < 0.8),
                "seen": None if rng.random() < 0.2 else START + dt.timedelta(seconds=int(rng.integers(0, DAYS * 86400))),
            })
    return out


def build_extras(dsn: str, kind: str, n: int = 10_000) -> None:
    """The engine's own column types in one more table (`listing` or `item`); nothing on SQLite."""
    if kind not in EXTRA_DDL:
        return
    engine = sa.create_engine(dsn)
    with engine.begin() as conn:
        if kind == "postgresql":
            conn.execute(sa.text("SET TIME ZONE 'UTC'"))
            conn.execute(sa.text(EXTRA_DDL[kind]))
            conn.execute(sa.text("INSERT INTO listing VALUES (:listed, :release_year, :tags, :channel)"),
                         extra_rows(kind, n))
        else:
            conn.execute(sa.text("SET time_zone = '+00:00'"))
            conn.execute(sa.text(EXTRA_DDL[kind]))
            conn.execute(sa.text("INSERT INTO item VALUES (:id, :qty, :stock, :made, :colors, :size, :active, :seen)"),
                         extra_rows(kind, n))
    engine.dispose()
