"""Privacy sanity: does the shadow database copy real rows? NOT part of the DP guarantee.

Two heuristics per table, over the compared columns (no keys, no generated columns):

- exact copies: the share of synthetic rows equal to some real row on every compared column,
  beside the same share for real rows held out from the comparison (in a table with two
  categorical columns most rows "copy" someone by chance; the baseline says how many);
- distance to the closest record (DCR): for sampled synthetic rows, the distance to the nearest
  row of a real reference half, against the same for the other, held-out real half. Distance is
  the mean over columns of |F(a) - F(b)| for ordered columns (F the source's empirical CDF, so
  units do not matter) and of a 0/1 mismatch for categorical ones; NULL against a value is 1.

Synthetic rows much closer to real ones than real rows are to each other would suggest
memorisation. Differential privacy bounds what any row can reveal whatever these numbers say.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dbsynth.verify.fidelity import TableData
from dbsynth.verify.marginals import stable_seed
from dbsynth.verify.results import PrivacySanity

REFERENCE_ROWS = 5000
QUERY_ROWS = 1000
_CHUNK = 256


def privacy_sanity(data: TableData, seed: int = 0) -> PrivacySanity | None:
    """Both heuristics for one table, or None when it has no compared column or too few rows."""
    if not data.columns or len(data.source) < 2:
        return None
    rng = np.random.default_rng(stable_seed(seed, "privacy", data.name))
    order = rng.permutation(len(data.source))
    half = len(order) // 2
    reference, holdout = order[:half][:REFERENCE_ROWS], order[half:][:QUERY_ROWS]
    synthetic = rng.permutation(len(data.target))[:QUERY_ROWS]

    real_rows = _row_keys(data.source)
    syn_rows = _row_keys(data.target)
    known = set(real_rows)
    copies = sum(1 for r in syn_rows if r in known)
    reference_keys = {real_rows[i] for i in reference}
    baseline = sum(1 for i in holdout if real_rows[i] in reference_keys) / len(holdout)

    src, tgt = _encode(data)
    ref = [c[reference] for c in src]
    return PrivacySanity(
        table=data.name,
        columns=tuple(data.columns),
        synthetic_rows=len(syn_rows),
        exact_copies=copies,
        exact_copy_rate=copies / len(syn_rows) if syn_rows else 0.0,
        baseline_exact_copy_rate=baseline,
        dcr_synthetic=tuple(sorted(closest(ref, [c[synthetic] for c in tgt], data))),
        dcr_baseline=tuple(sorted(closest(ref, [c[holdout] for c in src], data))),
    )


def _row_keys(frame: pd.DataFrame) -> list[tuple]:
    """Rows as hashable tuples; NaN becomes None so that two NULLs compare equal."""
    cols = [frame[c].to_numpy(dtype=object) for c in frame.columns]
    return [tuple(None if _is_nan(v) else v for v in row) for row in zip(*cols)]


def _encode(data: TableData) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per column, both sides as float32 arrays ready for `closest`: source-CDF positions in [0, 1]
    for ordered columns with NULL at -2 (so |a - b| clipped at 1 is 1 against any value, 0 against
    NULL), or value ids for categorical ones with NULL at -1 (mismatch is inequality)."""
    src_out, tgt_out = [], []
    for k in data.kinds:
        s, t = data.source[k.name], data.target[k.name]
        if k.kind == "ordered":
            values = s.to_numpy(dtype=float)
            xs = np.sort(values[~np.isnan(values)])

            def cdf(v: pd.Series, xs: np.ndarray = xs) -> np.ndarray:
                x = v.to_numpy(dtype=float)
                out = np.searchsorted(xs, x, side="right") / max(len(xs), 1)
                return np.where(np.isnan(x), -2.0, out).astype(np.float32)

            src_out.append(cdf(s))
            tgt_out.append(cdf(t))
        else:
            ids: dict[object, int] = {}

            def encode(v: pd.Series, ids: dict[object, int] = ids) -> np.ndarray:
                return np.array([-1 if _is_nan(x) else ids.setdefault(x, len(ids)) for x in v], dtype=np.float32)

            src_out.append(encode(s))
            tgt_out.append(encode(t))
    return src_out, tgt_out


def closest(reference: list[np.ndarray], queries: list[np.ndarray], data: TableData) -> np.ndarray:
    """For each query row, the distance to its nearest reference row (chunked: memory O(chunk × ref))."""
    n_q = len(queries[0]) if queries else 0
    n_r = len(reference[0]) if reference else 0
    if n_q == 0 or n_r == 0:
        return np.zeros(0)
    ordered = [k.kind == "ordered" for k in data.kinds]
    out = []
    for start in range(0, n_q, _CHUNK):
        d = np.zeros((min(_CHUNK, n_q - start), n_r), dtype=np.float32)
        for is_ordered, q, r in zip(ordered, queries, reference):
            a, b = q[start:start + _CHUNK, None], r[None, :]
            d += np.minimum(np.abs(a - b), 1.0) if is_ordered else (a != b)
        out.append(d.min(axis=1) / len(ordered))
    return np.concatenate(out).astype(float)


def _is_nan(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)
