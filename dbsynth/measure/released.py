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

from dbsynth.measure.encoders import BinEncoder, CategoricalEncoder
from dbsynth.spec import Release, Spec


def released_spec(spec: Spec, paid: Mapping[str, set[str]], encoders: Mapping[str, Mapping[str, Any]],
                  release: Release, caps: Mapping[str, int] | None = None) -> Spec:
    """A copy of `spec` in which every column whose domain this run paid for (`paid[table]`)
    records its released values or edges (`encoders[table][column]`) as `domain: released`, and
    `release` (this run: id, ε, δ) is added to the releases the spec carries. `caps`: the caps
    this run chose from the data (fk.key -> cap), written into the edges that had none."""
    out = spec.model_copy(deep=True)
    for ts in out.tables.values():
        for key, fs in ts.foreign_keys.items():
            if fs.cap is None and key in (caps or {}):
                ts.foreign_keys[key] = fs.model_copy(update={"cap": int(caps[key])})
    columns = []
    for table, ts in out.tables.items():
        for name, cs in ts.columns.items():
            enc = encoders.get(table, {}).get(name)
            if name not in paid.get(table, ()) or enc is None:
                continue
            columns.append(f"{table}.{name}")
            if isinstance(enc, CategoricalEncoder):
                ts.columns[name] = cs.model_copy(update={"domain": "released", "values": [_plain(v) for v in enc.values]})
            elif isinstance(enc, BinEncoder):
                ts.columns[name] = cs.model_copy(update={"domain": "released", "edges": [float(e) for e in enc.edges],
                                                         "bins": max(1, len(enc.edges) - 1),
                                                         "points": [float(p) for p in enc.points] or None})
    out.releases = [*(out.releases or []), release.model_copy(update={"columns": columns})]
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
    if isinstance(value, (tuple, list)):  # an array column's value: a YAML list
        return [_plain(v) for v in value]
    return str(value)
