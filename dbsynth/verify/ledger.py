"""The privacy ledger in the target: present, readable, and within the epsilon it must meet.

A shadow database always says what guarantee it carries (DESIGN §2). The bound is the epsilon the
caller asks for (`verify --epsilon`), or else the ledger's own `target_epsilon`: a ledger that
spent more than its run's target is as wrong as one that is missing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dbsynth.verify.integrity import CheckRunner
from dbsynth.write.ledger import LEDGER_TABLE, NoGuarantee, read_newest

# Floating point slack: the ledger's epsilon is computed, the target typed in.
TOLERANCE = 1e-9


def read_ledger(runner: CheckRunner) -> dict[str, Any] | None:
    """The newest `_dbsynth_ledger` row with its JSON parsed (`write.ledger.read_newest`, which
    `dbsynth info` reads too); a hard finding when the target carries no guarantee."""
    runner.checks_run += 1
    try:
        return read_newest(runner.engine)
    except NoGuarantee as exc:
        runner.add("ledger", LEDGER_TABLE, f"the target carries no privacy guarantee: {exc}", 1)
    except sa.exc.DBAPIError as exc:
        message = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        runner.add("ledger", LEDGER_TABLE, f"check could not run: {message}", 0)
    return None


def ledger_bound(entry: dict[str, Any] | None, requested: float | None) -> float | None:
    """The epsilon the ledger is held to: the requested one, else the ledger's target_epsilon."""
    if requested is not None:
        return float(requested)
    payload = (entry or {}).get("ledger")
    return as_number(payload.get("target_epsilon")) if isinstance(payload, dict) else None


def check_ledger_bound(runner: CheckRunner, entry: dict[str, Any] | None, bound: float | None) -> None:
    """A hard finding when the ledger's epsilon (the row's, or its JSON's if larger) exceeds `bound`."""
    runner.checks_run += 1
    if entry is None or bound is None:
        return
    spent = [as_number(entry.get("epsilon"))]
    payload = entry.get("ledger")
    if isinstance(payload, dict):
        spent.append(as_number(payload.get("epsilon")))
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


def as_number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
