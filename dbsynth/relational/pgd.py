"""The `pgd` linker (arXiv 2405.18670, made production grade): links that carry cross-table statistics.

Relax "child i has parent j" to a row-stochastic matrix X kept sparse as K candidate parents per
child (index arrays, never n_parents × n_children), minimise the loss of `objective.py` by
projected gradient descent with the exact Euclidean projection onto each row's simplex
(`simplex.py`) and a backtracking step, resample candidates between rounds (keep the best by
weight, draw fresh ones where targets are unmet), then round without bias and repair degree caps
(`rounding.py`). Memory is O(rows + n_children·K).
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from dbsynth.relational.candidates import CandidateSampler
from dbsynth.relational.groups import split
from dbsynth.relational.linker import LinkProblem
from dbsynth.relational.objective import Objective, parent_types
from dbsynth.relational.rounding import fit_parent_targets, repair_caps, repair_degrees, reshape_tail, round_rows
from dbsynth.relational.simplex import project_rows


@dataclass(frozen=True)
class Relaxation:
    candidates: np.ndarray  # (n_children, K) parent indices (entries with mask False are unused)
    weights: np.ndarray  # (n_children, K), each row on the simplex (all zero: no admissible parent)
    mask: np.ndarray
    loss: float
    objective: Objective


# Below this many parents per group, an edge's groups share all its parents: a handful of
# products split ten ways would leave groups without the parent cells their children want.
MIN_GROUP_PARENTS = 5_000


@dataclass(frozen=True)
class PGDLinker:
    """The `Linker` named "pgd"."""

    name: str = "pgd"
    candidates: int = 8  # K: candidate parents per child …
    candidates_large: int = 6  # … and above `large` children: on 1M children K=6 runs 30% faster in
    large: int = 250_000  # 20% less memory with the same TVD and KS (benchmarks/linker)
    rounds: int = 5  # candidate sets; each round ends with a resample
    iterations: int = 8  # gradient steps per round (more lower the loss, not the TVD: measured)
    fresh: float = 0.5  # share of a child's candidates redrawn between rounds
    explore: float = 0.25  # share of draws that ignore the targets (any admissible parent)
    degree_weight: float = 1.0
    smoothing: float = 0.35  # s0 of the degree surrogate (objective.py)
    degree_repair: bool = True
    group: int = 250_000  # children per group above which an edge is linked in random groups (groups.py):
    # at 1M children 250k took 47 s and 439 MB, 500k 67 s and 526 MB, one group 80 s and 1009 MB, TVD and KS the same
    # Groups linked at once (threads); None: one per core, at most 4. Two by default: at the scale
    # benchmark's 4x shop two took sampling from 295 to 233 s and the peak from 1,593 to 1,775 MiB
    # (the child's VmHWM; an earlier 2,2xx MiB was its ru_maxrss, which held the benchmark's own
    # generator: BENCHMARKS, seventh measurement); each more group holds a few hundred MB more.
    workers: int | None = 2

    def link(self, problem: LinkProblem, rng: np.random.Generator) -> np.ndarray:
        n, m = problem.n_children, problem.n_parents
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if m == 0:
            return np.full(n, -1, dtype=np.int64)
        if n > self.group and not problem.ordered:
            return self._link_groups(problem, rng)
        relaxed = self.relax(problem, rng)
        parent = round_rows(relaxed.weights, relaxed.candidates, rng)
        if problem.ordered:
            return parent  # moves would have to respect the order: left as rounded
        return self._repair(problem, parent, relaxed.objective.parent_type, rng, relaxed)

    def _repair(self, problem: LinkProblem, parent: np.ndarray, ptype: np.ndarray, rng: np.random.Generator,
                relaxed: Relaxation | None = None) -> np.ndarray:
        """The rounded links' caps, degrees, degree tail and parent targets, moving children
        between parents of one type (`ptype`) so the cross-table marginals stay as they were;
        only what a type's own children cannot reach (degrees, parent targets) moves across types."""
        n, m = problem.n_children, problem.n_parents
        limit = None
        if problem.limit is not None:
            # The cap is a promise about bounded data; more children than cap × parents cannot keep it.
            limit = max(problem.limit, math.ceil(n / m))
            parent = repair_caps(parent, m, limit, rng, candidates=relaxed.candidates if relaxed else None,
                                 weights=relaxed.weights if relaxed else None, group=ptype)
        if problem.degree_hist is not None and self.degree_repair:
            target = shrunk_degrees(problem.degree_hist, problem.degree_sigma, parent, m)
            parent = repair_degrees(parent, ptype, target, rng, limit=limit)
            # Then between any parents, what a group's own children could not do: where the
            # marginals see many features a group is a parent or two, rounding gives each a
            # Poisson number of children, and 4 % of the shop's orders at --scale 0.1 had no line
            # (real 0.3 %). The moves are the few the histogram still asks for past its noise
            # (0 to 2 % of an edge's children in the shop); each shifts a cross-table cell by one.
            target = shrunk_degrees(problem.degree_hist, problem.degree_sigma, parent, m)
            parent = repair_degrees(parent, np.zeros(m, dtype=np.int64), target, rng, limit=limit)
        if problem.degree_tail is not None and self.degree_repair:
            parent = reshape_tail(parent, ptype, problem.degree_tail, problem.cap, rng)
        if problem.parent_targets is not None:
            parent = fit_parent_targets(parent, ptype, problem.parent_targets, rng)
        return parent

    def _link_groups(self, problem: LinkProblem, rng: np.random.Generator) -> np.ndarray:
        """Memory bounded by `group` children, not by the edge: each random group of children
        linked to its own random group of parents, or, where that would leave a group too few
        parents to match the marginals with, to all of them (`groups.split`); with the K of a
        large edge. Shared parents' degrees are repaired once, over the whole edge."""
        groups = math.ceil(problem.n_children / self.group)
        shared = problem.n_parents < groups * MIN_GROUP_PARENTS
        inner = dataclasses.replace(self, candidates=self.candidates_large, group=problem.n_children)
        # Each group draws from its own generator, spawned in order: the links do not depend on
        # how many groups run at once. Threads, not processes: nothing is copied to a worker, and
        # the sorts and arithmetic on a group's arrays release the GIL (on 2 cores 1M children
        # took 13.9 s against 17.0 s one group at a time; the cores share one memory bus, and
        # two processes did no better). A group's problem is built when a worker is free, so no
        # more than `workers` are held at once: each is a few hundred MB at 250k children.
        workers = self._workers(groups)
        streams = rng.spawn(groups)
        # int32 (a parent row index): this and what the repairs derive from it are the arrays
        # of every child of the edge.
        parent = np.full(problem.n_children, -1, dtype=np.int32 if problem.n_parents < 2**31 else np.int64)
        running: dict[Future, tuple[np.ndarray, np.ndarray]] = {}

        def place(kids: np.ndarray, folks: np.ndarray, links: np.ndarray) -> None:
            parent[kids] = np.where(links >= 0, folks[np.maximum(links, 0)], -1)

        def collect(done) -> None:
            for future in done:
                place(*running.pop(future), future.result())

        parts = zip(split(problem, groups, rng, share_parents=shared), streams)
        if workers == 1:
            # In this thread: no pool to start for one group at a time.
            for (kids, folks, part), stream in parts:
                place(kids, folks, inner.link(part, stream))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for (kids, folks, part), stream in parts:
                    if len(running) >= workers:
                        collect(wait(running, return_when=FIRST_COMPLETED).done)
                    running[pool.submit(inner.link, part, stream)] = (kids, folks)
                collect(wait(running).done)
        if shared:
            parent = self._repair(problem, parent, parent_types(problem), rng)
        return parent

    def _workers(self, groups: int) -> int:
        """Groups linked at once: `workers`, or, where it is None, one per core this process may
        use (at most 4)."""
        if self.workers is not None:
            return max(1, min(self.workers, groups))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, min(cores, groups, 4))

    def relax(self, problem: LinkProblem, rng: np.random.Generator) -> Relaxation:
        objective = Objective(problem, self.degree_weight, self.smoothing)
        sampler = CandidateSampler(problem, objective)
        n = problem.n_children
        k = max(1, min(self.candidates if n <= self.large else self.candidates_large, problem.n_parents))
        children = np.arange(n)
        weights = [mg.target for mg in objective.marginals]
        candidates = self._draw(sampler, children, k, weights, rng)
        candidates, mask = _dedupe(candidates)
        # float32: x, its gradient and each trial step are the n_children × K arrays every
        # iteration streams through several times; the sums that need more (marginals, degree
        # moments, the loss) are accumulated in float64.
        x = project_rows(np.zeros(candidates.shape, dtype=np.float32), mask)  # uniform over each row's candidates
        step, loss = 0.5, math.inf
        for r in range(self.rounds):
            objective.set_candidates(candidates)
            if r == 1 or self.rounds == 1:  # degrees once the marginals have shaped x (objective.py)
                objective.anchor_degrees(x)
            x, loss, step = self._descend(objective, x, mask, step)
            if r == self.rounds - 1 or k == 1:
                break
            # Fresh candidates where the targets are still unmet (plus a little everywhere).
            unmet = [np.clip(mg.target - induced, 0.0, None) + 0.05 * mg.target
                     for mg, induced in zip(objective.marginals, objective.marginals_of(x))]
            keep = k - max(1, int(round(k * self.fresh)))
            best = np.argsort(-x, axis=1, kind="stable")[:, :keep]
            new = self._draw(sampler, children, k - keep, unmet, rng)
            candidates = np.hstack([np.take_along_axis(candidates, best, axis=1), new])
            kept_mask = np.take_along_axis(mask, best, axis=1)
            x = np.hstack([np.take_along_axis(x, best, axis=1), np.zeros(new.shape, dtype=x.dtype)])
            candidates, mask = _dedupe(candidates, np.hstack([kept_mask, np.ones(new.shape, dtype=bool)]))
            x = project_rows(x, mask)
        return Relaxation(candidates, x, mask, loss, objective)

    def _draw(self, sampler: CandidateSampler, children: np.ndarray, k: int, weights: list[np.ndarray],
              rng: np.random.Generator) -> np.ndarray:
        """(len(children), k) parents: a share uniform, the rest targeted."""
        n_uniform = k if not weights else min(k, int(round(k * self.explore)))
        cols = [sampler.uniform(children, rng) for _ in range(n_uniform)]
        cols += [sampler.targeted(children, weights, rng) for _ in range(k - n_uniform)]
        return np.stack(cols, axis=1) if cols else np.zeros((len(children), 0), dtype=np.int64)

    def _descend(self, objective: Objective, x: np.ndarray, mask: np.ndarray,
                 step: float) -> tuple[np.ndarray, float, float]:
        """Projected gradient descent with backtracking: a step is kept only if the loss falls."""
        loss, grad = objective.evaluate(x)
        for _ in range(self.iterations):
            while True:
                trial = project_rows(x - step * grad, mask)
                trial_loss, trial_grad = objective.evaluate(trial)
                if trial_loss <= loss or step < 1e-6:
                    break
                step *= 0.5
            if trial_loss > loss:
                break  # no descent direction left at this scale
            converged = loss - trial_loss <= 1e-6 * max(loss, 1.0)
            x, loss, grad = trial, trial_loss, trial_grad
            step *= 1.1  # grow slowly: a rejected step costs a whole evaluation
            if converged:
                break
        return x, loss, step


def shrunk_degrees(noisy: np.ndarray, sigma: float, parent: np.ndarray, n_parents: int) -> np.ndarray:
    """The degree histogram to repair towards: the one the rounded links already have, moved
    towards the noisy one only as far as the two differ by more than the noise explains. On the
    cumulative counts (parents with degree ≤ d, whose noise grows as σ√(d+1)), each difference is
    shrunk by 2σ√(d+1) (soft thresholding). Rounding spreads degrees (too few childless parents:
    a sum of Bernoullis is never as concentrated as real degrees), which a clear histogram
    corrects; where the histogram is noisy the links, which carry what the marginals say about
    who has many children, are left as they are."""
    h = np.clip(np.asarray(noisy, dtype=float), 0.0, None)
    bins = len(h)
    current = np.bincount(np.minimum(np.bincount(parent[parent >= 0], minlength=n_parents), bins - 1),
                          minlength=bins).astype(float)
    if h.sum() <= 0:
        return current
    have = np.cumsum(current)
    gap = np.cumsum(h * n_parents / h.sum()) - have
    slack = 2.0 * sigma * np.sqrt(np.arange(1, bins + 1))
    cdf = np.clip(np.maximum.accumulate(have + np.sign(gap) * np.maximum(np.abs(gap) - slack, 0.0)), 0, n_parents)
    cdf[-1] = n_parents
    return np.diff(cdf, prepend=0.0)


def _dedupe(candidates: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Candidates with -1 and repeats within a row masked out (the first occurrence stays)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    mask = np.ones(candidates.shape, dtype=bool) if mask is None else mask.copy()
    mask &= candidates >= 0
    n, k = candidates.shape
    # Column against earlier column (K(K−1)/2 passes over n): a row-wise argsort of rows this
    # short calls a sort per row and took several times as long.
    for j in range(1, k if n else 0):
        column, live = candidates[:, j], mask[:, j].copy()
        for i in range(j):
            live &= ~(mask[:, i] & (candidates[:, i] == column))
        mask[:, j] = live
    return np.where(mask, candidates, 0), mask
