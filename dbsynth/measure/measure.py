"""The measure stage: released domains, noisy degrees and model inputs out, rows left in place.

Every count over private rows is computed by the source database over the bounded rows
(`pushdown.py`); only public tables, copied verbatim by design, are read whole. The budget is
split here, once: per table by weight, then inside a table between domain discovery, degree
histograms and the model. Every release is charged to the ledger.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dbsynth.errors import BudgetTooSmall
from dbsynth.measure.degrees import DegreeRelease, TailSum, bucket_counts, excess, tail_bands
from dbsynth.measure.domains import private_encoders, public_encoder
from dbsynth.measure.encoders import NullIndicator
from dbsynth.measure.parents import ParentCounts
from dbsynth.measure.pushdown import Pushdown, SqlMarginalSource
from dbsynth.measure.read import read_table
from dbsynth.privacy import mechanisms
from dbsynth.privacy.ledger import Ledger
from dbsynth.privacy.units import Units
from dbsynth.schema import Column, Schema
from dbsynth.spec import ColumnSpec, LlmSpec, Spec
from dbsynth.tabular.base import MarginalSource
from dbsynth.tabular.llm import LlmTable, UnitRows, vocabulary

MODELLED = ("categorical", "numeric", "datetime", "boolean")


def null_column(fk_key: str) -> str:
    return f"__null__{fk_key}"


@dataclass
class TableMeasurements:
    name: str
    private: bool
    encoders: dict[str, Any] = field(default_factory=dict)  # modelled column -> released encoder
    null_indicators: dict[str, NullIndicator] = field(default_factory=dict)  # model column -> indicator
    encoded: MarginalSource | None = None  # counts of the bounded, encoded rows: the model's input
    rho_model: float = 0.0
    sensitivity: int = 0
    degrees: dict[str, DegreeRelease] = field(default_factory=dict)  # fk.key -> noisy parent degrees
    parent_counts: dict[str, ParentCounts] = field(default_factory=dict)  # fk.key -> per public parent
    null_rows: dict[str, tuple[float, float]] = field(default_factory=dict)  # fk.key -> noisy kept rows with it NULL, σ
    public_rows: pd.DataFrame | None = None  # public tables only: copied verbatim
    llm: LlmTable | None = None  # llm tables only: rows by unit, for DP-SGD


@dataclass(frozen=True)
class Budget:
    rho: float
    partition_delta: float  # δ per partition selection
    sizing_rho: float = 0.0  # spent first: caps and table sizes (`sizing.py`)


def plan_budget(spec: Spec, schema: Schema, rho_total: float, delta: float) -> tuple[Budget, dict[str, float]]:
    """Per-table ρ by weight, and the δ each partition selection gets: the whole run's spending,
    planned from the spec before any private row is read. A column whose spec promises a public
    domain it does not give would have to be discovered with DP outside this plan: refused."""
    private = [t for t, ts in spec.tables.items() if ts.private]
    for t in private:
        for col, cs in paid_columns(schema, spec, t):
            if cs.domain != "dp":
                given = "values" if cs.kind == "categorical" else "both bounds or edges"
                raise BudgetTooSmall(
                    f"spec: {t}.{col.name} is {cs.kind} with domain: {cs.domain} but gives no {given}, so its domain "
                    f"would be paid for with DP outside the planned budget; list its {given}, or say domain: dp")
    sizing = rho_total * spec.budget.sizing_share if private else 0.0
    # By weight alone; the run splits by need once sizing has measured the tables (`split.py`).
    total_w = sum(spec.tables[t].budget_weight for t in private) or 1.0
    per_table = {t: (rho_total - sizing) * spec.tables[t].budget_weight / total_w for t in private}
    # Every paid column runs one partition selection: a category's values, a number's frequent values.
    n_ps = sum(len(paid_columns(schema, spec, t)) for t in private)
    ps_delta = delta * spec.budget.partition_delta_share / n_ps if n_ps else 0.0
    return Budget(rho_total, ps_delta, sizing), per_table


def paid_columns(schema: Schema, spec: Spec, name: str) -> list[tuple[Column, ColumnSpec]]:
    """The modelled columns of a table whose domain must be discovered with DP: every one with no
    public domain (schema, spec values, bounds or released edges), whatever its `domain:` says."""
    ts = spec.tables[name]
    return [(col, ts.columns[col.name]) for col in schema.tables[name].columns
            if ts.columns[col.name].kind in MODELLED and public_encoder(col, ts.columns[col.name]) is None]


def uses_partition_selection(schema: Schema, spec: Spec) -> bool:
    return any(paid_columns(schema, spec, t) for t, ts in spec.tables.items() if ts.private)


def new_pushdown(source: sa.Engine, schema: Schema, units: Units) -> Pushdown:
    """Counting in `source` with a fresh run secret. The secret orders each parent's children for
    bounding; it reaches the source as a bound parameter, so a server's statement log may show
    it: DP does not rest on it (units.keyed_hash)."""
    return Pushdown(source, schema, units, secrets.token_bytes(32))


def measure(
    source: sa.Engine,
    schema: Schema,
    spec: Spec,
    units: Units,
    ledger: Ledger,
    budget: Budget,
    rho_per_table: dict[str, float],
    progress: Callable[[str], None] | None = None,
    pushdown: Pushdown | None = None,
) -> dict[str, TableMeasurements]:
    """`pushdown`: the source's counting, shared with the cross-table measurement so both bound
    with one secret (the same kept rows); a fresh one when None."""
    pushdown = pushdown or new_pushdown(source, schema, units)
    out: dict[str, TableMeasurements] = {}
    for name in schema.tables:
        if progress:
            progress(name)
        if not spec.tables[name].private:
            out[name] = TableMeasurements(name, False, public_rows=read_table(source, schema, name))
            continue
        out[name] = _measure_table(name, schema, spec, units, ledger, budget, rho_per_table[name], pushdown)
    return out


def _measure_table(
    name: str,
    schema: Schema,
    spec: Spec,
    units: Units,
    ledger: Ledger,
    budget: Budget,
    rho_table: float,
    pushdown: Pushdown,
) -> TableMeasurements:
    table = schema.tables[name]
    ts = spec.tables[name]
    delta_t = units.sensitivity(name)
    tm = TableMeasurements(name, True, sensitivity=delta_t)

    paid = paid_columns(schema, spec, name)
    degree_edges = [fk for fk in table.foreign_keys]
    rho_domain = rho_table * spec.budget.domain_share if paid else 0.0
    rho_degree = rho_table * spec.budget.degree_share if degree_edges else 0.0
    tm.rho_model = rho_table - rho_domain - rho_degree

    encoders = {col.name: public_encoder(col, ts.columns[col.name])
                for col in table.columns if ts.columns[col.name].kind in MODELLED}
    if paid:
        encoders.update(private_encoders(
            paid, pushdown.counts(name), ledger=ledger, rho=rho_domain / len(paid), delta=budget.partition_delta,
            sensitivity=delta_t, table=name,
        ))
    tm.encoders = encoders
    for fk in table.foreign_keys:
        if any(table.column(c).nullable for c in fk.columns):
            tm.null_indicators[null_column(fk.key)] = NullIndicator(fk.columns)

    model = {**tm.encoders, **tm.null_indicators}
    tm.encoded = SqlMarginalSource(pushdown, name, model, rows=pushdown.row_count(name))
    if ts.method == "llm" and model:  # with no column to model, a noisy row count is all (see pipeline)
        tm.llm = _llm_input(name, ts.llm or LlmSpec(), model, tm, units, ledger, pushdown)

    for fk in degree_edges:
        rho_edge = rho_degree / len(degree_edges)
        if all(table.column(c).nullable for c in fk.columns) and not units.is_owner_edge(fk):
            # Whether any row has it NULL, for a quarter of the edge: where the count is under its
            # noise the linker leaves none unlinked (`sizes.table_sizes`). The model's NULL
            # indicator alone, a 1-way among its many under noise of Δ(T), put Northwind's
            # employee and shipper NULL on half the orders at ε = 4, where they never are. (The
            # owner edge's count is sizing's.)
            # The count is the model's NULL indicator's 1-way (code 1), counted as the model counts it.
            rho_null, rho_edge = rho_edge / 4, rho_edge * 3 / 4
            (indicator,) = tm.encoded.marginals([(null_column(fk.key),)])
            (nulls,), null_sigma = mechanisms.gaussian(
                ledger, np.array([float(indicator[1])]), sensitivity=delta_t, rho=rho_null,
                table=name, what=f"rows with NULL {', '.join(fk.columns)} of {fk.key}")
            tm.null_rows[fk.key] = (float(nulls), null_sigma)
        if fk.ref_table not in units.private:
            # A public parent is copied as it is: its children are released parent by parent.
            degrees = pushdown.parent_degrees(fk)
            keys = tuple(sorted(degrees))
            noisy, sigma = mechanisms.gaussian(
                ledger, np.array([degrees[k] for k in keys], dtype=float), sensitivity=delta_t, rho=rho_edge,
                table=name, what=f"children per {fk.ref_table} row of {fk.key}")
            tm.parent_counts[fk.key] = ParentCounts(keys, noisy, sigma)
            continue
        owner_edge = units.is_owner_edge(fk)
        degrees = pushdown.degree_counts(fk, all_children=owner_edge)  # one query: histogram and tail sum
        tails = []
        if owner_edge:
            # Half for the children above the cap, summed per band: what the table's size hangs
            # on. (A third, with two bands, left the shop's orders in (24, 64] under their bar
            # one run in twenty.) Each band's share is in proportion to its width, as its Δ is:
            # the split that gives the whole tail's sum the least variance.
            rho_tail, rho_edge = rho_edge / 2, rho_edge / 2
            bands = tail_bands(units.caps[fk.key])
            width = sum(hi - lo for lo, hi in bands)
            for lo, hi in bands:
                (above,), above_sigma = mechanisms.gaussian(
                    ledger, np.array([float(excess(degrees, lo, hi))]),
                    sensitivity=units.excess_sensitivity(fk, lo, hi), rho=rho_tail * (hi - lo) / width,
                    table=name, what=f"children above the cap of {fk.key} ({lo + 1} to {hi} a parent)")
                tails.append(TailSum(lo, hi, above, above_sigma))
        noisy, sigma = mechanisms.gaussian(
            ledger, bucket_counts(degrees), sensitivity=units.degree_sensitivity(fk), rho=rho_edge,
            table=name, what=f"degree histogram of {fk.key}",
        )
        tm.degrees[fk.key] = DegreeRelease(units.caps[fk.key], noisy, sigma, tuple(tails))
    return tm


def _llm_input(name: str, settings: LlmSpec, model: dict[str, Any], tm: TableMeasurements, units: Units,
               ledger: Ledger, pushdown: Pushdown) -> LlmTable:
    """An llm table's rows by unit, and its noisy unit and row counts (`count_share` of the
    model's ρ). What is left of the model's ρ is the DP-SGD share: the pipeline turns it into
    a noise multiplier calibrated over the whole run, so it is not spent here."""
    codes, unit = pushdown.unit_rows(name, model)
    rho = tm.rho_model * settings.count_share
    n_units = int(unit.max()) + 1 if len(unit) else 0
    # Removing a unit adds or removes at most one example (an inner unit only changes one).
    (noisy_units,), _ = mechanisms.gaussian(ledger, np.array([float(n_units)]), sensitivity=1.0, rho=rho / 2,
                                            table=name, what="unit count (llm examples)")
    (noisy_rows,), _ = mechanisms.gaussian(ledger, np.array([float(len(unit))]), sensitivity=tm.sensitivity,
                                           rho=rho / 2, table=name, what="row count")
    tm.rho_model -= rho
    chain = units.chain(name)
    max_rows = int(np.prod([units.caps[fk.key] for fk in chain])) if chain else 1
    columns = tuple(vocabulary(key, enc) for key, enc in model.items())
    return LlmTable(name, UnitRows(name, codes, unit), columns, max_rows, 2 if chain else 1,
                    float(noisy_rows), float(noisy_units))
