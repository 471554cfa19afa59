"""Where the noise comes from: fresh, cryptographic, and apart from every other random draw.

Every draw that touches private data goes through a `Noise`; the post-processing randomness
that `--seed` fixes (sampling, linking, Faker) never does. `SecureNoise` samples the discrete
Gaussian and Gumbel noisy max with OpenDP's exact samplers over the operating system's CSPRNG
(Canonne–Kamath–Steinke), so the floating-point attacks on textbook samplers do not apply and
nothing that would regenerate the noise exists outside the process. `SeededNoise` is for tests
only: it is reproducible, and a ledger that used it says the guarantee is void.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Protocol

import numpy as np


class Noise(Protocol):
    sampler: str  # named in the ledger
    voids_guarantee: bool

    def integer_gaussian(self, counts: np.ndarray, sigma: float) -> np.ndarray:
        """Integer counts plus discrete Gaussian noise of scale σ, elementwise (int64)."""
        ...

    def noisy_max(self, scores: np.ndarray, scale: float) -> int:
        """The index of the largest score after Gumbel noise of `scale` (the exponential mechanism)."""
        ...

    def bernoulli(self, n: int, p: float) -> np.ndarray:
        """n independent draws that are True with probability p (Poisson subsampling)."""
        ...

    def torch_seed(self) -> int:
        """A seed for torch's Gaussian sampler in DP-SGD (see `dbsynth.privacy.dpsgd`)."""
        ...


class SecureNoise:
    sampler = ("OpenDP discrete Gaussian and Gumbel noisy max (exact samplers over the OS CSPRNG); "
               "DP-SGD: torch normal seeded from the OS CSPRNG, Opacus secure_mode off")
    voids_guarantee = False

    def integer_gaussian(self, counts: np.ndarray, sigma: float) -> np.ndarray:
        counts = _as_integers(counts)
        if counts.size == 0:
            return counts.astype(np.int64)
        noisy = _gaussian(float(sigma))(counts.ravel().tolist())
        return np.asarray(noisy, dtype=np.int64).reshape(counts.shape)

    def noisy_max(self, scores: np.ndarray, scale: float) -> int:
        scores = np.asarray(scores, dtype=float).ravel()
        if len(scores) == 1:
            return 0
        return int(_noisy_max(float(scale))(scores.tolist()))

    def bernoulli(self, n: int, p: float) -> np.ndarray:
        # 53 random bits per draw from the OS; p is public (the sample rate of the plan).
        bits = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64) >> np.uint64(11)
        return bits.astype(float) * 2.0**-53 < p

    def torch_seed(self) -> int:
        return secrets.randbits(63)


class SeededNoise:
    """Reproducible noise for tests: numpy PCG64 from a seed. Never used by the CLI; the ledger
    records that the guarantee is void."""

    voids_guarantee = True

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.sampler = f"TEST ONLY: numpy PCG64 seeded with {seed} (reproducible noise: no privacy guarantee)"

    def integer_gaussian(self, counts: np.ndarray, sigma: float) -> np.ndarray:
        counts = _as_integers(counts)
        return counts + np.rint(self.rng.normal(0.0, sigma, size=counts.shape)).astype(np.int64)

    def noisy_max(self, scores: np.ndarray, scale: float) -> int:
        scores = np.asarray(scores, dtype=float).ravel()
        return int(np.argmax(scores + self.rng.gumbel(0.0, scale, size=len(scores))))

    def bernoulli(self, n: int, p: float) -> np.ndarray:
        return self.rng.random(n) < p

    def torch_seed(self) -> int:
        return int(self.rng.integers(2**63 - 1))


def _as_integers(counts: np.ndarray) -> np.ndarray:
    """Counts of rows are integers; the discrete Gaussian's guarantee is for integer inputs."""
    arr = np.asarray(counts)
    rounded = np.rint(arr.astype(float)).astype(np.int64)
    if not np.array_equal(rounded, arr):
        raise ValueError("the discrete Gaussian takes integer counts")
    return rounded


@lru_cache(maxsize=None)
def _opendp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@lru_cache(maxsize=256)
def _gaussian(sigma: float):
    dp = _opendp()
    space = (dp.vector_domain(dp.atom_domain(T=int)), dp.l2_distance(T=int))
    return space >> dp.m.then_gaussian(scale=sigma)


@lru_cache(maxsize=256)
def _noisy_max(scale: float):
    dp = _opendp()
    space = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.linf_distance(T=float))
    return space >> dp.m.then_noisy_max(dp.zero_concentrated_divergence(), scale=scale)
