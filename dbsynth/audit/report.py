"""The audit's result for people: a few lines of text, a standalone HTML page in the verify
report's style (inline CSS, no script, no network), and the section verify's report shows when it
is given the audit's JSON (`verify --audit FILE`)."""

from __future__ import annotations

import datetime as dt
import html

from dbsynth.audit.runner import AuditResult

MEANING = ("ε_lower is a statistical lower bound: with the stated confidence, a mechanism that meets the "
           "claimed (ε, δ) could not have let these attacks guess this well. ε_lower ≤ ε means these attacks "
           "found no leak beyond the claim; it does not prove the claim (a stronger attack, more canaries or "
           "more runs might find one). ε_lower > ε refutes the claim.")


def render_text(result: AuditResult) -> str:
    verdict = "REFUTED: the shadow leaks more than the claimed ε" if result.refuted else "no leak beyond the claim found"
    lines = [f"audit of {result.source}: claimed ε = {result.epsilon:g}, δ = {result.delta:g}",
             f"ε_lower = {result.overall.epsilon_lower:.3f} at {result.confidence:.0%} confidence "
             f"(best attack: {result.overall.attack}, corrected for {len(result.attacks)} attacks): {verdict}",
             f"canaries: {result.canaries} {result.unit} units over {result.runs} runs ({result.included} in), "
             f"rows per canary: " + ", ".join(f"{t} {n}" for t, n in result.rows_per_canary.items()),
             "attack      guesses  correct  ε_lower  AUC"]
    for a in result.attacks:
        lines.append(f"{a.attack:<11} {a.guesses:>7}  {a.correct:>7}  {a.epsilon_lower:>7.3f}  {a.auc:.3f}")
    if result.guarantee_void:
        lines.append(f"mechanism: {result.noise}")
    lines.append(f"time: {result.seconds.get('total', 0):.0f} s")
    lines.append(MEANING)
    return "\n".join(lines)


def render_html(result: AuditResult) -> str:
    """The standalone page (`audit --report FILE.html`): the same section verify's report shows."""
    from dbsynth.verify.html import _CSS

    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>dbsynth audit</title><style>{_CSS}</style></head><body>
<h1>dbsynth audit: empirical privacy</h1>
<p class="meta">source {html.escape(result.source)} · {html.escape(created)}</p>
{section_html(result, heading="Audit")}
</body></html>
"""


def section_html(result: AuditResult, *, heading: str) -> str:
    """Verdict, the claim against ε_lower, how the canaries were made, and each attack's bound."""
    e = html.escape
    verdict = ('<span class="verdict fail">claim refuted</span>' if result.refuted
               else '<span class="verdict pass">no leak beyond the claim found</span>')
    rows = "".join(
        f"<tr><td>{e(a.attack)}</td><td class=num>{a.guesses}</td><td class=num>{a.correct}</td>"
        f"<td class=num>{a.epsilon_lower:.3f}</td><td class=num>{a.confidence:.4f}</td><td class=num>{a.auc:.3f}</td></tr>"
        for a in result.attacks)
    per_canary = ", ".join(f"{e(t)}: {n}" for t, n in result.rows_per_canary.items())
    void = (f'<div class="notice privacy">Mechanism under test: {e(result.noise)}</div>'
            if result.guarantee_void else "")
    return f"""<h2>{e(heading)}</h2>
{verdict}
<div class="cards">
<div class="card"><b>{result.epsilon:g}</b><span>claimed ε (δ = {result.delta:g})</span></div>
<div class="card"><b>{result.overall.epsilon_lower:.3f}</b><span>ε_lower at {result.confidence:.0%}
 (best attack: {e(result.overall.attack)})</span></div>
<div class="card"><b>{result.canaries}</b><span>canaries over {result.runs} runs, {result.included} in</span></div>
<div class="card"><b>{result.seconds.get('total', 0):.0f} s</b><span>audit time</span></div>
</div>
{void}
<p>Audited source: {e(result.source)}. Each canary is one {e(result.unit)} unit ({per_canary} rows) with values taken
from the real columns in a rare combination, planted in a scratch copy of the source with probability 1/2; the real
pipeline ran on the copy and only the shadow was attacked. The source was read, never written.</p>
<table><tr><th>attack</th><th>guesses</th><th>correct</th><th>ε_lower</th><th>confidence</th><th>AUC</th></tr>
{rows}</table>
<div class="notice">{e(MEANING)} Each attack's bound holds at the confidence shown (split over the guess counts
tried); the headline bound splits it over the attacks too (Bonferroni).</div>
"""


def section_markdown(result: AuditResult) -> list[str]:
    verdict = "**claim refuted**" if result.refuted else "no leak beyond the claim found"
    lines = ["## Empirical privacy audit", "",
             f"Audit of {result.source} at claimed ε = {result.epsilon:g}, δ = {result.delta:g}: ε_lower = "
             f"{result.overall.epsilon_lower:.3f} at {result.confidence:.0%} (best attack: {result.overall.attack}); "
             f"{verdict}. {result.canaries} {result.unit} canaries over {result.runs} runs ({result.included} in).", "",
             "| attack | guesses | correct | ε_lower | AUC |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {a.attack} | {a.guesses} | {a.correct} | {a.epsilon_lower:.3f} | {a.auc:.3f} |" for a in result.attacks]
    return lines + ["", MEANING, ""]


def load(path: str) -> AuditResult:
    """An audit's result from the file `dbsynth audit --json` wrote; UsageError when it is not one."""
    import json
    from pathlib import Path

    from dbsynth.errors import UsageError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--audit: cannot read {path}: {exc.strerror or exc}") from None
    try:
        return AuditResult.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UsageError(f"--audit: {path} is not the output of `dbsynth audit --json`") from None


def write_html(result: AuditResult, path: str) -> None:
    from pathlib import Path

    Path(path).write_text(render_html(result), encoding="utf-8")
