"""`run`: source DSN to shadow database, one stage after another, data flowing one way.

introspect → spec → measure (ledger) → fit → sample/link/repair → write. Only `measure` reads
the source and only `write` touches the target. Sampling and writing overlap: the sampler (its own
thread) hands each table over when it is final, and the writer loads it while the next is linked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dbsynth import __version__
from dbsynth.connect import engine_kind, one_snapshot, redact, refuse_same_database, source_engine, target_engine
from dbsynth.errors import SpecError, UsageError
from dbsynth.measure.crossplan import check_link_spec
from dbsynth.measure.crosstable import measure_links
from dbsynth.measure.measure import measure, new_pushdown, paid_columns, plan_budget, uses_partition_selection
from dbsynth.measure.released import released_spec
from dbsynth.measure.sizing import size_up
from dbsynth.measure.split import split_by_need
from dbsynth.measure.read import check_select_privileges
from dbsynth.paths import check_writable_file
from dbsynth.plan import make_spec
from dbsynth.reference import refuse_public_with_spec, resolve_public
from dbsynth.privacy.dpsgd import calibrate
from dbsynth.privacy.ledger import Ledger, calibrate_rho
from dbsynth.privacy.noise import Noise, SecureNoise
from dbsynth.privacy.units import Units, check_referenced_keys, describe_units
from dbsynth.relational.assemble import assemble
from dbsynth.relational.sizes import size_factors
from dbsynth.schema.introspect import introspect
from dbsynth.spec import Release, Spec, check_against_schema, check_linker, check_method
from dbsynth.tabular import method_for
from dbsynth.tabular.llm import llm_method
from dbsynth.synthetic import StreamedDatabase
from dbsynth.write.fallback import check_writable

Stage = Callable[[str, str], None]  # (stage, detail) progress callback


@dataclass
class RunOptions:
    source: str
    target: str
    epsilon: float
    delta: float = 1e-9
    spec_path: str | None = None
    seed: int | None = None  # post-processing only (sampling, linking, Faker): never the noise
    replace: bool = False
    ledger_path: str | None = None
    link: str | None = None  # "pgd" | "degree": the linker of every FK edge, whatever the spec says
    method: str | None = None  # "aim" | "mst" | "llm": the model of every private table, whatever the spec says
    llm_model: str | None = None  # the language model of every llm table (name or path), whatever the spec says
    spec_out: str | None = None  # write the spec with the released domains here (`domain: released`)
    public: tuple[str, ...] = ()  # `--public`: "suggested" and/or table names (dbsynth.reference); not with spec_path
    noise: Noise | None = None  # tests only: SeededNoise (the ledger then says the guarantee is void)
    scale: float = 1.0  # every table's size × scale (children follow their parents' degrees): post-processing
    source_snapshot: str | None = None  # PostgreSQL: read the source in this exported snapshot (the extension's caller's)


@dataclass
class RunResult:
    source: str
    target: str
    rows: dict[str, int]
    ledger: dict
    # Per stage; "sample" ends with the last table sampled (the write of the tables before it runs
    # alongside), "write" is the rest of the write: the last table, keys, indexes, commit.
    seconds: dict[str, float] = field(default_factory=dict)
    split: dict[str, dict] = field(default_factory=dict)  # per private table: its ρ, noisy size, noise, warning

    @property
    def warnings(self) -> list[str]:
        return [s["warning"] for s in self.split.values() if s.get("warning")]

    def to_dict(self) -> dict:
        return {"source": self.source, "target": self.target, "rows": self.rows, "ledger": self.ledger,
                "seconds": self.seconds, "split": self.split, "warnings": self.warnings}


def load_spec(schema, spec_path: str | None, public: tuple[str, ...] = ()) -> Spec:
    check_referenced_keys(schema)
    refuse_public_with_spec(public, spec_path)
    spec = Spec.load(spec_path) if spec_path else make_spec(schema, public=resolve_public(schema, public) if public
                                                            else frozenset())
    check_against_schema(spec, schema)
    _check_owners(spec, schema)
    check_link_spec(spec, schema)
    return spec


def _check_owners(spec: Spec, schema) -> None:
    for name, ts in spec.tables.items():
        if ts.owner is None:
            continue
        fk = next(f for f in schema.tables[name].foreign_keys if f.key == ts.owner)
        if not ts.private:
            raise SpecError(f"spec: public table {name!r} cannot have an owner")
        if not spec.tables[fk.ref_table].private:
            raise SpecError(f"spec: owner of {name!r} must be a private table, {fk.ref_table!r} is public")
        if fk.is_self_reference:
            raise SpecError(f"spec: owner of {name!r} cannot be a self reference ({fk.key})")
    try:
        Units.from_spec(schema, spec).order()
    except ValueError as exc:
        raise SpecError(f"spec: owners form a cycle ({exc}); remove one owner") from None


def run(opts: RunOptions, progress: Stage | None = None) -> RunResult:
    """The whole run; the engines it opened are closed when it ends, however it ends (a DuckDB
    target stays locked while its file is open, and a caller in the same process reads it next)."""
    with contextlib.ExitStack() as closing:
        return _run(opts, progress, closing)


def _run(opts: RunOptions, progress: Stage | None, closing: contextlib.ExitStack) -> RunResult:
    say = progress or (lambda stage, detail: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    # Validates ε and δ before anything connects. The noise is fresh and cryptographic; the seed
    # below only fixes post-processing, so it reveals nothing about the noise.
    ledger = Ledger(opts.epsilon, opts.delta, noise=opts.noise or SecureNoise())
    if opts.link is not None:
        check_linker(opts.link)
    if opts.method is not None:
        check_method(opts.method)
    if not opts.scale > 0 or not np.isfinite(opts.scale):
        raise UsageError(f"--scale must be a positive number, got {opts.scale}")
    if opts.seed is not None and opts.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {opts.seed}")
    # Every file the run will write is checked before anything is read (the budget is spent by then).
    for path, option in ((opts.ledger_path, "--ledger"), (opts.spec_out, "--spec-out")):
        if path:
            check_writable_file(path, option)
    seed = opts.seed if opts.seed is not None else secrets.randbits(63)
    rng = np.random.default_rng(seed)
    run_id = secrets.token_hex(8)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    # The source is never a target (exit 9): from the URLs before connecting, then from what the
    # two servers say they are, before anything is read.
    refuse_same_database(opts.source, opts.target)
    say("introspect", redact(opts.source))
    src = source_engine(opts.source, opts.source_snapshot)
    closing.callback(src.dispose)
    tgt = target_engine(opts.target)
    closing.callback(tgt.dispose)
    refuse_same_database(opts.source, opts.target, src, tgt)
    # From the schema to the last marginal, every read sees one snapshot of the source (unless
    # the caller's snapshot is imported already: the extension's); released after fitting.
    reading = closing.enter_context(contextlib.ExitStack())
    if opts.source_snapshot is None:
        src = reading.enter_context(one_snapshot(src))
    schema = introspect(src)
    spec = load_spec(schema, opts.spec_path, opts.public)
    if opts.link is not None:
        spec = spec.with_linker(opts.link)
    if opts.method is not None:
        spec = spec.with_method(opts.method)
    if opts.llm_model is not None:
        spec = spec.with_llm_model(opts.llm_model)
    if any(ts.private and ts.method == "llm" for ts in spec.tables.values()):
        from dbsynth.tabular.llm.models import require_llm_extra

        require_llm_extra()  # before any private row is read
    _refuse_nonempty_early(tgt, opts.replace)
    # What the write could only fail on (types, generated columns) is refused before any row is read.
    check_writable(schema, spec, engine_kind(tgt), target=tgt)
    check_select_privileges(src, schema)
    lap("introspect")

    units = Units.from_spec(schema, spec)
    # The whole run's spending, from the spec alone, before any private row is read: every
    # column with no public domain is discovered with DP (whatever its `domain:` says) and each
    # partition selection takes its δ out of the reserved share.
    has_ps = uses_partition_selection(schema, spec)
    rdp_delta = opts.delta * (1 - spec.budget.partition_delta_share) if has_ps else opts.delta
    rho_total = calibrate_rho(opts.epsilon, rdp_delta)
    budget, _ = plan_budget(spec, schema, rho_total, opts.delta)
    # One pushdown, one secret: the cross-table joins count the rows the per-table measurement kept.
    pushdown = new_pushdown(src, schema, units)
    # Caps from the data and noisy sizes first; the rest of ρ is split over tables by need.
    say("measure", "caps and table sizes")
    sizing = size_up(pushdown, schema, spec, units, ledger, budget.sizing_rho)
    units, pushdown = sizing.units, pushdown.with_units(sizing.units)
    shares = split_by_need(schema, spec, sizing, budget.rho - budget.sizing_rho)
    per_table = {t: share.rho for t, share in shares.items()}
    measured = measure(src, schema, spec, units, ledger, budget, per_table,
                       progress=lambda t: say("measure", t), pushdown=pushdown)
    links = measure_links(pushdown, schema, spec, units, ledger, measured, per_table,
                          progress=lambda t: say("measure", f"cross-table {t}"))
    _calibrate_dp_sgd(spec, measured, rho_total, opts.epsilon, rdp_delta)
    lap("measure")

    models = {}
    for name, tm in measured.items():
        if not tm.private:
            continue
        say("fit", name)
        if tm.llm is not None:
            method = llm_method(spec.tables[name].llm, progress=lambda msg, t=name: say("fit", f"{t}: {msg}"))
            models[name] = method.fit(tm.llm, ledger=ledger, rng=rng)
        else:  # an llm table with no modelled column only has a row count: mst's count-only path
            chosen = spec.tables[name].method
            method = method_for("mst" if chosen == "llm" else chosen, workload=spec.tables[name].workload)
            models[name] = method.fit(tm.encoded, ledger=ledger, rho=tm.rho_model, sensitivity=tm.sensitivity,
                                      rng=rng)
        tm.encoded = tm.llm = None  # the private rows are no longer needed past this point
    reading.close()  # the marginals are counted as the models ask for them: the last read of the source
    lap("fit")

    ledger_dict = ledger.to_dict()  # the budget is spent: what follows is post-processing
    paid = {t: {c.name for c, _ in paid_columns(schema, spec, t)} for t in measured if measured[t].private}
    release = Release(run=run_id, epsilon=ledger_dict["epsilon"], delta=opts.delta, created=created)
    # The spec as run, with the domains and bins it released and the caps it chose: stored with
    # the ledger in the target (`dbsynth info`), and written by --spec-out for reruns.
    spec_released = released_spec(spec, paid, {n: tm.encoders for n, tm in measured.items()}, release,
                                  caps=sizing.chosen_caps)
    ledger_dict.update({
        "run": run_id, "created": created, "source": redact(opts.source), "created_by": "dbsynth run",
        "dbsynth_version": __version__,
        "seeded_post_processing": opts.seed is not None,
        "units": describe_units(schema, spec, units),
        "caps_from_data": dict(sizing.chosen_caps),
        "split": {t: share.to_dict() for t, share in shares.items()},
        "scale": opts.scale,
        "size_factors": size_factors(spec, units, opts.scale),
        "reuses": [r.model_dump() for r in spec.releases or []] if spec.released_columns() else [],
        "spec": spec_released.model_dump(mode="json", exclude_none=True),
    })
    if opts.spec_out:
        spec_released.save(opts.spec_out)
    if opts.ledger_path:
        Path(opts.ledger_path).write_text(json.dumps(ledger_dict, indent=2, default=str))

    from dbsynth.write import write_database

    # Sampling and writing overlap: the sampler hands each table over as soon as its rows and
    # links are final (parents before children), and the writer loads it while the sampler links
    # the next; what the write does after the last table (foreign keys, indexes, commit) is its own.
    say("sample", "keys")
    sampled = StreamedDatabase()
    overlap = _Overlap(say)

    def sample_all() -> None:
        assemble(schema, spec, units, measured, models, rng, seed, links=links, sizing=sizing, scale=opts.scale,
                 noise={t: share.noise for t, share in shares.items()}, ready=sampled.put,
                 progress=lambda t: overlap.sampling(f"links of {t}"))

    sampler = threading.Thread(target=_sample, args=(sampled, overlap, sample_all), name="dbsynth-sample", daemon=True)
    sampler.start()
    try:
        write_database(tgt, schema, sampled, ledger=ledger_dict, replace=opts.replace, progress=overlap.writing)
    finally:
        # A writer that failed stops the sampler at its next table (the one it links runs on).
        sampled.stop()
        sampler.join()
    timings["sample"] = round(overlap.sampled_at - clock, 3)
    clock = overlap.sampled_at
    lap("write")
    return RunResult(redact(opts.source), redact(opts.target),
                     {n: t.n_rows for n, t in sampled.tables.items()}, ledger_dict, timings,
                     split={t: share.to_dict() for t, share in shares.items()})


class _Overlap:
    """Progress while sampling and writing overlap: until the last table is sampled, the writer's
    progress is shown in the sample stage's line, so each stage still starts once and in order."""

    def __init__(self, say: Stage):
        self.say = say
        self.lock = threading.Lock()
        self.sample_detail = "keys"
        self.write_detail = ""
        self.sampled_at: float | None = None

    def sampling(self, detail: str) -> None:
        with self.lock:
            self.sample_detail = detail
            self._show()

    def done(self) -> None:
        with self.lock:
            self.sampled_at = time.perf_counter()

    def writing(self, table: str, done: int, total: int) -> None:
        with self.lock:
            self.write_detail = f"{table} {done}/{total}"
            self._show()

    def _show(self) -> None:
        if self.sampled_at is None:
            writing = f"; writing {self.write_detail}" if self.write_detail else ""
            self.say("sample", f"{self.sample_detail}{writing}")
        else:
            self.say("write", self.write_detail)


def _sample(sampled: StreamedDatabase, overlap: _Overlap, sample_all: Callable[[], None]) -> None:
    """The sampler's thread: every table into `sampled`, then its end (or the error that ended it,
    raised in the writer)."""
    error = None
    try:
        sample_all()
    except BaseException as exc:  # noqa: BLE001 - handed to the writer's thread, which raises it
        error = exc
    overlap.done()
    sampled.end(error)


def _calibrate_dp_sgd(spec: Spec, measured: dict, rho_total: float, epsilon: float, delta: float) -> None:
    """Give every llm table its DP-SGD plan: the noise multiplier with which the whole run
    (the zCDP of every other release, ρ_total less the llm tables' model shares, composed with
    all DP-SGD runs) meets (ε, δ). Rate and steps come from each table's noisy unit count."""
    llm = {name: tm for name, tm in measured.items() if tm.private and tm.llm is not None}
    if not llm:
        return
    plans = []
    for name, tm in llm.items():
        method = llm_method(spec.tables[name].llm)
        plans.append(tm.llm.dp_sgd_plan(method.settings, method.epochs))
    rho_other = rho_total - sum(tm.rho_model for tm in llm.values())
    for plan in calibrate(plans, rho_other, epsilon, delta):
        llm[plan.table].llm.plan = plan
        llm[plan.table].rho_model = 0.0  # spent as DP-SGD, not as zCDP


def _refuse_nonempty_early(tgt, replace: bool) -> None:
    """Refuse a non-empty target before reading any private row (the writer checks again)."""
    if replace:
        return
    import sqlalchemy as sa

    from dbsynth.errors import TargetNotEmpty

    names = sa.inspect(tgt).get_table_names()
    if names:
        raise TargetNotEmpty(
            f"target {redact(tgt.url)} is not empty ({len(names)} tables, e.g. {names[0]}); use --replace to overwrite it"
        )
