"""Opening engines: read-only sources, redacted DSNs, driver errors turned into user errors.

This is the only place that knows how each engine is told "read only": the source is never
written to, enforced by the database itself, not by our good intentions.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import ipaddress
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from dbsynth.errors import ConnectionFailed, PermissionDenied, TargetIsSource, UsageError

SUPPORTED = ("postgresql", "mysql", "mariadb", "sqlite", "duckdb", "spark")
SOURCE_ONLY = ("spark",)  # engines dbsynth reads from but never writes into

# duckdb-engine reflects through pg_catalog queries DuckDB cannot answer: every duckdb:// URL gets
# its dialect with reflection read from DuckDB's own catalog instead (imported on first use).
sa.dialects.registry.register("duckdb", "dbsynth.schema.duckdb_catalog", "CatalogDialect")
# Spark SQL has no SQLAlchemy dialect of its own: dbsynth ships one (over a local SparkSession).
sa.dialects.registry.register("spark", "dbsynth.spark.dialect", "SparkDialect")
sa.dialects.registry.register("spark.local", "dbsynth.spark.dialect", "SparkDialect")


def parse_dsn(dsn: str) -> URL:
    remember_secrets(dsn)
    try:
        url = _make_url(dsn)
    except Exception:
        raise UsageError(f"not a database URL: {redact(dsn)!r} (expected e.g. postgresql+psycopg://user@host/db)") from None
    remember_secrets(url)
    if url.get_backend_name() not in SUPPORTED:
        raise UsageError(f"unsupported engine {url.get_backend_name()!r}; dbsynth supports PostgreSQL, MySQL/MariaDB, "
                         "SQLite and DuckDB, and Spark SQL as a source")
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() in ("mysql", "mariadb") and "+" not in url.drivername:
        url = url.set(drivername=url.get_backend_name() + "+pymysql")
    _check_driver(url)
    if url.get_backend_name() in ("mysql", "mariadb") and not url.database:
        raise UsageError(f"{redact(url)} names no database: add it to the URL (mysql+pymysql://user@host/DATABASE)")
    return url


def _check_driver(url: URL) -> None:
    """The URL's driver is installed and synchronous, or a usage error that says what to use."""
    try:
        dialect = url.get_dialect()
        dialect.import_dbapi()
    except Exception:
        raise UsageError(f"database driver {url.drivername!r} is not installed; use "
                         + ("postgresql+psycopg:// (pip install 'dbsynth[postgres]')" if engine_kind(url) == "postgresql"
                            else "mysql+pymysql:// (pip install 'dbsynth[mysql]')" if engine_kind(url) == "mysql"
                            else "duckdb:///FILE (pip install 'dbsynth[duckdb]')" if engine_kind(url) == "duckdb"
                            else "spark://local/DATABASE (pip install 'dbsynth[spark]', and a Java 17 runtime)"
                            if engine_kind(url) == "spark"
                            else "sqlite:///FILE")) from None
    if getattr(dialect, "is_async", False):
        raise UsageError(f"driver {url.drivername!r} is asynchronous; dbsynth needs a synchronous one, e.g. "
                         + ("postgresql+psycopg://" if engine_kind(url) == "postgresql" else "mysql+pymysql://"))


# --- secrets: nothing that authenticates is ever printed, logged or stored ---------------------------

# A query parameter whose name contains one of these holds a secret (case-insensitive):
# password, passwd, pwd, pass, sslpassword, passfile, secret, token, api_key, access_key, ...
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "api_key", "apikey", "access_key", "credential", "private_key")
# `password=...` inside any text (a libpq conninfo string, an `options=` value, a driver message).
_KEY_VALUE = re.compile(
    r"(?i)\b((?:ssl)?password|passwd|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'\",;)]+)")
# What may follow the `@` that ends the userinfo: host (or [v6]), :port, /database, ?query.
_AFTER_USERINFO = re.compile(r"(?:\[[^\]/?#@]*\]|[^/:?#@\[\]]*)(?::[^/?#@]*)?(?:/[^?@]*)?(?:\?.*)?\Z", re.S)
_SCHEME = re.compile(r"^([A-Za-z][\w+.-]*://)(.*)\Z", re.S)
_HOST_DB_QUERY = re.compile(r"[^/:?#@\[\]]*(?::\d*)?/[^?@]*\?[^=&]+=")
_MIN_SECRET = 3  # shorter secrets are only hidden where the URL structure says they are one
_KNOWN_SECRETS: set[str] = set()


def _is_secret_key(key: str) -> bool:
    low = key.lower()
    return any(word in low for word in _SECRET_WORDS)


def _userinfo_end(rest: str) -> int | None:
    """Index of the `@` that ends the userinfo in `rest` (the URL after `scheme://`), or None.

    Passwords with an unencoded `@` (or `:`, `/`) are common: the userinfo ends at the first `@`
    after which a plain `host[:port][/db][?query]` follows, i.e. at the last `@` before the host.
    """
    for i, ch in enumerate(rest):
        if ch != "@":
            continue
        head = rest[:i]
        if "/" in head.partition(":")[0]:  # a path (sqlite:///a@b.db), not a userinfo
            return None
        if _HOST_DB_QUERY.match(head):  # host/db?key=... : this `@` is in the query string
            return None
        if _AFTER_USERINFO.match(rest, i + 1):
            return i
    return None


def _reencode(dsn: str) -> str | None:
    """`dsn` with its userinfo percent-encoded and every `@` of its query string as %40, so that
    the only raw `@` left ends the userinfo; None when there is nothing to change. make_url
    decodes both again, so the meaning is unchanged."""
    m = _SCHEME.match(dsn)
    if not m or "@" not in m.group(2) or m.group(2).startswith("/"):
        return None
    rest = m.group(2)
    at = _userinfo_end(rest)
    userinfo, after = (None, rest) if at is None else (rest[:at], rest[at + 1:])
    hostpath, q, query = after.partition("?")
    if "@" in hostpath:
        return None  # no reading of it makes sense; leave it to make_url
    out = m.group(1)
    if userinfo is not None:
        user, sep, password = userinfo.partition(":")
        enc = lambda text: quote(unquote(text), safe="")  # noqa: E731 - what make_url decodes again
        out += f"{enc(user)}{':' + enc(password) if sep else ''}@"
    out += hostpath + q + query.replace("@", "%40")
    return None if out == dsn else out


def _make_url(dsn: str) -> URL:
    """make_url, except that a raw `@` in the password or in a query value does not end the
    userinfo (it would otherwise connect to the password's tail as a host and print it)."""
    fixed = _reencode(dsn)
    if fixed is not None:
        try:
            return make_url(fixed)
        except Exception:  # noqa: BLE001 - fall back to the URL as written
            pass
    return make_url(dsn)


def _forms(secret: str) -> set[str]:
    """The spellings a secret can take in a URL, a message or a JSON document."""
    forms = {secret, unquote(secret), unquote_plus(secret)}
    for text in list(forms):
        forms |= {quote(text, safe=""), quote(text), quote_plus(text), json.dumps(text)[1:-1]}
    return {f for f in forms if f}


def _secrets_of(dsn: str | URL) -> set[str]:
    found: set[str] = set()
    if isinstance(dsn, URL):
        if dsn.password:
            found.add(str(dsn.password))
        for key, value in dsn.query.items():
            values = [value] if isinstance(value, str) else list(value)
            if _is_secret_key(key):
                found.update(values)
            else:  # password=... inside another value (libpq `options`)
                found.update(m.group(3).strip("'") for v in values for m in _KEY_VALUE.finditer(v))
        if dsn.host and "@" in dsn.host:  # parsed without _make_url: the password's tail
            found.add(dsn.host.rpartition("@")[0])
        return {f for s in found for f in _forms(s)}
    m = _SCHEME.match(dsn)
    if m:  # the raw userinfo password, however (un)encoded
        rest = m.group(2)
        at = _userinfo_end(rest)
        if at is None and "/" not in rest.partition("@")[0].partition(":")[0]:
            at = rest.rfind("@") if "@" in rest else None
        if at is not None and ":" in rest[:at]:
            found.add(rest[:at].partition(":")[2])
    for key, value in re.findall(r"[?&;]([^=&?;]+)=([^&;]*)", dsn):
        if _is_secret_key(key):
            found.add(value)
    for match in _KEY_VALUE.finditer(dsn):
        found.add(match.group(3).strip("'"))
    return {f for s in found for f in _forms(s)}


def remember_secrets(dsn: str | URL) -> None:
    """Note the secrets of a DSN, so that `scrub` hides them in any later message of this process."""
    _KNOWN_SECRETS.update(s for s in _secrets_of(dsn) if len(s) >= _MIN_SECRET and s != "***")


def scrub(text: str, url: URL | str | None = None) -> str:
    """`text` with every secret of `url` and every secret seen by `parse_dsn` replaced by ***."""
    secrets_ = set(_KNOWN_SECRETS)
    if url is not None:
        secrets_ |= {s for s in _secrets_of(url) if len(s) >= _MIN_SECRET and s != "***"}
    for secret in sorted(secrets_, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return _KEY_VALUE.sub(r"\1\2***", text)


def scrub_data(data):
    """`scrub` every string (keys included) of a JSON-like structure; the structure stays valid."""
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {scrub_data(k): scrub_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [scrub_data(v) for v in data]
    if data is None or isinstance(data, (bool, int, float)):
        return data
    return scrub(str(data))


def _redact_query(query) -> dict:
    """Secret parameters as ***, and `password=...` inside any other value (libpq `options`)."""
    def hide(key: str, value: str) -> str:
        return "***" if _is_secret_key(key) else _KEY_VALUE.sub(r"\1\2***", value)

    return {k: hide(k, v) if isinstance(v, str) else tuple(hide(k, x) for x in v) for k, v in query.items()}


def _redact_url(url: URL) -> str:
    if url.host and "@" in url.host:
        url = url.set(host=url.host.rpartition("@")[2])
    if url.password is not None:
        url = url.set(password="***")
    query = _redact_query(url.query)
    if query != dict(url.query):
        url = url.set(query=query)
    text = url.render_as_string(hide_password=False).replace("%2A%2A%2A", "***")
    return _KEY_VALUE.sub(r"\1\2***", text)


def _redact_text(text: str) -> str:
    """Redact what does not parse as a URL: hide whatever could be a password."""
    m = _SCHEME.match(text)
    if m:
        rest = m.group(2)
        at = _userinfo_end(rest)
        if at is None and "@" in rest:
            at = rest.rfind("@")
        if at is not None and ":" in rest[:at] and "/" not in rest[:at].partition(":")[0]:
            text = m.group(1) + rest[:at].partition(":")[0] + ":***" + rest[at:]
    text = re.sub(r"([?&;])([^=&?;\s]+)=([^&;\s]*)",
                  lambda mm: f"{mm.group(1)}{mm.group(2)}={'***' if _is_secret_key(mm.group(2)) else mm.group(3)}",
                  text)
    return _KEY_VALUE.sub(r"\1\2***", text)


def redact(dsn: str | URL) -> str:
    """The DSN with every credential replaced by ***, safe for logs, reports and errors: the
    userinfo password (also one with a raw `@`), secret query parameters (password, token, ...)
    and `password=` anywhere."""
    if isinstance(dsn, URL):
        return _redact_url(dsn)
    try:
        url = _make_url(dsn)
    except Exception:
        return _redact_text(dsn)
    if url.password is None and _redact_query(url.query) == dict(url.query) and "@" not in (url.host or ""):
        return _KEY_VALUE.sub(r"\1\2***", dsn)  # nothing to hide: the DSN as the user wrote it
    return _redact_url(url)


def engine_kind(url: URL | sa.Engine) -> str:
    """'postgresql', 'mysql', 'sqlite', 'duckdb' or 'spark': the dialect family that decides SQL quirks."""
    name = url.get_backend_name() if isinstance(url, URL) else url.dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def _scrub(message: str, url: URL) -> str:
    """The first line of a driver message, with every form of every known secret hidden."""
    text = message.splitlines()[0] if message else ""
    return scrub(text, url).strip()


# What pg_export_snapshot() returns: hex transaction and counter, then a decimal sequence number.
_SNAPSHOT = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")


def source_engine(dsn: str, snapshot: str | None = None) -> sa.Engine:
    """An engine whose every transaction is read only (enforced by the server).

    `snapshot`: a PostgreSQL snapshot exported by another session (`pg_export_snapshot()`, e.g.
    the session that called `dbsynth.synthesize`): every transaction then imports it, so all
    reads see exactly what that session saw, whatever commits meanwhile."""
    url = parse_dsn(dsn)
    kind = engine_kind(url)
    if snapshot is not None and (kind != "postgresql" or not _SNAPSHOT.fullmatch(snapshot)):
        raise UsageError(f"--source-snapshot {snapshot!r}: needs a PostgreSQL source and an id from "
                         "pg_export_snapshot(), e.g. 00000003-0000001B-1")
    if kind == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            raise UsageError("a SQLite source must be a file")
        import os

        if not os.path.exists(path):
            raise ConnectionFailed(f"SQLite source file not found: {path}")
        with open(path, "rb") as fh:
            header = fh.read(16)
        if header and header != b"SQLite format 3\x00":
            raise ConnectionFailed(f"{path} is not a SQLite database")
        # mode=ro: SQLite itself refuses writes through this connection.
        engine = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    elif kind == "duckdb":
        engine = _duckdb_source(url)
    elif kind == "spark":
        # Spark has no read-only session: the adapter refuses every statement that is not a
        # query (dbsynth.spark.dbapi.refuse_writes); grant the reader read-only storage anyway.
        engine = sa.create_engine(url)
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

        utc_sessions(engine, kind)
        if snapshot is not None:
            _import_snapshot(engine, snapshot)
    check_connection(engine, url)
    return engine


def _duckdb_source(url: URL) -> sa.Engine:
    """A DuckDB file opened with read_only=True: DuckDB itself refuses every write through it
    (and, unlike a read-write open, never creates the file)."""
    path = _duckdb_path(url)
    if path is None:
        raise UsageError("a DuckDB source must be a file (duckdb:///path/file.duckdb)")
    if not os.path.isfile(path):
        raise ConnectionFailed(f"DuckDB source file not found: {path}")
    engine = sa.create_engine(url, connect_args={"read_only": True})
    utc_sessions(engine, "duckdb")
    return engine


def _duckdb_path(url: URL) -> str | None:
    path = url.database or ""
    return None if not path or path == ":memory:" else path


def _import_snapshot(engine: sa.Engine, snapshot: str) -> Callable[[sa.Connection], None]:
    """Every transaction of `engine` reads in `snapshot` (REPEATABLE READ, as importing needs).
    Returns the listener, which `sa.event.remove` takes off again."""

    def _in_snapshot(conn):  # pragma: no cover - runs inside the driver
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try:
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        except sa.exc.DBAPIError as exc:
            raise ConnectionFailed(f"cannot read in snapshot {snapshot}: {_scrub(str(exc.orig), engine.url)} "
                                   "(the session that exported it must still be in its transaction)") from None

    sa.event.listen(engine, "begin", _in_snapshot)
    return _in_snapshot


@contextlib.contextmanager
def one_snapshot(engine: sa.Engine) -> Iterator[sa.Engine]:
    """The engine to read the source with, every read of it in one snapshot taken on entering:
    so the schema, the sizes, the domains and every marginal describe one database however much
    the source changes meanwhile. Leaving ends the snapshot's transaction (the source's vacuum or
    purge is not held back past the reading).

    PostgreSQL: `engine` itself; a REPEATABLE READ transaction held open here exports its
    snapshot and every other transaction imports it. MySQL/MariaDB, where no session can import
    another's snapshot: an engine over one connection in one `WITH CONSISTENT SNAPSHOT`
    transaction, whose commits and rollbacks are kept from ending it. SQLite in WAL mode: the
    same, one connection in one read transaction (a WAL reader sees the database as of its first
    read, and writers go on). Other engines: `engine` (a DuckDB source opened read-only locks
    writers out; a SQLite file in a rollback journal would lock every writer out for the whole
    measurement, which a live application's file must not suffer: read as it is, as Spark)."""
    kind = engine_kind(engine)
    if kind == "postgresql":
        with engine.connect() as holder:
            holder.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot = holder.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            listener = _import_snapshot(engine, snapshot)
            try:
                yield engine
            finally:
                sa.event.remove(engine, "begin", listener)
                holder.rollback()
    elif kind == "mysql":
        def begin(driver) -> None:
            driver.rollback()
            with driver.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

        # the session is set up already: read only, UTC
        yield from _one_transaction(engine, begin, lambda driver: driver.rollback())
    elif kind == "sqlite" and _in_wal_mode(engine):
        saved = {}

        def begin(driver) -> None:
            saved["isolation"] = driver.isolation_level
            driver.isolation_level = None  # no transaction of the module's own: ours, from BEGIN
            driver.execute("BEGIN")
            driver.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the first read fixes the snapshot

        def end(driver) -> None:
            driver.execute("ROLLBACK")
            driver.isolation_level = saved["isolation"]

        yield from _one_transaction(engine, begin, end)
    else:
        yield engine


def _one_transaction(engine: sa.Engine, begin, end) -> Iterator[sa.Engine]:
    """An engine over one of `engine`'s connections, in the one transaction `begin` opens on it
    and `end` closes: every `connect()` of it reads that transaction's snapshot."""
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        begin(driver)
        pinned = sa.create_engine(engine.url, creator=lambda: _InOneTransaction(driver), poolclass=sa.pool.StaticPool)
        try:
            yield pinned
        finally:
            pinned.dispose()
            end(driver)
    finally:
        pooled.close()


def _in_wal_mode(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"


class _InOneTransaction:
    """A DB-API connection whose transaction outlives the statements run through it: commit and
    rollback (SQLAlchemy ends every `connect()` block with one) and close leave it open;
    `one_snapshot` ends it. Everything else is the driver's connection."""

    def __init__(self, driver):
        self._driver = driver

    def __getattr__(self, name):
        return getattr(self._driver, name)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def target_engine(dsn: str) -> sa.Engine:
    url = parse_dsn(dsn)
    if engine_kind(url) in SOURCE_ONLY:
        raise UsageError(f"{redact(url)}: {engine_kind(url)} is a source only; write the shadow into PostgreSQL, "
                         "MySQL/MariaDB or SQLite")
    if engine_kind(url) == "sqlite":
        # -- issue 13: looking at a SQLite target never creates its file; only the writer does --
        from dbsynth.write.sqlite_file import target_engine as sqlite_target_engine

        engine = sqlite_target_engine(url)
        # -- end issue 13 --
    elif engine_kind(url) == "duckdb":
        # -- issue 17: a DuckDB target file is created by the writer, never by looking at it --
        from dbsynth.write.duckdb_file import target_engine as duckdb_target_engine

        engine = duckdb_target_engine(url)
        utc_sessions(engine, "duckdb")
        # -- end issue 17 --
    else:
        kwargs = {"local_infile": True} if engine_kind(url) == "mysql" else {}
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=kwargs)
        utc_sessions(engine, engine_kind(url))
    check_connection(engine, url)
    return engine


def utc_sessions(engine: sa.Engine, kind: str) -> None:
    """Every session of `engine` in UTC, whatever the server's or the DSN's time zone.

    timestamptz (PostgreSQL) and TIMESTAMP (MySQL/MariaDB) hold instants that the session shows
    as wall times of its own zone: read in one zone and written in another, every value would
    move by the difference (and a MySQL TIMESTAMP near its 1970 or 2038 end fall outside it).
    In UTC the wall times dbsynth measures and writes are the instants, DST never folds them,
    and MySQL TIMESTAMP's range is fixed ('+00:00' needs no time zone tables on the server)."""
    if kind not in ("postgresql", "mysql", "duckdb"):
        return

    @sa.event.listens_for(engine, "connect")
    def _utc(dbapi_conn, _record):  # pragma: no cover - runs inside the driver
        if kind == "duckdb":  # TIMESTAMPTZ shows wall times of the TimeZone setting
            dbapi_conn.execute("SET TimeZone = 'UTC'")
            return
        cur = dbapi_conn.cursor()
        cur.execute("SET TIME ZONE 'UTC'" if kind == "postgresql" else "SET time_zone = '+00:00'")
        cur.close()
        if kind == "postgresql":
            dbapi_conn.commit()


def check_connection(engine: sa.Engine, url: URL | None = None) -> None:
    url = url or engine.url
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        raise ConnectionFailed(f"cannot connect to {redact(url)}: {_scrub(str(exc.orig), url)}") from None
    except Exception as exc:  # driver import errors and the like
        raise ConnectionFailed(f"cannot connect to {redact(url)}: {_scrub(str(exc), url)}") from None


_SELECT_HINT = ("grant SELECT on it to the source role (connectors/postgres/roles.sql and "
                "connectors/mysql/roles.sql create least-privilege roles)")


def _denied(message: str) -> bool:
    low = message.lower()
    return "permission denied" in low or "command denied" in low or "access denied" in low


@contextlib.contextmanager
def translate_errors(engine: sa.Engine, what: str, hint: str = _SELECT_HINT) -> Iterator[None]:
    """Turn privilege errors into PermissionDenied naming the object and how to grant what is
    missing (`hint`; by default SELECT for the source role); everything else passes."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        msg = _scrub(str(exc.orig).splitlines()[0], engine.url)
        if _denied(msg):
            raise PermissionDenied(f"{what}: {msg} — {hint}") from None
        raise


# --- the source is never a target ----------------------------------------------------------------

_LOCAL = "<this machine>"
_DEFAULT_PORT = {"postgresql": 5432, "mysql": 3306}


def refuse_same_database(source: str, target: str, src_engine: sa.Engine | None = None,
                         tgt_engine: sa.Engine | None = None) -> None:
    """Raise TargetIsSource when `target` names the source database, however it is spelt.

    Without engines, from the URLs alone (call it before connecting): same engine family, same
    server (host names resolved; localhost, loopback and this machine's own names and addresses
    are one host; default ports filled in; a PostgreSQL unix socket is this machine) and same
    database; for SQLite and DuckDB the same file (realpath, or the same inode). With both engines, also
    from what each server says it is, which catches aliases the URLs hide (a MariaDB unix socket,
    a name that resolves elsewhere, a PostgreSQL replica of the target). Runs no query on data.
    """
    try:
        a, b = _make_url(source), _make_url(target)
    except Exception:
        return  # the connection step reports a malformed URL
    same = _same_by_url(a, b)
    if not same and src_engine is not None and tgt_engine is not None:
        ida, idb = server_identity(src_engine), server_identity(tgt_engine)
        same = (ida is not None and idb is not None
                and _same_identity(ida, idb, lambda: _same_server_by_lock(src_engine, tgt_engine)))
    if same:
        raise TargetIsSource(
            f"the target {redact(b)} is the source database {redact(a)}; dbsynth never writes into its source "
            "(with or without --replace): name another database as the target")


def _same_by_url(a: URL, b: URL) -> bool:
    kind = engine_kind(a)
    if kind != engine_kind(b):
        return False
    if kind in SOURCE_ONLY:
        return False  # never a target: `target_engine` refuses it whatever it names
    if kind in ("sqlite", "duckdb"):
        pa, pb = (_sqlite_path(a), _sqlite_path(b)) if kind == "sqlite" else (_duckdb_path(a), _duckdb_path(b))
        if pa is None or pb is None:
            return False
        if os.path.realpath(pa) == os.path.realpath(pb):
            return True
        try:
            return os.path.samefile(pa, pb)
        except OSError:
            return False
    la, lb = _location(a, kind), _location(b, kind)
    if la is None or lb is None:
        return False
    (host_a, port_a, db_a), (host_b, port_b, db_b) = la, lb
    return db_a == db_b and port_a == port_b and _same_host(host_a, host_b)


def _sqlite_path(url: URL) -> str | None:
    path = url.database or ""
    if path.startswith("file:"):  # sqlite:///file:x.db?mode=ro&uri=true
        path = unquote(path[5:].split("?")[0])
    return None if not path or path == ":memory:" else path


def _first(value) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return value[0] if value else None


def _location(url: URL, kind: str) -> tuple[str, object, str] | None:
    """(host, port, database) with the driver's defaults filled in; host is _LOCAL for this
    machine, a socket path for a MySQL socket (its port is unknown), else the name as given."""
    q = url.query
    if kind == "postgresql":
        host = url.host or _first(q.get("host")) or os.environ.get("PGHOST")
        port = url.port or _first(q.get("port")) or os.environ.get("PGPORT") or _DEFAULT_PORT[kind]
        db = (url.database or _first(q.get("dbname")) or os.environ.get("PGDATABASE") or url.username
              or _first(q.get("user")) or os.environ.get("PGUSER") or getpass.getuser())
        if host is None or host.startswith(("/", "@")):  # the local unix socket (.s.PGSQL.<port>)
            host = _LOCAL
        host = host.split(",")[0]  # multi-host: the first one
    else:
        socket_path = _first(q.get("unix_socket"))
        db = url.database or _first(q.get("database")) or _first(q.get("db"))
        if not db:
            return None
        if socket_path:
            return (f"socket:{os.path.realpath(socket_path)}", None, db)
        host = url.host or _first(q.get("host")) or "localhost"
        port = url.port or _first(q.get("port")) or _DEFAULT_PORT[kind]
    try:
        port = int(str(port).split(",")[0])
    except ValueError:
        pass
    return (host, port, db)


def _same_host(a: str, b: str) -> bool:
    if a.lower() == b.lower():
        return True
    if a.startswith("socket:") or b.startswith("socket:"):
        return False
    return bool(_addresses(a) & _addresses(b))


@functools.lru_cache(maxsize=64)
def _addresses(host: str) -> frozenset[str]:
    """The addresses `host` resolves to, every address of this machine folded into _LOCAL."""
    name = host.strip("[]").lower()
    if name == _LOCAL.lower() or name in ("localhost", "localhost.localdomain") or name in _own_names():
        return frozenset({_LOCAL})
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return frozenset({name})
    addresses = {info[4][0] for info in infos} or {name}
    return frozenset(_LOCAL if _is_local_address(ip) else ip for ip in addresses)


@functools.lru_cache(maxsize=1)
def _own_names() -> frozenset[str]:
    names = {socket.gethostname().lower()}
    names.add(next(iter(names)).split(".")[0])
    return frozenset(names)


@functools.lru_cache(maxsize=64)
def _is_local_address(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    if addr.is_loopback or addr.is_unspecified:
        return True
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return _is_local_address(str(addr.ipv4_mapped))
    # An address is this machine's own exactly when a socket can be bound to it.
    family = socket.AF_INET6 if isinstance(addr, ipaddress.IPv6Address) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
        return True
    except OSError:
        return False


def server_identity(engine: sa.Engine) -> dict | None:
    """What the server says it is and which database the session is in; None if it will not say.

    PostgreSQL: the database, the port and start time of the postmaster, whether it is a
    standby and (where readable) the cluster's system_identifier. MySQL/MariaDB: host name,
    port, data directory, database, whether names are case-insensitive, and @@server_uuid
    where the server has one (MySQL). Catalog functions only, never a table row.
    """
    kind = engine_kind(engine)
    if kind not in ("postgresql", "mysql"):
        return None
    try:
        with engine.connect() as conn:
            if kind == "postgresql":
                row = conn.execute(sa.text(
                    "SELECT current_database(), current_setting('port'), pg_postmaster_start_time(), "
                    "pg_is_in_recovery(), has_function_privilege('pg_control_system()', 'EXECUTE')")).one()
                sysid = None
                if row[4]:
                    sysid = conn.execute(sa.text("SELECT system_identifier FROM pg_control_system()")).scalar()
                return {"kind": kind, "database": row[0], "server": (row[1], str(row[2])),
                        "standby": bool(row[3]), "system_identifier": sysid}
            row = conn.execute(sa.text(
                "SELECT @@hostname, @@port, @@datadir, DATABASE(), @@lower_case_table_names")).one()
            uuid = None
            try:
                uuid = conn.execute(sa.text("SELECT @@server_uuid")).scalar()
            except sa.exc.DBAPIError:  # MariaDB has no server_uuid
                pass
            db = row[3]
            if db is not None and str(row[4]) != "0":
                db = db.lower()
            return {"kind": kind, "database": db, "server": (row[0], row[1], row[2]), "server_uuid": uuid}
    except Exception:  # noqa: BLE001 - the connection step reports real connection problems
        return None


def _same_server_by_lock(src: sa.Engine, tgt: sa.Engine) -> bool | None:
    """MySQL/MariaDB: is a named lock the source session holds seen as held from the target?
    Named locks are server-wide, so this says "same server" exactly; None if it cannot tell."""
    import secrets

    name = f"dbsynth-identity-{secrets.token_hex(8)}"
    try:
        with src.connect() as held:
            if held.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() != 1:
                return None
            try:
                with tgt.connect() as probe:
                    return probe.execute(sa.text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar() is not None
            finally:
                held.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    except Exception:  # noqa: BLE001 - fall back to comparing what the servers say they are
        return None


def _same_identity(a: dict, b: dict, same_server_by_lock=lambda: None) -> bool:
    if a["kind"] != b["kind"] or a["database"] is None or a["database"] != b["database"]:
        return False
    if a["kind"] == "postgresql":
        if a["server"] == b["server"]:
            return True
        # A standby shares its primary's system_identifier (and replays what the primary writes).
        return (a["system_identifier"] is not None and a["system_identifier"] == b["system_identifier"]
                and (a["standby"] or b["standby"]))
    by_lock = same_server_by_lock()
    if by_lock is not None:
        return by_lock
    if a["server_uuid"] and b["server_uuid"]:
        return a["server_uuid"] == b["server_uuid"]
    return a["server"] == b["server"]
