"""`dbsynth demo`: a small shop database made here, then plan, run and verify on it.

The shop has customers → orders → order_items → products, a self reference (referrals, also the
nullable FK), CHECK-enumerated status and segment columns and a free-text note.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np

DDL = """
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name VARCHAR(60) NOT NULL UNIQUE,
    category VARCHAR(20) NOT NULL CHECK (category IN ('books', 'music', 'games', 'garden')),
    price NUMERIC(8, 2) NOT NULL CHECK (price >= 0)
);
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    first_name VARCHAR(40) NOT NULL,
    last_name VARCHAR(40) NOT NULL,
    email VARCHAR(80) NOT NULL UNIQUE,
    country VARCHAR(30) NOT NULL,
    segment VARCHAR(10) NOT NULL CHECK (segment IN ('consumer', 'business', 'vip')),
    signup_date DATE NOT NULL,
    referred_by INTEGER REFERENCES customers (id)
);
CREATE INDEX customers_referred_by_idx ON customers (referred_by);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    status VARCHAR(10) NOT NULL CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')),
    ordered_at TIMESTAMP NOT NULL,
    note TEXT
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (id),
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL CHECK (quantity >= 1 AND quantity <= 20),
    unit_price NUMERIC(8, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
"""

COUNTRIES = ["Germany", "France", "Spain", "Italy", "Poland", "Netherlands", "Sweden", "Portugal"]
NOTES = ["please ring twice", "leave at the door", "gift wrap", "call before delivery", "fragile"]


def build_shop(path: Path, seed: int = 0, n_customers: int = 2000) -> Path:
    """Write the demo shop into a new SQLite file (replacing an old one)."""
    rng = np.random.default_rng(seed)
    if path.exists():
        path.unlink()
    con = sqlite3.connect(path)
    con.executescript(DDL)
    cats = ["books", "music", "games", "garden"]
    base_price = {"books": 15, "music": 12, "games": 45, "garden": 30}
    products = []
    for i in range(1, 61):
        cat = cats[i % 4]
        products.append((i, f"{cat.title()} item {i:03d}", cat, round(float(base_price[cat] * rng.uniform(0.5, 2.0)), 2)))
    con.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", products)
    customers = []
    for i in range(1, n_customers + 1):
        country = COUNTRIES[min(int(rng.exponential(2.0)), len(COUNTRIES) - 1)]
        segment = rng.choice(["consumer", "business", "vip"], p=[0.7, 0.2, 0.1] if country != "Germany" else [0.5, 0.35, 0.15])
        signup = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
        referred = int(rng.integers(1, i)) if i > 1 and rng.random() < 0.3 else None
        customers.append((i, f"First{i}", f"Last{i}", f"customer{i}@example.com", country, str(segment),
                          signup.isoformat(), referred))
    con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", customers)
    orders, items = [], []
    oid = 0
    for cid, *_rest in customers:
        segment = _rest[4]
        n_orders = rng.poisson({"consumer": 2, "business": 4, "vip": 7}[segment])
        for _ in range(n_orders):
            oid += 1
            status = rng.choice(["new", "paid", "shipped", "cancelled"], p=[0.1, 0.2, 0.6, 0.1])
            when = dt.datetime(2020, 1, 1) + dt.timedelta(minutes=int(rng.integers(0, 4 * 365 * 24 * 60)))
            note = str(rng.choice(NOTES)) if rng.random() < 0.2 else None
            orders.append((oid, cid, str(status), when.isoformat(sep=" "), note))
            chosen = rng.choice(len(products), size=int(rng.integers(1, 5)), replace=False)
            for p in chosen:
                pid, _name, cat, price = products[p]
                qty = int(min(20, 1 + rng.poisson(3 if segment == "business" else 1)))
                items.append((oid, pid, qty, price))
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", orders)
    con.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?)", items)
    con.commit()
    con.close()
    return path


def run_demo(directory: str, *, epsilon: float, seed: int, console=None, err=None) -> dict:
    from dbsynth.connect import source_engine, target_engine
    from dbsynth.pipeline import RunOptions, run
    from dbsynth.plan import make_spec
    from dbsynth.render import StageProgress, render_ledger, render_plan
    from dbsynth.privacy.units import Units
    from dbsynth.schema.introspect import introspect
    from dbsynth.verify import render_text, verify

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    shop = build_shop(root / "shop.db", seed=seed)
    shadow = root / "shadow.db"
    if shadow.exists():
        shadow.unlink()
    source, target = f"sqlite:///{shop}", f"sqlite:///{shadow}"
    schema = introspect(source_engine(source))
    spec = make_spec(schema)
    spec_path = root / "spec.yaml"
    spec.save(spec_path)
    if console is not None:
        console.print(f"demo source: {shop}\nspec: {spec_path}\n", highlight=False)
        console.print(render_plan(schema, spec, Units.from_spec(schema, spec)), markup=False, highlight=False, soft_wrap=True)
    opts = RunOptions(source, target, epsilon, 1e-9, str(spec_path), seed, False, str(root / "ledger.json"))
    with StageProgress(err, enabled=console is not None and err is not None) as progress:
        result = run(opts, progress=progress.update)
    report = verify(source_engine(source), target_engine(target), schema)
    if console is not None:
        console.print(render_ledger(result), markup=False, highlight=False, soft_wrap=True)
        console.print(render_text(report), markup=False, highlight=False, soft_wrap=True)
        console.print(f"shadow database: {shadow}", highlight=False)
    return {"source": source, "target": target, "spec": str(spec_path), "run": result.to_dict(),
            "verify": report.to_dict() | {"passed": report.passed()}}
