"""One ledger for the whole run: every mechanism that touches private data records its event here.

Mechanisms describe themselves with dp_accounting events (Gaussian, zCDP, Poisson-subsampled
Gaussian for DP-SGD); the ledger only composes them. Nothing else computes ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import dp_accounting
from dp_accounting import dp_event
from dp_accounting.rdp import RdpAccountant

from dbsynth.errors import BudgetTooSmall, UsageError
from dbsynth.privacy.noise import Noise, SecureNoise


@dataclass(frozen=True)
class Charge:
    """One mechanism run: what it released, on which table, and its privacy event."""

    mechanism: str  # "gaussian", "exponential", "partition_selection", "dp_sgd", ...
    table: str
    what: str
    event: dp_event.DpEvent
    rho: float  # its zCDP cost (for Gaussian: Δ²/2σ²)
    delta: float = 0.0  # additive δ outside the RDP composition (partition selection thresholds)
    sensitivity: float | None = None
    sigma: float | None = None
    details: dict | None = None  # mechanism-specific figures (DP-SGD: rate, steps, noise multiplier)


@dataclass
class Ledger:
    target_epsilon: float
    target_delta: float
    charges: list[Charge] = field(default_factory=list)
    noise: Noise = field(default_factory=SecureNoise)  # where every mechanism draws its noise

    def __post_init__(self) -> None:
        if not (self.target_epsilon > 0 and math.isfinite(self.target_epsilon)):
            raise UsageError(f"epsilon must be a positive number, got {self.target_epsilon}")
        if not (0 < self.target_delta < 1):
            raise UsageError(f"delta must be in (0, 1), got {self.target_delta}")

    def record(self, charge: Charge) -> None:
        self.charges.append(charge)

    def event(self) -> dp_event.DpEvent:
        return dp_event.ComposedDpEvent([c.event for c in self.charges])

    @property
    def delta_outside(self) -> float:
        return sum(c.delta for c in self.charges)

    def epsilon(self) -> float:
        """ε at the target δ, with the additive δ of thresholded releases subtracted first."""
        if not self.charges:
            return 0.0
        delta_rdp = self.target_delta - self.delta_outside
        if delta_rdp <= 0:
            return math.inf
        acc = RdpAccountant()
        acc.compose(self.event())
        return float(acc.get_epsilon(delta_rdp))

    @property
    def rho_spent(self) -> float:
        return sum(c.rho for c in self.charges)

    def to_dict(self) -> dict:
        eps = self.epsilon()
        return {
            "epsilon": eps,
            "delta": self.target_delta,
            "target_epsilon": self.target_epsilon,
            "within_target": eps <= self.target_epsilon + 1e-9,
            "noise": self.noise.sampler,
            "guarantee_void": self.noise.voids_guarantee,
            "accountant": "RDP (dp_accounting): zCDP, Gaussian and DP-SGD (Poisson-subsampled Gaussian) events composed",
            "rho_spent": self.rho_spent,
            "delta_outside_rdp": self.delta_outside,
            "neighbouring": "add/remove one private row with every row it owns (DESIGN §2)",
            "charges": [
                {
                    "mechanism": c.mechanism,
                    "table": c.table,
                    "what": c.what,
                    "rho": c.rho,
                    "delta": c.delta,
                    "sensitivity": c.sensitivity,
                    "sigma": c.sigma,
                    **({"details": c.details} if c.details else {}),
                }
                for c in self.charges
            ],
        }


def calibrate_rho(epsilon: float, delta: float) -> float:
    """The largest total zCDP ρ whose RDP conversion meets (ε, δ)."""
    if epsilon <= 0:
        raise UsageError(f"epsilon must be positive, got {epsilon}")

    def make(rho: float) -> dp_event.DpEvent:
        return dp_event.ZCDpEvent(rho)

    try:
        rho = dp_accounting.calibrate_dp_mechanism(
            RdpAccountant,
            make,
            epsilon,
            delta,
            bracket_interval=dp_accounting.ExplicitBracketInterval(1e-12, 1e6),
        )
    except Exception as exc:  # no ρ in range meets the target
        raise BudgetTooSmall(f"no privacy budget fits epsilon={epsilon}, delta={delta}: {exc}") from None
    # The run splits ρ into many charges whose float sum can exceed it by an ulp, and the ledger
    # must never report more than the target: keep a margin far below anything measurable.
    return float(rho) * (1 - 1e-9)
