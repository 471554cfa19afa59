"""From model codes to column values; PII and free text from Faker, data-independently."""

from __future__ import annotations

from typing import Any

import numpy as np
from faker import Faker

from dbsynth.measure.encoders import BinEncoder, BooleanEncoder, CategoricalEncoder
from dbsynth.schema import Column
from dbsynth.spec import ColumnSpec
from dbsynth.synthetic import FALLBACK


class ValueFactory:
    """Seeded Faker values by semantic type, fitted to the column's length."""

    def __init__(self, seed: int):
        self.faker = Faker()
        self.faker.seed_instance(seed)

    def make(self, provider: str | None, col: Column) -> Any:
        if provider in (None, "text"):
            limit = min(col.length or 200, 200)
            value = self.faker.text(max_nb_chars=max(limit, 5)) if limit >= 5 else self.faker.pystr(1, limit)
        elif provider == "word":
            value = self.faker.word()
        else:
            try:
                value = getattr(self.faker, provider)()
            except AttributeError:
                value = self.faker.word()
        if isinstance(value, str) and col.length:
            value = value[: col.length]
        return value


def decode_column(
    col: Column, cs: ColumnSpec, encoder: Any, codes: np.ndarray | None, n: int, values: ValueFactory,
    rng: np.random.Generator,
) -> list[Any]:
    if cs.kind in ("categorical", "numeric", "datetime", "boolean"):
        assert codes is not None
        if isinstance(encoder, CategoricalEncoder):
            out = encoder.decode(codes, lambda: values.make(encoder.other_like, col))
            if col.length:
                out = [v[: col.length] if isinstance(v, str) else v for v in out]
            return out
        if isinstance(encoder, BinEncoder):
            return encoder.decode(codes, rng)
        if isinstance(encoder, BooleanEncoder):
            return encoder.decode(codes)
    if cs.kind in ("pii", "text"):
        return [values.make(cs.faker, col) for _ in range(n)]
    if cs.kind == "unsupported":
        if cs.fallback == "set_null":
            return [None] * n
        if cs.values:  # literals the spec gives, drawn uniformly: data-independent
            return [cs.values[i] for i in rng.integers(len(cs.values), size=n).tolist()]
        # default_value: the writer puts in a value of the column's type on the target engine.
        return [FALLBACK] * n
    raise ValueError(f"cannot sample column {col.name} of kind {cs.kind}")
