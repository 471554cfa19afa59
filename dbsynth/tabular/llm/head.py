"""The model's next-token logits over the table's own tokens only.

A table's text uses a few hundred token ids (its column names, values and separators); the
model's vocabulary has tens of thousands (49k for SmolLM2). Training and decoding both read the
softmax over the table's tokens: decoding only ever chooses among them, and the full projection
would cost more than the rest of a small model (measured: ~95% of a CPU step for the tiny test
model). Works for any Hugging Face causal LM with `base_model` and output embeddings.
"""

from __future__ import annotations

from dbsynth.tabular.llm.serialise import RowFormat


class TableHead:
    def __init__(self, model, fmt: RowFormat):
        import torch

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.body = base.base_model  # the decoder stack, LoRA layers included
        head = base.get_output_embeddings()
        pieces = [*fmt.first_name, *fmt.next_name, *(v for values in fmt.values for v in values),
                  fmt.comma, fmt.newline, (fmt.end,)]
        self.tokens = sorted({t for piece in pieces for t in piece})
        self.index = {t: i for i, t in enumerate(self.tokens)}
        ids = torch.tensor(self.tokens, dtype=torch.long, device=head.weight.device)
        # Frozen: LoRA trains the attention projections, never the output embeddings.
        self.weight = head.weight[ids].detach()
        self.bias = head.bias[ids].detach() if getattr(head, "bias", None) is not None else None
        self.lookup = torch.full((max(self.tokens) + 1,), -1, dtype=torch.long, device=head.weight.device)
        self.lookup[ids] = torch.arange(len(self.tokens), device=head.weight.device)

    def logits(self, hidden):
        out = hidden @ self.weight.T
        return out + self.bias if self.bias is not None else out

    def targets(self, ids):
        """Token ids as positions in `tokens` (every id of a serialised row is one of them)."""
        return self.lookup[ids]
