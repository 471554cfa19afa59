"""Rendering a `VerifyReport` for people: the terminal summary, and `--report DIR` (report.json,
report.md, report.html). The numbers themselves live in `report` and `results`; nothing here computes.
"""

from __future__ import annotations

import json
from pathlib import Path

from dbsynth.verify.report import PRIVACY_SANITY_NOTE, READS_REAL_DATA_NOTE, VerifyReport


def render_text(report: VerifyReport) -> str:
    """A plain-text summary for humans: verdict, findings, gate, ledger, then fidelity."""
    lines = [
        f"verify: {'PASSED' if report.passed() else 'FAILED'} "
        f"({report.checks_run} checks, {len(report.hard_findings())} hard failures"
        + (f", {sum(not g.passed for g in report.gate)} thresholds exceeded" if report.gate else "") + ")"
    ]
    if report.findings:
        lines += ["", "findings:"]
        for f in report.findings:
            where = f" {f.table}:" if f.table else ""
            tag = "FAIL" if f.hard else "warn"
            lines.append(f"  [{tag}] {f.check}{where} {f.detail} (count {f.count})")
    if report.gate:
        lines += ["", "thresholds (--fail-under):"]
        for g in report.gate:
            state = "not measured" if g.value is None else ("ok" if g.passed else "EXCEEDED")
            lines.append(f"  {g.key:<16} {fmt(g.value):>7} <= {g.limit:<7g} {state}")
    lines.append("")
    if report.ledger is None:
        lines.append("privacy ledger: missing")
    else:
        eps, delta = report.ledger.get("epsilon"), report.ledger.get("delta")
        bound = f" (bound {report.ledger_bound:g})" if report.ledger_bound is not None else ""
        lines.append(f"privacy ledger: epsilon={eps} delta={delta}{bound}")
    if report.audit is not None:
        a = report.audit
        lines.append(f"audit: ε_lower {a.overall.epsilon_lower:.3f} against claimed ε {a.epsilon:g} "
                     f"({a.canaries} canaries, {a.runs} runs): "
                     + ("claim REFUTED" if a.refuted else "no leak beyond the claim found"))
    if report.fidelity:
        lines += ["", "fidelity (source bins; TVD 0 = identical, 1 = disjoint):"]
        width = max(len(n) for n in report.fidelity)
        lines.append(f"  {'table':<{width}}  {'rows src':>9}  {'rows tgt':>9}  {'ratio':>6}  "
                     f"{'tvd1':>6}  {'tvd2':>6}  {'tvd3':>6}")
        for name, t in report.fidelity.items():
            lines.append(
                f"  {name:<{width}}  {t.row_count_source:>9}  {t.row_count_target:>9}  "
                f"{fmt(t.row_count_ratio):>6}  {fmt(t.mean_tvd_1way):>6}  {fmt(t.mean_tvd_2way):>6}  "
                f"{fmt(t.mean_tvd_3way):>6}" + ("  (sampled)" if t.sampled else "")
            )
        m = report.metrics()
        lines.append(f"  mean over tables: tvd1 {fmt(m['tvd1'])}, tvd2 {fmt(m['tvd2'])}, tvd3 {fmt(m['tvd3'])}")
        lines.append(f"  across FK joins ({len(report.joins)} paths): tvd1 {fmt(m['join_tvd1'])}, "
                     f"tvd2 {fmt(m['join_tvd2'])}, tvd3 {fmt(m['join_tvd3'])}")
        lines.append(f"  parent degrees ({len(report.degrees)} FKs): tvd {fmt(m['degree_tvd'])}, ks {fmt(m['degree_ks'])}")
        if report.workload is not None:
            lines.append(f"  workload ({len(report.workload.queries)} aggregate queries): relative error "
                         f"median {fmt(m['workload_median'])}, p90 {fmt(m['workload_p90'])}")
        if report.tstr is not None:
            t = report.tstr
            lines.append(f"  TSTR {t.table}.{t.column}: accuracy {fmt(t.accuracy_tstr)} trained on synthetic, "
                         f"{fmt(t.accuracy_trtr)} on real, majority {fmt(t.accuracy_majority)}")
    if report.privacy:
        lines += ["", "privacy sanity (NOT part of the DP guarantee):"]
        for p in report.privacy:
            lines.append(f"  {p.table}: exact copies {fmt(p.exact_copy_rate)} (real holdout {fmt(p.baseline_exact_copy_rate)})")
    lines += ["", f"note: {READS_REAL_DATA_NOTE}."]
    if report.privacy:
        lines.append(f"note: {PRIVACY_SANITY_NOTE}.")
    return "\n".join(lines)


def write_report(report: VerifyReport, directory: str | Path, *, source: str, target: str) -> list[Path]:
    """report.json, report.md and a self-contained report.html in `directory` (created)."""
    from dbsynth.verify.html import render_html
    from dbsynth.verify.markdown import render_markdown

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    data = report.to_dict() | {"source": source, "target": target}
    paths = [out / "report.json", out / "report.md", out / "report.html"]
    from dbsynth.connect import scrub, scrub_data  # belt and braces: no secret seen by this process is written

    paths[0].write_text(json.dumps(scrub_data(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    paths[1].write_text(scrub(render_markdown(report, source=source, target=target)), encoding="utf-8")
    paths[2].write_text(scrub(render_html(report, source=source, target=target)), encoding="utf-8")
    return paths


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
