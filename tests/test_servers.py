"""The test servers and dataset fixtures work as advertised."""

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url


def _tables_and_count(dsn: str, table: str) -> tuple[set[str], int]:
    engine = sa.create_engine(dsn)
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            count = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar()
        return names, count
    finally:
        engine.dispose()


def test_chinook_pg(chinook_pg):
    names, lines = _tables_and_count(chinook_pg, "invoice_line")
    assert len(names) == 11 and "invoice_line" in names
    assert lines == 2240


def test_chinook_maria(chinook_maria):
    names, lines = _tables_and_count(chinook_maria, "InvoiceLine")
    assert len(names) == 11 and "InvoiceLine" in names
    assert lines == 2240


def test_chinook_sqlite(chinook_sqlite):
    names, lines = _tables_and_count(chinook_sqlite, "InvoiceLine")
    assert len(names) == 11 and {"Album", "InvoiceLine"} <= names
    assert lines == 2240


def test_northwind_pg(northwind_pg):
    names, _ = _tables_and_count(northwind_pg, "orders")
    assert len(names) == 14


def test_text_survives_round_trip(chinook_pg, chinook_maria):
    """Non-ASCII data is loaded as UTF-8 on both servers, not mangled."""
    for dsn, sql in [
        (chinook_pg, "SELECT first_name FROM customer WHERE last_name = 'Fernandes'"),
        (chinook_maria, "SELECT FirstName FROM Customer WHERE LastName = 'Fernandes'"),
    ]:
        engine = sa.create_engine(dsn)
        with engine.connect() as conn:
            assert conn.exec_driver_sql(sql).scalar() == "Jo\u00e3o"
        engine.dispose()


@pytest.mark.parametrize("server", ["pg_server", "maria_server"])
def test_wrong_password_fails(server, request):
    srv = request.getfixturevalue(server)
    engine = sa.create_engine(srv.dsn("", password="wrong-pw") if server == "maria_server"
                              else srv.dsn("postgres", password="wrong-pw"))
    with pytest.raises(sa.exc.OperationalError):
        with engine.connect():
            pass
    engine.dispose()
    # ...while the right password works.
    good = sa.create_engine(srv.dsn("postgres") if server == "pg_server" else srv.dsn(""))
    with good.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    good.dispose()


def test_factories(new_pg_db, new_maria_db, new_sqlite_path):
    dsns = [new_pg_db(), new_pg_db(), new_maria_db(), new_maria_db(), new_sqlite_path()]
    assert len(set(dsns)) == len(dsns)
    for dsn in dsns:
        engine = sa.create_engine(dsn)
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.exec_driver_sql("CREATE TABLE t (id INT PRIMARY KEY)")
        engine.dispose()
    sqlite_file = make_url(dsns[-1]).database
    assert sqlite_file.startswith("/") and sqlite_file.endswith(".db")


def test_pg_roles(pg_server, new_pg_db):
    dsn = new_pg_db()
    pg_server.create_role("reader", "r-pw")
    url = make_url(dsn).set(username="reader", password="r-pw")
    with sa.create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT current_user").scalar() == "reader"
