"""An audit's result beside the shadow it speaks for (`verify --audit FILE`).

An audit tests a mechanism at a claimed (ε, δ); it is evidence for this shadow only when the shadow
was made at that claim. A refuted claim, or an audit of a deliberately broken mechanism, fails
verify; an audit at another ε or δ is shown with a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbsynth.verify.integrity import CheckRunner
from dbsynth.verify.ledger import as_number, ledger_bound

if TYPE_CHECKING:
    from dbsynth.audit.runner import AuditResult

CHECK = "audit"


def check_audit(runner: CheckRunner, ledger: dict[str, Any] | None, audit: AuditResult) -> None:
    runner.checks_run += 1
    if audit.refuted:
        runner.add(CHECK, None, f"the audit refuted the claim: ε_lower = {audit.overall.epsilon_lower:.3f} "
                   f"> claimed ε = {audit.epsilon:g} ({audit.overall.attack} attack)", 1)
    if audit.guarantee_void:
        runner.add(CHECK, None, f"the audit ran a mechanism with no guarantee ({audit.noise}): it is no evidence "
                   "for this shadow", 1)
    # The run's target, which is what an audit's claim mirrors (the row's δ is the target δ).
    epsilon = ledger_bound(ledger, None)
    if epsilon is None:
        return
    delta = as_number((ledger or {}).get("delta"))
    if abs(epsilon - audit.epsilon) > 1e-9 * max(1.0, epsilon) or (delta is not None and delta != audit.delta):
        runner.add(CHECK, None, f"the audit tested ε = {audit.epsilon:g}, δ = {audit.delta:g}; this shadow was made "
                   f"at ε = {epsilon:g}, δ = {delta if delta is not None else '?'}: run the audit at the shadow's "
                   "claim for evidence about it", 1, hard=False)
