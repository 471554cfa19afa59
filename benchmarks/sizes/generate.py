"""A generated shop schema in PostgreSQL with ≥ 100k parents and skewed degrees (issue 15 benchmark).

country (50) ← customer (100k: PII-like first_name/email, nullable self reference referred_by)
← orders (lognormal degrees: a third of customers order nothing, most 1–2, a few hundreds)
← order_line (1–50 lines per order) → product (2k) → category (16). About 1M rows at scale 1.

The rows are drawn in numpy and loaded with COPY (text written by pandas), constraints and FK
indexes added after the load, so the full size builds in well under a minute.

    python benchmarks/sizes/generate.py DSN [--scale-rows F] [--seed S]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import pandas as pd
import sqlalchemy as sa

SCHEMA = """
DROP TABLE IF EXISTS order_line, orders, customer, product, category, country CASCADE;
CREATE TABLE country (
    id SMALLINT PRIMARY KEY, code CHAR(2) NOT NULL UNIQUE, name TEXT NOT NULL);
CREATE TABLE category (
    id SMALLINT PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE product (
    id INTEGER PRIMARY KEY, category_id SMALLINT NOT NULL, name TEXT NOT NULL,
    price NUMERIC(10, 2) NOT NULL);
CREATE TABLE customer (
    id BIGINT PRIMARY KEY, first_name TEXT NOT NULL, email TEXT NOT NULL,
    country_id SMALLINT NOT NULL, referred_by BIGINT, created TIMESTAMPTZ NOT NULL);
CREATE TABLE orders (
    id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, status TEXT NOT NULL,
    total NUMERIC(10, 2) NOT NULL, created TIMESTAMPTZ NOT NULL);
CREATE TABLE order_line (
    id BIGINT PRIMARY KEY, order_id BIGINT NOT NULL, product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL, unit_price NUMERIC(10, 2) NOT NULL);
"""

# After the load: building indexes and checking FKs once is much faster than per row.
CONSTRAINTS = """
ALTER TABLE customer ADD CONSTRAINT customer_email_key UNIQUE (email);
ALTER TABLE product ADD FOREIGN KEY (category_id) REFERENCES category (id);
ALTER TABLE customer ADD FOREIGN KEY (country_id) REFERENCES country (id);
ALTER TABLE customer ADD FOREIGN KEY (referred_by) REFERENCES customer (id);
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customer (id);
ALTER TABLE order_line ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE order_line ADD FOREIGN KEY (product_id) REFERENCES product (id);
ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);
ALTER TABLE order_line ADD CONSTRAINT order_line_quantity_check CHECK (quantity > 0);
CREATE INDEX ON customer (country_id);
CREATE INDEX ON customer (referred_by);
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON order_line (order_id);
CREATE INDEX ON order_line (product_id);
CREATE INDEX ON product (category_id);
ANALYZE;
"""

COUNTRIES = [
    ("US", "United States"), ("DE", "Germany"), ("GB", "United Kingdom"), ("FR", "France"), ("IN", "India"),
    ("BR", "Brazil"), ("CA", "Canada"), ("JP", "Japan"), ("IT", "Italy"), ("ES", "Spain"), ("NL", "Netherlands"),
    ("AU", "Australia"), ("MX", "Mexico"), ("PL", "Poland"), ("SE", "Sweden"), ("BE", "Belgium"),
    ("CH", "Switzerland"), ("AT", "Austria"), ("IE", "Ireland"), ("DK", "Denmark"), ("NO", "Norway"),
    ("FI", "Finland"), ("PT", "Portugal"), ("CZ", "Czechia"), ("RO", "Romania"), ("HU", "Hungary"),
    ("GR", "Greece"), ("TR", "Turkey"), ("ZA", "South Africa"), ("AR", "Argentina"), ("CL", "Chile"),
    ("CO", "Colombia"), ("PE", "Peru"), ("NZ", "New Zealand"), ("SG", "Singapore"), ("KR", "South Korea"),
    ("CN", "China"), ("ID", "Indonesia"), ("TH", "Thailand"), ("VN", "Vietnam"), ("PH", "Philippines"),
    ("MY", "Malaysia"), ("EG", "Egypt"), ("NG", "Nigeria"), ("KE", "Kenya"), ("MA", "Morocco"),
    ("IL", "Israel"), ("AE", "United Arab Emirates"), ("SA", "Saudi Arabia"), ("UA", "Ukraine"),
]
CATEGORIES = ["books", "music", "games", "toys", "garden", "tools", "kitchen", "sport", "beauty", "baby",
              "pets", "auto", "office", "computers", "phones", "clothing"]
FIRST_NAMES = ["Anna", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Karin",
               "Liam", "Mia", "Noah", "Olga", "Paul", "Queenie", "Rosa", "Sam", "Tara", "Uwe", "Vera", "Will",
               "Xenia", "Yusuf", "Zoe", "Maria", "Jose", "Wei", "Priya", "Ahmed", "Fatima", "Kenji", "Sofia"]
STATUSES = (["delivered", "shipped", "pending", "cancelled", "returned"], [0.70, 0.10, 0.08, 0.07, 0.05])

CUSTOMERS = 100_000
PRODUCTS = 2_000
EPOCH = np.datetime64("2015-01-01T00:00:00", "s")
SPAN_S = 9 * 365 * 86_400  # customers sign up over nine years


def zipf_weights(n: int, a: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** a
    return w / w.sum()


def order_degrees(n: int, rng: np.random.Generator, mu: float = 0.6) -> np.ndarray:
    """Orders per customer: 35% none; the rest lognormal (median ~2 at mu 0.6, a few hundred at the top)."""
    d = np.ceil(rng.lognormal(mu, 1.25, n)).astype(np.int64)
    d[rng.random(n) < 0.35] = 0
    return np.clip(d, 0, 1_000)


def line_degrees(n: int, rng: np.random.Generator, mu: float = 0.3) -> np.ndarray:
    """Lines per order, 1–50: most orders one to three lines (mu 0.3), a long tail of bulk orders."""
    return np.clip(1 + np.floor(rng.lognormal(mu, 1.0, n)), 1, 50).astype(np.int64)


def stamps(seconds: np.ndarray) -> pd.Series:
    return pd.Series((EPOCH + seconds.astype("timedelta64[s]")).astype("datetime64[s]")).dt.tz_localize("UTC")


def tables(scale_rows: float, seed: int, orders_mu: float = 0.6, lines_mu: float = 0.3) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_c = max(int(round(CUSTOMERS * scale_rows)), 20)
    n_p = max(int(round(PRODUCTS * scale_rows)), 50)

    country = pd.DataFrame({"id": np.arange(1, len(COUNTRIES) + 1), "code": [c for c, _ in COUNTRIES],
                            "name": [n for _, n in COUNTRIES]})
    category = pd.DataFrame({"id": np.arange(1, len(CATEGORIES) + 1), "name": CATEGORIES})
    raw_price = rng.lognormal(3.0, 0.9, n_p)
    # Half the prices are shop prices (x.99), half arbitrary cents: exact values a shadow should keep.
    price = np.where(rng.random(n_p) < 0.5, np.floor(raw_price) + 0.99, np.round(raw_price, 2))
    product = pd.DataFrame({
        "id": np.arange(1, n_p + 1),
        "category_id": 1 + rng.choice(len(CATEGORIES), n_p, p=zipf_weights(len(CATEGORIES), 0.8)),
        "name": [f"Item {i:05d}" for i in range(1, n_p + 1)],
        "price": price,
    })

    first = rng.choice(len(FIRST_NAMES), n_c, p=zipf_weights(len(FIRST_NAMES), 0.7))
    ids = np.arange(1, n_c + 1)
    # A referrer is an earlier customer (so the self reference is acyclic), early ones referring
    # far more (u² leans toward the start): a skewed self-reference degree, 75% NULL.
    referred = np.floor((ids - 1) * rng.random(n_c) ** 2).astype(np.int64) + 1
    has_referrer = (rng.random(n_c) < 0.25) & (ids > 1)
    referred = pd.array(referred, dtype="Int64")
    referred[~has_referrer] = pd.NA
    signup = np.sort(rng.integers(0, SPAN_S, n_c))  # ids grow with the signup time
    customer = pd.DataFrame({
        "id": ids,
        "first_name": np.array(FIRST_NAMES)[first],
        "email": [f"{FIRST_NAMES[f].lower()}.{i}@example.com" for f, i in zip(first, ids)],
        "country_id": 1 + rng.choice(len(COUNTRIES), n_c, p=zipf_weights(len(COUNTRIES), 1.1)),
        "referred_by": referred,
        "created": stamps(signup),
    })

    deg = order_degrees(n_c, rng, orders_mu)
    owner = np.repeat(np.arange(n_c), deg)
    n_o = len(owner)
    # An order comes after its customer's signup, within two years.
    o_created = signup[owner] + rng.integers(0, 2 * 365 * 86_400, n_o)
    lines = line_degrees(n_o, rng, lines_mu)
    order_of = np.repeat(np.arange(n_o), lines)
    n_l = len(order_of)
    prod = np.floor(n_p * rng.random(n_l) ** 2.5).astype(np.int64)  # popular products first
    qty = rng.geometric(0.6, n_l)
    unit = product["price"].to_numpy()[prod]
    total = np.bincount(order_of, weights=qty * unit, minlength=n_o)
    orders = pd.DataFrame({
        "id": np.arange(1, n_o + 1),
        "customer_id": owner + 1,
        "status": rng.choice(STATUSES[0], n_o, p=STATUSES[1]),
        "total": np.round(total, 2),
        "created": stamps(o_created),
    })
    order_line = pd.DataFrame({"id": np.arange(1, n_l + 1), "order_id": order_of + 1, "product_id": prod + 1,
                               "quantity": qty, "unit_price": unit})
    return {"country": country, "category": category, "product": product, "customer": customer,
            "orders": orders, "order_line": order_line}


def copy_frame(cur, name: str, frame: pd.DataFrame, chunk: int = 200_000) -> None:
    cols = ", ".join(frame.columns)
    with cur.copy(f"COPY {name} ({cols}) FROM STDIN WITH (FORMAT csv)") as cp:
        for start in range(0, len(frame), chunk):
            buf = io.StringIO()
            # Unquoted empty fields are NULL in COPY's csv format: what pandas writes for NA.
            frame.iloc[start:start + chunk].to_csv(buf, header=False, index=False, float_format="%.2f")
            cp.write(buf.getvalue())


def build(dsn: str, scale_rows: float = 1.0, seed: int = 0, **shape: float) -> dict:
    """Create and fill the six tables in the PostgreSQL database at `dsn`; {table: rows, "seconds": s}.
    `shape`: orders_mu, lines_mu (the lognormal location of orders per customer, lines per order)."""
    start = time.perf_counter()
    frames = tables(scale_rows, seed, **shape)
    engine = sa.create_engine(dsn)
    try:
        raw = engine.raw_connection()
        try:
            conn = raw.driver_connection  # psycopg 3: COPY needs the driver's own cursor
            with conn.cursor() as cur:
                cur.execute(SCHEMA)
                for name, frame in frames.items():
                    copy_frame(cur, name, frame)
                cur.execute(CONSTRAINTS)
            conn.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()
    return {**{n: len(f) for n, f in frames.items()}, "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dsn", help="postgresql+psycopg://... of an existing database (its shop tables are replaced)")
    ap.add_argument("--scale-rows", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(build(args.dsn, args.scale_rows, args.seed))


if __name__ == "__main__":
    main()
