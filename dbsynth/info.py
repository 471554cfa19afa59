"""`info`: the privacy guarantee a shadow database carries, read back from the database itself.

`run` writes one `_dbsynth_ledger` row in the same all-or-nothing operation as the data: the
ledger (every charge, its mechanism, ρ, sensitivity and σ), the unit definition, the spec as run
(with the domains and bins it released and the caps it chose) and the version that made it. A
copy of the shadow carries it along, so whoever holds the copy can see what protects whom,
without the source or the run's files.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dbsynth.connect import redact
from dbsynth.errors import VerifyFailed
from dbsynth.write.ledger import NoGuarantee, read_newest


@dataclass(frozen=True)
class Mechanism:
    """All charges of one mechanism: how many statistics, with what ρ and δ in all."""

    name: str
    releases: int
    rho: float
    delta: float


@dataclass(frozen=True)
class Guarantee:
    """What a shadow database says about itself (its `_dbsynth_ledger` row)."""

    database: str  # redacted URL
    epsilon: float
    delta: float
    target_epsilon: float | None
    within_target: bool | None
    void: bool  # test-only seeded noise: no guarantee at all
    neighbouring: str | None
    accountant: str | None
    noise: str | None
    created: str | None
    version: str | None
    run: str | None
    source: str | None
    units: dict[str, str] = field(default_factory=dict)  # table -> who a unit is, in words
    sensitivity: dict[str, float] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)
    mechanisms: list[Mechanism] = field(default_factory=list)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # table -> private, method, released columns
    ledger: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database, "epsilon": self.epsilon, "delta": self.delta,
            "target_epsilon": self.target_epsilon, "within_target": self.within_target,
            "guarantee_void": self.void, "neighbouring": self.neighbouring, "accountant": self.accountant,
            "noise": self.noise, "created": self.created, "dbsynth_version": self.version, "run": self.run,
            "source": self.source, "units": self.units, "sensitivity": self.sensitivity, "caps": self.caps,
            "mechanisms": [m.__dict__ for m in self.mechanisms], "tables": self.tables, "ledger": self.ledger,
        }


def read_guarantee(engine: sa.Engine) -> Guarantee:
    """The newest ledger row of `engine`'s database; VerifyFailed (exit 1) when it carries none."""
    where = redact(engine.url)
    try:
        entry = read_newest(engine)
    except NoGuarantee as exc:
        raise VerifyFailed(f"{where} carries no privacy guarantee: {exc}") from None
    return _guarantee(where, float(entry["epsilon"]), float(entry["delta"]), entry["created_at"], entry["ledger"])


def _guarantee(where: str, epsilon: float, delta: float, written: str | None, ledger: dict[str, Any]) -> Guarantee:
    units = ledger.get("units") or {}
    spec = ledger.get("spec") or {}
    return Guarantee(
        database=where, epsilon=epsilon, delta=delta,
        target_epsilon=ledger.get("target_epsilon"), within_target=ledger.get("within_target"),
        void=bool(ledger.get("guarantee_void")), neighbouring=ledger.get("neighbouring"),
        accountant=ledger.get("accountant"), noise=ledger.get("noise"),
        created=ledger.get("created") or written, version=ledger.get("dbsynth_version"), run=ledger.get("run"),
        source=ledger.get("source"),
        units={t: e.get("unit", "") for t, e in (units.get("tables") or {}).items()},
        sensitivity=dict(units.get("sensitivity") or {}), caps=dict(units.get("caps") or {}),
        mechanisms=_mechanisms(ledger.get("charges") or []),
        tables=_tables(spec), ledger=ledger,
    )


def _mechanisms(charges: list[dict[str, Any]]) -> list[Mechanism]:
    count: dict[str, int] = defaultdict(int)
    rho: dict[str, float] = defaultdict(float)
    delta: dict[str, float] = defaultdict(float)
    for c in charges:
        name = str(c.get("mechanism"))
        count[name] += 1
        rho[name] += float(c.get("rho") or 0.0)
        delta[name] += float(c.get("delta") or 0.0)
    return [Mechanism(n, count[n], rho[n], delta[n]) for n in sorted(count, key=lambda n: -rho[n])]


def _tables(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, ts in (spec.get("tables") or {}).items():
        private = ts.get("private", True)
        released = sorted(c for c, cs in (ts.get("columns") or {}).items() if cs.get("domain") == "released")
        out[name] = {"private": private, "method": ts.get("method") if private else "copied",
                     "released_columns": released}
    return out


def render_text(g: Guarantee) -> str:
    """The guarantee for people: what is protected, at what (ε, δ), by what, made when and by what."""
    lines = [f"{g.database}: a dbsynth shadow database"]
    if g.void:
        lines.append("NO GUARANTEE: made with seeded test noise (the ledger says the guarantee is void)")
    else:
        bound = f" (its run's target: ε = {g.target_epsilon:g})" if g.target_epsilon is not None else ""
        lines.append(f"guarantee: ({g.epsilon:.4g}, {g.delta:.3g})-differential privacy{bound}")
        if g.within_target is False:
            lines.append("WARNING: the ledger spent more than its run's target")
    if g.neighbouring:
        lines.append(f"neighbouring databases: {g.neighbouring}")
    made = ", ".join(x for x in (f"made {g.created}" if g.created else "",
                                 f"by dbsynth {g.version}" if g.version else "by a dbsynth that recorded no version",
                                 f"run {g.run}" if g.run else "", f"from {g.source}" if g.source else "") if x)
    lines.append(made)
    if g.accountant:
        lines.append(f"accountant: {g.accountant}; noise: {g.noise}")
    if g.units:
        lines.append("who is protected (a unit):")
        for table, unit in g.units.items():
            extra = f" (a unit holds at most {g.sensitivity[table]:g} of its rows)" if table in g.sensitivity else ""
            lines.append(f"  {table}: {unit}{extra}")
    if g.mechanisms:
        lines.append("mechanisms:")
        for m in g.mechanisms:
            lines.append(f"  {m.name}: {m.releases} release(s), ρ = {m.rho:.4g}"
                         + (f", δ = {m.delta:.3g}" if m.delta else ""))
    if g.tables:
        lines.append("tables:")
        for table, t in g.tables.items():
            released = f", released domains: {', '.join(t['released_columns'])}" if t["released_columns"] else ""
            lines.append(f"  {table}: {'private, ' + str(t['method']) if t['private'] else 'public (copied verbatim)'}"
                         f"{released}")
    return "\n".join(lines)
