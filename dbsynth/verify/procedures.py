"""`dbsynth install-procedures`: the hard checks as a MySQL/MariaDB stored procedure.

`CALL dbsynth_verify('shadow_db')` runs, against the named database, the statements that
`verify --emit-sql` writes for the source's schema, and returns the same rows (check_name,
table_name, subject, violations) as one result set; a check whose statement fails (a table or a
column missing) has violations NULL. A routine runs in its own database, so the checks name
their tables through the argument: each statement is built with CONCAT around the quoted name
and run with PREPARE/EXECUTE.
"""

from __future__ import annotations

import sqlalchemy as sa

from dbsynth.schema.model import Schema
from dbsynth.verify.emit import COLUMNS
from dbsynth.verify.queries import CheckQuery, plan_checks
from dbsynth.verify.templates import Quoter

PROCEDURE = "dbsynth_verify"
RESULT = "dbsynth_verify_result"
# Where the shadow's name goes in a statement: as an identifier, and as a string. Never in SQL text.
_IDENT, _STRING = "\x00db-ident\x00", "\x00db-string\x00"


class _InShadow(Quoter):
    """Table names qualified by the database the procedure is called for."""

    def table(self, name: str) -> str:
        return f"{_IDENT}.{self(name)}"

    def database(self) -> str:
        return _STRING


def procedure_sql(schema: Schema, metadata: sa.MetaData, dialect: sa.Dialect, *, source: str,
                  ledger_bound: float | None = None, name: str = PROCEDURE) -> str:
    """CREATE PROCEDURE `name`(IN shadow VARCHAR(64)): the checks of `schema`, one result set."""
    q = Quoter(dialect)
    checks = plan_checks(schema, metadata, dialect, None, ledger_bound=ledger_bound, include_ledger=True,
                         quoter=_InShadow(dialect))
    body = "\n".join(_check(q, i, c) for i, c in enumerate(checks, 1))
    columns = ", ".join(COLUMNS)
    comment = q.literal(f"dbsynth hard checks ({len(checks)}) for the schema of {source}")
    return (
        f"CREATE PROCEDURE {q(name)}(IN shadow VARCHAR(64))\n"
        f"COMMENT {comment}\n"
        "BEGIN\n"
        "  DECLARE failed INT DEFAULT 0;\n"
        "  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION SET failed = 1;\n"
        "  SET @dbsynth_ident = CONCAT('`', REPLACE(shadow, '`', '``'), '`');\n"
        "  SET @dbsynth_string = QUOTE(shadow);\n"
        f"  DROP TEMPORARY TABLE IF EXISTS {q(RESULT)};\n"
        f"  CREATE TEMPORARY TABLE {q(RESULT)} (seq INT PRIMARY KEY, check_name VARCHAR(64), "
        "table_name VARCHAR(64), subject TEXT, violations BIGINT NULL);\n"
        f"{body}\n"
        f"  SELECT {columns} FROM {q(RESULT)} ORDER BY seq;\n"
        f"  DROP TEMPORARY TABLE {q(RESULT)};\n"
        "END"
    )


def _check(q: Quoter, i: int, check: CheckQuery) -> str:
    table = q.literal(check.table) if check.table is not None else "NULL"
    label = f"{i}, {q.literal(check.check)}, {table}, {q.literal(check.subject)}"
    statement = (f"INSERT INTO {q(RESULT)} SELECT {label}, chk.violations FROM (\n{check.sql}\n) chk")
    return (
        f"  -- [{i}] {check.check}\n"
        "  SET failed = 0;\n"
        f"  SET @dbsynth_sql = {_concat(q, statement)};\n"
        "  PREPARE dbsynth_stmt FROM @dbsynth_sql;\n"
        "  EXECUTE dbsynth_stmt;\n"
        "  DEALLOCATE PREPARE dbsynth_stmt;\n"
        f"  IF failed THEN INSERT INTO {q(RESULT)} VALUES ({label}, NULL); END IF;"
    )


def _concat(q: Quoter, statement: str) -> str:
    """The statement as a CONCAT of literals and the shadow's quoted name."""
    parts = []
    for i, piece in enumerate(statement.split(_IDENT)):
        if i:
            parts.append("@dbsynth_ident")
        for j, text in enumerate(piece.split(_STRING)):
            if j:
                parts.append("@dbsynth_string")
            if text:
                parts.append(q.literal(text))
    return f"CONCAT({', '.join(parts)})"


def install(engine: sa.Engine, text: str, name: str = PROCEDURE) -> None:
    """Create (or replace) the procedure in the database `engine` connects to."""
    q = Quoter(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP PROCEDURE IF EXISTS {q(name)}")
        conn.exec_driver_sql(text)
