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


def compress_counts(counts: np.ndarray, mapping: np.ndarray | None) -> np.ndarray:
    """A count vector over the compressed codes (merged values summed); as is without a mapping."""
    if mapping is None:
        return np.asarray(counts, dtype=float)
    return np.bincount(mapping, weights=counts, minlength=int(mapping.max()) + 1)


def expand(codes: np.ndarray, mapping: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Compressed codes back to original codes, uniform among the values a code merged.

    Uniform because the merged values' own noisy counts are below the noise level: they say
    little about which of them is more common."""
    codes = np.asarray(codes, dtype=np.int64)
    order = np.argsort(mapping, kind="stable")  # original codes grouped by compressed code
    counts = np.bincount(mapping, minlength=int(mapping.max()) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    offsets = np.floor(rng.random(codes.size) * counts[codes]).astype(np.int64)
    return order[starts[codes] + offsets]


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
