"""One line per table from `run.py --json`: the row ratio and the largest degree KS of each
(ε, variant) side by side, for BENCHMARKS.md.

    .venv/bin/python benchmarks/sizes/compact.py sizes.json [--database shop]

A cell reads `ratio / KS` (KS: the largest over the FK edges the table is the child of; – where
it has none; a table with no real rows shows the rows it came out with); `public` where the run
copied the table verbatim; EMPTY where a table of more than 5 real rows came out empty. Runs with `--run-scale` or `--repeats` get their own columns.
"""

from __future__ import annotations

import argparse
import json


def column(rec: dict) -> str:
    label = f"ε {rec['epsilon']:g} {rec['variant']}"
    if rec.get("scale", 1.0) != 1.0:
        label += f" ×{rec['scale']:g}"
    if rec.get("repeat"):
        label += f" #{rec['repeat'] + 1}"
    return label


def cell(row: dict) -> str:
    if row["public"]:
        return "public"
    # A table with no real rows has no ratio: how many rows it came out with instead.
    ratio = f"{row['synthetic']:,} rows" if row["ratio"] is None else f"{row['ratio']:.2f}"
    ks = max((e["ks"] for e in row["edges"]), default=None)
    text = ratio if ks is None else f"{ratio} / {ks:.2f}"
    return text + (" EMPTY" if row["empty"] else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--database", action="append", help="only these databases")
    args = ap.parse_args()
    records = [r for r in json.load(open(args.json, encoding="utf-8")) if "rows" in r]
    for db in dict.fromkeys(r["database"] for r in records):
        if args.database and db not in args.database:
            continue
        runs = [r for r in records if r["database"] == db]
        print(f"\n{db}:\n")
        print("| table | real rows | " + " | ".join(column(r) for r in runs) + " |")
        print("|---|---:|" + "---|" * len(runs))
        for table in dict.fromkeys(row["table"] for r in runs for row in r["rows"]):
            rows = [next(x for x in r["rows"] if x["table"] == table) for r in runs]
            print(f"| {table} | {rows[0]['real']:,} | " + " | ".join(cell(x) for x in rows) + " |")


if __name__ == "__main__":
    main()
