"""Shared fixtures: real PostgreSQL/MariaDB servers and the sample datasets.

Servers start lazily, once per session, only if a test asks for them. Missing
server binaries are an error, not a skip: a green run must mean the database
tests actually ran.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import (  # noqa: E402
    MariaDBServer,
    PostgresServer,
    ServerError,
    strip_create_database,
)

# In CI the repository is cloned with `shared/` beside it.
DATASETS = Path(
    os.environ.get("DBSYNTH_DATASETS")
    or Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
)


def dataset(*parts: str) -> Path:
    """Path of a file under the datasets directory; fails the test if absent."""
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"dataset file {path} not found (set DBSYNTH_DATASETS to the datasets dir)",
                    pytrace=False)
    return path


def _start(server_cls):
    try:
        return server_cls().start()
    except ServerError as exc:
        error = exc
    # Outside the except block, so the report shows the message once, without a chained trace.
    pytest.fail(f"could not start {server_cls.__name__}: {error}", pytrace=False)


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The sample datasets directory (shared/datasets or $DBSYNTH_DATASETS)."""
    if not DATASETS.is_dir():
        pytest.fail(f"datasets dir {DATASETS} not found (set DBSYNTH_DATASETS)", pytrace=False)
    return DATASETS


@pytest.fixture(scope="session")
def pg_server():
    """A private PostgreSQL 15 server for the whole session."""
    server = _start(PostgresServer)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def maria_server():
    """A private MariaDB server for the whole session."""
    server = _start(MariaDBServer)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chinook_pg(pg_server) -> str:
    """DSN of Chinook loaded into PostgreSQL database `chinook`."""
    script = dataset("chinook", "Chinook_PostgreSql.sql").read_text(encoding="utf-8")
    dsn = pg_server.create_database("chinook")
    # The script creates and \c's into its own database; load it into ours instead.
    pg_server.psql("chinook", strip_create_database(script))
    return dsn


@pytest.fixture(scope="session")
def chinook_maria(maria_server) -> str:
    """DSN of Chinook in MariaDB database `Chinook` (the script creates it itself)."""
    maria_server.run_sql_file(dataset("chinook", "Chinook_MySql.sql"))
    return maria_server.dsn("Chinook")


@pytest.fixture(scope="session")
def chinook_sqlite(tmp_path_factory) -> str:
    """DSN of a private copy of the Chinook SQLite file (tests may write to it)."""
    dst = tmp_path_factory.mktemp("chinook") / "Chinook_Sqlite.sqlite"
    shutil.copyfile(dataset("chinook", "Chinook_Sqlite.sqlite"), dst)
    return f"sqlite:///{dst}"


@pytest.fixture(scope="session")
def northwind_pg(pg_server) -> str:
    """DSN of Northwind loaded into PostgreSQL database `northwind`."""
    dsn = pg_server.create_database("northwind")
    pg_server.run_sql_file("northwind", dataset("northwind", "northwind.sql"))
    return dsn


# Fresh databases get names unique across the session; they are not dropped
# afterwards (a leaked connection would make DROP hang), the server is discarded anyway.
_db_counter = itertools.count(1)


def _db_name(request) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    return f"t{next(_db_counter)}_{stem}"


@pytest.fixture
def new_pg_db(pg_server, request):
    """Factory: `new_pg_db() -> DSN` of a fresh, empty PostgreSQL database."""
    return lambda: pg_server.create_database(_db_name(request))


@pytest.fixture
def new_maria_db(maria_server, request):
    """Factory: `new_maria_db() -> DSN` of a fresh, empty MariaDB database."""
    return lambda: maria_server.create_database(_db_name(request))


@pytest.fixture
def new_sqlite_path(tmp_path):
    """Factory: `new_sqlite_path() -> "sqlite:////tmp/.../dbN.db"`, a file not yet created."""
    counter = itertools.count(1)
    return lambda: f"sqlite:///{tmp_path / f'db{next(counter)}.db'}"
