"""The SQL that verify runs, loaded from the package's `sql/` templates.

A template is plain SQL with `${name}` placeholders and `--` comment lines. Placeholders take
identifiers already quoted for the target dialect, SQL fragments built from them, or literals
rendered by the dialect's own literal processor (enum labels, an epsilon bound). Everything in
them comes from the schema, which is public, and the filled-in text is self-contained: the same
string runs through SQLAlchemy and, written out by `emit`, by hand in psql or mysql.
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


def fill(name: str, **fragments: str) -> str:
    """The template filled in: plain SQL for one dialect, no bind parameters."""
    return template(name).substitute(fragments)


def executable(sql: str) -> sa.TextClause:
    """Plain SQL as a `text()` clause: colons escaped, so nothing in it becomes a bind parameter."""
    return sa.text(_COLON.sub(r"\\:", sql))


def render(name: str, **fragments: str) -> sa.TextClause:
    """The template filled in, as a `text()` clause."""
    return executable(fill(name, **fragments))


class Quoter:
    """Identifier quoting and string literals for one dialect, as the dialect spells them."""

    def __init__(self, bind: sa.Engine | sa.Dialect):
        self.dialect = bind.dialect if isinstance(bind, sa.Engine) else bind
        self._prep = self.dialect.identifier_preparer
        # MySQL reads backslash escapes inside strings unless sql_mode has NO_BACKSLASH_ESCAPES
        # (a connected dialect knows; an unconnected one assumes the default, escapes on).
        self._backslashes = self.dialect.name in ("mysql", "mariadb") and getattr(self.dialect, "_backslash_escapes", True)

    def __call__(self, name: str) -> str:
        return self._prep.quote(name)

    def table(self, name: str) -> str:
        """A table of the database the statement runs in."""
        return self(name)

    def database(self) -> str:
        """That database's name as a string (MySQL/MariaDB)."""
        return "DATABASE()"

    def qualified(self, alias: str, name: str) -> str:
        return f"{alias}.{self(name)}"

    def join(self, names: Iterable[str], alias: str | None = None, sep: str = ", ") -> str:
        return sep.join(self.qualified(alias, n) if alias else self(n) for n in names)

    def literal(self, value: str) -> str:
        """A string literal as the SQL text itself spells it. Not SQLAlchemy's literal processor:
        that one doubles `%` for the driver, and this text also goes to psql and mysql as is."""
        if self._backslashes:
            value = value.replace("\\", "\\\\")
        return "'" + value.replace("'", "''") + "'"
