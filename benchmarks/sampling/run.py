"""Drawing synthetic rows from a fitted model: wall time, peak memory and closeness to the model.

Fits AIM on Adult (ε = 1, δ = 1e-9, seed 0, in process: `benchmarks/adult/run.py` has the
pipeline) once, then draws n rows for each n, each in a fresh subprocess (peak RSS is the
process's own), twice: with `dbsynth.tabular.sampling` as it is (each column balanced on the
columns already drawn) and with the balancing keys switched off (mbi's `synthetic_data` scheme:
systematic inside each parent group only). Closeness: mean TVD between the drawn rows' marginals
and the model's own, over all 2-ways and Adult's 100 fixed 3-ways. Writes the "Sampling" section
of BENCHMARKS.md.

    python benchmarks/sampling/run.py                      # n = 48,842 (Adult), 1M, 5M
    python benchmarks/sampling/run.py --rows 48842,1000000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "adult"))
HEADING = "## Sampling: balanced draws (issue 3)"


def fit_model(path: Path) -> None:
    from run import ORDINAL, load_adult  # benchmarks/adult/run.py

    from dbsynth.privacy.ledger import Ledger, calibrate_rho
    from dbsynth.tabular import AIM, EncodedTable

    columns, values, sizes = load_adult()
    table = EncodedTable("adult", {c: values[:, i] for i, c in enumerate(columns)}, sizes,
                         ordered={c: () for c in ORDINAL})
    model = AIM().fit(table, ledger=Ledger(1.0, 1e-9), rho=calibrate_rho(1.0, 1e-9), sensitivity=1.0,
                      rng=np.random.default_rng(0))
    path.write_bytes(pickle.dumps(model))


def draw(model_path: Path, n: int, balanced: bool) -> dict:
    """The child process: draw n rows, report time, peak RSS and closeness to the model."""
    from run import fixed_triples, load_adult

    import dbsynth.tabular.sampling as sampling
    from dbsynth.tabular.inference import TreeMarginals

    if not balanced:
        sampling._balancing_key = lambda drawn, parents, shape, n, rng: (np.zeros(n, dtype=np.int64), 1)
    model = pickle.loads(model_path.read_bytes())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    clock = time.perf_counter()
    rows = model.sample(n, np.random.default_rng(1))
    seconds = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    columns, _, sizes = load_adult()
    marginals = TreeMarginals(model.tree, model.beliefs, 1.0)

    def model_dist(clique):
        p = marginals.probabilities(clique)
        for axis, col in enumerate(clique):  # merged values spread by their shares, as drawn
            if col in model.mappings:
                m = model.mappings[col]
                shape = [1] * p.ndim
                shape[axis] = m.size
                p = np.take(p, m, axis=axis) * model.shares[col].reshape(shape)
        return p.ravel()

    def tvd(clique):
        flat = np.ravel_multi_index([rows[c] for c in clique], [sizes[c] for c in clique])
        drawn = np.bincount(flat, minlength=int(np.prod([sizes[c] for c in clique]))) / n
        return 0.5 * np.abs(drawn - model_dist(clique)).sum()

    return {"n": n, "balanced": balanced, "seconds": seconds, "peak_rss_mb": peak, "model_rss_mb": before,
            "tvd2": float(np.mean([tvd(c) for c in itertools.combinations(columns, 2)])),
            "tvd3": float(np.mean([tvd(c) for c in fixed_triples(columns)]))}


def report(results: list[dict]) -> str:
    lines = [HEADING, "",
             f"Command: `python benchmarks/sampling/run.py` ({platform.processor() or platform.machine()}, "
             f"{len(os.sched_getaffinity(0))} cores). One AIM model of Adult (ε = 1, seed 0); "
             "n rows drawn in a fresh process. *Closeness* is the mean TVD between the drawn rows' "
             "marginals and the model's own (all 2-ways / Adult's 100 fixed 3-ways): the sampling noise "
             "alone. *Unbalanced* switches the balancing keys off (mbi's scheme: systematic inside each "
             "parent group only). Peak RSS is the whole process (the model alone: ~"
             f"{round(min(r['model_rss_mb'] for r in results))} MB).", "",
             "| rows | draw | wall (s) | peak RSS (MB) | closeness 2-way | closeness 3-way |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in sorted(results, key=lambda r: (r["n"], not r["balanced"])):
        lines.append(f"| {r['n']:,} | {'balanced' if r['balanced'] else 'unbalanced'} | {r['seconds']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['tvd2']:.4f} | {r['tvd3']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="48842,1000000,5000000")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # model path, n, balanced
    args = ap.parse_args()
    if args.child:
        print(json.dumps(draw(Path(args.child[0]), int(args.child[1]), args.child[2] == "1")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "model.pkl"
        fit_model(model_path)
        results = []
        for n in (int(x) for x in args.rows.split(",")):
            for balanced in (True, False):
                out = subprocess.run([sys.executable, __file__, "--child", str(model_path), str(n), str(int(balanced))],
                                     check=True, capture_output=True, text=True).stdout
                results.append(json.loads(out.strip().splitlines()[-1]))
                r = results[-1]
                print(f"{n} {'balanced' if balanced else 'unbalanced'}: {r['seconds']:.1f} s, "
                      f"{r['peak_rss_mb']:.0f} MB, closeness {r['tvd2']:.4f} / {r['tvd3']:.4f}", flush=True)
    from run import update_benchmarks_md  # benchmarks/adult/run.py

    update_benchmarks_md(report(results), HEADING)


if __name__ == "__main__":
    main()
