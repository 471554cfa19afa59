"""report.html: the verify report as one self-contained page (inline CSS and SVG, no script, no
network), for the data owner deciding whether to hand the shadow database to developers.

A Content-Security-Policy forbids every external load, so a page that renders here renders the
same offline. Sections follow the reading order: verdict, what was read from the real data,
hard checks, ledger, fidelity (tables, joins, degrees, workload, TSTR), privacy sanity.
"""

from __future__ import annotations

import datetime as dt
import html
import math

from dbsynth.verify.report import METRICS, PRIVACY_SANITY_NOTE, READS_REAL_DATA_NOTE, VerifyReport
from dbsynth.verify.results import Marginal, TableFidelity
from dbsynth.verify.svg import Series, columns, grouped_bars, histogram

MARGINALS_PER_TABLE = 4  # the columns with the largest TVD; all are in report.json
BARS_PER_CHART = 12
DCR_CHARTS = 6

_CSS = """
:root { --real: #3b6fb6; --synthetic: #f08a24; --baseline: #8a8f98; --bad: #c62828; --good: #2e7d32;
        --ink: #1d232b; --muted: #5b6470; --line: #d9dee5; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 24px 28px 60px; max-width: 1160px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 34px 0 10px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: var(--muted); font-size: 13px; } code { font: 12px ui-monospace, Menlo, Consolas, monospace; }
.verdict { display: inline-block; font-weight: 700; padding: 4px 12px; border-radius: 4px; color: #fff; margin: 10px 0; }
.verdict.pass { background: var(--good); } .verdict.fail { background: var(--bad); }
.notice { background: #fff8e1; border: 1px solid #f0d98c; border-radius: 6px; padding: 10px 14px; margin: 14px 0; }
.notice.privacy { background: #fdecea; border-color: #f2b8b5; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { color: var(--bad); } .ok { color: var(--good); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 150px; }
.card b { display: block; font-size: 20px; } .card span { color: var(--muted); font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; }
figure.chart { margin: 0; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figcaption { font-weight: 600; font-size: 13px; margin-bottom: 4px; }
svg text { font-size: 11px; fill: var(--ink); } svg .tick { fill: var(--muted); font-size: 10px; }
svg .axis { stroke: #9aa3ad; } svg .grid { stroke: #eef1f4; } svg .marker { stroke: var(--bad); stroke-dasharray: 3 2; }
svg .marker-label { fill: var(--bad); font-size: 10px; }
.s-real { fill: var(--real); background: var(--real); } .s-synthetic { fill: var(--synthetic); background: var(--synthetic); }
.s-baseline { fill: var(--baseline); background: var(--baseline); }
.legend { font-size: 12px; color: var(--muted); margin-top: 2px; }
.key { margin-right: 12px; } .key i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
details summary { cursor: pointer; } .notice ul { margin: 6px 0 0; padding-left: 20px; }
.sql { max-width: 640px; white-space: pre-wrap; word-break: break-word; }
"""

REAL, SYNTHETIC = "real (source)", "synthetic (target)"


def render_html(report: VerifyReport, *, source: str, target: str) -> str:
    sections = [
        _header(report, source, target),
        _reads(report),
        _hard_checks(report),
        _ledger(report),
        _audit(report),
        _fidelity_tables(report),
        _realism(report),
        _joins(report),
        _degrees(report),
        _workload(report),
        _tstr(report),
        _privacy(report),
        _metric_keys(),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>dbsynth verify report</title><style>{_CSS}</style></head><body>"
        + "".join(s for s in sections if s)
        + "</body></html>\n"
    )


def _header(report: VerifyReport, source: str, target: str) -> str:
    verdict = "PASSED" if report.passed() else "FAILED"
    m = report.metrics()
    cards = [
        (str(len(report.hard_findings())), f"hard failures of {report.checks_run} checks"),
        (_f(m["tvd1"]), "mean 1-way TVD in tables"),
        (_f(m["tvd2"]), "mean 2-way TVD in tables"),
        (_f(m["join_tvd2"]), "mean 2-way TVD across joins"),
        (_f(m["degree_ks"]), "mean degree KS distance"),
        (_f(m["workload_p90"]), "workload p90 relative error"),
    ]
    gate = ""
    if report.gate:
        rows = "".join(
            f"<tr class=\"{'' if g.passed else 'bad'}\"><td><code>{_e(g.key)}</code></td><td class=num>{_f(g.value)}</td>"
            f"<td class=num>{g.limit:g}</td><td>{'not measured' if g.value is None else ('ok' if g.passed else 'EXCEEDED')}</td></tr>"
            for g in report.gate)
        gate = f"<h3>CI thresholds (--fail-under)</h3><table><tr><th>key</th><th>value</th><th>limit</th><th></th></tr>{rows}</table>"
    return (
        "<header><h1>dbsynth verify report</h1>"
        f"<div class=meta>source <code>{_e(source)}</code> → shadow <code>{_e(target)}</code> · "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}</div>"
        f"<div class=\"verdict {'pass' if report.passed() else 'fail'}\">{verdict}</div>"
        "<div class=cards>" + "".join(f"<div class=card><b>{_e(v)}</b><span>{_e(k)}</span></div>" for v, k in cards)
        + f"</div>{gate}</header>"
    )


def _reads(report: VerifyReport) -> str:
    """One line per kind of read; the itemised list (a line per table or join path) folds away."""
    groups: dict[str, list[str]] = {}
    for r in report.reads:
        groups.setdefault(r.what, []).append(r.detail)
    lines = []
    for what, details in groups.items():
        if len(details) == 1:
            lines.append(f"<li><b>{_e(what)}</b>: {_e(details[0])}</li>")
        else:
            items = "".join(f"<li>{_e(d)}</li>" for d in details)
            lines.append(f"<li><details><summary><b>{_e(what)}</b>: {len(details)} items (show)</summary>"
                         f"<ul>{items}</ul></details></li>")
    return (f"<section class=\"notice\" id=reads><b>What was read from the real data.</b> "
            f"{_e(READS_REAL_DATA_NOTE)}.<ul>{''.join(lines)}</ul></section>")


def _hard_checks(report: VerifyReport) -> str:
    if not report.findings:
        return f"<section id=checks><h2>Hard checks</h2><p class=ok>All {report.checks_run} checks passed.</p></section>"
    rows = "".join(
        f"<tr class=\"{'bad' if f.hard else ''}\"><td>{'FAIL' if f.hard else 'warn'}</td><td><code>{_e(f.check)}</code></td>"
        f"<td>{_e(f.table or '')}</td><td>{_e(f.detail)}</td><td class=num>{f.count}</td></tr>"
        for f in report.findings)
    return (f"<section id=checks><h2>Hard checks</h2><p>{len(report.hard_findings())} hard failures in "
            f"{report.checks_run} checks.</p><table><tr><th></th><th>check</th><th>table</th><th>detail</th>"
            f"<th>count</th></tr>{rows}</table></section>")


def _ledger(report: VerifyReport) -> str:
    if report.ledger is None:
        return "<section id=ledger><h2>Privacy ledger</h2><p class=bad>Missing.</p></section>"
    eps, delta = report.ledger.get("epsilon"), report.ledger.get("delta")
    bound = f", held to ε ≤ {report.ledger_bound:g}" if report.ledger_bound is not None else ""
    return (f"<section id=ledger><h2>Privacy ledger</h2><p>The shadow database records ε = {_e(_g(eps))}, "
            f"δ = {_e(_g(delta))}{_e(bound)}. This is the differential-privacy guarantee of the synthetic data.</p></section>")


def _audit(report: VerifyReport) -> str:
    if report.audit is None:
        return ""
    from dbsynth.audit.report import section_html

    return f"<section id=audit>{section_html(report.audit, heading='Empirical privacy audit')}</section>"


def _fidelity_tables(report: VerifyReport) -> str:
    if not report.fidelity:
        return ""
    rows = "".join(
        f"<tr><td>{_e(n)}</td><td class=num>{t.row_count_source}</td><td class=num>{t.row_count_target}</td>"
        f"<td class=num>{_f(t.row_count_ratio)}</td><td class=num>{_f(t.mean_tvd_1way)}</td>"
        f"<td class=num>{_f(t.mean_tvd_2way)}</td><td class=num>{_f(t.mean_tvd_3way)}</td>"
        f"<td>{'sampled' if t.sampled else ''}</td></tr>" for n, t in report.fidelity.items())
    charts = "".join(_marginal_charts(n, t) for n, t in report.fidelity.items())
    tvds = [Series(f"{k}-way", [v for t in report.fidelity.values() for v in getattr(t, f"tvd_{k}way").values()], css)
            for k, css in ((1, "s-real"), (2, "s-synthetic"), (3, "s-baseline"))]
    dist = histogram("error", "TVD distribution within tables (share of marginals)", tvds, bins=10, upper=1.0,
                     x_label="total variation distance")
    return (
        "<section id=fidelity><h2>Fidelity within tables</h2><p>Bins come from the source and are applied "
        "unchanged to both sides. TVD 0 = identical distributions, 1 = disjoint. Keys and generated columns "
        "(names, e-mails, free text) are not compared.</p><table><tr><th>table</th><th>rows real</th>"
        "<th>rows synthetic</th><th>ratio</th><th>TVD 1-way</th><th>TVD 2-way</th><th>TVD 3-way</th><th></th></tr>"
        f"{rows}</table><div class=charts>{dist}</div><h3>Marginals, real vs synthetic</h3>"
        f"<div class=charts>{charts}</div></section>"
    )


def _marginal_charts(table: str, t: TableFidelity) -> str:
    worst = sorted(t.marginals.values(), key=lambda m: -m.tvd)[:MARGINALS_PER_TABLE]
    return "".join(_marginal_chart(f"{table}.{m.name} (TVD {m.tvd:.3f})", m) for m in worst)


def _marginal_chart(title: str, m: Marginal) -> str:
    """The bins holding the most mass on either side, in bin order; the others summed into one bar
    (a near-unique column has 20 top values of one row each: not worth 20 bars)."""
    order = sorted(range(len(m.labels)), key=lambda i: -max(m.source[i], m.target[i]))
    keep = sorted(i for i in order[:BARS_PER_CHART] if m.source[i] > 0 or m.target[i] > 0)
    labels = [m.labels[i] for i in keep]
    real, synthetic = [m.source[i] for i in keep], [m.target[i] for i in keep]
    rest = [i for i in range(len(m.labels)) if i not in keep]
    if rest and any(m.source[i] or m.target[i] for i in rest):
        labels.append(f"({len(rest)} more bins)")
        real.append(sum(m.source[i] for i in rest))
        synthetic.append(sum(m.target[i] for i in rest))
    return grouped_bars("marginal", title, labels, [Series(REAL, real, "s-real"), Series(SYNTHETIC, synthetic, "s-synthetic")])


def _joins(report: VerifyReport) -> str:
    if not report.joins:
        return ""
    rows = "".join(
        f"<tr><td>{_e(j.label)}</td><td class=num>{j.rows_source}</td><td class=num>{j.rows_target}</td>"
        f"<td class=num>{_f(j.mean_tvd_1way)}</td><td class=num>{_f(j.mean_tvd_2way)}</td>"
        f"<td class=num>{_f(j.mean_tvd_3way)}</td></tr>" for j in report.joins)
    return ("<section id=joins><h2>Fidelity across FK joins</h2><p>Rows of child ⋈ parent (and ⋈ grandparent), "
            "joined in SQL on both sides; pairs and triples span tables.</p><table><tr><th>path</th><th>rows real</th>"
            f"<th>rows synthetic</th><th>TVD 1-way</th><th>TVD 2-way</th><th>TVD 3-way</th></tr>{rows}</table></section>")


def _realism(report: VerifyReport) -> str:
    if not report.realism:
        return ""
    rows = "".join(
        f"<tr><td>{_e(c.table)}</td><td>{_e(c.column)}</td><td>{_e(c.kind)}</td><td>{c.real_distinct}</td>"
        f"<td>{_f(c.tvd)}</td><td>{_f(c.ks)}</td><td>{_f(c.granularity)}</td><td>{_f(c.seen)}</td></tr>"
        for c in report.realism)
    return ("<section id=realism><h2>Realism of every column</h2><p>Exact values as a developer sees them, every "
            "non-key column (generated ones too): exact-value TVD (low-cardinality columns), KS (numbers and "
            "dates), granularity (share of synthetic values whose decimals or time unit occur in the real column), "
            "seen (strings: share of synthetic values that occur among the real ones).</p><table><tr><th>table</th>"
            "<th>column</th><th>kind</th><th>real distinct</th><th>TVD</th><th>KS</th><th>granularity</th>"
            f"<th>seen</th></tr>{rows}</table></section>")


def _degrees(report: VerifyReport) -> str:
    if not report.degrees:
        return ""
    charts = "".join(
        columns("degree", f"{d.child} → {d.parent}: children per parent (TVD {d.tvd:.3f}, KS {d.ks:.3f})",
                d.histogram.labels, [Series(REAL, d.histogram.source, "s-real"),
                                     Series(SYNTHETIC, d.histogram.target, "s-synthetic")])
        for d in report.degrees)
    return ("<section id=degrees><h2>Parent-degree distributions</h2><p>Share of parent rows by number of "
            f"children, per foreign key.</p><div class=charts>{charts}</div></section>")


def _workload(report: VerifyReport) -> str:
    w = report.workload
    if w is None or not w.queries:
        return ""
    errors = w.errors
    upper = max(1.0, min(max(errors, default=1.0), 5.0))
    chart = histogram("error", f"Relative error of {len(w.queries)} aggregate queries",
                      [Series("queries", [min(e, upper) for e in errors], "s-synthetic")], bins=20, upper=upper,
                      markers=[(w.median, "median"), (w.p90, "p90")],
                      x_label="relative error, sum |syn − real| / sum |real|"
                      + (f" (above {upper:g}: last bar)" if max(errors, default=0.0) > upper else ""))
    worst = sorted(w.queries, key=lambda q: -q.error)[:8]
    rows = "".join(f"<tr><td class=num>{_f(q.error)}</td><td>{_e(q.aggregate)}</td><td class=sql><code>{_e(q.sql)}</code></td></tr>"
                   for q in worst)
    return (f"<section id=workload><h2>Aggregate-query workload</h2><p>{len(w.queries)} random COUNT / SUM / AVG "
            f"queries (seed {w.seed}), at most one GROUP BY and one join, run on both databases. Median relative "
            f"error <b>{_f(w.median)}</b>, 90th percentile <b>{_f(w.p90)}</b>.</p><div class=charts>{chart}</div>"
            f"<h3>Largest errors</h3><table><tr><th>error</th><th>aggregate</th><th>query</th></tr>{rows}</table></section>")


def _tstr(report: VerifyReport) -> str:
    t = report.tstr
    if t is None:
        return ""
    chart = grouped_bars("tstr", f"Predicting {t.table}.{t.column} on real test rows",
                         ["trained on synthetic", "trained on real", "majority class"],
                         [Series("accuracy", [t.accuracy_tstr, t.accuracy_trtr, t.accuracy_majority], "s-synthetic")])
    return (f"<section id=tstr><h2>Train on synthetic, test on real</h2><p>Naive Bayes on the binned columns "
            f"({_e(', '.join(t.features))}); {t.test_rows_real} real test rows.</p><div class=charts>{chart}</div></section>")


def _privacy(report: VerifyReport) -> str:
    if not report.privacy:
        return ""
    rows = "".join(
        f"<tr><td>{_e(p.table)}</td><td class=num>{p.synthetic_rows}</td><td class=num>{_f(p.exact_copy_rate)}</td>"
        f"<td class=num>{_f(p.baseline_exact_copy_rate)}</td><td class=num>{_f(p.median_dcr_synthetic)}</td>"
        f"<td class=num>{_f(p.median_dcr_baseline)}</td></tr>" for p in report.privacy)
    charts = "".join(
        histogram("dcr", f"{p.table}: distance to closest real record", [
            Series("synthetic → real", p.dcr_synthetic, "s-synthetic"),
            Series("real holdout → real", p.dcr_baseline, "s-baseline")], bins=10, upper=1.0)
        for p in sorted(report.privacy, key=lambda p: -p.synthetic_rows)[:DCR_CHARTS])
    return (f"<section id=privacy><h2>Privacy sanity</h2><div class=\"notice privacy\"><b>Not part of the DP "
            f"guarantee.</b> {_e(PRIVACY_SANITY_NOTE)}.</div><table><tr><th>table</th><th>synthetic rows</th>"
            "<th>exact copies</th><th>real holdout copies</th><th>median DCR synthetic</th><th>median DCR holdout</th>"
            f"</tr>{rows}</table><div class=charts>{charts}</div></section>")


def _metric_keys() -> str:
    rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td>{_e(v)}</td></tr>" for k, v in METRICS.items())
    return ("<section id=keys><h2>Metric keys</h2><p>Usable with <code>dbsynth verify --fail-under KEY=LIMIT,...</code>; "
            f"the run fails when a value is above its limit.</p><table>{rows}</table></section>")


def _f(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"


def _g(x: object) -> object:
    return f"{x:.6g}" if isinstance(x, float) else x


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)
