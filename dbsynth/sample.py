"""From model codes to column values; PII and free text from Faker, data-independently."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from faker import Faker

from dbsynth.columns import Decoder
from dbsynth.measure.encoders import BinEncoder, BooleanEncoder, CategoricalEncoder
from dbsynth.patterns import follow
from dbsynth.schema.checks import CheckDomain, TextPattern, length_bounds, text_pattern
from dbsynth.schema import Column
from dbsynth.spec import ColumnSpec
from dbsynth.synthetic import FALLBACK


class ValueFactory:
    """Seeded Faker values by semantic type, fitted to the column's length.

    Each thread has its own Faker and generator: the writer decodes blocks while the sampler, in
    its thread, may decode others (a unique set, a parent's keys), and a block must come out the
    same whichever thread asks, so no thread may move another's state between reseed and draw."""

    def __init__(self, seed: int):
        self._seed = seed
        self._local = threading.local()
        self._rules: dict[tuple[str, ...], tuple[TextPattern | None, CheckDomain]] = {}

    @property
    def faker(self) -> Faker:
        if not hasattr(self._local, "faker"):
            # Without weighting, Faker draws names, e-mails and the like uniformly from its lists
            # instead of by their frequency: 10-30× faster (an e-mail 45 µs instead of 470 µs,
            # measured), which is most of the sampling time of a table of people. The values are
            # data-independent either way; only how often "James" comes up changes.
            self._local.faker = Faker(use_weighting=False)
            self.reseed(self._seed)
        return self._local.faker

    @property
    def rng(self) -> np.random.Generator:
        if not hasattr(self._local, "rng"):
            self.reseed(self._seed)
        return self._local.rng

    def reseed(self, seed: int) -> "ValueFactory":
        """Start this thread's made-up values over from `seed` (a block of a column:
        `columns.CodedValues`); cheaper than a new Faker, whose providers take milliseconds to load."""
        self.faker.seed_instance(seed)
        self._local.rng = np.random.default_rng(seed)
        return self

    def make(self, provider: str | None, col: Column) -> Any:
        if provider in (None, "text"):
            limit = min(col.length or 200, 200)
            value = self.faker.text(max_nb_chars=max(limit, 5)) if limit >= 5 else self.faker.pystr(1, limit)
        elif provider == "word":
            value = self.faker.word()
        elif provider == "empty":
            value = ()  # an array column's data-independent value: the empty array
        else:
            try:
                value = getattr(self.faker, provider)()
            except AttributeError:
                value = self.faker.word()
        if isinstance(value, str) and col.length:
            value = value[: col.length]
        return self.follow_domain(value, col)

    def follow_domain(self, value: Any, col: Column) -> Any:
        """A made-up string of a DOMAIN-typed column, made to follow the domain's LIKE or regular
        expression CHECK (an e-mail domain's '%@%') and its char_length bounds."""
        if not col.domain_checks or not isinstance(value, str):
            return value
        if col.domain_checks not in self._rules:
            checks = list(col.domain_checks)
            self._rules[col.domain_checks] = (text_pattern("VALUE", checks), length_bounds("VALUE", checks))
        pattern, length = self._rules[col.domain_checks]
        longest = min(x for x in (col.length, length.upper) if x is not None) if (col.length or length.upper) else None
        if pattern is not None:
            return follow(pattern, value, self.faker.word, self.rng, None if longest is None else int(longest))
        shortest = int(length.lower or 0)
        if longest is not None and shortest > longest:
            return value  # bounds no string meets: the writer's check of the domain decides
        while len(value) < shortest:
            value += self.faker.word()
        return value[: int(longest)] if longest is not None else value


def block_decoder(col: Column, cs: ColumnSpec, encoder: Any, values: ValueFactory) -> Decoder:
    """The column's decoder of one block of codes from that block's seed (`columns.CodedValues`):
    Faker and the bins' draws start from the seed, so a block decodes the same whenever asked."""

    def decode(codes: np.ndarray, seed: int) -> list[Any]:
        return decode_column(col, cs, encoder, codes, len(codes), values.reseed(seed), np.random.default_rng(seed))

    return decode


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
