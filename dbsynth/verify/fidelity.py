"""Fidelity within tables: how close each target table's distributions are to the source's.

Each table's compared columns (`binning.eligible_columns`) are read from both databases (all rows,
or a uniform sample of SAMPLE_ROWS), binned with bins fitted on the source, and compared by total
variation distance over 1-way marginals, the first 45 column pairs, and up to 30 seeded triples.
This reads real rows: it is a report for the data owner, outside the privacy guarantee.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dbsynth.connect import engine_kind
from dbsynth.schema.model import Table
from dbsynth.verify.binning import Binning, ColumnKind, ValueCoder, eligible_columns, fit_binning
from dbsynth.verify.marginals import MAX_PAIRS, MAX_TRIPLES, first_pairs, key, kway_tvd, marginal, seeded_sample, tvd
from dbsynth.verify.results import TableFidelity
from dbsynth.verify.templates import Quoter, render

__all__ = ["MAX_PAIRS", "SAMPLE_ROWS", "TableData", "fit_binning", "load_table", "table_fidelity", "tvd"]

SAMPLE_ROWS = 200_000


@dataclass
class TableData:
    """One table's compared columns from both databases: normalised values and source-bin codes.

    Read once, then shared by the within-table marginals, privacy sanity and TSTR."""

    name: str
    kinds: list[ColumnKind]
    binnings: dict[str, Binning]
    source: pd.DataFrame
    target: pd.DataFrame
    source_codes: dict[str, np.ndarray]
    target_codes: dict[str, np.ndarray]
    n_source: int
    n_target: int
    sampled: bool
    coders: dict[str, ValueCoder]  # raw value -> source bin, for joins and workload answers

    @property
    def columns(self) -> list[str]:
        return [k.name for k in self.kinds]

    @property
    def sizes(self) -> dict[str, int]:
        return {c: b.n_bins for c, b in self.binnings.items()}


def load_table(source: sa.Engine, target: sa.Engine, table: Table, present: set[str],
               limit: int | None = None) -> TableData:
    """Read, normalise and bin one table's compared columns on both sides (bins from the source)."""
    limit = SAMPLE_ROWS if limit is None else limit  # read at call time: tests shrink SAMPLE_ROWS
    kinds = eligible_columns(table, present)
    names = [k.name for k in kinds]
    src, src_sampled, n_src = _read_table(source, table.name, names, limit)
    tgt, tgt_sampled, n_tgt = _read_table(target, table.name, names, limit)
    binnings: dict[str, Binning] = {}
    coders: dict[str, ValueCoder] = {}
    src_codes: dict[str, np.ndarray] = {}
    tgt_codes: dict[str, np.ndarray] = {}
    for k in kinds:
        s = k.normalise(src[k.name])
        binnings[k.name] = b = fit_binning(k.name, k.kind, s, unit=k.unit)
        coders[k.name] = coder = ValueCoder(k, b)
        src_codes[k.name], tgt_codes[k.name] = coder.codes(src[k.name]), coder.codes(tgt[k.name])
        src[k.name], tgt[k.name] = s.to_numpy(), k.normalise(tgt[k.name]).to_numpy()
    return TableData(table.name, kinds, binnings, src, tgt, src_codes, tgt_codes, n_src, n_tgt,
                     src_sampled or tgt_sampled, coders)


def table_fidelity(data: TableData, seed: int = 0, max_triples: int = MAX_TRIPLES) -> TableFidelity:
    """Row-count ratio and 1-/2-/3-way TVDs of one table, source vs target."""
    names, sizes = data.columns, data.sizes
    s, t = data.source_codes, data.target_codes
    marginals = {c: marginal(c, data.binnings[c], s[c], t[c]) for c in names}
    one = {c: m.tvd for c, m in marginals.items()}
    two = {key(p): kway_tvd(p, s, t, sizes) for p in first_pairs(names, MAX_PAIRS)}
    triples = seeded_sample(list(itertools.combinations(names, 3)), max_triples, seed, "table", data.name)
    three = {key(c): kway_tvd(c, s, t, sizes) for c in triples}
    return TableFidelity(
        row_count_source=data.n_source,
        row_count_target=data.n_target,
        row_count_ratio=ratio(data.n_target, data.n_source),
        tvd_1way=one,
        tvd_2way=two,
        tvd_3way=three,
        sampled=data.sampled,
        marginals=marginals,
    )


def _read_table(engine: sa.Engine, table: str, names: list[str], limit: int) -> tuple[pd.DataFrame, bool, int]:
    n = row_count(engine, table)
    frame, sampled = read_rows(engine, table, names, n, limit)
    return frame, sampled, n


def ratio(n_target: int, n_source: int) -> float | None:
    if n_source == 0:
        return 1.0 if n_target == 0 else None
    return n_target / n_source


def row_count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(render("row_count", table=Quoter(engine)(table))).scalar_one())


def random_order(engine: sa.Engine) -> sa.ColumnElement:
    return sa.func.rand() if engine_kind(engine) == "mysql" else sa.func.random()


def read_rows(engine: sa.Engine, table: str, columns: list[str], n_rows: int,
              limit: int | None = None) -> tuple[pd.DataFrame, bool]:
    """The columns of `table`, all rows or a uniform random sample of `limit`; and whether sampled."""
    limit = SAMPLE_ROWS if limit is None else limit
    if not columns:
        return pd.DataFrame(index=range(min(n_rows, limit))), n_rows > limit
    t = sa.table(table, *(sa.column(c) for c in columns))  # untyped: raw driver values, normalised later
    stmt = sa.select(*t.columns)
    sampled = n_rows > limit
    if sampled:
        stmt = stmt.order_by(random_order(engine)).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)
    return frame.astype(object), sampled
