"""Drawing rows from a fitted model: each parent group's conditional is met up to rounding, a
draw is balanced on the columns the model makes it independent of (without tying columns
together), and merged rare values come back by their estimated shares."""

from __future__ import annotations

import itertools

import numpy as np
from mbi import Domain

from dbsynth.tabular.compression import expand, merged_shares
from dbsynth.tabular.inference import TreeMarginals
from dbsynth.tabular.model import GraphicalModel
from dbsynth.tabular.sampling import _sorted_by
from tests.tabular_helpers import distribution


def _model(sizes: dict[str, int], potentials: dict[tuple[str, ...], np.ndarray]) -> GraphicalModel:
    domain = Domain(list(sizes), list(sizes.values()))
    return GraphicalModel.from_potentials(list(sizes), sizes, domain, potentials, {}, 0.0)


def test_every_parent_group_gets_its_conditional_up_to_rounding():
    rng = np.random.default_rng(0)
    sizes = {"a": 6, "b": 9, "c": 4}
    model = _model(sizes, {("a", "b"): rng.normal(0, 1.5, (6, 9)), ("b", "c"): rng.normal(0, 1.5, (9, 4))})
    n = 5000
    rows = model.sample(n, np.random.default_rng(1))
    marginals = TreeMarginals(model.tree, model.beliefs, 1.0)
    drawn = list(reversed(model.tree.elimination_order))  # the sampler's order
    root = drawn[0]
    assert np.abs(np.bincount(rows[root], minlength=sizes[root]) - n * marginals.probabilities((root,))).max() < 1
    for i, child in enumerate(drawn[1:], start=1):
        (parent,) = [a for a in drawn[:i] if any({a, child} <= set(node) for node in model.tree.nodes)]
        joint = distribution(rows, sizes, (parent, child)) * n
        p = marginals.probabilities((parent, child))
        expected = joint.sum(axis=1, keepdims=True) * p / p.sum(axis=1, keepdims=True)
        assert np.abs(joint - expected).max() < 1  # a systematic sample inside each parent group


def test_a_draw_is_balanced_on_the_columns_the_model_makes_it_independent_of():
    """Eight independent columns: every pair's joint should be the product of the 1-ways. A
    balanced draw gets there far closer than independent draws would, and no pair is tied (one
    Kronecker step for every column made some pairs 3-4x worse than independent draws on Adult)."""
    rng = np.random.default_rng(0)
    sizes = {f"x{i}": k for i, k in enumerate([2, 3, 5, 7, 4, 10, 6, 12])}
    model = _model(sizes, {(c,): rng.normal(0, 1.0, k) for c, k in sizes.items()})
    n = 3000
    marginals = TreeMarginals(model.tree, model.beliefs, 1.0)
    p = {c: marginals.probabilities((c,)) for c in sizes}

    def pair_tvds(rows):
        return np.array([0.5 * np.abs(distribution(rows, sizes, (a, b)) - np.outer(p[a], p[b])).sum()
                         for a, b in itertools.combinations(sizes, 2)])

    balanced = np.mean([pair_tvds(model.sample(n, np.random.default_rng(s))) for s in range(4)], axis=0)
    draws = np.random.default_rng(9)
    independent = np.mean([pair_tvds({c: draws.choice(sizes[c], n, p=p[c]) for c in sizes}) for _ in range(4)], axis=0)
    assert balanced.mean() < 0.6 * independent.mean()
    assert balanced.max() < 1.2 * independent.max()


def test_merged_values_are_drawn_back_by_their_shrunk_noisy_counts():
    """Merged rare values come back in proportion to estimates from their noisy counts: closer to
    the truth than uniform when the counts vary more than the noise, uniform when they do not."""
    rng = np.random.default_rng(0)
    true = np.concatenate([[5000.0, 4000.0], 60 * np.exp(-np.arange(40) / 8)])  # a decaying tail, merged
    mapping = np.array([0, 1] + [2] * 40)
    sigma = 10.0
    errors = {"uniform": [], "shares": [], "ordered": []}
    for _ in range(50):
        noisy = true + rng.normal(0, sigma, true.size)
        tail = true[2:] / true[2:].sum()
        errors["uniform"].append(0.5 * np.abs(np.full(40, 1 / 40) - tail).sum())
        errors["shares"].append(0.5 * np.abs(merged_shares(noisy, mapping, sigma)[2:] - tail).sum())
        errors["ordered"].append(0.5 * np.abs(merged_shares(noisy, mapping, sigma, set())[2:] - tail).sum())
    assert np.mean(errors["ordered"]) < np.mean(errors["shares"]) < 0.6 * np.mean(errors["uniform"])
    flat = merged_shares(np.array([100.0, 100.0, 3, -2, 4, 1, 0, 2]), np.array([0, 1, 2, 2, 2, 2, 2, 2]), 10.0)
    assert flat[:2].tolist() == [1.0, 1.0] and np.allclose(flat[2:], 1 / 6)  # pure noise: uniform

    shares = merged_shares(true, mapping, 0.0)
    drawn = expand(np.full(200_000, 2), mapping, np.random.default_rng(1), shares)
    assert drawn.min() >= 2
    assert np.abs(np.bincount(drawn, minlength=42)[2:] / 200_000 - tail).max() < 0.005
    assert np.array_equal(expand(np.array([0, 1, 0]), mapping, rng, shares), [0, 1, 0])


def test_the_two_sort_order_is_lexsorts():
    rng = np.random.default_rng(0)
    primary, tiebreak = rng.integers(0, 50, 20_000), rng.random(20_000)
    assert np.array_equal(_sorted_by(primary, tiebreak), np.lexsort((tiebreak, primary)))


def test_a_draw_past_one_chunk_keeps_every_chunk_systematic_in_narrow_codes(monkeypatch):
    """Past `CHUNK` rows a model draws chunk by chunk (memory): each chunk is a systematic sample
    of the model, so the whole draw's one-ways are within one row per chunk of n·p, every parent
    group's conditional too, and the codes are held in their narrowest type."""
    import dbsynth.tabular.model as model_module

    monkeypatch.setattr(model_module, "CHUNK", 1000)
    rng = np.random.default_rng(0)
    sizes = {"a": 6, "b": 300, "c": 4}
    model = _model(sizes, {("a", "b"): rng.normal(0, 1.5, (6, 300)), ("b", "c"): rng.normal(0, 1.5, (300, 4))})
    n = 10_500  # 11 chunks
    rows = model.sample(n, np.random.default_rng(1))
    assert {c: rows[c].dtype for c in sizes} == {"a": np.int8, "b": np.int16, "c": np.int8}
    assert all(len(v) == n and v.min() >= 0 and v.max() < sizes[c] for c, v in rows.items())
    marginals = TreeMarginals(model.tree, model.beliefs, 1.0)
    root = list(reversed(model.tree.elimination_order))[0]
    counts = np.bincount(rows[root], minlength=sizes[root])
    assert np.abs(counts - n * marginals.probabilities((root,))).max() <= 11
    # Not one chunk repeated: the chunks are drawn from the generator one after another.
    assert not all(np.array_equal(rows[c][:954], rows[c][954:1908]) for c in sizes)
