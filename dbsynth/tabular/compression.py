"""MST-style domain compression: values whose noisy count is below a threshold share one code.

Rare values carry mostly noise in every marginal that includes them; merging them shrinks the
cliques the model fits (and their noise) at no privacy cost, since only noisy counts decide it.
"""

from __future__ import annotations

import numpy as np


def rare_value_mapping(noisy_counts: np.ndarray, threshold: float) -> np.ndarray | None:
    """original code -> compressed code: frequent values keep their order, rare ones share the last.

    None when fewer than two values are rare (merging would change nothing)."""
    rare = np.asarray(noisy_counts) < threshold
    if rare.sum() < 2:
        return None
    mapping = np.empty(rare.size, dtype=np.int64)
    kept = int((~rare).sum())
    mapping[~rare] = np.arange(kept)
    mapping[rare] = kept
    return mapping


def merged_shares(noisy_counts: np.ndarray, mapping: np.ndarray, sigma: float,
                  outside_order: set[int] | None = None, window: int = 7) -> np.ndarray:
    """Each original code's share of its compressed code, estimated from the noisy counts of the
    values it merged (free post-processing); 1 for codes kept apart.

    A merged value's noisy count is mostly noise, but not all noise: each is shrunk towards a
    baseline by the empirical-Bayes factor 1 - (noise variance / spread of the counts around it),
    which is 0 (uniform shares, as if nothing were known) when the counts vary no more than the
    noise does. The baseline is the mean of the merged values; for an ordered column (
    `outside_order` given: its codes outside the order, e.g. NULL) a running mean over `window`
    merged neighbours in order, since neighbouring ages or amounts have similar counts. On Adult at
    ε = 1 this halves the error of spreading merged ages, weights and hours uniformly."""
    noisy = np.asarray(noisy_counts, dtype=float)
    shares = np.ones(noisy.size)
    sizes = np.bincount(mapping)
    for code in np.flatnonzero(sizes > 1):
        members = np.flatnonzero(mapping == code)
        estimate = _shrunk(noisy[members], sigma, None)
        if outside_order is not None:
            inside = np.array([m not in outside_order for m in members])
            if inside.sum() >= 3:
                estimate[inside] = _shrunk(noisy[members[inside]], sigma, window)
        estimate = np.clip(estimate, 0.0, None)
        total = estimate.sum()
        shares[members] = estimate / total if total > 0 else 1.0 / members.size
    return shares


def _shrunk(y: np.ndarray, sigma: float, window: int | None) -> np.ndarray:
    """Noisy counts shrunk towards their mean (`window` None) or a running mean over `window`."""
    if window is None:
        base, noise = np.full(y.size, y.mean()), sigma ** 2 * (1 - 1 / y.size)
    else:
        w = min(window, y.size - (1 - y.size % 2))  # odd, at most the values there are
        base = np.convolve(np.pad(y, w // 2, mode="edge"), np.ones(w) / w, mode="valid")
        noise = sigma ** 2 * (1 - 1 / w)
    spread = np.mean((y - base) ** 2)
    factor = max(0.0, 1.0 - noise / spread) if spread > 0 else 0.0
    return base + factor * (y - base)


def compress_counts(counts: np.ndarray, mapping: np.ndarray | None) -> np.ndarray:
    """A count vector over the compressed codes (merged values summed); as is without a mapping."""
    if mapping is None:
        return np.asarray(counts, dtype=float)
    return np.bincount(mapping, weights=counts, minlength=int(mapping.max()) + 1)


def expand(codes: np.ndarray, mapping: np.ndarray, rng: np.random.Generator,
           shares: np.ndarray | None = None) -> np.ndarray:
    """Compressed codes back to original codes, drawn among the values a code merged by their
    `shares` (see `merged_shares`; equal shares without)."""
    codes = np.asarray(codes, dtype=np.int64)
    order = np.argsort(mapping, kind="stable")  # original codes grouped by compressed code
    counts = np.bincount(mapping, minlength=int(mapping.max()) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if shares is None:
        shares = 1.0 / counts[mapping]
    # Shares sum to 1 in each compressed code, so code c's values span (c, c + 1] of the running sum.
    at = np.searchsorted(np.cumsum(shares[order]), codes + rng.random(codes.size), side="right")
    return order[starts[codes] + np.clip(at - starts[codes], 0, counts[codes] - 1)]


def compress_marginal(counts: np.ndarray, clique: tuple[str, ...], mappings: dict[str, np.ndarray]) -> np.ndarray:
    """A marginal over original codes (axes in clique order) summed into compressed codes."""
    out = np.asarray(counts, dtype=float)
    for axis, col in enumerate(clique):
        if col in mappings:
            m = mappings[col]
            onehot = np.zeros((m.size, int(m.max()) + 1))
            onehot[np.arange(m.size), m] = 1.0
            out = np.moveaxis(np.moveaxis(out, axis, -1) @ onehot, -1, axis)
    return out
