"""Per-table models: a `Method` spends a table's ρ and returns a `TableModel` to sample from."""

from __future__ import annotations

import difflib

import jax

# Set before any submodule imports mbi. float64: in float32 mbi's estimators can stall or diverge
# on large counts (mbi's own warning). No persistent compilation cache: mbi compiles many small
# programs per table, which makes the cache counterproductive (mbi's advice).
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_enable_compilation_cache", False)

from dbsynth.errors import UsageError  # noqa: E402
from dbsynth.tabular.base import EncodedTable, Method, TableModel  # noqa: E402
from dbsynth.tabular.mst import MST  # noqa: E402

METHODS: dict[str, type] = {"mst": MST}


def method_for(name: str) -> Method:
    """The method called `name` (as written in the spec), with its default settings."""
    try:
        return METHODS[name]()
    except KeyError:
        close = difflib.get_close_matches(str(name), METHODS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown method {name!r} (known: {', '.join(sorted(METHODS))}){hint}") from None


__all__ = ["EncodedTable", "Method", "TableModel", "MST", "METHODS", "method_for"]
