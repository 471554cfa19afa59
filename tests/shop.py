"""A shop with skewed degrees, built by the tests on PostgreSQL or SQLite: many customers with
no or few orders and a few with hundreds, order lines per order from 1 to 30, a nullable
referrer, and small lookup tables (country, category) referenced by the rest.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

DDL = [
    "CREATE TABLE country (id INTEGER PRIMARY KEY, code VARCHAR(2) NOT NULL)",
    "CREATE TABLE category (id INTEGER PRIMARY KEY, label VARCHAR(30) NOT NULL)",
    """CREATE TABLE customer (id INTEGER PRIMARY KEY, email VARCHAR(80) NOT NULL, segment VARCHAR(10) NOT NULL,
        country_id INTEGER NOT NULL REFERENCES country(id))""",
    """CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customer(id),
        status VARCHAR(12) NOT NULL, total NUMERIC(10,2) NOT NULL)""",
    """CREATE TABLE order_line (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
        category_id INTEGER NOT NULL REFERENCES category(id), quantity INTEGER NOT NULL)""",
]


def build(dsn: str, customers: int = 3000, seed: int = 0) -> dict[str, int]:
    """Create and fill the shop; returns the real row counts."""
    rng = np.random.default_rng(seed)
    countries = [{"id": i + 1, "code": c} for i, c in enumerate(["DE", "FR", "US", "GB", "NL", "SE", "PL", "IT"])]
    categories = [{"id": i + 1, "label": f"category {i + 1}"} for i in range(16)]
    cust = [{"id": i + 1, "email": f"c{i}@example.org", "segment": str(rng.choice(["retail", "pro", "vip"], p=[.7, .25, .05])),
             "country_id": int(rng.integers(1, 9))} for i in range(customers)]
    # Skewed: 40% of customers never order, most order a few times, 2% order 40-200 times.
    heavy = rng.random(customers) < 0.02
    degree = np.where(heavy, rng.integers(40, 200, customers), rng.poisson(1.5, customers))
    degree[rng.random(customers) < 0.4] = 0
    orders, lines = [], []
    for c, d in zip(cust, degree.tolist()):
        for _ in range(d):
            oid = len(orders) + 1
            orders.append({"id": oid, "customer_id": c["id"], "status": str(rng.choice(["paid", "shipped", "open"])),
                           "total": round(float(rng.lognormal(3, 1)), 2)})
            for _ in range(int(min(30, 1 + rng.geometric(0.35)))):
                lines.append({"id": len(lines) + 1, "order_id": oid, "category_id": int(rng.integers(1, 17)),
                              "quantity": int(rng.integers(1, 5))})
    load(dsn, DDL, {"country": countries, "category": categories, "customer": cust, "orders": orders,
                    "order_line": lines})
    return {"country": len(countries), "category": len(categories), "customer": customers,
            "orders": len(orders), "order_line": len(lines)}


def load(dsn: str, ddl: list[str], rows: dict[str, list[dict]]) -> None:
    """Create the tables and insert the rows, table by table in the order given."""
    engine = sa.create_engine(dsn)
    with engine.begin() as conn:
        for statement in ddl:
            conn.execute(sa.text(statement))
        md = sa.MetaData()
        md.reflect(conn)
        for name, table_rows in rows.items():
            conn.execute(md.tables[name].insert(), table_rows)
    engine.dispose()
