"""Exact Euclidean projection of many short vectors onto the probability simplex, all at once.

Each row v of an (n, K) array goes to argmin ‖x − v‖ over {x ≥ 0, Σx = 1}, which is
x = max(v − θ, 0) for the one θ that makes the row sum to 1 (Held, Wolfe & Crowder 1974;
Duchi et al. 2008). θ is found exactly by sorting each row: no Python loop over rows.
"""

from __future__ import annotations

import numpy as np


def project_rows(v: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Rows of `v` projected onto the simplex; where `mask` is False an entry is held at 0.

    A row whose mask is all False comes back all zeros (it has no admissible entry): its θ is
    about −1e30/K, and every entry −1e30 − θ is still negative."""
    v = np.asarray(v, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"expected a 2-d array, got shape {v.shape}")
    n, k = v.shape
    if n == 0 or k == 0:
        return np.zeros_like(v)
    # A masked entry becomes very negative: it sorts last and never enters the support (finite,
    # so the arithmetic below needs no special cases).
    w = v if mask is None or mask.all() else np.where(mask, v, _OUT)
    # With u sorted descending and c_j = u_1 + … + u_j, θ = max_j (c_j − 1)/j (the maximum is at
    # the support size). Computed on −u, sorted ascending in place: no reversed views, no counts.
    t = np.negative(w)
    t.sort(axis=1)
    np.cumsum(t, axis=1, out=t)  # −c_j
    t += 1.0
    t /= -np.arange(1, k + 1, dtype=float)  # (c_j − 1)/j
    theta = t[:, 0].copy()
    for j in range(1, k):  # column by column: faster than a reduction along a short axis
        np.maximum(theta, t[:, j], out=theta)
    out = w - theta[:, None]
    np.maximum(out, 0.0, out=out)
    return out


_OUT = -1e30
