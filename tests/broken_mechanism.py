"""A deliberately broken mechanism, for the audit's tests and benchmark only (never reachable
from the CLI): every Gaussian's σ and every exponential mechanism's scale divided by a factor,
while the ledger still charges the honest ρ, the way a calibration bug would. Everything the
pipeline decides from σ (which bins to merge, how much to trust a count) sees the smaller σ, as
it would with the bug. The ledger's noise says the guarantee is void, as `SeededNoise`'s does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from dbsynth import write
from dbsynth.privacy import mechanisms
from dbsynth.privacy.noise import Noise, SecureNoise


class BrokenNoise:
    """The secure samplers; the exponential mechanism's scale divided by `factor` (the Gaussians'
    σ already is, by `broken_mechanism`)."""

    voids_guarantee = True

    def __init__(self, factor: float):
        self.factor = factor
        self.inner = SecureNoise()
        self.sampler = f"TEST ONLY: every noise scale divided by {factor:g} (no privacy guarantee)"

    def integer_gaussian(self, counts: np.ndarray, sigma: float) -> np.ndarray:
        return self.inner.integer_gaussian(counts, sigma)

    def noisy_max(self, scores: np.ndarray, scale: float) -> int:
        return self.inner.noisy_max(scores, scale / self.factor)

    def bernoulli(self, n: int, p: float) -> np.ndarray:
        return self.inner.bernoulli(n, p)  # a sampling rate, not a noise scale

    def torch_seed(self) -> int:
        return self.inner.torch_seed()


@contextmanager
def broken_mechanism(factor: float) -> Iterator[Callable[[], Noise]]:
    """Within the block, the pipeline's noise is `factor` times too small; yields the `Noise`
    factory to pass as `AuditOptions.noise`. factor 1 is the honest mechanism (secure noise)."""
    if not factor >= 1:
        raise ValueError(f"a break factor is at least 1, got {factor}")
    if factor == 1:
        yield SecureNoise
        return
    honest, check = mechanisms.sigma_for, write.check_within_target
    mechanisms.sigma_for = lambda rho, sensitivity: honest(rho, sensitivity) / factor
    # The ledger accounts for the σ really used, so it knows the true ε and the writer would
    # refuse the shadow: the bug here is an accountant that would not.
    write.check_within_target = lambda ledger: None
    try:
        yield lambda: BrokenNoise(factor)
    finally:
        mechanisms.sigma_for, write.check_within_target = honest, check
