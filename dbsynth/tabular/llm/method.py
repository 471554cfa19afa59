"""The `Method` named "llm": DP-LLMTGen (arXiv 2406.01457) on one table.

Its input is not marginals but units of rows (`LlmTable`, from `measure`), and its privacy cost
is not a ρ but a DP-SGD plan whose noise the pipeline calibrated against the whole run
(`dbsynth.privacy.dpsgd`). `fit` loads the model, learns the format on public fake rows,
fine-tunes LoRA adapters with DP-SGD (recording the plan's event in the ledger) and returns a
model that samples valid rows by constrained decoding.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from dbsynth.privacy.dpsgd import DpSgdPlan
from dbsynth.privacy.ledger import Charge, Ledger
from dbsynth.tabular.llm.examples import ColumnVocabulary, UnitRows
from dbsynth.tabular.llm.training import TrainSettings


@dataclass
class LlmTable:
    """What an llm table hands to `LLM.fit`: its bounded rows by unit, the public text of every
    code, and released counts; `plan` is set once the run's DP-SGD noise is calibrated."""

    table: str
    rows: UnitRows
    columns: tuple[ColumnVocabulary, ...]  # in the order of `rows.codes`
    max_rows: int  # rows one unit can hold after bounding (a product of public caps)
    replace_factor: int  # 2 where a removed unit can change another's example (owned tables)
    noisy_rows: float
    noisy_units: float
    plan: DpSgdPlan | None = None

    @property
    def sizes(self) -> dict[str, int]:
        return {c.key: c.size for c in self.columns}

    def dp_sgd_plan(self, settings: TrainSettings, epochs: float) -> DpSgdPlan:
        """Rate and steps from the *noisy* unit count, so neither depends on the private one."""
        units = max(1.0, self.noisy_units)
        rate = min(1.0, settings.expected_batch / units)
        return DpSgdPlan(self.table, rate, max(1, math.ceil(epochs / rate)), self.replace_factor)


@dataclass(frozen=True)
class LLM:
    """The `Method` named "llm". `model`: a Hugging Face name or local path (None: the offline
    default). Settings come from the spec's `llm:` block (`LlmSpec`)."""

    name: str = "llm"
    model: str | None = None
    settings: TrainSettings = field(default_factory=TrainSettings)
    epochs: float = 2.0
    sample_batch: int = 64  # units generated side by side
    progress: Callable[[str], None] | None = None

    def fit(self, data: LlmTable, *, ledger: Ledger, rho: float = 0.0, sensitivity: float = 1.0,
            rng: np.random.Generator) -> "LlmModel":
        """`rho` and `sensitivity` are the marginal methods' currency: this method spends
        `data.plan` instead (its noise already calibrated so the run meets its target)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)  # transformers/peft deprecations
            return self._fit(data, ledger, rng)

    def _fit(self, data: LlmTable, ledger: Ledger, rng: np.random.Generator) -> "LlmModel":
        from dbsynth.tabular.llm.head import TableHead
        from dbsynth.tabular.llm.models import load_model
        from dbsynth.tabular.llm.serialise import RowFormat
        from dbsynth.tabular.llm.training import train_dp, train_format, with_lora

        if data.plan is None or data.plan.noise_multiplier is None:
            raise ValueError(f"{data.table}: the llm method needs a calibrated DP-SGD plan")
        loaded = load_model(self.model)
        fmt = RowFormat.build(list(data.columns), loaded.tokenizer, data.max_rows)
        model = with_lora(loaded.model, self.settings.lora_rank)
        head = TableHead(model, fmt)
        say = self.progress or (lambda msg: None)
        train_format(model, head, fmt, self.settings, rng, loaded.device, progress=say)
        codes = [np.asarray(data.rows.codes[c.key]) for c in data.columns]
        units = [[[int(col[i]) for col in codes] for i in rows] for rows in data.rows.examples(rng)]
        model = train_dp(model, head, fmt, units, data.plan, self.settings, rng, ledger.noise, loaded.device,
                         progress=say)
        ledger.record(Charge("dp_sgd", data.table,
                             f"LoRA fine-tuning of {loaded.name}: {data.plan.steps} steps, sample rate "
                             f"{data.plan.sample_rate:.4g}, noise multiplier {data.plan.noise_multiplier:.4g}"
                             + (", replacement counted at 2x clip" if data.plan.replace_factor > 1 else ""),
                             data.plan.event(), data.plan.rho_equivalent(), 0.0, 1.0 * data.plan.replace_factor,
                             data.plan.noise_multiplier * self.settings.clip,
                             {"sample_rate": data.plan.sample_rate, "steps": data.plan.steps,
                              "noise_multiplier": data.plan.noise_multiplier, "clip": self.settings.clip,
                              "replace_factor": data.plan.replace_factor, "model": loaded.name}))
        return LlmModel(model, fmt, loaded.device, max(0.0, data.noisy_rows),
                        max(1.0, data.noisy_rows) / max(1.0, data.noisy_units), self.sample_batch)


@dataclass
class LlmModel:
    """A DP fine-tuned model of one table (post-processing only from here on)."""

    model: Any
    fmt: Any  # RowFormat
    device: str
    rows: float  # the noisy row count
    rows_per_unit: float  # from noisy counts: how many units to generate for n rows
    batch: int = 64

    @property
    def estimated_rows(self) -> float:
        return self.rows

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        from dbsynth.tabular.llm.decoding import generate_units

        columns = [c.key for c in self.fmt.columns]
        rows: list[list[int]] = []
        while len(rows) < n:
            need = max(1, math.ceil((n - len(rows)) / max(1.0, self.rows_per_unit)))
            for unit in generate_units(self.model, self.fmt, min(need, 4 * self.batch), batch=self.batch, rng=rng,
                                       device=self.device):
                rows.extend(unit)
        rows = rows[:n]
        return {c: np.array([r[j] for r in rows], dtype=np.int64) for j, c in enumerate(columns)}


def llm_method(spec_llm, progress: Callable[[str], None] | None = None) -> LLM:
    """The method as the spec's `llm:` block (an `LlmSpec`, or None for the defaults) sets it."""
    from dbsynth.spec import LlmSpec

    s = spec_llm or LlmSpec()
    settings = TrainSettings(value_weight=s.value_weight, learning_rate=s.learning_rate,
                             physical_batch=s.physical_batch, expected_batch=s.batch_size, clip=s.clip,
                             max_tokens=s.max_tokens, lora_rank=s.lora_rank, format_steps=s.format_steps)
    return replace(LLM(), model=s.model, settings=settings, epochs=s.epochs, sample_batch=s.sample_batch,
                   progress=progress)
