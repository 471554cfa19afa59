"""Opening engines: read-only sources, redacted DSNs, driver errors turned into user errors.

This is the only place that knows how each engine is told "read only": the source is never
written to, enforced by the database itself, not by our good intentions.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from dbsynth.errors import ConnectionFailed, PermissionDenied, UsageError

SUPPORTED = ("postgresql", "mysql", "mariadb", "sqlite")


def parse_dsn(dsn: str) -> URL:
    try:
        url = make_url(dsn)
    except Exception:
        raise UsageError(f"not a database URL: {redact(dsn)!r} (expected e.g. postgresql+psycopg://user@host/db)") from None
    if url.get_backend_name() not in SUPPORTED:
        raise UsageError(f"unsupported engine {url.get_backend_name()!r}; dbsynth supports PostgreSQL, MySQL/MariaDB and SQLite")
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() in ("mysql", "mariadb") and "+" not in url.drivername:
        url = url.set(drivername=url.get_backend_name() + "+pymysql")
    return url


def redact(dsn: str | URL) -> str:
    """The DSN with its password replaced, safe for logs, reports and errors."""
    if isinstance(dsn, URL):
        return dsn.render_as_string(hide_password=True)
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)


def engine_kind(url: URL | sa.Engine) -> str:
    """'postgresql', 'mysql' or 'sqlite': the dialect family that decides SQL quirks."""
    name = url.get_backend_name() if isinstance(url, URL) else url.dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def _scrub(message: str, url: URL) -> str:
    text = message.splitlines()[0] if message else ""
    if url.password:
        text = text.replace(str(url.password), "***")
    return text.strip()


def source_engine(dsn: str) -> sa.Engine:
    """An engine whose every transaction is read only (enforced by the server)."""
    url = parse_dsn(dsn)
    kind = engine_kind(url)
    if kind == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            raise UsageError("a SQLite source must be a file")
        import os

        if not os.path.exists(path):
            raise ConnectionFailed(f"SQLite source file not found: {path}")
        # mode=ro: SQLite itself refuses writes through this connection.
        engine = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)

        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_conn, _record):  # pragma: no cover - runs inside the driver
            cur = dbapi_conn.cursor()
            if kind == "postgresql":
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            else:
                cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.close()
            if kind == "postgresql":
                dbapi_conn.commit()

    check_connection(engine, url)
    return engine


def target_engine(dsn: str) -> sa.Engine:
    url = parse_dsn(dsn)
    if engine_kind(url) == "sqlite":
        engine = sa.create_engine(url)
    else:
        kwargs = {"local_infile": True} if engine_kind(url) == "mysql" else {}
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=kwargs)
    check_connection(engine, url)
    return engine


def check_connection(engine: sa.Engine, url: URL | None = None) -> None:
    url = url or engine.url
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        raise ConnectionFailed(f"cannot connect to {redact(url)}: {_scrub(str(exc.orig), url)}") from None
    except Exception as exc:  # driver import errors and the like
        raise ConnectionFailed(f"cannot connect to {redact(url)}: {_scrub(str(exc), url)}") from None


@contextlib.contextmanager
def translate_errors(engine: sa.Engine, what: str) -> Iterator[None]:
    """Turn privilege errors into PermissionDenied naming the object, everything else passes."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        msg = _scrub(str(exc.orig), engine.url)
        low = msg.lower()
        if "permission denied" in low or "command denied" in low or "access denied" in low:
            raise PermissionDenied(
                f"{what}: {msg} — grant SELECT on it to the source role (connectors/roles/ has least-privilege scripts)"
            ) from None
        raise
