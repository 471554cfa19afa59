"""Stage times of two versions of dbsynth on one generated shop (an A/B of a change).

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/scale/compare.py /tmp/before . --factor 0.2 --runs 2

Each version runs `pipeline.run` in its own child process (its own imports) against the same
source database, `--runs` times with a fixed post-processing seed (the noise is fresh each run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks" / "sizes")]

import generate  # noqa: E402
from servers import PostgresServer  # noqa: E402

SHAPE = {"orders_mu": 1.92, "lines_mu": 0.75}  # the scale benchmark's shop
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from dbsynth import pipeline
res = pipeline.run(pipeline.RunOptions(source=sys.argv[2], target=sys.argv[3], epsilon=1.0, seed=7))
print(json.dumps({k: round(v, 1) for k, v in res.seconds.items()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("versions", nargs="+", help="checkouts of dbsynth to compare")
    ap.add_argument("--factor", type=float, default=0.2)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    with PostgresServer() as server:
        source = server.create_database("compare_src")
        generate.build(source, args.factor, **SHAPE)
        n = 0
        for version in args.versions:
            for _ in range(args.runs):
                n += 1
                target = server.create_database(f"compare_dst_{n}")
                out = subprocess.run([sys.executable, "-c", CHILD, str(Path(version).resolve()), source, target],
                                     capture_output=True, text=True, check=True).stdout
                print(version, json.loads(out.strip().splitlines()[-1]), flush=True)


if __name__ == "__main__":
    main()
