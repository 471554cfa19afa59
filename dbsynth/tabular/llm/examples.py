"""What the LLM method learns from: a table's bounded rows as codes, grouped into units, and the
public text of every code.

One unit (the top of the table's owner chain, DESIGN §2) is one training example, so DP-SGD's
per-example clipping bounds what one unit can change. Labels are built from released encoders
only (schema/spec domains, DP-selected values, DP bin edges): they are public.
No torch here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from dbsynth.measure.encoders import EPOCH, BinEncoder, BooleanEncoder, CategoricalEncoder, NullIndicator


@dataclass(frozen=True)
class ColumnVocabulary:
    """A model column as the LLM writes it: its name and one distinct text per code."""

    key: str  # the model column (a table column, or an FK's NULL indicator)
    name: str  # as written in a row: "country is Brazil"
    labels: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class UnitRows:
    """A table's bounded private rows: codes per model column, and each row's unit (example).

    `unit` holds 0..n_units-1; rows of one unit are its example. Built by `measure` for llm
    tables only; held in memory for training and dropped after `fit`."""

    table: str
    codes: dict[str, np.ndarray]
    unit: np.ndarray

    def examples(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Row indices per unit, rows in random order (the order carries nothing private)."""
        if not len(self.unit):
            return []
        order = np.argsort(self.unit, kind="stable")
        bounds = np.flatnonzero(np.diff(self.unit[order])) + 1
        return [rng.permutation(group) for group in np.split(order, bounds)]


def vocabulary(key: str, encoder) -> ColumnVocabulary:
    """The text of each code of a released encoder (or an FK's NULL indicator)."""
    name = " ".join(key.split()) or "value"
    if isinstance(encoder, NullIndicator):  # codes: 0 = linked, 1 = NULL
        return ColumnVocabulary(key, "+".join(encoder.columns) + " link", ("linked", "null"))
    if isinstance(encoder, BooleanEncoder):
        return ColumnVocabulary(key, name, (("null",) if encoder.nullable else ()) + ("false", "true"))
    if isinstance(encoder, CategoricalEncoder):
        texts = [" ".join(str(v).split()) or "empty" for v in encoder.values]
        labels = (["null"] if encoder.nullable else []) + texts + (["other"] if encoder.other else [])
        return ColumnVocabulary(key, name, _distinct(labels))
    if isinstance(encoder, BinEncoder):
        mids = [_bin_text(encoder, lo, hi) for lo, hi in zip(encoder.edges[:-1], encoder.edges[1:])]
        mids = mids or [_bin_text(encoder, encoder.edges[0], encoder.edges[0])]
        return ColumnVocabulary(key, name, _distinct((["null"] if encoder.nullable else []) + mids))
    raise TypeError(f"{key}: no text for encoder {type(encoder).__name__}")


def _bin_text(encoder: BinEncoder, lo: float, hi: float) -> str:
    """A bin written as the value at its middle, in the column's own format (a number or a
    date), so the text reads like the data the model was pre-trained on."""
    x = (lo + hi) / 2.0
    if encoder.as_type == "int":  # [i, i+1) is the integer i; wider bins their middle, rounded down
        return str(int(math.ceil(lo))) if hi - lo <= 1 else str(int(math.floor(x)))
    if encoder.as_type == "date":
        return (EPOCH + dt.timedelta(seconds=x)).date().isoformat()
    if encoder.as_type == "datetime":
        return (EPOCH + dt.timedelta(seconds=round(x))).isoformat(sep=" ")
    if encoder.as_type == "time":
        s = int(x) % 86400
        return f"{s // 3600:02d}:{(s % 3600) // 60:02d}:{s % 60:02d}"
    return f"{x:.{encoder.scale if encoder.scale is not None else 2}f}"


def _distinct(labels: list[str]) -> tuple[str, ...]:
    """Labels cleaned of the row format's separators (a comma or a line break inside a value
    would end the field early) and made unique (two bins can round to one text, two values to one string); a
    repeat gets a suffix so every code keeps its own text."""
    seen: dict[str, int] = {}
    out = []
    for text in labels:
        text = " ".join(text.replace(",", ";").split()) or "empty"
        n = seen.get(text, 0)
        seen[text] = n + 1
        out.append(text if n == 0 else f"{text} ({n + 1})")
    return tuple(out)
