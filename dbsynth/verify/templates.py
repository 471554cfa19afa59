"""The SQL that verify runs, loaded from the package's `sql/` templates.

A template is plain SQL with `${name}` placeholders and `--` comment lines. Placeholders take
identifiers already quoted for the target dialect (or SQL fragments built from them); values go
through bind parameters, never into the text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import resources
from string import Template

import sqlalchemy as sa

# text() treats ":word" as a bind parameter; a CHECK like "t > '12:30'" must not become one.
_COLON = re.compile(r"(?<!\\):")


@functools.cache
def template(name: str) -> Template:
    """`sql/<name>.sql` without its comment lines (they may mention placeholders themselves)."""
    text = resources.files("dbsynth").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return Template(body.strip())


def render(name: str, **fragments: str) -> sa.TextClause:
    """The template filled in, as a `text()` clause; colons in fragments are escaped."""
    safe = {k: _COLON.sub(r"\\:", v) for k, v in fragments.items()}
    return sa.text(template(name).substitute(safe))


class Quoter:
    """Identifier quoting for one engine, as its own dialect spells it."""

    def __init__(self, engine: sa.Engine):
        self._prep = engine.dialect.identifier_preparer

    def __call__(self, name: str) -> str:
        return self._prep.quote(name)

    def qualified(self, alias: str, name: str) -> str:
        return f"{alias}.{self(name)}"

    def join(self, names: Iterable[str], alias: str | None = None, sep: str = ", ") -> str:
        return sep.join(self.qualified(alias, n) if alias else self(n) for n in names)
