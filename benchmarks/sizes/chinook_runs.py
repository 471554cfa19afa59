"""Chinook's row ratios over repeated runs with fresh noise (issue 15): one line per run.

    .venv/bin/python benchmarks/sizes/chinook_runs.py --runs 4 --epsilons 4 1

Each run: `dbsynth run` in-process from a copy of the Chinook SQLite file into a new SQLite file,
`--public suggested`, fresh secure noise; prints synthetic / real rows of the tables whose size
depends on DP (the public ones are copied).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dbsynth.pipeline import RunOptions, run  # noqa: E402

TABLES = ["Customer", "Invoice", "InvoiceLine", "Track", "PlaylistTrack"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--epsilons", type=float, nargs="+", default=[4.0, 1.0])
    datasets = Path(os.environ.get("DBSYNTH_DATASETS", ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--chinook", default=str(datasets / "chinook" / "Chinook_Sqlite.sqlite"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chinook-runs-"))
    source = work / "chinook.sqlite"
    shutil.copyfile(args.chinook, source)
    with sqlite3.connect(source) as conn:
        real = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in TABLES}
    print("epsilon run " + " ".join(TABLES))
    for eps in args.epsilons:
        for i in range(args.runs):
            target = work / f"shadow-{eps}-{i}.sqlite"
            res = run(RunOptions(source=f"sqlite:///{source}", target=f"sqlite:///{target}", epsilon=eps, seed=i,
                                 public=("suggested",)))
            print(eps, i, " ".join(f"{res.rows[t] / real[t]:.2f}" for t in TABLES), flush=True)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
