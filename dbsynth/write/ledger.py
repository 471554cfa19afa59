"""The `_dbsynth_ledger` table: a shadow database always says what privacy guarantee it carries.

Written in the same all-or-nothing operation as the data, one row:
`_dbsynth_ledger(id INTEGER PRIMARY KEY, created_at VARCHAR(40), epsilon FLOAT, delta FLOAT, ledger TEXT)`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from dbsynth.errors import BudgetTooSmall, UsageError
from dbsynth.schema.introspect import INTERNAL_TABLES

LEDGER_TABLE = INTERNAL_TABLES[0]


class NoGuarantee(Exception):
    """Why a database carries no readable guarantee, in words that follow "carries no privacy
    guarantee: "."""


def ledger_table() -> sa.Table:
    """A fresh Table object (its own MetaData, so it never mixes with the cloned schema)."""
    return sa.Table(
        LEDGER_TABLE,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        # FLOAT(53): double precision everywhere (a bare FLOAT is single precision on MySQL).
        sa.Column("epsilon", sa.Float(53), nullable=False),
        sa.Column("delta", sa.Float(53), nullable=False),
        # TEXT stops at 64 KiB on MySQL; a long run's event list may not.
        sa.Column("ledger", sa.Text().with_variant(mysql.LONGTEXT(), "mysql"), nullable=False),
    )


def ledger_row(ledger: dict[str, Any]) -> dict[str, Any]:
    """The one row, or UsageError when the ledger lacks epsilon/delta or is not JSON."""
    try:
        epsilon, delta = float(ledger["epsilon"]), float(ledger["delta"])
        text = json.dumps(ledger, default=str)  # a stray date or Decimal should not sink the write
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"the privacy ledger must be JSON with numeric 'epsilon' and 'delta': {exc}") from None
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return {"id": 1, "created_at": created, "epsilon": epsilon, "delta": delta, "ledger": text}


def check_within_target(ledger: dict[str, Any]) -> None:
    """A shadow never carries a ledger above its own target: refused before anything is written."""
    target = ledger.get("target_epsilon")
    spent = ledger.get("epsilon")
    if ledger.get("within_target") is False or (target is not None and spent is not None and spent > target + 1e-9):
        raise BudgetTooSmall(f"the run spent epsilon={spent} against a target of {target}; nothing was written "
                             "(report this: the plan should have stopped it before reading any row)")


def read_newest(engine: sa.Engine) -> dict[str, Any]:
    """The newest `_dbsynth_ledger` row, its `ledger` JSON parsed into a dict: what `verify` holds
    to its bound and `dbsynth info` prints. NoGuarantee when the table is missing or empty or
    its JSON is not an object; a database error (no privilege) is the caller's to word."""
    if LEDGER_TABLE not in sa.inspect(engine).get_table_names():
        raise NoGuarantee(f"it has no {LEDGER_TABLE} table (it was not written by dbsynth run, or the table "
                          "was dropped)")
    table = ledger_table()
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).order_by(table.c.id.desc()).limit(1)).first()
    if row is None:
        raise NoGuarantee(f"{LEDGER_TABLE} is empty")
    entry = dict(row._mapping)
    try:
        entry["ledger"] = json.loads(entry["ledger"])
        if not isinstance(entry["ledger"], dict):
            raise ValueError("not an object")
    except (TypeError, ValueError):
        raise NoGuarantee(f"{LEDGER_TABLE}.ledger is not a JSON object") from None
    return entry
