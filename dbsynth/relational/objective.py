"""The pgd linker's loss over a sparse row-stochastic matrix X (children × K candidate parents).

Loss = Σ_k Σ_cells (A_k(X) − T_k)² / (T_k + τ_k)  +  λ Σ_d (H_d(X) − H*_d)² / (H*_d + τ)

A_k(X) are the cross-table marginals X induces (expected counts over the join), T_k the noisy
ones made consistent with the synthetic children and shrunk towards independence as far as
their noise warrants (`shrunk_target`). Weighting each cell by 1/(T + τ) (a chi-square
distance) conditions the problem: with plain squared error the gradient step that suits the
largest cell barely moves the small ones. H(X) is the *expected* degree histogram after unbiased
rounding: a parent's degree is a sum of independent Bernoullis with mean μ_j = Σ_i X_ij and
variance v_j = Σ_i X_ij(1 − X_ij), taken as normal N(μ_j, v_j + s0²) and binned at d ± ½; the
target histogram gets the same s0 smoothing, so an integral X is compared exactly. It lets
the optimiser see that spreading a child over many parents makes degrees noisier.

X enters the marginals only through the (parent type, child type) pairs its entries join, where a
type is a distinct combination of feature codes; so one bincount over the entries gives every
marginal, and the cost per evaluation is O(nnz) plus O(pairs × marginals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from dbsynth.relational.linker import LinkProblem

_SQRT_2PI = np.sqrt(2.0 * np.pi)


def joint_codes(columns: list[np.ndarray], sizes: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(type id per row, a representative row per type): rows with equal codes share a type."""
    if not columns or n == 0:
        return np.zeros(n, dtype=np.int64), np.zeros(1 if n else 0, dtype=np.int64)
    if float(np.prod([float(s) for s in sizes])) < 2.0**62:
        flat = np.ravel_multi_index(tuple(np.asarray(c, dtype=np.int64) for c in columns), tuple(sizes))
    else:
        flat = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)[1].ravel()
    ids, uniques = pd.factorize(flat)
    rep = np.empty(len(uniques), dtype=np.int64)
    rep[ids[::-1]] = np.arange(n - 1, -1, -1)  # the last write is each type's first row
    return ids.astype(np.int64), rep


def parent_types(problem: LinkProblem) -> np.ndarray:
    """Per parent its type: its codes over the parent features the marginals use (as `Objective`)."""
    used = sorted({f for mg in problem.marginals for f in mg.parent})
    return joint_codes([problem.parent_features[f] for f in used], [problem.sizes[f] for f in used],
                       problem.n_parents)[0]


@dataclass
class _Marginal:
    parent_cell: np.ndarray  # per parent type: its cell over the marginal's parent features
    child_cell: np.ndarray  # per child type
    child_cells: int
    target: np.ndarray  # flat, scaled to the synthetic child count
    weight: np.ndarray  # 1 / (target + τ)
    cell: np.ndarray | None = None  # per pair in the current round


class Objective:
    """Value and gradient of the loss; `set_candidates` once per round of fixed candidates."""

    def __init__(self, problem: LinkProblem, degree_weight: float = 1.0, smoothing: float = 0.35):
        self.n, self.m = problem.n_children, problem.n_parents
        used_p = sorted({f for mg in problem.marginals for f in mg.parent})
        used_c = sorted({f for mg in problem.marginals for f in mg.child})
        self.parent_type, prep = joint_codes([problem.parent_features[f] for f in used_p],
                                             [problem.sizes[f] for f in used_p], self.m)
        self.child_type, crep = joint_codes([problem.child_features[f] for f in used_c],
                                            [problem.sizes[f] for f in used_c], self.n)
        self.n_child_types = max(len(crep), 1)
        self.marginals: list[_Marginal] = []
        for mg in problem.marginals:
            pshape = tuple(problem.sizes[f] for f in mg.parent)
            cshape = tuple(problem.sizes[f] for f in mg.child)
            pcell = _cells([problem.parent_features[f][prep] for f in mg.parent], pshape, len(prep))
            ccell = _cells([problem.child_features[f][crep] for f in mg.child], cshape, len(crep))
            n_child_cells = int(np.prod(cshape))
            counts = np.asarray(mg.counts, dtype=float).reshape(-1, n_child_cells)
            total = np.clip(counts, 0.0, None).sum()
            if total <= 0:
                continue  # all noise: nothing to match
            children = np.bincount(ccell[self.child_type], minlength=n_child_cells)
            parents = np.bincount(pcell[self.parent_type], minlength=len(counts))
            target = shrunk_target(counts, mg.sigma, children, parents).ravel()
            tau = 1.0 + mg.sigma * self.n / total
            self.marginals.append(_Marginal(pcell, ccell, n_child_cells, target, 1.0 / (target + tau)))
        self.degree_weight = degree_weight
        self.smoothing = smoothing
        self.cap = problem.cap
        self.degree_target: np.ndarray | None = None  # set by `anchor_degrees`
        self.measured_degrees: np.ndarray | None = None
        self.degree_trust = 0.0
        if problem.degree_hist is not None and degree_weight > 0 and self.m:
            h = np.clip(np.asarray(problem.degree_hist, dtype=float), 0.0, None)
            if h.sum() > 0:
                self.cap = len(h) - 1
                spread = _bin_probabilities(np.arange(len(h), dtype=float), np.full(len(h), smoothing), self.cap)
                self.measured_degrees = (h * self.m / h.sum()) @ spread
                # A bin's signal-to-noise weight: parents per bin against the noise σ.
                signal = self.m / len(h)
                self.degree_trust = signal**2 / (signal**2 + problem.degree_sigma**2)
        self.candidates: np.ndarray | None = None
        self.pair: np.ndarray | None = None
        self.n_pairs = 0

    def anchor_degrees(self, x: np.ndarray) -> None:
        """Start matching degrees: the target is the measured histogram mixed, by its trust, with
        the one `x` already has. Fitting a histogram lost in noise made degrees worse than
        ignoring it (benchmarks/linker); so without trust the target is where `x` already is."""
        if self.measured_degrees is None:
            return
        natural = self.degree_histogram(x)
        self.degree_target = self.degree_trust * self.measured_degrees + (1.0 - self.degree_trust) * natural
        self.degree_w = 1.0 / (self.degree_target + 1.0)

    def set_candidates(self, candidates: np.ndarray) -> None:
        """Index the (parent type, child type) pair of every entry of the candidate matrix."""
        self.candidates = candidates
        pair = self.parent_type[candidates] * self.n_child_types + self.child_type[:, None]
        ids, uniques = pd.factorize(pair.ravel())
        # In the platform's index type: bincount converts any other to it, a copy per evaluation.
        self.pair = ids.reshape(candidates.shape).astype(np.intp, copy=False)
        self.n_pairs = len(uniques)
        ptype, ctype = np.divmod(np.asarray(uniques, dtype=np.int64), self.n_child_types)
        for mg in self.marginals:
            mg.cell = mg.parent_cell[ptype] * mg.child_cells + mg.child_cell[ctype]

    def marginals_of(self, x: np.ndarray) -> list[np.ndarray]:
        """The marginals X induces, flat, in the order of `self.marginals`."""
        y = np.bincount(self.pair.ravel(), weights=x.ravel(), minlength=self.n_pairs)
        return [np.bincount(mg.cell, weights=y, minlength=len(mg.target)) for mg in self.marginals]

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, gradient with the shape and float type of x)."""
        loss = 0.0
        grad_pair = np.zeros(self.n_pairs)
        for mg, induced in zip(self.marginals, self.marginals_of(x)):
            r = induced - mg.target
            loss += float(np.dot(mg.weight * r, r))
            grad_pair += (2.0 * mg.weight * r)[mg.cell]
        grad = grad_pair.astype(x.dtype)[self.pair]
        if self.degree_target is not None:
            value, g_mu, g_var = self._degree(*self._moments(x))
            loss += value
            # In place: these are n_children × K arrays, and each temporary is a pass over memory.
            t = np.multiply(x, -2.0)
            t += 1.0
            t *= g_var.astype(x.dtype)[self.candidates]
            t += g_mu.astype(x.dtype)[self.candidates]
            grad += t
        return loss, grad

    def degree_histogram(self, x: np.ndarray) -> np.ndarray:
        """The expected (smoothed) degree histogram after rounding."""
        mu, var = self._moments(x)
        return _bin_probabilities(mu, np.sqrt(var + self.smoothing**2), self.cap).sum(axis=0)

    def _moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of each parent's degree after independent rounding."""
        flat_c, flat_x = self.candidates.ravel(), x.ravel()
        mu = np.bincount(flat_c, weights=flat_x, minlength=self.m)
        var = np.bincount(flat_c, weights=flat_x * (1.0 - flat_x), minlength=self.m)
        return mu, var

    def _degree(self, mu: np.ndarray, var: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        s = np.sqrt(var + self.smoothing**2)
        # float32 and in place: parents × edges is the largest dense block here, each temporary
        # a pass over it, and 1e-7 is plenty for a histogram.
        z = _edges(self.cap).astype(np.float32)[None, :] - mu.astype(np.float32)[:, None]
        z *= (1.0 / s).astype(np.float32)[:, None]
        cdf, phi = normal_cdf_pdf(z)
        hist = np.diff(cdf.sum(axis=0, dtype=float))
        del cdf
        r = hist - self.degree_target
        value = self.degree_weight * float(np.dot(self.degree_w * r, r))
        dr = 2.0 * self.degree_weight * self.degree_w * r  # d loss / d hist
        # Σ_d dr_d · d/dθ [Φ(z_{d+1}) − Φ(z_d)] = Σ_e (dr_{e−1} − dr_e) · dΦ(z_e)/dθ over the edges,
        # with d/dμ Φ((e−μ)/s) = −φ/s, d/ds Φ((e−μ)/s) = −zφ/s and ds/dv = 1/(2s).
        de = np.r_[0.0, dr] - np.r_[dr, 0.0]
        de = de.astype(np.float32)
        g_mu = -(phi @ de) / s
        z *= phi
        g_s = -(z @ de) / s
        return value, g_mu, g_s / (2.0 * s)


# Zelen & Severo's approximation of the normal tail (Abramowitz & Stegun 26.2.17): for x ≥ 0,
# 1 − Φ(x) = φ(x)·(b1·t + … + b5·t⁵) with t = 1/(1 + p·x), absolute error below 7.5e-8.
_P = np.float32(0.2316419)
_B = tuple(np.float32(b) for b in (1.330274429, -1.821255978, 1.781477937, -0.356563782, 0.319381530))


def normal_cdf_pdf(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Φ(z), φ(z)) elementwise in float32. Φ from φ, which the gradient needs anyway, by
    `_B`'s polynomial: a few passes of arithmetic where scipy's ndtr took 20 ns an element,
    the most of the pgd linker's degree term."""
    z = np.asarray(z, dtype=np.float32)
    phi = np.multiply(z, z)
    phi *= np.float32(-0.5)
    np.exp(phi, out=phi)
    phi *= np.float32(1.0 / _SQRT_2PI)
    t = np.abs(z)
    t *= _P
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    tail = np.full_like(t, _B[0])
    for b in _B[1:]:  # Horner: ((b5·t + b4)·t + …)·t
        tail *= t
        tail += b
    tail *= t
    tail *= phi  # 1 − Φ(|z|)
    cdf = np.where(z >= 0, np.float32(1.0) - tail, tail)
    return cdf, phi


def shrunk_target(noisy: np.ndarray, sigma: float, children: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """The (parent cell × child cell) counts the synthetic children should reach.

    Two James–Stein (positive part) shrinkages, each towards what independence would give:
    the parent-cell distribution of all children (row sums) towards the synthetic parents' own
    distribution (`parents`, counts per parent cell), then each child cell's parent distribution
    towards that. A vector's trust is ‖signal‖²/(‖signal‖² + noise), its signal's squared norm
    estimated as ‖noisy‖² − noise. Clear marginals keep their shape, ones lost in noise fall back
    to independence rather than to noise (which made links worse than the degree linker's), and
    every column sums to the synthetic children of its cell (`children`)."""
    n_a, n_b = noisy.shape
    base = parents / parents.sum() if parents.sum() > 0 else np.full(n_a, 1.0 / n_a)
    rows = noisy.sum(axis=1)
    prior = _shrink(np.clip(rows, 0.0, None), (rows**2).sum(), n_a * n_b * sigma**2, base)
    out = np.empty((n_a, n_b))
    energy = (noisy**2).sum(axis=0)
    t = np.clip(noisy, 0.0, None)
    for b in range(n_b):
        out[:, b] = _shrink(t[:, b], energy[b], n_a * sigma**2, prior) * children[b]
    return out


def _shrink(counts: np.ndarray, energy: float, noise: float, towards: np.ndarray) -> np.ndarray:
    """counts' distribution mixed with `towards` by trust = max(energy − noise, 0)/energy."""
    total = counts.sum()
    if total <= 0:
        return towards
    trust = max(energy - noise, 0.0) / energy if noise > 0 else 1.0
    return trust * counts / total + (1.0 - trust) * towards


def _cells(columns: list[np.ndarray], shape: tuple[int, ...], n: int) -> np.ndarray:
    if not columns:
        return np.zeros(n, dtype=np.int64)
    return np.ravel_multi_index(tuple(np.asarray(c, dtype=np.int64) for c in columns), shape)


def _edges(cap: int) -> np.ndarray:
    """Bin edges d ± ½; the outer two stand for ±∞ (far enough that Φ is exactly 0 or 1 there)."""
    return np.r_[-1e6, np.arange(cap) + 0.5, cap + 1e6]


def _bin_probabilities(mu: np.ndarray, s: np.ndarray, cap: int) -> np.ndarray:
    """P(degree bin d) for N(μ, s²) binned at d ± ½, bin 0 open below and bin cap open above."""
    return np.diff(ndtr((_edges(cap)[None, :] - mu[:, None]) / s[:, None]), axis=1)
