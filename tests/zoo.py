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
