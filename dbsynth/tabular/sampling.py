"""Synthetic rows from a calibrated junction tree, in numpy.

mbi's `synthetic_data` algorithm: columns in reverse elimination order, each drawn given its
already drawn neighbours in the tree (its parents), with stratified uniforms inside each parent
group so every group's conditional is matched almost exactly. mbi runs its message passing
eagerly in JAX (an XLA compile per array shape, seconds per table) and draws from numpy's global
generator; this reuses the numpy beliefs and draws from the caller's generator.

Beyond mbi, a draw is also *balanced* on the other columns drawn so far: the model says the new
column is independent of them given its parents, and a balanced sample honours that up to
rounding instead of up to multinomial noise. On Adult that takes the synthetic table's 3-way
marginals 13% closer to the model's (0.040 -> 0.035 TVD; BENCHMARKS.md, "Sampling") and 0.002
closer to the real table's. The rows are still a draw from the model; only the sampling noise is
smaller.
"""

from __future__ import annotations

import numpy as np

from dbsynth.tabular.inference import JunctionTree, TreeMarginals


def sample(tree: JunctionTree, beliefs, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """`n` rows over the tree's attributes, as int64 codes."""
    marginals = TreeMarginals(tree, beliefs, 1.0)
    nodes = [set(node) for node in tree.nodes]
    out: dict[str, np.ndarray] = {}
    for col in reversed(tree.elimination_order):
        # Earlier columns sharing a node with `col`: by the elimination order they sit in one node.
        parents = tuple(a for a in out if any(col in node and a in node for node in nodes))
        joint = marginals.probabilities(parents + (col,))
        k = joint.shape[-1]
        table = joint.reshape(-1, k)
        mass = table.sum(axis=1, keepdims=True)
        cdf = np.cumsum(np.divide(table, mass, out=np.full_like(table, 1.0 / k), where=mass > 0), axis=1)
        group = (np.ravel_multi_index(tuple(out[a] for a in parents), joint.shape[:-1]) if parents
                 else np.zeros(n, dtype=np.int64))  # a root: one group of all rows
        out[col] = _stratified(cdf, group, *_balancing_key(out, parents, tree.shape, n, rng), rng)
    return out


def _balancing_key(drawn: dict[str, np.ndarray], parents: tuple[str, ...], shape: dict[str, int],
                   n: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Drawn non-parent columns, in random order (each pair gets its turn at being balanced first),
    only as many as can still split the rows (past n joint cells every block is one row), as one
    code whose order is their lexicographic order (one sort key instead of many), and its size."""
    others = [a for a in drawn if a not in parents]
    keys, cells = [], 1
    for i in rng.permutation(len(others)):
        if cells >= n:
            break
        keys.append(others[i])
        cells *= shape[others[i]]
    if not keys:
        return np.zeros(n, dtype=np.int64), 1
    return np.ravel_multi_index(tuple(drawn[a] for a in keys), tuple(shape[a] for a in keys)), cells


def _stratified(cdf: np.ndarray, group: np.ndarray, key: np.ndarray, key_cells: int,
                rng: np.random.Generator) -> np.ndarray:
    """One draw per row from its group's CDF, with the uniforms of a group spread evenly over (0, 1)
    and, inside the group, over the blocks of rows that share their `key`.

    The rows of a group, sorted by `key` (ties in random order), get u = frac(U + r·α) at rank r:
    a Kronecker sequence, whose every run of consecutive ranks (a block) is spread evenly too. α is
    drawn per call with small continued-fraction quotients (even spread for runs of any length);
    one α for every column would tie the u of two columns whose rows sort alike, a dependence the
    model does not have. The u are then replaced by (rank among the group's u + U')/m, a systematic
    sample: the group's drawn values follow its conditional up to rounding, not multinomial noise."""
    n = group.size
    sizes = np.bincount(group, minlength=cdf.shape[0])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    if cdf.shape[0] * key_cells < 2 ** 62:  # by group, then key, ties in random order
        order = _sorted_by(group * key_cells + key, rng.random(n))
    else:
        order = np.lexsort((rng.random(n), key, group))
    rank = _rank_in_group(order, group, starts)
    u = np.mod(rng.random(cdf.shape[0])[group] + rank * _badly_approximable(rng), 1.0)
    rank = _rank_in_group(_sorted_by(group, u), group, starts)
    u = (rank + rng.random(cdf.shape[0])[group]) / sizes[group]
    # The code is the number of CDF entries below u. Shifting group g's CDF to [g, g + 1] lines all
    # groups up in one sorted array: one binary search per row instead of comparing all k entries.
    k = cdf.shape[1]
    shifted = (cdf + np.arange(cdf.shape[0])[:, None]).ravel()
    codes = np.searchsorted(shifted, group + u, side="left") - group * k
    return np.clip(codes, 0, k - 1)


def _sorted_by(primary: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """The order of rows by (primary, tiebreak): np.lexsort's, with two sorts that take a third of
    its time (sorting by tiebreak, then stably by primary)."""
    first = np.argsort(tiebreak)
    return first[np.argsort(primary[first], kind="stable")]


def _rank_in_group(order: np.ndarray, group: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each row's rank inside its group, for `order` sorted by group first."""
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size) - starts[group[order]]
    return rank


def _badly_approximable(rng: np.random.Generator, terms: int = 40) -> float:
    """A random α in (1/3, 1) whose continued fraction has quotients 1 or 2 only: no rational with
    a small denominator is near it, so r·α mod 1 is spread evenly for every run of r (40 terms
    carry that beyond 10^8 rows)."""
    alpha = 0.0
    for q in rng.integers(1, 3, terms)[::-1]:
        alpha = 1.0 / (q + alpha)
    return alpha
