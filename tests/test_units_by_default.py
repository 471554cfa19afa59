"""Units are people by default, no run can overspend, and every join has one parent row per key.

Owners are chosen from the FK graph, never left out because of a column name; specs whose
spending cannot be planned stop with exit 7 before a row is read; FKs onto non-unique columns
are refused at spec check; the ledger and `plan` say who is protected.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa

import dbsynth.pipeline as pipeline
from dbsynth.connect import source_engine
from dbsynth.errors import BudgetTooSmall, UnsupportedSchema
from dbsynth.pipeline import RunOptions, load_spec, run
from dbsynth.plan import make_spec
from dbsynth.privacy.units import Units
from dbsynth.schema.introspect import introspect
from dbsynth.write import write_database


def _sqlite(path, ddl: str, rows: dict[str, list[tuple]] | None = None) -> str:
    con = sqlite3.connect(path)
    con.executescript(ddl)
    for table, values in (rows or {}).items():
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(values[0]))})", values)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _owners(dsn: str) -> dict[str, str | None]:
    schema = introspect(source_engine(dsn))
    return {t: ts.owner for t, ts in make_spec(schema).tables.items()}


def test_a_person_without_personal_data_columns_still_owns_her_rows(tmp_path):
    dsn = _sqlite(tmp_path / "a.db", """
        CREATE TABLE patient (id INTEGER PRIMARY KEY, birth_year INTEGER, zip VARCHAR(5), sex VARCHAR(1));
        CREATE TABLE visit (id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES patient(id), code VARCHAR(4));
        CREATE TABLE users (id INTEGER PRIMARY KEY, age INTEGER, country VARCHAR(2));
        CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), device VARCHAR(9));
        CREATE TABLE customer (id INTEGER PRIMARY KEY, segment VARCHAR(3));
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(id), total INTEGER);
    """)
    owners = _owners(dsn)
    assert owners["visit"] == "visit(patient_id)->patient"
    assert owners["sessions"] == "sessions(user_id)->users"
    assert owners["orders"] == "orders(customer_id)->customer"  # nullable: NULL rows are units of their own


def test_removing_a_patient_removes_all_her_visits_and_the_declared_delta_covers_it(tmp_path):
    visits = [(i, 1, "A") for i in range(1, 51)] + [(51 + i, 2 + i % 5, "B") for i in range(20)]
    dsn = _sqlite(tmp_path / "p.db", """
        CREATE TABLE patient (id INTEGER PRIMARY KEY, birth_year INTEGER);
        CREATE TABLE visit (id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES patient(id), code VARCHAR(4));
    """, {"patient": [(i, 1960 + i) for i in range(1, 8)], "visit": visits})
    engine = source_engine(dsn)
    schema = introspect(engine)
    spec = load_spec(schema, None)
    units = Units.from_spec(schema, spec)
    from dbsynth.measure.pushdown import Pushdown

    kept = Pushdown(engine, schema, units, b"k" * 32).row_count("visit")
    con = sqlite3.connect(tmp_path / "p.db")
    con.execute("DELETE FROM visit WHERE patient_id = 1")
    con.execute("DELETE FROM patient WHERE id = 1")
    con.commit()
    con.close()
    after = Pushdown(source_engine(dsn), schema, units, b"k" * 32).row_count("visit")
    assert 0 < kept - after <= units.sensitivity("visit")


def test_with_two_person_parents_the_plan_says_which_owns_and_what_that_means(tmp_path):
    dsn = _sqlite(tmp_path / "m.db", """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(40), age INTEGER);
        CREATE TABLE message (id INTEGER PRIMARY KEY, sender_id INTEGER NOT NULL REFERENCES users(id),
                              recipient_id INTEGER NOT NULL REFERENCES users(id), kind VARCHAR(4));
    """)
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "plan", dsn, "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    owner = plan["tables"]["message"]["owner"]
    assert owner in ("message(sender_id)->users", "message(recipient_id)->users")
    other = ({"message(sender_id)->users", "message(recipient_id)->users"} - {owner}).pop()
    described = plan["units"]["tables"]["message"]
    assert described["owner"] == owner
    assert "not the owner" in described["other_parents"][other]
    assert plan["units"]["tables"]["users"]["unit"] == "one users row with its message rows"
    text = subprocess.run([sys.executable, "-m", "dbsynth.cli", "plan", dsn], capture_output=True, text=True).stdout
    assert "# who is protected" in text and other in text


def test_a_table_that_holds_people_is_not_owned_through_an_optional_link_to_other_people(tmp_path):
    dsn = _sqlite(tmp_path / "c.db", """
        CREATE TABLE employee (id INTEGER PRIMARY KEY, first_name VARCHAR(20), email VARCHAR(40));
        CREATE TABLE customer (id INTEGER PRIMARY KEY, email VARCHAR(40), rep_id INTEGER REFERENCES employee(id));
        CREATE TABLE invoice (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customer(id));
    """)
    owners = _owners(dsn)
    assert owners["customer"] is None
    assert owners["invoice"] == "invoice(customer_id)->customer"


def test_an_order_with_a_delivery_address_belongs_to_its_customer_and_its_lines_to_it(tmp_path):
    # Northwind's shape: every parent of an order holds people (a contact name, a phone), every
    # FK of the order is nullable, and a product's chain reaches a supplier's contact. Before,
    # ship_address made the order a person of its own (a unit per order, the customer's orders
    # not protected together) and the lines went to the product, whose owner chain was longer.
    dsn = _sqlite(tmp_path / "nw.db", """
        CREATE TABLE customers (customer_id VARCHAR(5) PRIMARY KEY, company_name VARCHAR(40), contact_name VARCHAR(30),
                                address VARCHAR(60), phone VARCHAR(24));
        CREATE TABLE employees (employee_id INTEGER PRIMARY KEY, last_name VARCHAR(20), first_name VARCHAR(10),
                                title VARCHAR(30), notes TEXT, reports_to INTEGER REFERENCES employees(employee_id));
        CREATE TABLE shippers (shipper_id INTEGER PRIMARY KEY, company_name VARCHAR(40), phone VARCHAR(24));
        CREATE TABLE suppliers (supplier_id INTEGER PRIMARY KEY, company_name VARCHAR(40), contact_name VARCHAR(30));
        CREATE TABLE products (product_id INTEGER PRIMARY KEY, product_name VARCHAR(40), unit_price REAL,
                               supplier_id INTEGER NOT NULL REFERENCES suppliers(supplier_id));
        CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id VARCHAR(5) REFERENCES customers(customer_id),
                             employee_id INTEGER REFERENCES employees(employee_id), order_date DATE,
                             ship_via INTEGER REFERENCES shippers(shipper_id), ship_name VARCHAR(40),
                             ship_address VARCHAR(60), ship_city VARCHAR(15));
        CREATE TABLE order_details (order_id INTEGER NOT NULL REFERENCES orders(order_id),
                                    product_id INTEGER NOT NULL REFERENCES products(product_id),
                                    unit_price REAL, quantity INTEGER, PRIMARY KEY (order_id, product_id));
    """)
    owners = _owners(dsn)
    assert owners["orders"] == "orders(customer_id)->customers"
    assert owners["order_details"] == "order_details(order_id)->orders"
    assert owners["employees"] is None and owners["customers"] is None


def test_an_order_item_belongs_to_its_order_even_where_the_products_chain_is_longer(tmp_path):
    # A marketplace: the product's chain (seller, user) is longer than the order's, and both
    # reach the users. The order is one step from its buyer, the product two from its seller:
    # the item belongs to the order, and a unit is the buyer with her orders and their items.
    dsn = _sqlite(tmp_path / "m.db", """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(40));
        CREATE TABLE sellers (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), shop VARCHAR(20));
        CREATE TABLE products (id INTEGER PRIMARY KEY, seller_id INTEGER NOT NULL REFERENCES sellers(id),
                               title VARCHAR(40), price REAL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), placed DATE);
        CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
                                  product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER);
    """)
    owners = _owners(dsn)
    assert owners["order_items"] == "order_items(order_id)->orders"
    assert owners["orders"] == "orders(user_id)->users"


def test_the_ledger_stores_the_owner_forest_and_caps(tmp_path):
    from dbsynth.demo import build_shop

    shop = build_shop(tmp_path / "shop.db", n_customers=40)
    target = f"sqlite:///{tmp_path / 'shadow.db'}"
    # Seeded noise: at 40 customers the caps' histograms are noise, and a bucket that stands out by
    # chance (1 % an edge) picks a cap other than the placeholder.
    from dbsynth.privacy.noise import SeededNoise

    result = run(RunOptions(f"sqlite:///{shop}", target, 1.0, 1e-9, seed=1, noise=SeededNoise(1)))
    with sa.create_engine(target).connect() as conn:
        stored = json.loads(conn.execute(sa.text("SELECT ledger FROM _dbsynth_ledger")).scalar_one())
    assert stored["units"] == result.ledger["units"]
    assert stored["units"]["forest"]["order_items"] == "order_items(order_id)->orders"
    assert stored["units"]["caps"]["order_items(order_id)->orders"] == 8
    assert stored["units"]["tables"]["customers"]["unit"].startswith("one customers row with its orders rows")


# -- spending planned before any row is read ----------------------------------------------------------

OVERSPENDING = {
    "categorical column with domain spec and no values": ("status", {"kind": "categorical", "domain": "spec"}),
    "numeric column with domain schema and no bounds": ("amount", {"kind": "numeric", "domain": "schema", "bins": 8}),
}


@pytest.fixture
def shop_dsn(tmp_path) -> str:
    return _sqlite(tmp_path / "o.db", """
        CREATE TABLE purchase (id INTEGER PRIMARY KEY, status VARCHAR(8) NOT NULL, amount INTEGER NOT NULL);
    """, {"purchase": [(i, ["new", "paid"][i % 2], i * 7) for i in range(1, 200)]})


@pytest.mark.parametrize("case", sorted(OVERSPENDING))
@pytest.mark.parametrize("other_dp_column", [True, False], ids=["with-dp-column", "no-dp-column"])
def test_specs_that_would_overspend_stop_with_exit_7_before_any_row_is_read(shop_dsn, tmp_path, monkeypatch, case,
                                                                            other_dp_column):
    schema = introspect(source_engine(shop_dsn))
    spec = make_spec(schema)
    column, override = OVERSPENDING[case]
    cols = spec.tables["purchase"].columns
    cols[column] = cols[column].model_validate(override)
    other = "amount" if column == "status" else "status"
    if not other_dp_column:  # the case that divided 0 by 0
        cols[other] = cols[other].model_validate({"kind": "pii", "domain": "generated", "faker": "word"})
    path = tmp_path / "spec.yaml"
    spec.save(path)

    def no_reading(*args, **kwargs):
        raise AssertionError("a private row was read")

    monkeypatch.setattr(pipeline, "new_pushdown", no_reading)
    monkeypatch.setattr(pipeline, "measure", no_reading)
    with pytest.raises(BudgetTooSmall, match=f"purchase.{column}"):
        run(RunOptions(shop_dsn, f"sqlite:///{tmp_path / 't.db'}", 1.0, 1e-9, str(path)))
    assert not (tmp_path / "t.db").exists() or not sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 't.db'}")).get_table_names()
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "run", shop_dsn, f"sqlite:///{tmp_path / 'u.db'}",
                          "-e", "1", "--spec", str(path)], capture_output=True, text=True)
    assert res.returncode == 7, res.stderr
    assert "Traceback" not in res.stderr


def test_every_run_stays_within_its_target(shop_dsn, tmp_path):
    """Columns the default plan discovers with DP (categorical and numeric), one table: the ledger
    never ends above the target, including its partition-selection δ."""
    for eps in (0.5, 2.0):
        result = run(RunOptions(shop_dsn, f"sqlite:///{tmp_path / f's{eps}.db'}", eps, 1e-9))
        led = result.ledger
        assert led["within_target"] and led["epsilon"] <= eps
        assert led["delta_outside_rdp"] <= 1e-9 * 0.25 + 1e-24


def test_the_writer_refuses_a_ledger_above_its_target(shop_dsn, tmp_path):
    target = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    schema = introspect(source_engine(shop_dsn))
    ledger = {"epsilon": 1.25, "delta": 1e-9, "target_epsilon": 1.0, "within_target": False}
    with pytest.raises(BudgetTooSmall):
        write_database(target, schema, None, ledger=ledger)  # refused before the data is looked at
    assert sa.inspect(target).get_table_names() == []


# -- FKs onto non-unique columns ------------------------------------------------------------------------

NON_UNIQUE_DDL = [
    "CREATE TABLE batch (code VARCHAR(8) NOT NULL, note VARCHAR(10), {index})",
    "CREATE TABLE item (id INTEGER PRIMARY KEY, batch_code VARCHAR(8) NOT NULL, "
    "FOREIGN KEY (batch_code) REFERENCES batch(code))",
]


def _non_unique_sqlite(tmp_path) -> str:
    return _sqlite(tmp_path / "n.db", ";\n".join(NON_UNIQUE_DDL).format(index="id INTEGER PRIMARY KEY") + ";")


def _non_unique_maria(maria_server, new_maria_db) -> str:
    dsn = new_maria_db()
    engine = sa.create_engine(dsn)
    with engine.begin() as conn:
        # InnoDB accepts an FK onto any indexed column, unique or not.
        conn.execute(sa.text(NON_UNIQUE_DDL[0].format(index="id INTEGER PRIMARY KEY, INDEX (code)") + " ENGINE=InnoDB"))
        conn.execute(sa.text(NON_UNIQUE_DDL[1] + " ENGINE=InnoDB"))
    return dsn


@pytest.mark.parametrize("engine", ["sqlite", "maria"])
def test_foreign_keys_onto_non_unique_columns_are_refused_at_spec_check(engine, tmp_path, request):
    if engine == "sqlite":
        dsn = _non_unique_sqlite(tmp_path)
    else:
        dsn = _non_unique_maria(request.getfixturevalue("maria_server"), request.getfixturevalue("new_maria_db"))
    schema = introspect(source_engine(dsn))
    with pytest.raises(UnsupportedSchema, match=r"item\(batch_code\)->batch.*not a primary key or UNIQUE"):
        load_spec(schema, None)
    for command in (["plan", dsn], ["run", dsn, f"sqlite:///{tmp_path / 'x.db'}", "-e", "1"]):
        res = subprocess.run([sys.executable, "-m", "dbsynth.cli", *command], capture_output=True, text=True)
        assert res.returncode == 6, res.stderr
        assert "UNIQUE" in res.stderr and "Traceback" not in res.stderr


# -- released domains carry their cost ----------------------------------------------------------------

def test_spec_out_records_its_cost_and_a_run_that_reuses_it_lists_that_release(shop_dsn, tmp_path):
    out = tmp_path / "released.yaml"
    first = run(RunOptions(shop_dsn, f"sqlite:///{tmp_path / 'a.db'}", 1.0, 1e-9, spec_out=str(out)))
    from dbsynth.spec import Spec

    released = Spec.load(out)
    (release,) = released.releases
    assert release.run == first.ledger["run"] and release.epsilon == first.ledger["epsilon"]
    assert set(release.columns) == {"purchase.status", "purchase.amount"}
    second = run(RunOptions(shop_dsn, f"sqlite:///{tmp_path / 'b.db'}", 1.0, 1e-9, str(out)))
    assert [r["run"] for r in second.ledger["reuses"]] == [first.ledger["run"]]
    assert not any(c["what"].startswith(("domain of", "bins of", "range of")) for c in second.ledger["charges"])
