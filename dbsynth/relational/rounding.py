"""From relaxed links to real ones: unbiased rounding, then degree caps repaired.

Rounding: each child draws one candidate with its relaxed probabilities, independently, so
P(child i → parent j) equals the relaxed weight exactly (tested). Cap repair moves the fewest
children needed off parents above the cap, to parents with room, preferring the child's own
candidates, then parents of the same attribute group, then any parent with room. Degree repair
moves children between parents of one group (identical features) towards the degree histogram;
the linker then repairs once more over all parents as one group, for what a group's own
children cannot reach (`PGDLinker._repair`).
"""

from __future__ import annotations

import numpy as np

from dbsynth.measure.degrees import tilt_to_means


def round_rows(weights: np.ndarray, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One candidate per row, drawn with the row's weights; -1 for a row without weight."""
    n = len(weights)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1]
    u = rng.random(n) * total
    # The first column whose cumulative weight exceeds u; zero-weight columns never qualify.
    col = np.minimum((cum <= u[:, None]).sum(axis=1), weights.shape[1] - 1)
    out = candidates[np.arange(n), col].astype(np.int64)
    out[total <= 0] = -1
    return out


def _accept(proposal: np.ndarray, room: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which proposals fit: per parent, up to its room, in random order (-1 proposals never fit)."""
    ok = proposal >= 0
    accept = np.zeros(len(proposal), dtype=bool)
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return accept
    idx = idx[rng.permutation(len(idx))]
    p = proposal[idx]
    order = np.argsort(p, kind="stable")
    sorted_p = p[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_p)) + 1]
    rank = np.arange(len(sorted_p)) - np.repeat(starts, np.diff(np.r_[starts, len(sorted_p)]))
    accept[idx[order]] = rank < room[sorted_p]
    return accept


def repair_caps(
    parent: np.ndarray,
    n_parents: int,
    limit: int,
    rng: np.random.Generator,
    *,
    candidates: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    group: np.ndarray | None = None,
    tries: int = 4,
) -> np.ndarray:
    """`parent` with no parent above `limit` children (where the parents have room for all)."""
    parent = parent.copy()
    linked = parent >= 0
    degree = np.bincount(parent[linked], minlength=n_parents)
    excess = np.maximum(degree - limit, 0)
    if not excess.any():
        return parent
    # Who moves: on each crowded parent, the children that weighted it least (ties at random).
    kids = np.flatnonzero(linked & (excess[np.maximum(parent, 0)] > 0))
    own = np.zeros(len(kids))
    if candidates is not None and weights is not None:
        own = (weights[kids] * (candidates[kids] == parent[kids, None])).sum(axis=1)
    order = np.lexsort((rng.random(len(kids)), own, parent[kids]))
    kids = kids[order]
    p = parent[kids]
    starts = np.r_[0, np.flatnonzero(np.diff(p)) + 1]
    rank = np.arange(len(p)) - np.repeat(starts, np.diff(np.r_[starts, len(p)]))
    movers = kids[rank < excess[p]]
    origin = parent[movers].copy()
    room = np.maximum(limit - (degree - np.bincount(origin, minlength=n_parents)), 0)
    parent[movers] = -1
    todo = np.arange(len(movers))

    def settle(proposal: np.ndarray) -> None:
        nonlocal todo
        ok = _accept(proposal, room, rng)
        chosen = proposal[ok]
        parent[movers[todo[ok]]] = chosen
        np.subtract.at(room, chosen, 1)
        todo = todo[~ok]

    if candidates is not None and weights is not None:  # 1. the child's own candidates, best first
        by_weight = np.argsort(-weights[movers], axis=1, kind="stable")
        for k in range(by_weight.shape[1]):
            if not len(todo):
                break
            col = by_weight[todo, k]
            prop = candidates[movers[todo], col]
            fits = (weights[movers[todo], col] > 0) & (prop != origin[todo])
            settle(np.where(fits, prop, -1))
    if group is not None:  # 2. a parent like the one it left
        for _ in range(tries):
            if not len(todo):
                break
            free = np.flatnonzero(room > 0)
            g = group[free]
            order = np.argsort(g, kind="stable")
            free, g = free[order], g[order]
            want = group[origin[todo]]
            lo = np.searchsorted(g, want, side="left")
            hi = np.searchsorted(g, want, side="right")
            has = hi > lo
            pick = lo + (rng.random(len(todo)) * (hi - lo)).astype(np.int64)
            settle(np.where(has, free[np.minimum(pick, len(free) - 1)] if len(free) else -1, -1))
    if len(todo):  # 3. any free slot, each slot once
        slots = np.repeat(np.arange(n_parents), room)
        take = rng.permutation(len(slots))[: len(todo)]
        placed = np.full(len(todo), -1, dtype=np.int64)
        placed[: len(take)] = slots[take]
        parent[movers[todo]] = np.where(placed >= 0, placed, origin[todo])  # no room anywhere: stays
    return parent


def repair_degrees(
    parent: np.ndarray,
    group: np.ndarray,
    target: np.ndarray,
    rng: np.random.Generator,
    *,
    limit: int | None = None,
) -> np.ndarray:
    """Move children between parents of the same group so that the degree histogram (bins
    0..cap, the last open unless `limit` makes it exact) is `target` (scaled to the parents), as
    far as such moves allow.

    Parents of one group share every feature the cross-table marginals see, so these moves leave
    the marginals exactly as they were: they only undo the spread that independent rounding
    adds to degrees (a sum of Bernoullis is never as concentrated as real degrees can be).

    By rank: the parents, ordered by the degree rounding gave them (ties at random), take the
    target's degrees in order, so a parent the marginals filled stays among the full ones; then
    each group's degrees are nudged by one, where the ordering gave them more or fewer children
    than the group holds, on its parents of the largest degrees. (A greedy search
    over single moves stalled after a few batches: on 100k parents it left a degree KS of 0.04.)"""
    parent = parent.copy()
    m = len(group)
    cap = len(target) - 1
    goal = np.clip(np.asarray(target, dtype=float), 0.0, None)
    linked = linked_rows(parent)
    if m == 0 or cap < 1 or goal.sum() <= 0 or not len(linked):
        return parent
    degree = np.bincount(parent[linked], minlength=m)
    top = cap if limit is not None and limit <= cap else None  # the last bin is exact
    # The target's degrees as m values (largest remainders), ascending, holding the children
    # there are: where the bins are exact, the target is tilted (p_d ∝ p_d·e^{λd}) to their mean.
    share = goal * m / goal.sum()
    if top is not None:
        share = tilt_to_means(share / m, [np.arange(cap + 1, dtype=float)], [len(linked) / m]) * m
    count = np.floor(share).astype(np.int64)
    count[np.argsort(count - share)[: m - int(count.sum())]] += 1
    wanted = np.repeat(np.arange(cap + 1), count)
    order = np.lexsort((rng.random(m), degree))
    want = np.empty(m, dtype=np.int64)
    want[order] = wanted
    if top is None:  # "cap or more": a parent there keeps what it has above the cap
        want = np.where(want >= cap, np.maximum(degree, cap), want)
    ceiling = limit if limit is not None else np.iinfo(np.int64).max
    # Each group's children are fixed: nudge degrees by one until the group's wants add up.
    for _ in range(8):
        held = np.bincount(group, weights=degree, minlength=int(group.max()) + 1)
        asked = np.bincount(group, weights=want, minlength=len(held))
        gap = np.rint(held - asked).astype(np.int64)
        if not gap.any():
            break
        for sign in (1, -1):
            short = gap[group] * sign > 0
            room = (want < ceiling) if sign > 0 else (want > 0)
            eligible = np.flatnonzero(short & room)
            if not len(eligible):
                continue
            # The largest degrees first: one child more or less moves a parent within the sparse
            # tail of the histogram, not out of a crowded bin.
            idx = eligible[np.lexsort((rng.random(len(eligible)), -want[eligible], group[eligible]))]
            g = group[idx]
            rank = np.arange(len(idx)) - np.searchsorted(g, g, side="left")
            take = idx[rank < np.abs(gap[g])]
            want[take] += sign
    return _move_by_need(parent, linked, group, want - degree, rng)


def _match_in_groups(a: np.ndarray, a_group: np.ndarray, b: np.ndarray, b_group: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The k-th of `a` in each group paired with the k-th of `b` in the same group (each taken in
    the order given), as many pairs as both sides of a group have."""
    a, ag = a[np.argsort(a_group, kind="stable")], np.sort(a_group, kind="stable")
    b, bg = b[np.argsort(b_group, kind="stable")], np.sort(b_group, kind="stable")
    rank = np.arange(len(ag)) - np.searchsorted(ag, ag, side="left")
    start = np.searchsorted(bg, ag, side="left")
    ok = rank < np.searchsorted(bg, ag, side="right") - start
    return a[ok], b[start[ok] + rank[ok]]


def reshape_tail(parent: np.ndarray, group: np.ndarray, tail: np.ndarray, top: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Give the parents with `top` or more children the released shape above `top` (`tail[k]`:
    P(degree = top + k | degree ≥ top)), moving children only between parents of one group, so
    the cross-table marginals stay as they were. Per group, target degrees drawn from `tail` are
    scaled to the children the group's parents hold and matched to the parents by rank: the
    linker's bins stop at `top`, and without this its parents above it (every product of a shop,
    with 136 to 38,000 order lines) all came out near the mean."""
    parent = parent.copy()
    linked = linked_rows(parent)
    if not len(linked) or not len(group):
        return parent
    degree = np.bincount(parent[linked], minlength=len(group))
    tail = np.clip(np.asarray(tail, dtype=float), 0.0, None)
    if tail.sum() <= 0:
        return parent
    tail = tail / tail.sum()
    want = np.zeros(len(group), dtype=np.int64)
    heavy = np.flatnonzero(degree >= top)
    for g in np.unique(group[heavy]):
        members = heavy[group[heavy] == g]
        draws = np.sort(top + rng.choice(len(tail), size=len(members), p=tail)).astype(float)
        draws *= degree[members].sum() / draws.sum()  # the children the group holds, no more
        counts = np.floor(draws).astype(np.int64)
        short = int(degree[members].sum() - counts.sum())  # largest remainders get the rest
        counts[np.argsort(counts - draws)[:short]] += 1
        want[members[np.argsort(degree[members], kind="stable")]] = counts
    need = np.zeros(len(group), dtype=np.int64)
    need[heavy] = want[heavy] - degree[heavy]
    return _move_by_need(parent, linked, group, need, rng)


def fit_parent_targets(parent: np.ndarray, group: np.ndarray, targets: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """Give each parent its share of its group's children by `targets` (expected children per
    parent, any scale: a public parent's released count), moving children only between parents
    of one group, so the cross-table marginals stay as they were; then, where the groups' totals
    still differ from their targets' (rounding, or marginals that disagree with the targets),
    between any parents. A group whose targets are all zero is left as it is. Shares are rounded
    without bias: the whole parts, then the children left over drawn by the fractional parts."""
    within = _fit_shares(parent, group, targets, rng)
    return _fit_shares(within, np.zeros(len(group), dtype=np.int64), targets, rng)


def _fit_shares(parent: np.ndarray, group: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One pass of `fit_parent_targets` within `group`."""
    parent = parent.copy()
    linked = linked_rows(parent)
    m = len(group)
    if not len(linked) or not m:
        return parent
    targets = np.clip(np.asarray(targets, dtype=float), 0.0, None)
    degree = np.bincount(parent[linked], minlength=m)
    held = np.bincount(group, weights=degree, minlength=int(group.max()) + 1)
    wanted = np.bincount(group, weights=targets, minlength=len(held))
    open_ = wanted[group] > 0
    share = np.where(open_, held[group] * targets / np.where(open_, wanted[group], 1.0), degree)
    want = np.floor(share).astype(np.int64)
    # Systematic sampling within each group: one uniform offset per group, a parent takes one
    # more child where its fractional part carries the running sum past an integer (probability
    # = the fractional part; the group's leftovers in all, up to rounding of the sum).
    members = np.flatnonzero(open_)
    members = members[np.argsort(group[members], kind="stable")]
    frac, g = share[members] - want[members], group[members]
    cum = np.cumsum(frac)
    start = np.searchsorted(g, g, side="left")
    before = np.r_[0.0, cum][start]  # the running sum of the groups before this one
    u = rng.random(len(held))[g]
    within = cum - before
    want[members] += (np.floor(within + u) > np.floor(within - frac + u)).astype(np.int64)
    return _move_by_need(parent, linked, group, want - degree, rng)


def _move_by_need(parent: np.ndarray, linked: np.ndarray, group: np.ndarray, need: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Children of parents with need < 0 (a random `-need` of each) moved to parents with need > 0
    of their own group, one per open slot, as far as the group has slots."""
    # A giver's surplus: the first of its children in a random order; each goes to an open slot
    # of a taker of its own group. Only givers' children are ordered (on a shared edge of
    # millions, the whole edge was permuted first: a dozen arrays of every child at once).
    mine = linked[(need < 0)[parent[linked]]]
    mine = mine[rng.permutation(len(mine))]
    mine = mine[np.argsort(parent[mine], kind="stable")]
    of = parent[mine]
    rank = np.arange(len(of), dtype=mine.dtype)
    rank -= np.searchsorted(of, of, side="left").astype(mine.dtype, copy=False)
    moving = mine[rank < -need[of]]
    del mine, of, rank
    moving = moving[rng.permutation(len(moving))]
    takers = np.flatnonzero(need > 0)
    slots = np.repeat(takers, need[takers])
    slots = slots[rng.permutation(len(slots))]
    children, to = _match_in_groups(moving, group[parent[moving]], slots, group[slots])
    parent[children] = to
    return parent


def linked_rows(parent: np.ndarray) -> np.ndarray:
    """The rows with a parent (≥ 0), as int32 where the rows allow: the repairs hold several
    arrays of them on an edge of millions of children."""
    rows = np.flatnonzero(parent >= 0)
    return rows.astype(np.int32) if len(parent) < 2**31 else rows
