"""Private-PGM estimation (mbi's `MirrorDescent`: Armijo line search, L2 loss) in numpy.

AIM re-estimates its model once per round, each time with a new set of cliques. mbi compiles
an XLA program per structure: 5-15 s a round on 2 cores, minutes per table. These models are
small enough that numpy, which compiles nothing, runs the same iterations in well under that.
The potentials it returns warm-start the next round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from mbi import Domain, LinearMeasurement
from mbi.clique_utils import maximal_subset
from mbi.marginal_loss import DatavectorQuery, WeightedQuery, calculate_l2_lipschitz_from_metadata

from dbsynth.tabular.inference import Clique, JunctionTree, TreeMarginals, align


@dataclass
class _Term:
    """Every measurement of one clique, folded into one quadratic: Σ_i p_i‖w_i∘q − y_i‖²/2 =
    ½⟨a, q²⟩ − ⟨b, q⟩ + c with a = Σ p_i w_i², b = Σ p_i w_i y_i, c = ½ Σ p_i ‖y_i‖².

    Arrays are over the clique's attributes in its parent's order, so projecting the parent's
    marginal is one `sum` and the gradient broadcasts back with a reshape."""

    parent: Clique
    drop: tuple[int, ...]  # parent axes summed out
    keep_shape: list[int]  # the clique's shape with 1 on dropped axes (for broadcasting)
    a: np.ndarray
    b: np.ndarray
    c: float


@dataclass
class Estimate:
    """Log-potentials on the maximal measured cliques, and the calibrated model they define."""

    potentials: dict[Clique, np.ndarray]
    tree: JunctionTree
    beliefs: dict[Clique, np.ndarray]
    total: float
    loss: float

    def marginals(self) -> TreeMarginals:
        return TreeMarginals(self.tree, self.beliefs, self.total)


def mirror_descent(
    domain: Domain,
    measurements: Sequence[LinearMeasurement],
    total: float,
    *,
    iters: int,
    warm_start: Mapping[Clique, np.ndarray] | None = None,
    tol: float = 0.0,
    work: float | None = None,
    fixed: Mapping[Clique, np.ndarray] | None = None,
) -> Estimate:
    """Minimise Σ ‖(Q μ_c − y)/σ‖²/2 over the model's marginals μ by mirror descent on potentials.

    At most `iters` steps, and at most `work` cell updates (steps × junction-tree cells, but at
    least 25 steps): a step costs time in proportion to the tree, ~65 ns a cell on 2 cores.
    Fewer when `tol` > 0 and a block of 25 steps lowers the loss by less than `tol` (relative):
    a warm-started round is often done long before the cap.

    `fixed` are log-potentials the model always has (coarse twins' structural zeros, `coarse`):
    their cliques join the structure and they join the start point when there is no warm start
    (a warm start holds them already). Descent only adds to them where a measurement lands."""
    fixed = dict(fixed or {})
    cliques = [tuple(c) for c in maximal_subset([m.clique for m in measurements] + list(fixed))]
    tree = JunctionTree(domain, cliques)
    if work is not None:
        iters = min(iters, max(25, int(work / sum(tree.size(n) for n in tree.nodes))))
    terms = _fold(measurements, cliques, tree)
    theta = {c: np.zeros([tree.shape[a] for a in c]) for c in cliques}
    for old, values in (warm_start or fixed).items():
        # An old potential lands in a clique that holds it: the same distribution, re-expressed.
        home = next(c for c in cliques if set(old) <= set(c))
        theta[home] = theta[home] + align(old, values, home)
    # mbi's step size: 2/(L·total), L from the measurements' precisions (exact for these queries).
    alpha = 2.0 / (calculate_l2_lipschitz_from_metadata(domain, list(measurements)) * total)
    # Where each clique's marginal comes from in the tree: its home node's belief, summed down.
    places = {c: (tree.home[c], tuple(i for i, a in enumerate(tree.home[c]) if a not in c),
                  [sorted(c, key=tree.home[c].index).index(a) for a in c]) for c in cliques}

    def marginals(beliefs) -> dict[Clique, np.ndarray]:
        out = {}
        for c, (node, drop, order) in places.items():
            out[c] = total * np.transpose(beliefs[node].sum(axis=drop) if drop else beliefs[node], order)
        return out

    beliefs = tree.calibrate(theta)
    mu = marginals(beliefs)
    loss, grad = _loss_and_gradient(terms, mu)
    checkpoint = loss
    for step in range(1, iters + 1):
        trial = {c: theta[c] - alpha * grad[c] for c in cliques}
        trial_beliefs = tree.calibrate(trial)
        trial_mu = marginals(trial_beliefs)
        trial_loss, trial_grad = _loss_and_gradient(terms, trial_mu)
        decrease = sum(float(np.vdot(grad[c], mu[c] - trial_mu[c])) for c in cliques)
        if loss - trial_loss >= 0.5 * alpha * decrease:
            theta, beliefs, mu, loss, grad = trial, trial_beliefs, trial_mu, trial_loss, trial_grad
            alpha *= 1.01
        else:
            alpha *= 0.5
        if tol > 0 and step % 25 == 0:
            if checkpoint - loss <= tol * max(abs(loss), 1.0):
                break
            checkpoint = loss
    return Estimate(theta, tree, beliefs, float(total), loss)


def _fold(measurements: Sequence[LinearMeasurement], cliques: list[Clique], tree: JunctionTree) -> list[_Term]:
    terms: dict[Clique, _Term] = {}
    for m in measurements:
        clique = tuple(m.clique)
        shape = [tree.shape[a] for a in clique]
        if isinstance(m.query, WeightedQuery):
            w = np.asarray(m.query.weights, dtype=float).reshape(shape)
        elif isinstance(m.query, DatavectorQuery):
            w = np.ones(shape)
        else:
            raise TypeError(f"unsupported measurement query {type(m.query).__name__}")
        y = np.asarray(m.noisy_measurement, dtype=float).reshape(shape)
        p = 1.0 / max(float(m.stddev), 1e-12) ** 2
        parent = min((c for c in cliques if set(clique) <= set(c)), key=tree.size)
        key = tuple(sorted(clique, key=parent.index))  # the clique in its parent's order
        order = [clique.index(x) for x in key]
        a, b = np.transpose(p * w * w, order), np.transpose(p * w * y, order)
        if key in terms:
            t = terms[key]
            t.a, t.b, t.c = t.a + a, t.b + b, t.c + 0.5 * p * float(np.vdot(y, y))
        else:
            drop = tuple(i for i, x in enumerate(parent) if x not in key)
            keep = [tree.shape[x] if x in key else 1 for x in parent]
            terms[key] = _Term(parent, drop, keep, a, b, 0.5 * p * float(np.vdot(y, y)))
    return list(terms.values())


def _loss_and_gradient(terms: list[_Term], mu: dict[Clique, np.ndarray]) -> tuple[float, dict[Clique, np.ndarray]]:
    loss = 0.0
    grad = {c: np.zeros_like(v) for c, v in mu.items()}
    for t in terms:
        q = mu[t.parent].sum(axis=t.drop) if t.drop else mu[t.parent]
        g = t.a * q - t.b
        loss += float(np.vdot(0.5 * t.a * q - t.b, q)) + t.c
        grad[t.parent] += g.reshape(t.keep_shape)
    return loss, grad
