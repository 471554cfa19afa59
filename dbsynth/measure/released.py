"""The spec as a run's measurements left it: paid-for domains replaced by what was released.

Categorical values from partition selection and bin edges from DP quantiles are DP outputs, so
writing them down is post-processing. A later run given this spec (`domain: released`) uses
them as they are and pays nothing for domains; values outside them still go to "other".
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

from dbsynth.measure.domains import needs_budget
from dbsynth.measure.encoders import BinEncoder, CategoricalEncoder
from dbsynth.spec import Spec


def released_spec(spec: Spec, encoders: Mapping[str, Mapping[str, Any]]) -> Spec:
    """A copy of `spec` in which every `domain: dp` column with a released encoder
    (`encoders[table][column]`) records its released values or edges as `domain: released`."""
    out = spec.model_copy(deep=True)
    for table, ts in out.tables.items():
        for name, cs in ts.columns.items():
            enc = encoders.get(table, {}).get(name)
            if not needs_budget(cs) or enc is None:
                continue
            if isinstance(enc, CategoricalEncoder):
                ts.columns[name] = cs.model_copy(update={"domain": "released", "values": [_plain(v) for v in enc.values]})
            elif isinstance(enc, BinEncoder):
                ts.columns[name] = cs.model_copy(update={"domain": "released", "edges": [float(e) for e in enc.edges],
                                                         "bins": max(1, len(enc.edges) - 1)})
    return Spec.model_validate(out.model_dump())


def _plain(value: Any) -> Any:
    """A value YAML can hold and the source's driver gives back equal: numbers and text as they
    are, decimals and dates as text (the spec is for people to read as much as for reruns)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return str(value)
