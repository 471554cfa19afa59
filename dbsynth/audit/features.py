"""What the attacks compare: each row of a unit table with its owners' modelled values beside it
(an invoice line with its invoice's date and total and its customer's country), as codes.

The encoders are fitted on the real rows (the auditor knows them; only the inclusion draws are
secret): a category is its own code, a number or date falls into one of a few quantile bins and
keeps a scaled value for distances. A shadow value no real row has gets no code (-1): it matches
nothing. The same encoding is applied to the real rows, the canaries and each shadow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dbsynth.audit.canaries import UnitShape
from dbsynth.measure.encoders import number
from dbsynth.privacy.units import fk_tuples

BINS = 8


@dataclass(frozen=True)
class Encoder:
    kind: str  # "categorical" or "numeric"
    codes: dict | None = None  # categorical: text -> code
    edges: np.ndarray | None = None  # numeric: inner bin edges
    centre: float = 0.0
    scale: float = 1.0

    def encode(self, values: list) -> tuple[np.ndarray, np.ndarray]:
        """(codes, scaled numbers) for `values`; -1 / NaN where a value has no code."""
        if self.kind == "categorical":
            codes = np.array([self.codes.get(_text(v), -1) for v in values], dtype=np.int64)
            return codes, np.full(len(values), np.nan)
        x = np.array([_number(v) for v in values], dtype=float)
        codes = np.where(np.isnan(x), -1, np.searchsorted(self.edges, np.nan_to_num(x), side="right"))
        return codes.astype(np.int64), (x - self.centre) / self.scale


def fit_encoder(kind: str, real: pd.Series, extra: list, released: dict | None = None) -> Encoder:
    """`released`: the column's entry in the shadow's stored spec; its bin edges, where it has
    them, are the resolution the pipeline worked at, so the attack bins the same way."""
    if kind in ("categorical", "boolean"):
        texts = sorted({_text(v) for v in list(real.dropna()) + [v for v in extra if v is not None]})
        return Encoder("categorical", codes={t: i for i, t in enumerate(texts)})
    x = np.array([_number(v) for v in real.dropna()], dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return Encoder("numeric", edges=np.array([]), centre=0.0, scale=1.0)
    released_edges = (released or {}).get("edges")
    if released_edges and len(released_edges) >= 2:
        edges = np.asarray(released_edges, dtype=float)
        return Encoder("numeric", edges=edges[1:-1], centre=float(np.median(x)),
                       scale=float(np.median(np.diff(edges))) or 1.0)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, BINS + 1)[1:-1]))
    q1, q3 = np.quantile(x, [0.25, 0.75])
    scale = float(q3 - q1) or float(np.std(x)) or 1.0
    return Encoder("numeric", edges=edges, centre=float(np.median(x)), scale=scale)


@dataclass(frozen=True)
class TableFeatures:
    """One unit table's rows, each with its own and its owners' codes (columns "table.column")."""

    table: str
    columns: tuple[str, ...]
    own: int  # the first `own` columns are the table's own; the rest come from its owners
    codes: np.ndarray  # rows × columns, int64, -1 = no code
    numbers: np.ndarray  # rows × columns, scaled numbers (NaN for categories and missing values)
    parent: np.ndarray  # row -> index of its owner row in the owner table's features (-1: none)


def fit_encoders(shape: UnitShape, spec, real: dict[str, pd.DataFrame], canary_rows: dict[str, list],
                 released: dict | None = None) -> dict:
    """One encoder per (table, modelled column), from the real rows and the canaries' values;
    `released`: the spec stored in the shadow's ledger (`dbsynth info` shows it), whose bins the
    attacks reuse."""
    tables = (released or {}).get("tables", {})
    return {(t, c): fit_encoder(spec.tables[t].columns[c].kind, real[t][c], [r[c] for r in canary_rows.get(t, [])],
                                tables.get(t, {}).get("columns", {}).get(c))
            for t in shape.tables for c in shape.features[t]}


def flatten(shape: UnitShape, encoders: dict, frames: dict[str, pd.DataFrame]) -> dict[str, TableFeatures]:
    """Features of every unit table of one database (real, canaries or a shadow)."""
    out: dict[str, TableFeatures] = {}
    for t in shape.tables:
        frame = frames[t]
        cols = [f"{t}.{c}" for c in shape.features[t]]
        pairs = [encoders[(t, c)].encode(frame[c].tolist()) for c in shape.features[t]]
        codes = np.column_stack([p[0] for p in pairs]) if pairs else np.zeros((len(frame), 0), np.int64)
        numbers = np.column_stack([p[1] for p in pairs]) if pairs else np.zeros((len(frame), 0))
        parent = np.full(len(frame), -1, dtype=np.int64)
        fk = shape.owner.get(t)
        own = len(cols)
        if fk is not None:
            up = out[fk.ref_table]
            position = {k: i for i, k in enumerate(fk_tuples(frames[fk.ref_table], fk.ref_columns)) if k is not None}
            parent = np.array([position.get(k, -1) if k is not None else -1
                               for k in fk_tuples(frame, fk.columns)], dtype=np.int64)
            has = parent >= 0
            up_codes = np.where(has[:, None], up.codes[np.maximum(parent, 0)], -1)
            up_numbers = np.where(has[:, None], up.numbers[np.maximum(parent, 0)], np.nan)
            codes = np.hstack([codes, up_codes]) if len(frame) else np.zeros((0, own + len(up.columns)), np.int64)
            numbers = np.hstack([numbers, up_numbers]) if len(frame) else np.zeros((0, own + len(up.columns)))
            cols += list(up.columns)
        out[t] = TableFeatures(t, tuple(cols), own, codes.astype(np.int64), numbers.astype(float), parent)
    return out


def _text(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value).rstrip(" ")


def _number(value) -> float:
    try:
        return number(value, "float")
    except (TypeError, ValueError, OverflowError):
        return np.nan
