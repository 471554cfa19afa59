"""One ledger for the whole run: every mechanism that touches private data records its event here.

Mechanisms describe themselves with dp_accounting events (Gaussian, zCDP, Poisson-subsampled
Gaussian for DP-SGD); the ledger only composes them. Nothing else computes ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import dp_accounting
from dp_accounting import dp_event
from dp_accounting.rdp import RdpAccountant, rdp_privacy_accountant

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
        acc = RdpAccountant(ORDERS)
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


# The accountant's default orders stop at 1024, where a small ε (0.01 at δ = 1e-9) cannot be
# certified for any ρ; larger orders reach it. They stop at 2^14 because DP-SGD's RDP at integer
# order α costs α terms.
ORDERS = tuple(rdp_privacy_accountant.DEFAULT_RDP_ORDERS) + (2048, 4096, 8192, 16384)
_RHO_RANGE = (1e-12, 1e6)


def _epsilon_of(rho: float, delta: float) -> float:
    acc = RdpAccountant(ORDERS)
    acc.compose(dp_event.ZCDpEvent(rho))
    return float(acc.get_epsilon(delta))


def calibrate_rho(epsilon: float, delta: float) -> float:
    """The largest total zCDP ρ whose RDP conversion meets (ε, δ). Past ρ = 10^6 the noise is
    negligible, so a larger ε gets that ρ rather than an error."""
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise UsageError(f"epsilon must be a positive number, got {epsilon}")
    lo, hi = _RHO_RANGE
    if _epsilon_of(hi, delta) <= epsilon:
        return hi
    if _epsilon_of(lo, delta) > epsilon:
        raise BudgetTooSmall(f"epsilon={epsilon:g} is too small to release anything at delta={delta:g} (the smallest "
                             f"that can be certified is about {_epsilon_of(lo, delta):.2g}): raise --epsilon or --delta")
    rho = dp_accounting.calibrate_dp_mechanism(
        lambda: RdpAccountant(ORDERS), dp_event.ZCDpEvent, epsilon, delta,
        bracket_interval=dp_accounting.ExplicitBracketInterval(lo, hi),
    )
    # The run splits ρ into many charges whose float sum can exceed it by an ulp, and the ledger
    # must never report more than the target: keep a margin far below anything measurable.
    return float(rho) * (1 - 1e-9)
