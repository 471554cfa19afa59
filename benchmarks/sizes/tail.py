"""How well an owner edge's size survives its noise: the degree release alone, many draws, no database.

The shop's two owner edges (benchmarks/sizes/generate.py's degree laws: orders per customer,
lines per order) are released as `measure` releases them: the degree histogram with noise σ, the
children above the cap as one sum per band of `degrees.tail_bands`, each band's ρ in proportion
to its width out of as much again as the histogram's (so σ_band = Δ(parent) · √(w · W) / Δ_h · σ,
Δ_h = max(2, Δ(parent)) the histogram's Δ). Each draw gives the table's size over its parents,
`DegreeRelease.mean` with the kept children per parent known (as the models' counts nearly give
it), against the real mean. σ and Δ(parent) default to what the shop's runs at ε = 1 with
`--public suggested` charged (the ledger: orders σ ≈ 175 at a cap of 9, Δ(customer) = 1; order
lines σ ≈ 800 at a cap of 5, Δ(orders) = 9).

    .venv/bin/python benchmarks/sizes/tail.py [--draws 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import line_degrees, order_degrees  # noqa: E402

from dbsynth.measure.degrees import BUCKETS, DegreeRelease, TailSum, bucket_counts, excess, tail_bands  # noqa: E402

EDGES = {  # name: (degrees drawn by the generator, cap, histogram σ, Δ(parent))
    "orders → customer, cap 8": (lambda rng: order_degrees(100_000, rng), 8, 175.0, 1),
    "orders → customer, cap 9": (lambda rng: order_degrees(100_000, rng), 9, 175.0, 1),
    "order_line → orders, cap 5": (lambda rng: line_degrees(220_000, rng), 5, 800.0, 9),
    "order_line → orders, cap 4": (lambda rng: line_degrees(220_000, rng), 4, 880.0, 9),
}


def band_sigmas(cap: int, sigma: float, parent_delta: int) -> list[float]:
    """σ of each band's sum beside a histogram of noise σ (the module's docstring)."""
    bands = tail_bands(cap)
    total = sum(hi - lo for lo, hi in bands)
    return [parent_delta * float(np.sqrt((hi - lo) * total)) / max(2, parent_delta) * sigma for lo, hi in bands]


def draws(degrees: np.ndarray, cap: int, sigma: float, parent_delta: int, n: int, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """Table size ÷ real size per draw, and per draw which bands were used (a boolean per band)."""
    values, counts = np.unique(degrees, return_counts=True)
    per_degree = dict(zip(values.tolist(), counts.tolist()))
    true_hist = bucket_counts(per_degree)
    kept = float(np.minimum(degrees, cap).mean())
    bands = tail_bands(cap)
    sigmas = band_sigmas(cap, sigma, parent_delta)
    ratios, used = [], []
    for _ in range(n):
        noisy = true_hist + rng.normal(0, sigma, len(BUCKETS))
        tails = [TailSum(lo, hi, excess(per_degree, lo, hi) + rng.normal(0, s), s)
                 for (lo, hi), s in zip(bands, sigmas)]
        release = DegreeRelease(cap, noisy, sigma, tuple(tails))
        ratios.append(release.mean(kept) / degrees.mean())
        chosen = {t.lo for t, _ in release.tail_means()}
        used.append([lo in chosen for lo, _ in bands])
    return np.asarray(ratios), np.asarray(used)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| edge | bands | σ per band | bands used | size ratio: mean | 1st pct | min | within ±5 % | within ±10 % |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for name, (law, cap, sigma, parent_delta) in EDGES.items():
        rng = np.random.default_rng(args.seed)
        degrees = law(rng)
        ratios, used = draws(degrees, cap, sigma, parent_delta, args.draws, rng)
        bands, sigmas = tail_bands(cap), band_sigmas(cap, sigma, parent_delta)
        print(f"| {name} | {', '.join(f'({lo}, {hi}]' for lo, hi in bands)} "
              f"| {', '.join(f'{s:,.0f}' for s in sigmas)} "
              f"| {', '.join(f'{u:.0%}' for u in used.mean(axis=0))} "
              f"| {ratios.mean():.3f} | {np.quantile(ratios, 0.01):.3f} | {ratios.min():.3f} "
              f"| {np.mean(np.abs(ratios - 1) <= 0.05):.1%} | {np.mean(np.abs(ratios - 1) <= 0.10):.1%} |")


if __name__ == "__main__":
    main()
