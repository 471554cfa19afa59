"""Rows as text: `col is value, col is value` per row, rows of a unit on separate lines.

Every piece (a column's "name is", a value, a comma, a line break) is tokenised on its own and
the example is the concatenation of the pieces' ids, so training and constrained decoding see
exactly the same token ids and the value tokens are known by position (the loss weights them).
Column order is drawn afresh for every row: the model must not learn one fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dbsynth.tabular.llm.examples import ColumnVocabulary

Ids = tuple[int, ...]


@dataclass(frozen=True)
class RowFormat:
    """Token ids of every piece of a table's rows, for one tokenizer."""

    columns: tuple[ColumnVocabulary, ...]
    first_name: tuple[Ids, ...]  # per column, at the start of a row: "name is"
    next_name: tuple[Ids, ...]  # per column, after a comma: " name is"
    values: tuple[tuple[Ids, ...], ...]  # per column, per code: " value"
    comma: Ids
    newline: Ids
    start: int  # fed before the first row, so the first field is predicted too
    end: int  # after the last row of a unit
    max_rows: int  # rows per unit after bounding (public: a product of caps)

    @classmethod
    def build(cls, columns: list[ColumnVocabulary], tokenizer, max_rows: int) -> "RowFormat":
        def ids(text: str) -> Ids:
            out = tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
            if not out:
                raise ValueError(f"the tokenizer gives no tokens for {text!r}")
            return out

        end = tokenizer.eos_token_id
        if end is None:
            raise ValueError("the model's tokenizer has no end-of-sequence token")
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else end
        return cls(
            columns=tuple(columns),
            first_name=tuple(ids(f"{c.name} is") for c in columns),
            next_name=tuple(ids(f" {c.name} is") for c in columns),
            values=tuple(tuple(ids(f" {label}") for label in c.labels) for c in columns),
            comma=ids(","),
            newline=ids("\n"),
            start=int(start),
            end=int(end),
            max_rows=max(1, int(max_rows)),
        )


@dataclass(frozen=True)
class TokenisedExample:
    """One unit's text as ids, with each position's loss weight (0 where nothing is predicted)."""

    ids: np.ndarray
    weights: np.ndarray


def serialise(fmt: RowFormat, rows: list[list[int]], rng: np.random.Generator, *, value_weight: float,
              max_tokens: int) -> TokenisedExample:
    """`rows` (codes in `fmt.columns` order) as one example. Whole rows past `max_tokens` are
    left out (never half a row); the first row is always kept. The end token counts as a value:
    it is where the model decides how many rows a unit has."""
    ids: list[int] = [fmt.start]
    weights: list[float] = [0.0]  # the start token is given, not predicted

    def put(piece: Ids, weight: float) -> None:
        ids.extend(piece)
        weights.extend([weight] * len(piece))

    for r, row in enumerate(rows[: fmt.max_rows]):
        mark = len(ids)
        if r:
            put(fmt.newline, 1.0)
        for i, c in enumerate(rng.permutation(len(fmt.columns)).tolist()):
            if i:
                put(fmt.comma, 1.0)
                put(fmt.next_name[c], 1.0)
            else:
                put(fmt.first_name[c], 1.0)
            put(fmt.values[c][row[c]], value_weight)
        if r and len(ids) + 1 > max_tokens:
            del ids[mark:], weights[mark:]
            break
    put((fmt.end,), value_weight)
    return TokenisedExample(np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float32))
