"""Per-table models: a `Method` spends a table's ρ and returns a `TableModel` to sample from."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence

import jax

# Set before any submodule imports mbi. float64: in float32 mbi's estimators can stall or diverge
# on large counts (mbi's own warning). No persistent compilation cache: mbi compiles many small
# programs per table, which makes the cache counterproductive (mbi's advice).
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_enable_compilation_cache", False)

from dbsynth.errors import UsageError  # noqa: E402
from dbsynth.tabular.aim import AIM  # noqa: E402
from dbsynth.tabular.base import EncodedTable, MarginalSource, Method, TableModel  # noqa: E402
from dbsynth.tabular.llm import LLM  # noqa: E402
from dbsynth.tabular.mst import MST  # noqa: E402

METHODS: dict[str, type] = {"aim": AIM, "mst": MST, "llm": LLM}


def method_for(name: str, *, workload: Sequence[Sequence[str]] | None = None) -> Method:
    """The method called `name` (as written in the spec), with its default settings.

    `workload` (the spec's per-table marginals) goes to methods that take one (aim); mst has no
    use for it and the spec refuses a workload on an mst table."""
    try:
        cls = METHODS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), METHODS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown method {name!r} (known: {', '.join(sorted(METHODS))}){hint}") from None
    if workload is not None and "workload" in {f.name for f in dataclasses.fields(cls)}:
        return cls(workload=tuple(tuple(clique) for clique in workload))
    return cls()


__all__ = ["EncodedTable", "MarginalSource", "Method", "TableModel", "AIM", "MST", "LLM", "METHODS", "method_for"]
