"""Constrained, batched, seeded decoding: every generated row is valid by construction.

The format is not left to the model: the column order of each row is drawn here and the
"name is" pieces are fed as given. Only choices are sampled, each from the model's distribution
restricted to what is valid at that point: the next token of some value of the column (a trie
over the pieces' ids), or the token that ends the value; after a row's last field, another row
or the end of the unit (at most `max_rows`). So no row is wasted and no value leaves the domain.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from dbsynth.tabular.llm.serialise import RowFormat


@dataclass
class _Node:
    children: dict[int, "_Node"] = field(default_factory=dict)
    code: int | None = None  # a complete value ends here


def _trie(values: tuple[tuple[int, ...], ...]) -> _Node:
    root = _Node()
    for code, ids in enumerate(values):
        node = root
        for t in ids:
            node = node.children.setdefault(t, _Node())
        if node.code is None:  # two codes with one text: the first keeps it (labels are distinct)
            node.code = code
    return root


class _UnitWriter:
    """The state of one unit being written: forced tokens, or a choice among valid ones."""

    def __init__(self, fmt: RowFormat, tries: list[_Node], rng: np.random.Generator):
        self.fmt, self.tries, self.rng = fmt, tries, rng
        self.rows: list[list[int]] = []
        self.pending: deque[int] = deque()
        self.done = False
        self._new_row(first=True)

    def _new_row(self, first: bool) -> None:
        self.order = self.rng.permutation(len(self.fmt.columns)).tolist()
        self.field = 0
        self.row = [0] * len(self.fmt.columns)
        self.pending.extend(([] if first else list(self.fmt.newline[1:])) + list(self.fmt.first_name[self.order[0]]))
        self.node = self.tries[self.order[0]]

    def _ends(self) -> tuple[int, ...]:
        if self.field < len(self.order) - 1:
            return (self.fmt.comma[0],)
        if len(self.rows) + 1 >= self.fmt.max_rows:
            return (self.fmt.end,)
        return (self.fmt.newline[0], self.fmt.end)

    def candidates(self) -> list[int]:
        if self.pending:
            return [self.pending[0]]
        ends = self._ends() if self.node.code is not None else ()
        # An end token wins over a child with the same id: labels never contain the separators.
        return list(ends) + [t for t in self.node.children if t not in ends]

    def advance(self, token: int) -> None:
        if self.pending:
            self.pending.popleft()
            return
        if self.node.code is not None and token in self._ends():
            self.row[self.order[self.field]] = self.node.code
            if self.field < len(self.order) - 1:
                self.field += 1
                column = self.order[self.field]
                self.pending.extend(list(self.fmt.comma[1:]) + list(self.fmt.next_name[column]))
                self.node = self.tries[column]
                return
            self.rows.append(self.row)
            if token == self.fmt.end:
                self.done = True
            else:
                self._new_row(first=False)
            return
        self.node = self.node.children[token]


def generate_units(model, fmt: RowFormat, n_units: int, *, batch: int, rng: np.random.Generator,
                   device: str = "cpu", max_steps: int = 4096) -> list[list[list[int]]]:
    """`n_units` units, each a list of rows (codes in `fmt.columns` order), `batch` at a time.

    A unit cut off by `max_steps` keeps its complete rows. Seeded by `rng` (column orders and
    the torch generator of the draws)."""
    import torch

    from dbsynth.tabular.llm.head import TableHead

    tries = [_trie(v) for v in fmt.values]
    head = TableHead(model, fmt)
    gen = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**63 - 1)))
    out: list[list[list[int]]] = []
    model.eval()
    with torch.no_grad():
        for lo in range(0, n_units, batch):
            writers = [_UnitWriter(fmt, tries, rng) for _ in range(min(batch, n_units - lo))]
            tokens = torch.full((len(writers), 1), fmt.start, dtype=torch.long, device=device)
            past = None
            for _ in range(max_steps):
                step = head.body(input_ids=tokens, past_key_values=past, use_cache=True)
                past = step.past_key_values
                logits = head.logits(step.last_hidden_state[:, -1, :]).float().cpu()
                chosen = [_choose(w, logits[i], head.index, gen) for i, w in enumerate(writers)]
                if all(w.done for w in writers):
                    break
                tokens = torch.tensor(chosen, dtype=torch.long, device=device).unsqueeze(1)
            out.extend(w.rows for w in writers)
    return out


def _choose(writer: _UnitWriter, logits, index: dict[int, int], gen) -> int:
    """The writer's next token: forced, or drawn from the model restricted to valid tokens."""
    import torch

    if writer.done:
        return writer.fmt.end  # a finished unit idles on its end token; nothing reads it
    cands = writer.candidates()
    if len(cands) == 1:
        token = cands[0]
    else:
        probs = torch.softmax(logits[[index[t] for t in cands]], dim=0)
        token = cands[int(torch.multinomial(probs, 1, generator=gen))]
    writer.advance(token)
    return token
