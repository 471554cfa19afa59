"""`audit`: plant canary units in a scratch copy of the source, run the real pipeline on it,
attack the shadows, and report the empirical lower bound on ε next to the claimed ε.

One-run auditing (Steinke, Nasr, Jagielski 2023): every canary goes in independently with
probability 1/2, drawn here and never shown to the pipeline, and all canaries are judged from the
same output. `runs` repeats it with fresh draws; a canary in one run changes only that run's
input, so the runs' canaries together are canaries of the composed runs and the bound counts
them all. The bound is a statistical lower bound: a small ε_lower does not prove the guarantee
(it only says these attacks found no leak), a ε_lower above the claim refutes it.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from dbsynth.audit.attacks import ATTACKS, CENTRED, AttackInput, centre
from dbsynth.audit.canaries import Canary, UnitShape, choose_root, make_canaries, unit_shape
from dbsynth.audit.features import fit_encoders, flatten
from dbsynth.audit.guesses import AttackBound, best_bound
from dbsynth.audit.scratch import read_source, read_tables, write_scratch
from dbsynth.errors import UsageError
from dbsynth.privacy.noise import Noise

Stage = Callable[[str, str], None]
DEFAULT_CANARIES = 64
DEFAULT_RUNS = 4


@dataclass
class AuditOptions:
    source: str
    epsilon: float
    delta: float = 1e-9
    canaries: int = DEFAULT_CANARIES  # per run
    runs: int = DEFAULT_RUNS
    attacks: tuple[str, ...] = tuple(ATTACKS)
    confidence: float = 0.95
    unit: str | None = None  # the table whose rows are the canaries (default: chosen from the owner forest)
    spec_path: str | None = None
    seed: int | None = None  # canaries, inclusion draws and post-processing; never the pipeline's noise
    noise: Callable[[], Noise] | None = None  # tests only: a broken mechanism (the CLI never sets it)
    workdir: str | None = None  # where the scratch databases go (default: a temporary directory)


@dataclass
class AuditResult:
    source: str
    epsilon: float
    delta: float
    confidence: float
    unit: str
    rows_per_canary: dict[str, int]
    canaries: int  # all runs together
    included: int
    runs: int
    attacks: list[AttackBound]  # each at confidence / guess counts
    overall: AttackBound  # the best attack, at the confidence split over attacks and guess counts
    noise: str
    guarantee_void: bool
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def refuted(self) -> bool:
        """The attacks showed more leakage than the claimed ε allows (at the stated confidence)."""
        return self.overall.epsilon_lower > self.epsilon

    def to_dict(self) -> dict:
        return {"source": self.source, "epsilon": self.epsilon, "delta": self.delta, "confidence": self.confidence,
                "epsilon_lower": self.overall.epsilon_lower, "refuted": self.refuted,
                "overall": self.overall.to_dict(), "attacks": [a.to_dict() for a in self.attacks],
                "unit": self.unit, "rows_per_canary": self.rows_per_canary, "canaries": self.canaries,
                "included": self.included, "runs": self.runs, "noise": self.noise,
                "guarantee_void": self.guarantee_void, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict) -> "AuditResult":
        """Back from `to_dict` (what `audit --json` prints); KeyError, TypeError or ValueError when
        `d` is not an audit's result."""
        return cls(str(d["source"]), float(d["epsilon"]), float(d["delta"]), float(d["confidence"]), str(d["unit"]),
                   {str(t): int(n) for t, n in d["rows_per_canary"].items()}, int(d["canaries"]), int(d["included"]),
                   int(d["runs"]), [AttackBound.from_dict(a) for a in d["attacks"]],
                   AttackBound.from_dict(d["overall"]), str(d["noise"]), bool(d["guarantee_void"]),
                   {str(k): float(v) for k, v in d.get("seconds", {}).items()})


def audit(opts: AuditOptions, progress: Stage | None = None) -> AuditResult:
    _check(opts)
    say = progress or (lambda stage, detail: None)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    # Two streams: the canaries and their inclusion draws, and the pipeline's post-processing
    # seeds; the pipeline sees only the second, so nothing it is given derives from the draws.
    draws, post = np.random.SeedSequence(opts.seed if opts.seed is not None else secrets.randbits(63)).spawn(2)
    rng = np.random.default_rng(draws)
    post_rng = np.random.default_rng(post)

    from dbsynth.connect import redact, source_engine
    from dbsynth.pipeline import load_spec
    from dbsynth.privacy.units import Units
    from dbsynth.schema.introspect import introspect

    say("read source", redact(opts.source))
    src = source_engine(opts.source)
    try:
        schema = introspect(src)
        spec = load_spec(schema, opts.spec_path)
        source = read_source(src, schema)
    finally:
        src.dispose()
    units = Units.from_spec(schema, spec)
    root = choose_root(schema, spec, units, source.frames, opts.unit)
    shape = unit_shape(schema, spec, units, source.frames, root)
    say("canaries", f"{opts.canaries} {root} units of {shape.rows_per_canary()} rows")
    canaries = make_canaries(schema, spec, shape, source.frames, opts.canaries, rng)
    all_rows = {t: [r for c in canaries for r in c.rows[t]] for t in shape.tables}
    canary_frames = [{t: _frame(c.rows[t], schema.tables[t].column_names) for t in shape.tables} for c in canaries]
    seconds["prepare"] = round(time.perf_counter() - clock, 3)

    scores: dict[str, list[np.ndarray]] = {a: [] for a in opts.attacks}
    truth: list[np.ndarray] = []
    noise_name, void = "", False
    with tempfile.TemporaryDirectory(prefix="dbsynth-audit-", dir=opts.workdir) as work:
        for run in range(opts.runs):
            stage = f"run {run + 1}/{opts.runs}"
            started = time.perf_counter()
            included = rng.random(len(canaries)) < 0.5
            shadow_frames, ledger = _one_run(opts, schema, source, canaries, included, Path(work), run, post_rng,
                                             lambda s, d, stage=stage: say(stage, f"{s}: {d}"))
            noise_name, void = ledger.get("noise", ""), bool(ledger.get("guarantee_void"))
            say("attack", stage)
            # The attacker reads the shadow's own ledger for the bins it was made at.
            encoders = fit_encoders(shape, spec, source.frames, all_rows, ledger.get("spec"))
            data = AttackInput(flatten(shape, encoders, source.frames),
                               [flatten(shape, encoders, frames) for frames in canary_frames],
                               flatten(shape, encoders, shadow_frames), {t: fk.ref_table for t, fk in shape.owner.items()})
            for name in opts.attacks:
                scores[name].append(ATTACKS[name](data))
            truth.append(included)
            seconds[stage] = round(time.perf_counter() - started, 3)
    included = np.concatenate(truth)
    final = {a: (centre(np.vstack(s)) if a in CENTRED else np.vstack(s)).ravel() for a, s in scores.items()}
    alpha = 1 - opts.confidence
    per_attack = [best_bound(a, final[a], included, opts.delta, alpha, rng) for a in opts.attacks]
    corrected = [best_bound(a, final[a], included, opts.delta, alpha / len(opts.attacks), rng) for a in opts.attacks]
    overall = max(corrected, key=lambda b: b.epsilon_lower)
    seconds["total"] = round(time.perf_counter() - clock, 3)
    return AuditResult(redact(opts.source), opts.epsilon, opts.delta, opts.confidence, root,
                       _rows_per_canary(shape), len(included), int(included.sum()), opts.runs, per_attack,
                       overall, noise_name, void, seconds)


def _one_run(opts: AuditOptions, schema, source, canaries: list[Canary], included: np.ndarray, work: Path,
             run: int, post: np.random.Generator, say: Stage) -> tuple[dict[str, pd.DataFrame], dict]:
    """Write the scratch with the drawn canaries, run the pipeline on it, read the shadow back."""
    from dbsynth.connect import target_engine
    from dbsynth.pipeline import RunOptions
    from dbsynth.pipeline import run as pipeline_run

    scratch, shadow = f"sqlite:///{work / f'scratch{run}.db'}", f"sqlite:///{work / f'shadow{run}.db'}"
    extra: dict[str, list[dict]] = {}
    for canary, inside in zip(canaries, included):
        if inside:
            for t, rows in canary.rows.items():
                extra.setdefault(t, []).extend(rows)
    say("scratch", f"{int(included.sum())} of {len(canaries)} canaries in")
    engine = target_engine(scratch)
    try:
        write_scratch(engine, schema, source, extra)
    finally:
        engine.dispose()
    result = pipeline_run(RunOptions(scratch, shadow, opts.epsilon, opts.delta, spec_path=opts.spec_path,
                                     seed=int(post.integers(2**62)), replace=True,
                                     noise=opts.noise() if opts.noise else None), progress=say)
    engine = target_engine(shadow)
    try:
        frames = read_tables(engine, schema, list(canaries[0].rows) if canaries else [])
    finally:
        engine.dispose()
    return frames, result.ledger


def _frame(rows: list[dict], columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in columns})


def _rows_per_canary(shape: UnitShape) -> dict[str, int]:
    per = {shape.root: 1}
    for t in shape.tables[1:]:
        per[t] = per[shape.owner[t].ref_table] * shape.degree[t]
    return per


def _check(opts: AuditOptions) -> None:
    if not opts.epsilon > 0 or not np.isfinite(opts.epsilon):
        raise UsageError(f"--epsilon must be a positive number, got {opts.epsilon}")
    if not 0 <= opts.delta < 1:
        raise UsageError(f"--delta must be in [0, 1), got {opts.delta}")
    if opts.canaries < 2:
        raise UsageError(f"--canaries must be at least 2, got {opts.canaries}")
    if opts.runs < 1:
        raise UsageError(f"--runs must be at least 1, got {opts.runs}")
    if not 0 < opts.confidence < 1:
        raise UsageError(f"--confidence must be between 0 and 1, got {opts.confidence}")
    unknown = [a for a in opts.attacks if a not in ATTACKS]
    if unknown or not opts.attacks:
        raise UsageError(f"--attack: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(ATTACKS)}")
    if opts.seed is not None and opts.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {opts.seed}")
