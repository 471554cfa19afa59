"""The privacy ledger in the target: present, readable, and within the epsilon it must meet.

A shadow database always says what guarantee it carries (DESIGN §2). The bound is the epsilon the
caller asks for (`verify --epsilon`), or else the ledger's own `target_epsilon`: a ledger that
spent more than its run's target is as wrong as one that is missing.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from dbsynth.schema.introspect import INTERNAL_TABLES
from dbsynth.verify.integrity import CheckRunner
from dbsynth.verify.templates import render

LEDGER_TABLE = INTERNAL_TABLES[0]
# Floating point slack: the ledger's epsilon is computed, the target typed in.
TOLERANCE = 1e-9


def read_ledger(runner: CheckRunner) -> dict[str, Any] | None:
    """The newest `_dbsynth_ledger` row with its JSON parsed; a hard finding when absent."""
    name = LEDGER_TABLE
    if name not in sa.inspect(runner.engine).get_table_names():
        runner.checks_run += 1
        runner.add("ledger", None, f"no {name} table: the target does not say what privacy guarantee it carries", 1)
        return None
    q = runner.q
    before = len(runner.findings)
    row = runner.query("ledger", name, render("ledger", ledger=q(name), id=q("id")))
    if row is None:
        if len(runner.findings) == before:  # empty, rather than unreadable (already reported)
            runner.add("ledger", name, f"{name} is empty: no privacy guarantee recorded", 1)
        return None
    entry = dict(row._mapping)
    raw = entry.get("ledger")
    if isinstance(raw, (str, bytes)):
        try:
            entry["ledger"] = json.loads(raw)
        except ValueError:
            runner.add("ledger", name, f"{name}.ledger is not valid JSON", 1)
    return entry


def ledger_bound(entry: dict[str, Any] | None, requested: float | None) -> float | None:
    """The epsilon the ledger is held to: the requested one, else the ledger's target_epsilon."""
    if requested is not None:
        return float(requested)
    payload = (entry or {}).get("ledger")
    if isinstance(payload, dict) and payload.get("target_epsilon") is not None:
        try:
            return float(payload["target_epsilon"])
        except (TypeError, ValueError):
            return None
    return None


def check_ledger_bound(runner: CheckRunner, entry: dict[str, Any] | None, bound: float | None) -> None:
    """A hard finding when the ledger's epsilon (the row's, or its JSON's if larger) exceeds `bound`."""
    runner.checks_run += 1
    if entry is None or bound is None:
        return
    spent = [_number(entry.get("epsilon"))]
    payload = entry.get("ledger")
    if isinstance(payload, dict):
        spent.append(_number(payload.get("epsilon")))
    values = [v for v in spent if v is not None]
    if not values:
        runner.add("ledger", LEDGER_TABLE, f"{LEDGER_TABLE} records no numeric epsilon", 1)
        return
    if isinstance(payload, dict) and payload.get("guarantee_void"):
        runner.add("ledger", LEDGER_TABLE, f"the ledger says its noise was reproducible test noise "
                   f"({payload.get('noise')}): this shadow carries no privacy guarantee", 1)
    epsilon = max(values)
    if epsilon > bound + TOLERANCE:
        runner.add("ledger", LEDGER_TABLE,
                   f"privacy ledger records epsilon={epsilon:g}, above the bound epsilon={bound:g}", 1)


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
