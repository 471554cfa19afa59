"""Parent-degree histograms per FK edge: how many (bounded) children each parent has.

Counted here from rows in memory: the reference that `Pushdown.degree_histogram`, which the
measure stage uses, is tested against (and what the sensitivity tests recompute)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dbsynth.privacy.units import fk_tuples
from dbsynth.schema import ForeignKey


def degree_histogram(child: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey, cap: int) -> np.ndarray:
    """Counts of parents with 0, 1, …, cap children (degrees above cap counted at cap).

    `child` and `parent` are already bounded (kept rows only)."""
    refs = fk_tuples(child, fk.columns).dropna()
    per_parent = refs.value_counts()
    keys = fk_tuples(parent, fk.ref_columns)
    deg = keys.map(per_parent).fillna(0).to_numpy(dtype=np.int64)
    deg = np.minimum(deg, cap)
    return np.bincount(deg, minlength=cap + 1).astype(float)
