"""Linker benchmark (issue 4): speed, memory and cross-table fidelity of `pgd` against `degree`.

A generated parent table (4 categorical columns) and child table (4 columns, each depending on
the parent's), parent degree depending on the parent's segment. Noisy cross-table marginals and
degree histogram are released from the "real" join as the run would for an owner edge whose
parents are the units (Gaussian; Δ_join = Δ(child) = cap, Δ_degree = 2·cap + 1); the "synthetic"
rows the linker links are a fresh draw of both tables (a stand-in for the per-table models, so
only linking error shows).

    python benchmarks/linker/run.py               # timing at 100k parents (~1M children), then
                                                  # fidelity at ε ∈ {1, 2, 4} at 100k and 10k parents
    python benchmarks/linker/run.py --only-time   # just the timing rows
Each measurement runs in a fresh process, so its peak memory (ru_maxrss: the generated tables
and the linker) is its own; BLAS is held to 2 threads, and `taskset -c 0,1` holds the rest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

# Before numpy's BLAS starts: the goal is stated for 2 cores.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

PARENT_SIZES = {"segment": 4, "region": 6, "tier": 3, "age": 8}
CHILD_SIZES = {"category": 6, "channel": 4, "status": 3, "amount": 8}
CAP = 40


def generate(m: int, rng: np.random.Generator) -> tuple[dict, dict, np.ndarray]:
    """Parents, children and the real link (parent index per child): about 10 children per parent."""
    p = {"segment": rng.choice(4, m, p=[0.4, 0.3, 0.2, 0.1]), "region": rng.integers(0, 6, m),
         "tier": rng.choice(3, m, p=[0.6, 0.3, 0.1])}
    p["age"] = np.clip(p["tier"] * 2 + rng.integers(0, 4, m), 0, 7)
    mean = np.array([4.0, 10.0, 18.0, 30.0])[p["segment"]] * np.array([0.8, 1.0, 1.3])[p["tier"]]
    degree = np.minimum(rng.poisson(mean), CAP)
    link = np.repeat(np.arange(m), degree)
    n = len(link)
    seg, reg, tier, age = (p[c][link] for c in ("segment", "region", "tier", "age"))
    noise = rng.random(n)
    c = {"category": np.where(noise < 0.7, (seg + reg) % 6, rng.integers(0, 6, n)),
         "channel": np.where(rng.random(n) < 0.75, reg % 4, rng.integers(0, 4, n)),
         "status": np.where(rng.random(n) < 0.8, tier, rng.integers(0, 3, n))}
    c["amount"] = np.clip(age // 2 + seg + rng.integers(0, 3, n) - 1, 0, 7)
    return p, c, link


def cliques() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The default selection's shape: every parent × child 2-way and four 3-ways."""
    twos = [((a,), (b,)) for a in PARENT_SIZES for b in CHILD_SIZES]
    threes = [(("segment", "tier"), ("category",)), (("segment",), ("category", "amount")),
              (("region", "tier"), ("channel",)), (("tier",), ("status", "amount"))]
    return twos + threes


def counts(p: dict, c: dict, link: np.ndarray, pf: tuple, cf: tuple) -> np.ndarray:
    cols = [p[f][link] for f in pf] + [c[f] for f in cf]
    shape = tuple([PARENT_SIZES[f] for f in pf] + [CHILD_SIZES[f] for f in cf])
    flat = np.ravel_multi_index(cols, shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(float)


def problem(m: int, rho: float, seed: int):
    """(real, synthetic, LinkProblem) at total zCDP budget `rho` (the run's, calibrated from ε)."""
    from dbsynth.relational.linker import LinkProblem, TargetMarginal

    def sigma_for(rho: float, sensitivity: float) -> float:  # as privacy.mechanisms (ρ = Δ²/2σ²)
        return sensitivity / np.sqrt(2.0 * rho)

    rng = np.random.default_rng(seed)
    real = generate(m, rng)
    synth = generate(m, np.random.default_rng(seed + 1))
    # As the default spec spends it on a two-table database: half of ρ per table; of the child's,
    # link_share 0.15, half on the cross-table marginals, half on the degree histogram.
    rho_child = rho / 2
    qs = cliques()
    sigma = sigma_for(rho_child * 0.075 / len(qs), float(CAP))
    margs = [TargetMarginal(pf, cf, counts(*real, pf, cf) + rng.normal(0, sigma, counts(*real, pf, cf).shape), sigma)
             for pf, cf in qs]
    hist = np.bincount(np.bincount(real[2], minlength=m), minlength=CAP + 1).astype(float)
    # Δ of the degree histogram of an owner edge whose parents are units: 2Δ(C) + Δ(P) = 2·CAP + 1.
    degree_sigma = sigma_for(rho_child * 0.075, 2.0 * CAP + 1)
    hist += rng.normal(0, degree_sigma, hist.shape)
    p2, c2, _ = synth
    sizes = {**PARENT_SIZES, **CHILD_SIZES}
    prob = LinkProblem(len(c2["category"]), m, parent_features=p2, child_features=c2, sizes=sizes,
                       marginals=margs, degree_hist=hist, degree_sigma=degree_sigma, cap=CAP, limit=CAP)
    return real, synth, prob


def fidelity(real, synth, link2: np.ndarray) -> dict:
    """Mean 3-way TVD over all (2 parent, 1 child) and (1 parent, 2 child) column triples, and the
    KS distance of the parent-degree distributions."""
    p, c, link = real
    p2, c2, _ = synth
    tvds = []
    for pf, cf in itertools.chain(((a, (b,)) for a in itertools.combinations(PARENT_SIZES, 2) for b in CHILD_SIZES),
                                  (((a,), b) for a in PARENT_SIZES for b in itertools.combinations(CHILD_SIZES, 2))):
        x = counts(p, c, link, pf, cf).ravel()
        y = counts(p2, c2, link2, pf, cf).ravel()
        tvds.append(0.5 * np.abs(x / x.sum() - y / y.sum()).sum())
    m = len(p["segment"])
    d1 = np.bincount(np.bincount(link, minlength=m), minlength=200)
    d2 = np.bincount(np.bincount(link2, minlength=m), minlength=200)
    ks = float(np.abs(np.cumsum(d1) / d1.sum() - np.cumsum(d2) / d2.sum()).max())
    return {"tvd3": float(np.mean(tvds)), "ks": ks}


def one(m: int, epsilon: float, rho: float, linker: str, seed: int) -> dict:
    from dbsynth.relational.linker import linker_for

    real, synth, prob = problem(m, rho, seed)
    start = time.perf_counter()
    link2 = linker_for(linker).link(prob, np.random.default_rng(seed + 2))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"linker": linker, "parents": m, "children": prob.n_children, "epsilon": epsilon,
            "seconds": round(seconds, 1), "peak_mb": round(peak_mb), **fidelity(real, synth, link2)}


# ρ calibrated from ε at δ = 1e-9 by `dbsynth.privacy.ledger.calibrate_rho`, for machines without
# dp_accounting (the measurement processes need numpy, scipy and pandas only).
RHO = {1.0: 0.014971905020751748, 2.0: 0.05612392726633039, 4.0: 0.20630965293981796}


def rho_for(epsilon: float) -> float:
    try:
        from dbsynth.privacy.ledger import calibrate_rho
    except ImportError:
        return RHO[epsilon]
    return calibrate_rho(epsilon, 1e-9)


def spawn(m: int, epsilon: float, linker: str, seed: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", str(m), str(epsilon), repr(rho_for(epsilon)), linker,
                          str(seed)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=5, metavar=("PARENTS", "EPSILON", "RHO", "LINKER", "SEED"),
                    help="one measurement in this process (RHO: the zCDP budget calibrated from EPSILON)")
    ap.add_argument("--parents", type=int, default=100_000, help="parents of the timing run (~10 children each)")
    ap.add_argument("--fidelity-parents", type=int, nargs="*", default=[100_000, 10_000])
    ap.add_argument("--only-time", action="store_true")
    args = ap.parse_args()
    if args.one:
        m, eps, rho, linker, seed = args.one
        print(json.dumps(one(int(m), float(eps), float(rho), linker, int(seed))))
        return
    rows = [spawn(args.parents, 1.0, "pgd", 0), spawn(args.parents, 1.0, "degree", 0)]
    if not args.only_time:
        for m in args.fidelity_parents:
            for eps in (1.0, 2.0, 4.0):
                for linker in ("pgd", "degree"):
                    if (m, eps) != (args.parents, 1.0):  # the timing rows already hold these
                        rows.append(spawn(m, eps, linker, 0))
    print("| linker | parents | children | ε | seconds | peak RSS MB | mean 3-way TVD | degree KS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['linker']} | {r['parents']:,} | {r['children']:,} | {r['epsilon']:g} | {r['seconds']} | "
              f"{r['peak_mb']} | {r['tvd3']:.3f} | {r['ks']:.3f} |")


if __name__ == "__main__":
    main()
