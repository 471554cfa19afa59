"""Fine-tuning: LoRA adapters, first on fake rows (format, free), then with DP-SGD (Opacus).

Stage 1 draws rows uniformly from the public domain: no private data, no budget. Stage 2 is
DP-SGD over units: each step takes every unit independently with the plan's fixed rate
(Poisson sampling), clips each unit's gradient to `clip`, adds Gaussian noise of
`noise_multiplier · clip` once per logical batch; physical batches of `physical_batch` units
accumulate clipped gradients in between (virtual batches), so memory stays bounded whatever
the rate. The loss per unit is the weighted mean token loss, value tokens weighing
`value_weight`, format tokens 1, nothing else (no position that predicts nothing).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dbsynth.privacy.dpsgd import DpSgdPlan
from dbsynth.privacy.noise import Noise
from dbsynth.tabular.llm.head import TableHead
from dbsynth.tabular.llm.serialise import RowFormat, TokenisedExample, serialise

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainSettings:
    value_weight: float = 3.0
    learning_rate: float = 2e-3
    physical_batch: int = 8
    expected_batch: int = 64
    clip: float = 1.0
    max_tokens: int = 512
    lora_rank: int = 8
    format_steps: int = 30


def with_lora(model, rank: int):
    """The model with LoRA adapters (peft's default target modules for its architecture; q/v
    projections for Llama); only the adapters train."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def unit_losses(head: TableHead, examples: list[TokenisedExample], device: str):
    """One loss per example: Σ w·CE / Σ w over its predicted positions (padding weighs 0), the
    softmax taken over the table's tokens (`TableHead`)."""
    import torch
    import torch.nn.functional as F

    width = max(len(e.ids) for e in examples)
    ids = torch.zeros((len(examples), width), dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    weights = torch.zeros((len(examples), width), dtype=torch.float32)
    for i, e in enumerate(examples):
        ids[i, : len(e.ids)] = torch.from_numpy(e.ids)
        mask[i, : len(e.ids)] = 1
        weights[i, : len(e.ids)] = torch.from_numpy(e.weights)
    ids, mask, weights = ids.to(device), mask.to(device), weights.to(device)
    hidden = head.body(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1, :]
    logits = head.logits(hidden).float()
    targets = head.targets(ids[:, 1:]).clamp(min=0)  # padding (id 0) may fall outside: it weighs 0
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    w = weights[:, 1:]
    return (ce.view_as(w) * w).sum(dim=1) / w.sum(dim=1).clamp(min=1e-8)


def fake_units(sizes: list[int], max_rows: int, n: int, rng: np.random.Generator) -> list[list[list[int]]]:
    """`n` units of uniform random rows over the public domain (1..max_rows rows each)."""
    return [[[int(rng.integers(s)) for s in sizes] for _ in range(int(rng.integers(1, max_rows + 1)))]
            for _ in range(n)]


def train_format(model, head: TableHead, fmt: RowFormat, settings: TrainSettings, rng: np.random.Generator,
                 device: str, progress: Progress | None = None) -> None:
    """Stage 1: plain fine-tuning on fake units. Public data only, so nothing is charged."""
    import torch

    if settings.format_steps <= 0:
        return
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate)
    sizes = [c.size for c in fmt.columns]
    model.train()
    for step in range(settings.format_steps):
        units = fake_units(sizes, fmt.max_rows, settings.physical_batch, rng)
        examples = [serialise(fmt, u, rng, value_weight=1.0, max_tokens=settings.max_tokens) for u in units]
        loss = unit_losses(head, examples, device).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if progress and (step + 1) % 10 == 0:
            progress(f"format step {step + 1}/{settings.format_steps} loss {loss.item():.3f}")


def train_dp(model, head: TableHead, fmt: RowFormat, units: list[list[list[int]]], plan: DpSgdPlan, settings: TrainSettings,
             rng: np.random.Generator, noise: Noise, device: str, progress: Progress | None = None):
    """Stage 2: DP-SGD on the private units, exactly as `plan` says (rate, steps, noise); the
    caller records `plan.event()` in the ledger. Returns the trained module (unwrapped).

    The Poisson sampling and the gradient noise come from `noise` (the run's private noise
    source), never from `rng`, which only orders columns in the serialised rows. Opacus'
    secure_mode needs torchcsprng, which has no build for torch 2.x: the Gaussian is torch's
    own sampler, seeded afresh from the OS CSPRNG in every run and never stored, so no output
    regenerates it, but it is a floating-point sampler (the ledger's `noise` says so)."""
    import torch
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    if plan.noise_multiplier is None:
        raise ValueError(f"{plan.table}: DP-SGD plan is not calibrated")
    with warnings.catch_warnings():
        # Opacus' hooks on frozen base layers (LoRA leaves their inputs without gradients) and
        # transformers' deprecation notices: expected here, and noise in the user's terminal.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        warnings.filterwarnings("ignore", category=FutureWarning)
        return _train_dp(model, head, fmt, units, plan, settings, rng, noise, device, progress)


def _train_dp(model, head: TableHead, fmt: RowFormat, units: list[list[list[int]]], plan: DpSgdPlan,
              settings: TrainSettings, rng: np.random.Generator, noise: Noise, device: str,
              progress: Progress | None):
    import torch
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    gsm = GradSampleModule(model, batch_first=True, loss_reduction="mean")
    params = [p for p in gsm.parameters() if p.requires_grad]
    gen = torch.Generator(device=device).manual_seed(noise.torch_seed())
    optimizer = DPOptimizer(torch.optim.AdamW(params, lr=settings.learning_rate),
                            noise_multiplier=plan.noise_multiplier, max_grad_norm=settings.clip,
                            expected_batch_size=settings.expected_batch, loss_reduction="mean", generator=gen)
    gsm.train()
    loss = torch.tensor(float("nan"))
    for step in range(plan.steps):
        # Poisson sampling at the plan's fixed rate: the batch size itself is random and private.
        picked = np.flatnonzero(noise.bernoulli(len(units), plan.sample_rate))
        chunks = [picked[i: i + settings.physical_batch] for i in range(0, len(picked), settings.physical_batch)]
        optimizer.zero_grad()
        if not chunks:  # an empty draw still takes a step: noise only (its absence would leak)
            for p in params:
                p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
            optimizer.step()
            continue
        for k, chunk in enumerate(chunks):
            examples = [serialise(fmt, units[i], rng, value_weight=settings.value_weight,
                                  max_tokens=settings.max_tokens) for i in chunk]
            # The mean over the physical batch; Opacus rescales per-example gradients by its
            # size, and the optimizer divides the noisy sum by the expected logical batch.
            loss = unit_losses(head, examples, device).mean()
            loss.backward()
            if k < len(chunks) - 1:
                optimizer.signal_skip_step(do_skip=True)
            optimizer.step()
            if k < len(chunks) - 1:
                optimizer.zero_grad()
        if progress and ((step + 1) % 10 == 0 or step + 1 == plan.steps):
            progress(f"DP-SGD step {step + 1}/{plan.steps} loss {loss.item():.3f}")
    gsm.eval()
    return gsm._module
