"""Audit benchmark (issue 18): the power of `dbsynth audit` on Chinook, i.e. the ε_lower it
reaches against mechanisms broken by known factors (every noise scale divided by the factor while
the ledger charges the honest ρ; factor 1 is the honest, secure mechanism), and the audit's time.

    python benchmarks/audit/run.py                          # ε = 1, factors 1, 4, 16, 100, 1000
    python benchmarks/audit/run.py --epsilon 4 --factors 1,4,16
    python benchmarks/audit/run.py --canaries 64 --runs 4   # the audit's size (default: the CLI's)
    python benchmarks/audit/run.py --needed                 # canaries an ideal attack would need (no runs)

Prints one Markdown row per factor: the claimed ε, ε_lower (95%, corrected for three attacks),
each attack's ε_lower and AUC, and the audit's time. The broken mechanism is the tests' one
(tests/broken_mechanism.py): it is not reachable from the CLI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from broken_mechanism import broken_mechanism  # noqa: E402
from dbsynth.audit.runner import DEFAULT_CANARIES, DEFAULT_RUNS, AuditOptions, audit  # noqa: E402

DATASETS = Path(os.environ.get("DBSYNTH_DATASETS") or ROOT.parent / "shared" / "datasets")


def needed_canaries(mu: float, claimed: float, alpha: float = 0.05, delta: float = 1e-9) -> tuple[int, int, float]:
    """The fewest canaries with which an ideal attack on a μ-GDP mechanism (the likelihood-ratio
    test, whose score is N(μ, 1) for an included canary and N(0, 1) for an excluded one) gets a
    median ε_lower above `claimed`: guesses "in" above t and "out" below μ − t, precision
    Φ̄(t − μ) / (Φ̄(t − μ) + Φ̄(t)), a share Φ̄(t − μ) + Φ̄(t) of the canaries guessed.
    Returns (canaries, guesses, t)."""
    from scipy.stats import norm

    from dbsynth.audit.bounds import epsilon_lower

    best = (10**9, 0, 0.0)
    for t in np.arange(max(0.5, mu / 2), max(0.5, mu / 2) + 5.01, 0.1):  # t ≥ μ/2: the guess sets do not overlap
        tp, fp = norm.sf(t - mu), norm.sf(t)
        precision, share = tp / (tp + fp), tp + fp
        if precision <= 1 / (1 + np.exp(-claimed)):
            continue
        for r in np.unique(np.round(np.geomspace(4, 200_000, 400)).astype(int)):
            m = max(int(r), int(np.ceil(r / share)))
            if m >= best[0]:
                break
            if epsilon_lower(m, int(r), int(np.floor(precision * r)), delta, alpha) > claimed:
                best = (m, int(r), float(t))
                break
    return best


def _n(m: int) -> str:
    return f"{m:,}" if m < 10**9 else "never"


def effective_mu(auc: float) -> float:
    """The μ of a Gaussian shift test with this AUC (AUC = Φ(μ/√2)): the signal the attack uses."""
    from scipy.stats import norm

    return float(np.sqrt(2) * norm.ppf(min(max(auc, 0.5), 1 - 1e-9)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--factors", default="1,4,16,100,1000")
    parser.add_argument("--canaries", type=int, default=DEFAULT_CANARIES)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--needed", action="store_true", help="print the ideal attack's canary needs and exit")
    args = parser.parse_args()
    if args.needed:
        from dbsynth.privacy.ledger import calibrate_rho

        mu = float(np.sqrt(2 * calibrate_rho(args.epsilon, 1e-9)))
        print(f"claimed ε = {args.epsilon:g}, δ = 1e-9: the run's ρ gives μ = {mu:.3f} (GDP) per unit")
        print("| break factor | μ | canaries an ideal attack needs (one test at 95%) | guesses | t "
              "| canaries at 95% over 12 tests (as the audit reports) |")
        print("|---:|---:|---:|---:|---:|---:|")
        for factor in [float(f) for f in args.factors.split(",")]:
            m, r, t = needed_canaries(mu * factor, args.epsilon)
            m12, _, _ = needed_canaries(mu * factor, args.epsilon, alpha=0.05 / 12)
            print(f"| {factor:g} | {mu * factor:.2f} | {_n(m)} | {r} | {t:.1f} | {_n(m12)} |")
        return

    work = Path(tempfile.mkdtemp(prefix="dbsynth-audit-bench-"))
    source = work / "chinook.sqlite"
    shutil.copyfile(DATASETS / "chinook" / "Chinook_Sqlite.sqlite", source)
    print(f"Chinook, claimed ε = {args.epsilon:g}, δ = 1e-9, {args.canaries} canaries × {args.runs} runs, "
          f"seed {args.seed}, 95% one-sided confidence")
    from dbsynth.privacy.ledger import calibrate_rho

    mu = float(np.sqrt(2 * calibrate_rho(args.epsilon, 1e-9)))
    print("| break factor | ε_lower (all attacks) | marginal ε_lower / AUC | closest ε_lower / AUC "
          "| degree ε_lower / AUC | refuted | μ of the mechanism | μ the best attack used | time (s) |")
    print("|---:|---:|---:|---:|---:|:---:|---:|---:|---:|")
    for factor in [float(f) for f in args.factors.split(",")]:
        started = time.perf_counter()
        with broken_mechanism(factor) as noise:
            result = audit(AuditOptions(f"sqlite:///{source}", args.epsilon, canaries=args.canaries, runs=args.runs,
                                        seed=args.seed, noise=noise if factor != 1 else None))
        by = {a.attack: a for a in result.attacks}
        cells = " | ".join(f"{by[a].epsilon_lower:.2f} / {by[a].auc:.2f}" for a in ("marginal", "closest", "degree"))
        used = effective_mu(max(a.auc for a in result.attacks))
        print(f"| {factor:g} | {result.overall.epsilon_lower:.2f} | {cells} | {'yes' if result.refuted else 'no'} "
              f"| {mu * factor:.2f} | {used:.2f} | {time.perf_counter() - started:.0f} |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
