"""DP-SGD in the one ledger: its event, and the noise multiplier that makes the whole run meet (ε, δ).

A DP-SGD run is `steps` Poisson-sampled Gaussian mechanisms over training examples (units).
Marginal tables spend zCDP; LLM tables spend DP-SGD; the RDP accountant composes both, so the
noise multiplier is calibrated against the composition of the whole run, not per table.
No torch here: the plan is fixed before any training starts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import dp_accounting
from dp_accounting import dp_event
from dp_accounting.rdp import RdpAccountant

from dbsynth.errors import BudgetTooSmall


@dataclass(frozen=True)
class DpSgdPlan:
    """One table's DP-SGD schedule: public or already released numbers only.

    `sample_rate` comes from a *noisy* unit count, so it is fixed before training and does not
    depend on the private number of units. `replace_factor` is 2 when removing a unit can change
    another unit's example instead of removing it (an owned table: a removed inner unit frees a
    slot under its parent's cap, DESIGN §2's doubling); the example's clipped gradient then moves
    by up to 2·clip, and the event is recorded at half the noise multiplier. By advanced joint
    convexity (Balle, Barthe & Gaboardi 2018, Thm 2) that replacement is dominated by adding or
    removing an example at twice the clipping norm, which is what the recorded event accounts."""

    table: str
    sample_rate: float
    steps: int
    replace_factor: int = 1
    noise_multiplier: float | None = None  # set by `calibrate`

    def event(self, noise_multiplier: float | None = None) -> dp_event.DpEvent:
        z = self.noise_multiplier if noise_multiplier is None else noise_multiplier
        if z is None:
            raise ValueError(f"{self.table}: DP-SGD plan has no noise multiplier yet")
        return dp_sgd_event(self.sample_rate, z / self.replace_factor, self.steps)

    def rho_equivalent(self) -> float:
        """A zCDP figure for the ledger's `rho_spent` column (not used for ε): the unsampled
        Gaussian's Δ²/2σ² per step, times the expected share of steps the unit is in."""
        z = (self.noise_multiplier or math.inf) / self.replace_factor
        return self.steps * self.sample_rate / (2.0 * z * z)


def dp_sgd_event(sample_rate: float, noise_multiplier: float, steps: int) -> dp_event.DpEvent:
    return dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(sample_rate, dp_event.GaussianDpEvent(noise_multiplier)), steps)


def calibrate(plans: list[DpSgdPlan], rho_other: float, epsilon: float, delta: float) -> list[DpSgdPlan]:
    """The plans with the smallest common noise multiplier such that zCDP `rho_other` (every
    other release of the run) composed with all the DP-SGD runs meets (ε, δ) under RDP."""
    if not plans:
        return []

    def make(z: float) -> dp_event.DpEvent:
        return dp_event.ComposedDpEvent([dp_event.ZCDpEvent(rho_other), *[p.event(z) for p in plans]])

    # The accountant logs a warning for every order it cannot evaluate at small noise; those
    # orders are excluded from ε (which stays valid), so the warnings only clutter the terminal.
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        z = _smallest_noise(make, epsilon, delta, plans)
    finally:
        absl.setLevel(level)
    return [DpSgdPlan(p.table, p.sample_rate, p.steps, p.replace_factor, float(z)) for p in plans]


def _smallest_noise(make, epsilon: float, delta: float, plans: list[DpSgdPlan]) -> float:
    # A floor on the noise multiplier: below it the accountant's subsampled-Gaussian series stop
    # converging (orders get dropped); a budget that would allow less noise gets this much.
    floor = 0.5
    try:
        acc = RdpAccountant()
        acc.compose(make(floor))
        if acc.get_epsilon(delta) <= epsilon:
            z = floor
        else:
            z = dp_accounting.calibrate_dp_mechanism(
                RdpAccountant, make, epsilon, delta,
                bracket_interval=dp_accounting.ExplicitBracketInterval(floor, 1e4),
            )
    except Exception as exc:  # even the largest noise leaves no room beside the other releases
        tables = ", ".join(p.table for p in plans)
        raise BudgetTooSmall(
            f"no DP-SGD noise fits epsilon={epsilon}, delta={delta} for llm table(s) {tables} "
            f"({type(exc).__name__}); raise epsilon, lower the llm epochs, or give the table a larger budget_weight"
        ) from None
    return float(z)
