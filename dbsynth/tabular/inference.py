"""Exact inference in a graphical model, in numpy: a junction tree, sum-product over it, and the
marginal of any clique from the calibrated beliefs.

AIM re-fits its model every round and scores hundreds of candidate cliques against it. In mbi
each new model structure and each new clique shape compiles an XLA program (seconds each); numpy
compiles nothing, and these trees are small (the model-size limit keeps them so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
from mbi import Domain, junction_tree

Clique = tuple[str, ...]


class JunctionTree:
    """The junction tree of `cliques` over `domain`, with a two-pass sum-product on it."""

    def __init__(self, domain: Domain, cliques: Sequence[Clique]) -> None:
        self.shape = dict(zip(domain.attributes, domain.shape))
        tree, order = junction_tree.make_junction_tree(domain, [tuple(c) for c in cliques])
        self.tree = tree
        self.elimination_order: list[str] = list(order)
        self.nodes: list[Clique] = list(tree.nodes)
        # Each potential lives in the smallest node that holds it.
        self.home = {tuple(c): min((n for n in self.nodes if set(c) <= set(n)), key=self.size) for c in cliques}
        self.component = {a: i for i, nodes in enumerate(nx.connected_components(tree)) for n in nodes for a in n}
        # The einsum operands of every message and belief, worked out once: calibrate runs per
        # mirror-descent iteration, where Python bookkeeping would cost more than the arithmetic.
        self._messages = []
        for src, dst in _schedule(tree):
            incoming = [((o, src), _labels(separator(o, src), src)) for o in tree.neighbors(src) if o != dst]
            self._messages.append((src, dst, incoming, _labels(separator(src, dst), src)))
        self._beliefs = [(n, [((o, n), _labels(separator(o, n), n)) for o in tree.neighbors(n)]) for n in self.nodes]

    def size(self, clique: Sequence[str]) -> int:
        return int(np.prod([self.shape[a] for a in clique], dtype=np.int64))

    def node_log_potentials(self, potentials: Mapping[Clique, np.ndarray]) -> dict[Clique, np.ndarray]:
        out = {n: np.zeros([self.shape[a] for a in n]) for n in self.nodes}
        for clique, values in potentials.items():
            node = self.home[clique]
            out[node] += align(clique, values, node)
        return out

    def calibrate(self, potentials: Mapping[Clique, np.ndarray]) -> dict[Clique, np.ndarray]:
        """Each node's marginal (a probability table, axes in node order) of the model ∝ exp(Σ potentials).

        Sum-product in linear space: node potentials are shifted by their max before exp and every
        message is rescaled to max 1, so nothing overflows; scales cancel when beliefs are normalised."""
        psi = {n: np.exp(v - v.max()) for n, v in self.node_log_potentials(potentials).items()}
        messages: dict[tuple[Clique, Clique], np.ndarray] = {}
        for src, dst, incoming, out in self._messages:
            operands = [psi[src], list(range(len(src)))]
            for key, labels in incoming:
                operands += [messages[key], labels]
            msg = np.einsum(*operands, out)
            top = msg.max()
            messages[(src, dst)] = msg / top if top > 0 else msg
        beliefs = {}
        for node, incoming in self._beliefs:
            b = psi[node]
            if incoming:
                operands = [b, list(range(len(node)))]
                for key, labels in incoming:
                    operands += [messages[key], labels]
                b = np.einsum(*operands, list(range(len(node))))
            beliefs[node] = b / b.sum()
        return beliefs


class TreeMarginals:
    """Counts of any clique under a calibrated model (beliefs from `JunctionTree.calibrate`)."""

    def __init__(self, tree: JunctionTree, beliefs: Mapping[Clique, np.ndarray], total: float) -> None:
        self.tree, self.beliefs, self.total = tree, dict(beliefs), float(total)

    def counts(self, cliques: Sequence[Clique]) -> list[np.ndarray]:
        """The model's expected counts on each clique, axes in clique order."""
        return [self.total * self.probabilities(tuple(cl)) for cl in cliques]

    def probabilities(self, clique: Clique) -> np.ndarray:
        inside = [n for n in self.tree.nodes if set(clique) <= set(n)]
        if inside:
            node = min(inside, key=self.tree.size)
            return project(node, self.beliefs[node], clique)
        # Attributes in different components of the tree are independent in the model.
        groups: dict[int, list[str]] = {}
        for attr in clique:
            groups.setdefault(self.tree.component[attr], []).append(attr)
        joint, axes = np.ones(()), ()
        for attrs in groups.values():
            joint = np.multiply.outer(joint, self._within_component(tuple(attrs)))
            axes += tuple(attrs)
        return project(axes, joint, clique)

    def _within_component(self, attrs: Clique) -> np.ndarray:
        """Marginal of attributes of one connected component, from its smallest covering subtree.

        A junction tree's joint is Π beliefs / Π separators; summing out a leaf whose own
        attributes are not wanted divides out exactly, so only the covering subtree is needed."""
        inside = [n for n in self.tree.nodes if set(attrs) <= set(n)]
        if inside:
            node = min(inside, key=self.tree.size)
            return project(node, self.beliefs[node], attrs)
        start = next(n for n in self.tree.nodes if attrs[0] in n)
        sub = nx.Graph(self.tree.tree.subgraph(nx.node_connected_component(self.tree.tree, start)))
        wanted = set(attrs)
        pruned = True
        while pruned and sub.number_of_nodes() > 1:
            pruned = False
            for node in [n for n in sub.nodes if sub.degree(n) == 1]:
                (neighbour,) = sub.neighbors(node)
                if (set(node) & wanted) <= set(neighbour):
                    sub.remove_node(node)
                    pruned = True
        label = {a: i for i, a in enumerate(sorted({a for n in sub.nodes for a in n}))}
        operands: list = []
        for node in sub.nodes:
            operands += [self.beliefs[node], [label[a] for a in node]]
        for u, v in sub.edges:
            sep = separator(u, v)
            p_sep = project(u, self.beliefs[u], sep)
            inv = np.divide(1.0, p_sep, out=np.zeros_like(p_sep), where=p_sep > 0)
            operands += [inv, [label[a] for a in sep]]
        out = np.einsum(*operands, [label[a] for a in attrs], optimize="greedy")
        return np.clip(out, 0.0, None)


def tree_cells(shape: Mapping[str, int], cliques: Sequence[Clique]) -> int:
    """Cells of the junction tree of `cliques`: the maximal cliques of a greedy triangulation.

    The same greedy rule as mbi's `greedy_order` (eliminate the attribute whose neighbourhood has
    the smallest domain, first in order on ties), without networkx: AIM asks this for every
    candidate every round, and mbi's `hypothetical_model_size` takes ms per call."""
    log_size = {a: float(np.log(shape[a])) for a in shape}
    neighbours: dict[str, set[str]] = {a: set() for a in shape}
    for clique in cliques:
        for a in clique:
            neighbours[a] |= set(clique) - {a}
    remaining = list(shape)
    formed: list[frozenset[str]] = []
    while remaining:
        best = min(remaining, key=lambda a: log_size[a] + sum(log_size[b] for b in neighbours[a]))
        around = neighbours.pop(best)
        formed.append(frozenset(around | {best}))
        for b in around:
            neighbours[b] |= around - {b}
            neighbours[b].discard(best)
        remaining.remove(best)
    maximal = {c for c in formed if not any(c < other for other in formed)}
    return sum(int(np.prod([shape[a] for a in c], dtype=np.int64)) for c in maximal)


def _schedule(tree: nx.Graph) -> list[tuple[Clique, Clique]]:
    """Messages in an order where each is sent after every message it needs: collect towards a
    root per component, then distribute back out."""
    collect, distribute = [], []
    for nodes in nx.connected_components(tree):
        order = list(nx.bfs_edges(tree, min(nodes)))
        collect += [(c, p) for p, c in reversed(order)]
        distribute += order
    return collect + distribute


def separator(a: Clique, b: Clique) -> Clique:
    """The attributes two cliques share, in `a`'s order."""
    return tuple(x for x in a if x in b)


def align(attrs: Clique, values: np.ndarray, target: Clique) -> np.ndarray:
    """`values` over `attrs` transposed and reshaped to broadcast against an array over `target`."""
    order = sorted(range(len(attrs)), key=lambda i: target.index(attrs[i]))
    shape = [1] * len(target)
    for i in order:
        shape[target.index(attrs[i])] = values.shape[i]
    return np.transpose(values, order).reshape(shape)


def project(attrs: Clique, values: np.ndarray, keep: Clique) -> np.ndarray:
    """Sum out every axis not in `keep`; the result's axes follow `keep`'s order."""
    drop = tuple(i for i, a in enumerate(attrs) if a not in keep)
    summed = values.sum(axis=drop) if drop else values
    rest = [a for a in attrs if a in keep]
    return np.transpose(summed, [rest.index(a) for a in keep])


def _labels(attrs: Clique, node: Clique) -> list[int]:
    """einsum labels of `attrs` numbered by position in `node` (a node has far fewer than 52)."""
    return [node.index(a) for a in attrs]
