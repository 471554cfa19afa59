"""An audit's result beside the shadow it speaks for (`verify --audit FILE`).

An audit tests a mechanism at a claimed (ε, δ); it is evidence for this shadow only when the shadow
was made at that claim. A refuted claim, or an audit of a deliberately broken mechanism, fails
verify; an audit at another ε or δ is shown with a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbsynth.verify.integrity import CheckRunner

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
    claimed = _claim(ledger)
    if claimed is None:
        return
    epsilon, delta = claimed
    if abs(epsilon - audit.epsilon) > 1e-9 * max(1.0, epsilon) or (delta is not None and delta != audit.delta):
        runner.add(CHECK, None, f"the audit tested ε = {audit.epsilon:g}, δ = {audit.delta:g}; this shadow was made "
                   f"at ε = {epsilon:g}, δ = {delta if delta is not None else '?'}: run the audit at the shadow's "
                   "claim for evidence about it", 1, hard=False)


def _claim(ledger: dict[str, Any] | None) -> tuple[float, float | None] | None:
    """The (ε, δ) the shadow's run was asked for (its target, which the audit's claim mirrors)."""
    payload = (ledger or {}).get("ledger")
    if not isinstance(payload, dict):
        return None
    try:
        epsilon = float(payload.get("target_epsilon", payload.get("epsilon")))
    except (TypeError, ValueError):
        return None
    delta = payload.get("target_delta", payload.get("delta"))
    try:
        return epsilon, None if delta is None else float(delta)
    except (TypeError, ValueError):
        return epsilon, None
