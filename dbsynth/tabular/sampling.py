"""Synthetic rows from a calibrated junction tree, in numpy.

mbi's `synthetic_data` algorithm: columns in reverse elimination order, each drawn given its
already drawn neighbours in the tree, with stratified uniforms inside each parent group so every
group's conditional is matched almost exactly. mbi runs its message passing eagerly in JAX (an
XLA compile per array shape, seconds per table) and draws from numpy's global generator; this
reuses the numpy beliefs and draws from the caller's generator.
"""

from __future__ import annotations

import numpy as np

from dbsynth.tabular.inference import JunctionTree, TreeMarginals

_CHUNK_CELLS = 1 << 24  # rows × values compared at once when drawing a column (128 MiB of bools)


def sample(tree: JunctionTree, beliefs, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """`n` rows over the tree's attributes, as int64 codes."""
    marginals = TreeMarginals(tree, beliefs, 1.0)
    nodes = [set(node) for node in tree.nodes]
    out: dict[str, np.ndarray] = {}
    for col in reversed(tree.elimination_order):
        # Earlier columns sharing a node with `col`: by the elimination order they sit in one node.
        parents = tuple(a for a in out if any(col in node and a in node for node in nodes))
        joint = marginals.probabilities(parents + (col,))
        if not parents:
            out[col] = _rounded(joint, n, rng)
            continue
        k = joint.shape[-1]
        table = joint.reshape(-1, k)
        mass = table.sum(axis=1, keepdims=True)
        cdf = np.cumsum(np.divide(table, mass, out=np.full_like(table, 1.0 / k), where=mass > 0), axis=1)
        group = np.ravel_multi_index(tuple(out[a] for a in parents), joint.shape[:-1])
        out[col] = _stratified(cdf, group, rng)
    return out


def _rounded(p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Codes whose counts are n·p randomly rounded (floors, then the remainder by the fractions)."""
    counts = p * n
    whole = np.floor(counts).astype(np.int64)
    extra = n - int(whole.sum())
    if extra > 0:
        frac = counts - whole
        weights = frac / frac.sum() if frac.sum() > 0 else np.full(frac.size, 1.0 / frac.size)
        whole[rng.choice(p.size, extra, replace=False, p=weights)] += 1
    return rng.permutation(np.repeat(np.arange(p.size, dtype=np.int64), whole))[:n]


def _stratified(cdf: np.ndarray, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from its group's CDF, with the uniforms of a group spread evenly over (0, 1).

    Within a group of m rows (in random order) the r-th gets u = (r + U)/m: a systematic sample,
    so the group's drawn values follow its conditional up to rounding, not up to multinomial noise."""
    n = group.size
    order = np.lexsort((rng.random(n), group))  # grouped, random order inside a group
    sizes = np.bincount(group, minlength=cdf.shape[0])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[group[order]]
    u = (rank + rng.random(n)) / sizes[group]
    codes = np.empty(n, dtype=np.int64)
    step = max(1, _CHUNK_CELLS // cdf.shape[1])
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        codes[lo:hi] = (cdf[group[lo:hi]] < u[lo:hi, None]).sum(axis=1)
    return np.minimum(codes, cdf.shape[1] - 1)
