"""AIM (McKenna, Mullins, Sheldon & Miklau 2022, "AIM: An Adaptive and Iterative Mechanism").

Noisy 1-ways first (with MST's compression of rare values); then rounds that each pick, with the exponential mechanism, the candidate
marginal the current model gets most wrong (weighted by how much of the workload it covers),
measure it with the Gaussian mechanism and re-fit the model warm-started. All in zCDP:

- schedule: T = 16·d nominal rounds; a round spends ρ/T, 0.9 on measuring, 0.1 on selecting;
- annealing: when a new measurement barely moves the model on its clique (by less than the noise
  it carries, √(2/π)·σ·n_r in L1), σ halves and ε doubles for the rounds after;
- model size: a candidate is open only while the junction tree with it stays under
  `max_model_mb` × (fraction of ρ spent), so the model grows as the budget is spent;
- the round that can no longer afford two more spends exactly what remains.

Two departures from the paper, measured on Adult: the 1-ways get a larger share of ρ, split by
domain size (`one_way_share`); and large ordered columns get coarse twins (`coarse`), so a
candidate may put `age~16` (16 contiguous groups of ages) in place of `age` and AIM can afford
relations of age and hours-per-week that it could never measure at 85 × 99 cells. A twin's counts
are sums of its column's: the same sensitivity, and its weight is its fine clique's. Every true
count comes from `data.marginals` (one batched call for all candidates, up front: counting is
free, only releases cost budget). Estimation, scoring and sampling are numpy (`descent`,
`inference`, `sampling`): no XLA compilation per round.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
from mbi import Domain, LinearMeasurement

from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.mechanisms import epsilon_for_exponential, exponential, gaussian
from dbsynth.tabular import marginals
from dbsynth.tabular.base import MarginalSource
from dbsynth.tabular.coarse import Twins, make_twins
from dbsynth.tabular.compression import compress_counts, compress_marginal
from dbsynth.tabular.descent import Estimate, mirror_descent
from dbsynth.tabular.inference import project, tree_cells
from dbsynth.tabular.model import GraphicalModel
from dbsynth.tabular.releases import check_budget, measure_one_ways, modelled_columns, row_count_only
from dbsynth.tabular.workload import Clique, candidates, resolve_workload

_BIAS = math.sqrt(2.0 / math.pi)  # E|N(0, σ²)| = σ·√(2/π): the L1 a measurement's noise alone adds
_MB = 8 / 2**20  # megabytes per float64 cell
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AIM:
    """The `Method` named "aim"."""

    name: str = "aim"
    workload: tuple[Clique, ...] | None = None  # None: every 2- and 3-way marginal
    max_model_mb: float = 80.0  # the paper's limit on the junction tree's float64 cells
    rounds: int | None = None  # nominal rounds T for the budget schedule; None: 16·d (the paper)
    # The initial 1-ways' share of ρ. The paper measures them like any round (d·0.9/T = 5.6% of ρ);
    # on Adult (ε = 0.5 and 1, 4 seeds each) 3× that, split by domain size, with rare_sigmas = 2,
    # lowered the 2-way TVD by 9-13% and the 3-way by 5-7%; MST's rare_sigmas (3) did worse. With
    # coarse twins the 1-ways also spread each group over its codes: 0.25 did as well or better
    # than 0.17 and 0.35 (Adult, ε = 1, 2 seeds each); rare_sigmas = 1 grew the tree 10-fold.
    one_way_share: float = 0.25
    rare_sigmas: float = 2.0  # values with noisy 1-way count below this many σ are merged
    # Mirror descent per round, warm started, stopping early once the loss settles (`tol`). On
    # Adult 300 and 1000 iterations per round give the same TVD; more final ones change nothing.
    iters: int = 300
    final_iters: int = 2500
    tol: float = 1e-4
    # Ordered columns (numeric and datetime bins, ordinal categories) with more than twice
    # `coarse_levels[0]` codes get a coarse twin per level, of about that many contiguous groups
    # (`coarse`); AIM may then measure a clique with twins in place of the columns. (): no twins.
    # On Adult at ε = 1 one level of 16 did best; 8 and 24 did worse, and (16, 4) let the junction
    # tree grow until a round took 20-40 s.
    coarse_levels: tuple[int, ...] = (16,)
    # Twins only while the table has fewer noisy rows than this many first-round σ: above it the
    # fine cliques are within reach and twins cost more than they give. On Adult (rows per σ:
    # 266, 518, 1002, 1921 at ε = 0.5, 1, 2, 4) twins lowered the 3-way TVD at ε ≤ 2 (0.088 ->
    # 0.083 at ε = 1; 0.078 -> 0.074 at ε = 2, seed 0) and raised it at ε = 4 (0.0716 -> 0.0762,
    # seed 1).
    coarse_rows_per_sigma: float = 1500.0
    # Caps in cell updates (iterations × junction-tree cells). At ε = 4 the tree reaches millions of
    # cells and an iteration takes ~0.2 s on 2 cores (mbi's JAX estimator measured the same): the
    # uncapped fit took 13 minutes. About 2 s a round and 12 s for the final fit: on Adult at ε = 1
    # (with twins, ~260k cells) 3.3× these caps gave the same TVD and took twice as long.
    round_work: float = 3e7
    final_work: float = 2e8

    def fit(
        self,
        data: MarginalSource,
        *,
        ledger: Ledger,
        rho: float,
        sensitivity: float,
        rng: np.random.Generator,
    ) -> GraphicalModel:
        check_budget(data.table, rho, sensitivity)
        modelled = modelled_columns(data)
        if not modelled:
            return row_count_only(data, ledger=ledger, rho=rho, sensitivity=sensitivity)
        workload = resolve_workload(data.table, self.workload, dict(data.sizes))
        # A workload of constants only leaves nothing to select: the 1-ways are all there is.
        weights = candidates(workload or [(c,) for c in modelled], modelled)
        # A candidate bigger than the model may ever grow can never be chosen: do not count it.
        fine_weights = weights
        weights = {r: w for r, w in weights.items() if len(r) == 1 or _cells(data.sizes, r) * _MB <= self.max_model_mb}
        ones_cl = [(c,) for c in modelled]
        # A clique too big for the model may still have a coarse version that fits: count it too.
        ordered = [c for c in modelled if c in data.ordered] if self.coarse_levels else []
        wanted = ones_cl + [r for r in fine_weights
                            if r not in ones_cl and (r in weights or any(c in ordered for c in r))]
        # Counting is free: only releases cost budget. One call, so a database scans the table once.
        true_full = dict(zip(wanted, marginals.fetch(data, wanted)))

        d = len(modelled)
        budget = _Schedule(rho, rounds=self.rounds or 16 * d)
        # With one column there is nothing to select: its 1-way takes all of ρ (as in MST).
        # Otherwise the 1-ways share `one_way_share` of ρ in proportion to k^(2/3), which minimises
        # their expected L1 noise Σ k·σ for that total: large domains get the precision they need.
        rho_ones = rho if d == 1 else self.one_way_share * rho
        share = {c: data.sizes[c] ** (2 / 3) for c in modelled}
        ones = measure_one_ways(data, {c: true_full[(c,)] for c in modelled}, ledger=ledger,
                                rho={c: rho_ones * share[c] / sum(share.values()) for c in modelled},
                                sensitivity=sensitivity, rare_sigmas=self.rare_sigmas)
        budget.spent = rho_ones
        if ones.total_estimate() >= self.coarse_rows_per_sigma * sensitivity * budget.sigma:
            ordered = []
        twins = make_twins({c: compress_counts(ones.noisy[c], ones.mappings.get(c)) for c in ordered},
                           {c: _outside_order(c, data.ordered[c], ones.mappings) for c in ordered},
                           self.coarse_levels, modelled)
        sizes = {**ones.sizes, **twins.sizes}
        domain = Domain(list(sizes), list(sizes.values()))
        fixed = twins.fixed_potentials()
        # A coarse variant covers the workload its fine clique covers: the same weight. A fine
        # clique is compressed only if it or one of its variants is a candidate (without twins,
        # the large ones fetched for them are dropped here).
        truth = {}
        for r in fine_weights:
            coarse = [v for v in twins.variants(r) if _cells(sizes, v) * _MB <= self.max_model_mb]
            if r not in weights and not coarse:
                continue
            fine = compress_marginal(true_full[r], r, ones.mappings)
            if r in weights:
                truth[r] = fine
            for v in coarse:
                weights[v], truth[v] = fine_weights[r], twins.aggregate(fine, v)
        del true_full
        measurements = list(ones.measurements)
        totals = [(ones.total_estimate(), _one_way_total_variance(ones))]
        model = mirror_descent(domain, measurements, max(1.0, _total(totals)), iters=self.iters, tol=self.tol,
                               work=self.round_work, fixed=fixed)
        if d == 1:
            return self._finish(data, ones, domain, fixed, measurements, totals, model)

        max_weight = max(weights.values())
        cover = _covers(list(weights), twins)
        measured: list[Clique] = [(c,) for c in modelled] + list(fixed)
        step, last = 0, False
        while not last:
            step += 1
            start = time.perf_counter()
            rho_select, rho_measure, last = budget.next_round()
            sigma = sensitivity / math.sqrt(2 * rho_measure)  # the coming measurement's σ, in counts
            # A candidate whose noise alone (in L1) would exceed twice the table, the most any
            # model can be wrong by, cannot be measured usefully at this σ: not offered this round.
            # (Public: σ, sizes and the noisy row count.) Scoring it costs most of a round.
            # On a small table that can be every candidate: then all are offered, as in the paper.
            most = 2 * max(1.0, _total(totals))
            useful = [r for r in weights if _BIAS * sigma * truth[r].size < most]
            limit = self.max_model_mb * budget.spent / rho
            open_ = _within_size(model, measured, useful, limit) or _within_size(model, measured, list(weights), limit)
            estimates = _model_counts(model, open_, cover, twins)
            scores = np.array([weights[r] * (np.abs(truth[r] - est).sum() - _BIAS * sigma * truth[r].size)
                               for r, est in zip(open_, estimates)])
            pick = exponential(ledger, scores, sensitivity=sensitivity * max_weight,
                               epsilon=epsilon_for_exponential(rho_select), table=data.table,
                               what=f"AIM round {step}: select")
            r, before = open_[pick], estimates[pick]
            noisy, sigma = gaussian(ledger, truth[r].ravel(), sensitivity=sensitivity, rho=rho_measure,
                                    table=data.table, what=f"AIM round {step}: {len(r)}-way ({', '.join(r)})")
            measurements.append(LinearMeasurement(noisy, r, stddev=sigma))
            totals.append((float(noisy.sum()), sigma**2 * noisy.size))
            if r not in measured:
                measured.append(r)
            model = mirror_descent(domain, measurements, max(1.0, _total(totals)), iters=self.iters,
                                   warm_start=model.potentials, tol=self.tol, work=self.round_work, fixed=fixed)
            log.info("%s: AIM round %d measured %s (%d of %d candidates open), sigma %.1f, %.0f%% of rho, %.1f s",
                     data.table, step, r, len(open_), len(weights), sigma, 100 * budget.spent / rho,
                     time.perf_counter() - start)
            # The measurement barely moved the model on its own clique: noise of this size no
            # longer teaches it anything, so measure more precisely from now on (AIM's annealing).
            if not last and np.abs(model.marginals().counts([r])[0] - before).sum() <= _BIAS * sigma * before.size:
                budget.anneal()
        return self._finish(data, ones, domain, fixed, measurements, totals, model)

    def _finish(self, data: MarginalSource, ones, domain: Domain, fixed, measurements, totals,
                model: Estimate) -> GraphicalModel:
        rows = max(0.0, _total(totals))
        model = mirror_descent(domain, measurements, max(1.0, rows), iters=self.final_iters,
                               warm_start=model.potentials, tol=self.tol / 100, work=self.final_work, fixed=fixed)
        return GraphicalModel(tuple(data.sizes), dict(data.sizes), model.tree, model.beliefs, ones.mappings, rows,
                              ones.shares)


class _Schedule:
    """AIM's zCDP schedule: a round spends ρ/T, 0.9 of it measuring (ρ = 1/(2σ²), σ in units of Δ)
    and 0.1 selecting (ρ = ε²/8); annealing halves σ and doubles ε (4× the cost per round); the
    round that could not afford two more spends exactly what is left, so the total is ρ."""

    def __init__(self, rho: float, rounds: int) -> None:
        self.rho, self.spent = rho, 0.0
        self.sigma = math.sqrt(rounds / (2 * 0.9 * rho))
        self.epsilon = math.sqrt(8 * 0.1 * rho / rounds)

    @property
    def rho_measure(self) -> float:
        return 0.5 / self.sigma**2

    def next_round(self) -> tuple[float, float, bool]:
        """(ρ to select, ρ to measure, whether this is the last round), and counts them as spent."""
        remaining = self.rho - self.spent
        if remaining <= 2 * (self.rho_measure + self.epsilon**2 / 8) * (1 + 1e-12):
            self.spent = self.rho
            return 0.1 * remaining, 0.9 * remaining, True
        select, measure = self.epsilon**2 / 8, self.rho_measure
        self.spent += select + measure
        return select, measure, False

    def anneal(self) -> None:
        self.sigma /= 2
        self.epsilon *= 2


def _cells(sizes: dict[str, int], clique: Clique) -> int:
    return int(np.prod([sizes[c] for c in clique], dtype=np.int64))


def _covers(cands: list[Clique], twins: Twins) -> dict[Clique, Clique]:
    """Each candidate -> the first of the largest fine cliques that holds it: scoring computes the
    model's marginal on those only and derives the rest (a projection, a sum into groups)."""
    fine = sorted({twins.fine(r) for r in cands}, key=len, reverse=True)
    tops: list[Clique] = []
    for f in fine:
        if not any(set(f) <= set(t) for t in tops):
            tops.append(f)
    return {r: next(t for t in tops if set(twins.fine(r)) <= set(t)) for r in cands}


def _model_counts(model: Estimate, cands: list[Clique], cover: dict[Clique, Clique], twins: Twins) -> list[np.ndarray]:
    """The model's counts on each candidate, from one marginal per covering fine clique. A twin's
    marginal is its column's summed into groups: exact, the model puts no mass off the groups."""
    tops = list(dict.fromkeys(cover[r] for r in cands))
    counts = dict(zip(tops, model.marginals().counts(tops)))
    out = []
    for r in cands:
        top, fine = cover[r], twins.fine(r)
        out.append(twins.aggregate(project(top, counts[top], fine), r))
    return out


def _outside_order(col: str, codes: tuple[int, ...], mappings: dict[str, np.ndarray]) -> set[int]:
    """The compressed codes of `col` that are not in its order: NULL, "other", merged rare values."""
    if col not in mappings:
        return set(codes)
    m = mappings[col]
    merged = int(m.max())  # rare values share the last code, whatever their place in the order
    return {int(m[c]) for c in codes} | ({merged} if np.sum(m == merged) > 1 else set())


def _one_way_total_variance(ones) -> float:
    var = np.array([ones.sigma[c] ** 2 * ones.noisy[c].size for c in ones.noisy])
    return float(1.0 / np.sum(1.0 / var))


def _total(totals: list[tuple[float, float]]) -> float:
    """Precision-weighted row count from every release (each noisy marginal sums to one)."""
    est = np.array([t for t, _ in totals])
    var = np.array([v for _, v in totals])
    return float(np.sum(est / var) / np.sum(1.0 / var))


def _within_size(model: Estimate, measured: list[Clique], cands: list[Clique], limit_mb: float) -> list[Clique]:
    """Candidates the model already holds, or whose addition keeps its junction tree under `limit_mb`."""
    held = [set(n) for n in model.tree.nodes]
    return [r for r in cands
            if any(set(r) <= n for n in held) or tree_cells(model.tree.shape, measured + [r]) * _MB <= limit_mb]
