"""A read-only DB-API 2.0 connection over a local `SparkSession` (PEP 249, `paramstyle` named).

Values stay bound parameters: `spark.sql(text, args=...)` binds `:name` markers (Spark 3.5+),
so nothing from data or from a release is pasted into the text. Every statement is parsed by
Spark first and refused unless it is a query (or SHOW/DESCRIBE): Spark has no read-only session,
so this adapter is what keeps dbsynth from writing into a Spark source.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Sequence
from typing import Any

apilevel = "2.0"
threadsafety = 1  # the session may be shared, a connection may not
paramstyle = "named"


class Warning(Exception):  # noqa: A001 - the name PEP 249 asks for
    pass


class Error(Exception):
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


# Statements that only describe the catalog: their plans are commands, but none of them writes.
_CATALOG_READS = re.compile(r"\s*(SHOW|DESCRIBE|DESC)\b", re.I)
_QUERY_START = re.compile(r"\s*(\(\s*)*(SELECT|WITH|VALUES|FROM|TABLE)\b", re.I)


def session(master: str = "local[*]", warehouse: str | None = None, hive: bool = False,
            driver_memory: str | None = None):
    """The process's active SparkSession, or a new local one with these settings (a notebook's
    or a Spark job's own session is used as it is: its settings are its owner's)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = (SparkSession.builder.master(master).appName("dbsynth")
               .config("spark.ui.enabled", "false")
               # Wall times: TIMESTAMP values are read and counted in UTC (see Cursor._value).
               .config("spark.sql.session.timeZone", "UTC"))
    if warehouse:
        builder = builder.config("spark.sql.warehouse.dir", warehouse)
    if driver_memory:
        builder = builder.config("spark.driver.memory", driver_memory)
    if hive:
        # An embedded Derby metastore beside the warehouse, so tables outlive the session.
        if warehouse:
            builder = builder.config("spark.hadoop.javax.jdo.option.ConnectionURL",
                                     f"jdbc:derby:;databaseName={warehouse}/metastore_db;create=true")
        builder = builder.enableHiveSupport()
    return builder.getOrCreate()


def connect(database: str = "default", **settings: Any) -> "Connection":
    try:
        spark = session(**settings)
        if not spark.catalog.databaseExists(database):
            raise OperationalError(f"Spark has no database {database!r}")
    except Error:
        raise
    except Exception as exc:  # py4j or pyspark errors while starting the JVM
        raise OperationalError(f"cannot start Spark: {_first_line(exc)}") from None
    return Connection(spark, database)


class Connection:
    """A view of the shared session with its current database; transactions are no-ops (reads)."""

    def __init__(self, spark, database: str):
        self.spark = spark
        self.database = database
        self.closed = False

    def cursor(self) -> "Cursor":
        if self.closed:
            raise InterfaceError("connection closed")
        return Cursor(self)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True  # the session is the process's: other connections share it


class Cursor:
    arraysize = 1000

    def __init__(self, connection: Connection):
        self.connection = connection
        self.description: list[tuple] | None = None
        self.rowcount = -1
        self._rows: list[tuple] = []
        self._next = 0

    def execute(self, operation: str, parameters: dict[str, Any] | None = None) -> "Cursor":
        spark = self.connection.spark
        try:
            refuse_writes(spark, operation)
            if spark.catalog.currentDatabase() != self.connection.database:
                spark.catalog.setCurrentDatabase(self.connection.database)
            frame = _query(spark, operation, dict(parameters or {}))
            fields = frame.schema.fields
            timestamps = [type(f.dataType).__name__ == "TimestampType" for f in fields]
            self._rows = [tuple(_value(v, ts) for v, ts in zip(row, timestamps)) for row in frame.collect()]
        except Error:
            raise
        except Exception as exc:
            raise ProgrammingError(_first_line(exc)) from None
        self.description = [(f.name, f.dataType.simpleString(), None, None, None, None, f.nullable) for f in fields]
        self.rowcount = len(self._rows)
        self._next = 0
        return self

    def executemany(self, operation: str, seq_of_parameters: Sequence[dict[str, Any]]) -> None:
        for parameters in seq_of_parameters:
            self.execute(operation, parameters)

    def fetchone(self) -> tuple | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        size = size or self.arraysize
        out = self._rows[self._next:self._next + size]
        self._next += len(out)
        return out

    def fetchall(self) -> list[tuple]:
        out = self._rows[self._next:]
        self._next = len(self._rows)
        return out

    def close(self) -> None:
        self._rows = []

    def setinputsizes(self, sizes) -> None:
        pass

    def setoutputsize(self, size, column=None) -> None:
        pass


# Values the JVM's own `sql(text, args)` turns into literals exactly as pyspark's `lit` would.
_PLAIN = (bool, int, float, str, decimal.Decimal, type(None))


def _query(spark, operation: str, parameters: dict[str, Any]):
    """The DataFrame of `operation` with `parameters` bound. Plain values go to the JVM in one
    map: pyspark's `args=` makes one py4j call per value, 3 s for the 3,000 bin edges of one
    domain-discovery statement."""
    if not parameters:
        return spark.sql(operation)
    if all(isinstance(v, _PLAIN) for v in parameters.values()):
        from pyspark.sql import DataFrame

        return DataFrame(spark._jsparkSession.sql(operation, parameters), spark)
    return spark.sql(operation, args=parameters)


def refuse_writes(spark, operation: str) -> None:
    """Raise NotSupportedError unless `operation` only reads: a query whose parsed plan is no
    command or DML (`WITH ... INSERT` starts like a query), or a catalog SHOW/DESCRIBE."""
    if _CATALOG_READS.match(operation):
        return
    if not _QUERY_START.match(operation):
        raise NotSupportedError(f"the Spark source is read only; refused: {operation.split(None, 1)[0]} ...")
    jvm = spark._jvm
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(operation)
    logical = "org.apache.spark.sql.catalyst.plans.logical."
    while plan.getClass().getName() == logical + "UnresolvedWith":
        plan = plan.child()
    for kind in ("Command", "ParsedStatement", "V2WriteCommand", "InsertIntoStatement"):
        try:
            cls = jvm.java.lang.Class.forName(logical + kind)
        except Exception:  # noqa: BLE001 - a class this Spark version does not have
            continue
        if cls.isInstance(plan):
            raise NotSupportedError(f"the Spark source is read only; refused a {plan.nodeName()} statement")


def _value(v: Any, timestamp: bool) -> Any:
    if isinstance(v, bytearray):
        return bytes(v)
    if timestamp and isinstance(v, dt.datetime):
        # pyspark turns a TIMESTAMP into a naive local time of this process; the session (and
        # every SQL expression dbsynth pushes down) shows it in UTC: hand back that wall time.
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return v


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
