"""Adult: per-table fidelity of AIM and MST through the real pipeline (issue 3).

Loads the discretised Adult table (`<repo>/../shared/datasets/adult`, or $DBSYNTH_DATASETS) into
SQLite (and PostgreSQL with --pg DSN; nothing is started here), writes a spec in which every
column is `kind: categorical, domain: spec, values: [0..k-1]` (the public domain from
adult-domain.json; `ordered: true` for the six columns that are bins of a number), runs
`dbsynth.pipeline.run` into a fresh SQLite file, reads the synthetic table back and scores it:
mean total variation distance over all 1-way, all 2-way and 100 fixed 3-way marginals (triples:
`numpy.random.default_rng(0).choice` over `itertools.combinations(columns, 3)` in column order,
100 without replacement, sorted).

Every (engine, method, ε, seed) runs in a fresh subprocess, one at a time, and reports its wall
time (the whole pipeline: introspect, measure, fit, sample, write) and peak RSS (ru_maxrss, taken
when the pipeline returns). For scale the table also has a bootstrap resample of the real table
and independent noiseless 1-way marginals. Results go to results.json beside this file (runs
already there are skipped unless --fresh) and to the "Adult: per-table fidelity (issue 3)"
section of BENCHMARKS.md.

    python benchmarks/adult/run.py                                   # SQLite, aim+mst, 4 ε, 3 seeds
    python benchmarks/adult/run.py --pg postgresql+psycopg://u:pw@127.0.0.1:5432/db
    python benchmarks/adult/run.py --start-pg           # SQLite and a throwaway PostgreSQL: the full table
    python benchmarks/adult/run.py --methods aim --epsilons 1 --seeds 0   # one quick row
    python benchmarks/adult/run.py --report-only       # rewrite the section from results.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("DBSYNTH_DATASETS") or ROOT.parent / "shared" / "datasets")
RESULTS = Path(__file__).resolve().parent / "results.json"
HEADING = "## Adult: per-table fidelity (issue 3)"
TABLE = "adult"
DELTA = 1e-9
# The columns whose codes are bins of a number, in order (the others are nominal categories).
ORDINAL = {"age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"}


def load_adult() -> tuple[list[str], np.ndarray, dict[str, int]]:
    folder = DATASETS / "adult"
    columns = (folder / "adult.csv").read_text().split("\n", 1)[0].strip().split(",")
    values = np.loadtxt(folder / "adult.csv", delimiter=",", skiprows=1, dtype=np.int64)
    domain = json.loads((folder / "adult-domain.json").read_text())
    return columns, values, {c: int(domain[c]) for c in columns}


def fixed_triples(columns: list[str]) -> list[tuple[str, ...]]:
    triples = list(itertools.combinations(columns, 3))
    picked = np.random.default_rng(0).choice(len(triples), 100, replace=False)
    return [triples[i] for i in sorted(picked)]


def fidelity(real: dict[str, np.ndarray], synth: dict[str, np.ndarray], sizes: dict[str, int]) -> dict[str, float]:
    """Mean TVD over all 1-ways, all 2-ways and the fixed 3-ways (each table normalised by its own rows)."""
    columns = list(sizes)

    def dist(codes: dict[str, np.ndarray], clique: tuple[str, ...]) -> np.ndarray:
        shape = [sizes[c] for c in clique]
        flat = np.ravel_multi_index([codes[c] for c in clique], shape)
        counts = np.bincount(flat, minlength=int(np.prod(shape)))
        return counts / max(1, counts.sum())

    def tvd(cliques) -> float:
        return float(np.mean([0.5 * np.abs(dist(real, cl) - dist(synth, cl)).sum() for cl in cliques]))

    return {"tvd1": tvd([(c,) for c in columns]), "tvd2": tvd(list(itertools.combinations(columns, 2))),
            "tvd3": tvd(fixed_triples(columns))}


def build_source(url: str, columns: list[str], values: np.ndarray) -> None:
    """The real table, as integer columns, replacing any earlier copy."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(TABLE, meta, *[sa.Column(c, sa.Integer, nullable=False) for c in columns])
    with engine.begin() as conn:
        meta.drop_all(conn)
        meta.create_all(conn)
        rows = [dict(zip(columns, map(int, r))) for r in values]
        for start in range(0, len(rows), 5000):
            conn.execute(table.insert(), rows[start:start + 5000])
    engine.dispose()


def write_spec(url: str, path: Path, sizes: dict[str, int], method: str) -> None:
    """dbsynth's own plan of the source, with every column's public domain given by the JSON."""
    from dbsynth.plan import make_spec
    from dbsynth.schema.introspect import introspect
    from dbsynth.spec import ColumnSpec

    engine = sa.create_engine(url)
    spec = make_spec(introspect(engine))
    engine.dispose()
    ts = spec.tables[TABLE]
    ts.method = method
    ts.columns = {c: ColumnSpec(kind="categorical", domain="spec", values=list(range(k)), ordered=c in ORDINAL)
                  for c, k in sizes.items()}
    spec.save(path)


def run_one(config: dict) -> dict:
    """One pipeline run (in this fresh process): times, peak memory, fidelity of what came back."""
    import dbsynth.tabular.marginals as counting

    # Time the methods' requests for true counts (the SQL pushdown), part of the fit stage.
    fetch_s = [0.0]
    fetch = counting.fetch

    def timed_fetch(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fetch(*args, **kwargs)
        finally:
            fetch_s[0] += time.perf_counter() - start

    counting.fetch = timed_fetch
    columns, values, sizes = load_adult()
    work = Path(config["workdir"])
    target = work / f"synth-{config['engine']}-{config['method']}-{config['epsilon']}-{config['seed']}.sqlite"
    target.unlink(missing_ok=True)
    result, wall = run_into(config, target)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    n_rows, scores = score_target(target, columns, values, sizes)
    return {**{k: config[k] for k in ("engine", "method", "epsilon", "seed")}, "wall_s": wall,
            "fit_s": result.seconds.get("fit"), "counts_s": fetch_s[0], "peak_mb": peak_mb, "rows": n_rows, "real_rows": len(values),
            "epsilon_spent": result.ledger["epsilon"], **scores}


def run_into(config: dict, target: Path):
    """`dbsynth run` of config's source and spec into the SQLite file `target`: (result, wall seconds).
    Shared by this benchmark, checks.py and benchmarks/llm."""
    from dbsynth.pipeline import RunOptions, run

    opts = RunOptions(source=config["source"], target=f"sqlite:///{target}", epsilon=config["epsilon"], delta=DELTA,
                      spec_path=config["spec"], seed=config["seed"])
    start = time.perf_counter()
    result = run(opts)
    return result, time.perf_counter() - start


def score_target(target: Path, columns: list[str], values: np.ndarray, sizes: dict[str, int]) -> tuple[int, dict]:
    """The synthetic Adult rows in `target` (removed afterwards) scored against the real ones:
    (rows, fidelity scores)."""
    engine = sa.create_engine(f"sqlite:///{target}")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*[sa.column(c) for c in columns]).select_from(sa.table(TABLE))).all()
    engine.dispose()
    target.unlink(missing_ok=True)
    synth = np.asarray(rows, dtype=np.int64).reshape(len(rows), len(columns))
    return len(rows), fidelity({c: values[:, i] for i, c in enumerate(columns)},
                               {c: synth[:, i] for i, c in enumerate(columns)}, sizes)


def baselines(seeds: list[int]) -> list[dict]:
    """Bootstrap resample and independent noiseless 1-ways (a column-wise permutation), per seed."""
    columns, values, sizes = load_adult()
    real = {c: values[:, i] for i, c in enumerate(columns)}
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, len(values), len(values))
        out.append({"engine": "-", "method": "bootstrap", "epsilon": None, "seed": seed, "rows": len(values),
                    **fidelity(real, {c: v[pick] for c, v in real.items()}, sizes)})
        out.append({"engine": "-", "method": "independent 1-ways", "epsilon": None, "seed": seed, "rows": len(values),
                    **fidelity(real, {c: rng.permutation(v) for c, v in real.items()}, sizes)})
    return out


def _fmt(xs: list[float], digits: int) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{np.mean(xs):.{digits}f} ± {np.std(xs):.{digits}f}"


def markdown(results: list[dict], command: str) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["engine"], r["method"], r["epsilon"]), []).append(r)
    order = sorted(groups, key=lambda k: (k[0] == "-", k[0], k[1], k[2] or 0))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    lines = [
        HEADING, "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), shared with other engineers' test runs, so wall times are "
        "noisy. Python " + platform.python_version() + ". δ = 1e-9, sensitivity 1 (one row per unit).",
        "",
        "Wall time is the whole `dbsynth.pipeline.run` (introspect, measure, fit, sample, write into a fresh "
        "SQLite file); peak memory is that process's ru_maxrss. TVD = mean total variation distance over all "
        "1-way, all 2-way and 100 fixed 3-way marginals (lower is better). The synthetic table has the "
        "pipeline's noisy row count, scored as it comes back (rows column). Mean ± std over seeds. "
        "\"Counting\" is the part of the fit spent in `MarginalSource.marginals`, the SQL that counts the "
        "candidate marginals inside the source (AIM asks for 469 at once, MST for 105).",
        "",
        "| engine | method | ε | seeds | wall (s) | fit (s) | of which counting (s) | peak RSS (MB) | rows | "
        "1-way TVD | 2-way TVD | 3-way TVD |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in order:
        rs = groups[key]
        eps = "-" if key[2] is None else f"{key[2]:g}"
        lines.append(
            f"| {key[0]} | {key[1]} | {eps} | {len(rs)} | {_fmt([r.get('wall_s') for r in rs], 1)} | "
            f"{_fmt([r.get('fit_s') for r in rs], 1)} | {_fmt([r.get('counts_s') for r in rs], 1)} | "
            f"{_fmt([r.get('peak_mb') for r in rs], 0)} | "
            f"{_fmt([r['rows'] for r in rs], 0)} | {_fmt([r['tvd1'] for r in rs], 4)} | "
            f"{_fmt([r['tvd2'] for r in rs], 4)} | {_fmt([r['tvd3'] for r in rs], 4)} |")
    return "\n".join(lines) + "\n"


def update_benchmarks_md(section: str, heading: str = HEADING) -> None:
    """Replace a benchmark's section of BENCHMARKS.md (or append it), leaving the others alone."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip() == heading]
    if starts:
        i = starts[0]
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        lines[i:j] = [section + ("\n" if j < len(lines) else "")]
        text = "".join(lines)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", help="also run with the source in this PostgreSQL database (SQLAlchemy URL)")
    ap.add_argument("--start-pg", action="store_true", help="also run against a throwaway PostgreSQL (tests/servers.py)")
    ap.add_argument("--no-sqlite", action="store_true", help="skip the SQLite source")
    ap.add_argument("--methods", default="aim,mst")
    ap.add_argument("--epsilons", default="0.5,1,2,4")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--fresh", action="store_true",
                    help="rerun the configurations this call names even if results.json has them (others are kept)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--report-only", action="store_true", help="only rewrite BENCHMARKS.md from the results file")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a JSON config: run it in this process
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))), flush=True)
        return

    methods = args.methods.split(",")
    epsilons = [float(e) for e in args.epsilons.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    columns, values, sizes = load_adult()
    work = Path(tempfile.mkdtemp(prefix="dbsynth-adult-"))
    sources = {} if args.no_sqlite else {"sqlite": f"sqlite:///{work / 'adult.sqlite'}"}
    server = None
    if args.start_pg:
        sys.path.insert(0, str(ROOT / "tests"))
        from servers import PostgresServer

        server = PostgresServer().start()
        args.pg = server.create_database("adult")
    if args.pg:
        sources["postgresql"] = args.pg
    try:
        _run_grid(args, sources, methods, epsilons, seeds, columns, values, sizes, work)
    finally:
        if server is not None:
            server.stop()


def _run_grid(args, sources, methods, epsilons, seeds, columns, values, sizes, work) -> None:
    results = json.loads(args.results.read_text()) if args.results.exists() else []
    if args.fresh:  # rerun what this call names; keep every other configuration's row
        named = set(itertools.product(sources, methods, epsilons, seeds))
        results = [r for r in results if (r["engine"], r["method"], r["epsilon"], r["seed"]) not in named]
    if args.report_only:
        args.results = Path(tempfile.mkdtemp()) / "results.json"  # leave the source file untouched
    done = {(r["engine"], r["method"], r["epsilon"], r["seed"]) for r in results}
    results = [r for r in results if r["engine"] != "-"] + baselines(seeds)

    for engine, url in ({} if args.report_only else sources).items():
        build_source(url, columns, values)
        for method in methods:
            spec = work / f"spec-{engine}-{method}.yaml"
            write_spec(url, spec, sizes, method)
            for eps, seed in itertools.product(epsilons, seeds):
                if (engine, method, eps, seed) in done:
                    continue
                config = {"engine": engine, "method": method, "epsilon": eps, "seed": seed, "source": url,
                          "spec": str(spec), "workdir": str(work)}
                proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(config)], capture_output=True,
                                      text=True, cwd=ROOT)
                if proc.returncode != 0:
                    print(f"FAILED {engine} {method} eps={eps} seed={seed}:\n{proc.stderr[-3000:]}", file=sys.stderr)
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                results.append(row)
                args.results.write_text(json.dumps(results, indent=1))
                print(f"{engine} {method} eps={eps:g} seed={seed}: {row['wall_s']:.1f} s, {row['peak_mb']:.0f} MB, "
                      f"TVD {row['tvd1']:.4f} / {row['tvd2']:.4f} / {row['tvd3']:.4f}, rows {row['rows']}", flush=True)

    args.results.write_text(json.dumps(results, indent=1))
    command = "python benchmarks/adult/run.py"
    for flag, value, default in (("--methods", args.methods, "aim,mst"), ("--epsilons", args.epsilons, "0.5,1,2,4"),
                                 ("--seeds", args.seeds, "0,1,2")):
        command += f" {flag} {value}" if value != default else ""
    command += (" --no-sqlite" if args.no_sqlite else "") + (" --start-pg" if args.start_pg else
                                                             " --pg DSN" if args.pg else "")
    update_benchmarks_md(markdown(results, command))
    print(f"wrote {args.results} and BENCHMARKS.md", flush=True)


if __name__ == "__main__":
    main()
