"""report.md: the verify report as Markdown, for a pull request comment or a CI summary page.

Tables only; the plots are in report.html and every number in report.json.
"""

from __future__ import annotations

import math

from dbsynth.verify.report import METRICS, PRIVACY_SANITY_NOTE, READS_REAL_DATA_NOTE, VerifyReport


def render_markdown(report: VerifyReport, *, source: str, target: str) -> str:
    m = report.metrics()
    out = [
        "# dbsynth verify report",
        "",
        f"- source: `{source}`",
        f"- shadow database: `{target}`",
        f"- verdict: **{'PASSED' if report.passed() else 'FAILED'}** ({report.checks_run} checks, "
        f"{len(report.hard_findings())} hard failures)",
        "",
        "## What was read from the real data",
        "",
        f"{READS_REAL_DATA_NOTE}.",
        "",
        *(f"- **{r.what}**: {r.detail}" for r in report.reads),
    ]
    if report.gate:
        out += ["", "## CI thresholds (`--fail-under`)", "", "| key | value | limit | result |", "|---|---:|---:|---|"]
        out += [f"| `{g.key}` | {_f(g.value)} | {g.limit:g} | "
                f"{'not measured' if g.value is None else ('ok' if g.passed else '**EXCEEDED**')} |" for g in report.gate]
    out += ["", "## Hard checks", ""]
    if report.findings:
        out += ["| | check | table | detail | count |", "|---|---|---|---|---:|"]
        out += [f"| {'FAIL' if f.hard else 'warn'} | `{f.check}` | {f.table or ''} | {_cell(f.detail)} | {f.count} |"
                for f in report.findings]
    else:
        out.append(f"All {report.checks_run} checks passed.")
    out += ["", "## Privacy ledger", ""]
    if report.ledger is None:
        out.append("**Missing.**")
    else:
        bound = f" (held to ε ≤ {report.ledger_bound:g})" if report.ledger_bound is not None else ""
        out.append(f"ε = {report.ledger.get('epsilon')}, δ = {report.ledger.get('delta')}{bound}")
    if report.audit is not None:
        from dbsynth.audit.report import section_markdown

        out += ["", *section_markdown(report.audit)]
    out += ["", "## Fidelity", "", "| metric | value |", "|---|---:|"]
    out += [f"| `{k}` | {_f(v)} |" for k, v in m.items() if v is not None]
    if report.fidelity:
        out += ["", "### Within tables (source bins; TVD 0 = identical, 1 = disjoint)", "",
                "| table | rows real | rows synthetic | ratio | TVD 1 | TVD 2 | TVD 3 |", "|---|---:|---:|---:|---:|---:|---:|"]
        out += [f"| {n} | {t.row_count_source} | {t.row_count_target} | {_f(t.row_count_ratio)} | {_f(t.mean_tvd_1way)} "
                f"| {_f(t.mean_tvd_2way)} | {_f(t.mean_tvd_3way)} |" for n, t in report.fidelity.items()]
    if report.realism:
        out += ["", "### Realism of every column (exact values; TVD and KS 0 = identical; granularity and seen 1 = "
                "like the real column)", "", "| table | column | kind | real distinct | TVD | KS | granularity | seen |",
                "|---|---|---|---:|---:|---:|---:|---:|"]
        out += [f"| {c.table} | {_cell(c.column)} | {c.kind} | {c.real_distinct} | {_f(c.tvd)} | {_f(c.ks)} | "
                f"{_f(c.granularity)} | {_f(c.seen)} |" for c in report.realism]
    if report.joins:
        out += ["", "### Across FK joins", "", "| path | rows real | rows synthetic | TVD 1 | TVD 2 | TVD 3 |",
                "|---|---:|---:|---:|---:|---:|"]
        out += [f"| {j.label} | {j.rows_source} | {j.rows_target} | {_f(j.mean_tvd_1way)} | "
                f"{_f(j.mean_tvd_2way)} | {_f(j.mean_tvd_3way)} |" for j in report.joins]
    if report.degrees:
        out += ["", "### Parent degrees", "", "| foreign key | TVD | KS | mean real | mean synthetic |",
                "|---|---:|---:|---:|---:|"]
        out += [f"| `{d.foreign_key}` | {_f(d.tvd)} | {_f(d.ks)} | {_f(d.mean_source)} | {_f(d.mean_target)} |"
                for d in report.degrees]
    if report.workload and report.workload.queries:
        w = report.workload
        out += ["", "### Aggregate-query workload", "",
                f"{len(w.queries)} queries (seed {w.seed}): median relative error {_f(w.median)}, p90 {_f(w.p90)}."]
    if report.tstr:
        t = report.tstr
        out += ["", "### Train on synthetic, test on real", "",
                f"Predicting `{t.table}.{t.column}`: accuracy {_f(t.accuracy_tstr)} trained on synthetic, "
                f"{_f(t.accuracy_trtr)} trained on real, {_f(t.accuracy_majority)} for the majority class."]
    if report.privacy:
        out += ["", "## Privacy sanity (NOT part of the DP guarantee)", "", f"{PRIVACY_SANITY_NOTE}.", "",
                "| table | synthetic rows | exact copies | real holdout copies | median DCR synthetic | median DCR holdout |",
                "|---|---:|---:|---:|---:|---:|"]
        out += [f"| {p.table} | {p.synthetic_rows} | {_f(p.exact_copy_rate)} | {_f(p.baseline_exact_copy_rate)} | "
                f"{_f(p.median_dcr_synthetic)} | {_f(p.median_dcr_baseline)} |" for p in report.privacy]
    out += ["", "## Metric keys for `--fail-under`", ""]
    out += [f"- `{k}`: {v}" for k, v in METRICS.items()]
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _f(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.3f}"
