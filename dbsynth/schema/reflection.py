"""Corrections to SQLAlchemy's reflection of quoted names, installed once on import of `dbsynth.schema`.

SQLite keeps constraint names only in the CREATE TABLE text, and SQLAlchemy reads them with
regular expressions that leave doubled quotes doubled (a UNIQUE named `uq "odd"` comes back as
`uq ""odd""`) and lose the name of a foreign key whose parent table's name holds a quote.
MySQL/MariaDB's SHOW CREATE TABLE doubles a backtick inside a name, and SQLAlchemy keeps it
doubled in column, index, key and constraint names (and cannot read a foreign key to a table or
column with a backtick in its name). `install()` wraps those dialect methods so that every
reflection (introspect, alembic's schema comparison, verify's catalog checks) sees each name as
the engine stores it. Where the SQLite text cannot be parsed, SQLAlchemy's answer stands.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

_INSTALLED = False


def install() -> None:
    """Wrap the SQLite and MySQL reflection methods (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    _install_sqlite()
    _install_mysql()


# -- SQLite: constraint names from a real tokenizer of the CREATE TABLE text ------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+|--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))
      | (?P<str>'(?:[^']|'')*')
      | (?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
      | (?P<punct>[(),;])
      | (?P<word>[^\s'"`\[\](),;]+)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass
class _Tok:
    kind: str  # str | ident | punct | word
    text: str
    start: int
    end: int

    @property
    def kw(self) -> str | None:
        return self.text.upper() if self.kind == "word" else None

    @property
    def name(self) -> str:
        """The token as a name: quotes removed and doubled quote characters undoubled."""
        t = self.text
        if self.kind == "ident" and t[0] == "[":
            return t[1:-1]
        if self.kind in ("ident", "str"):
            return t[1:-1].replace(t[0] * 2, t[0])
        return t


@dataclass
class SQLiteConstraint:
    kind: str  # pk | unique | check | fk
    name: str | None
    columns: list[str] = field(default_factory=list)
    sqltext: str | None = None  # check
    ref_table: str | None = None  # fk
    ref_columns: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


def _tokens(sql: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(sql):
        if m.lastgroup != "ws":
            out.append(_Tok(m.lastgroup, m.group(), m.start(), m.end()))
    return out


def _group_end(toks: list[_Tok], i: int) -> int:
    """Index of the `)` closing the `(` at `i`."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind == "punct" and toks[j].text == "(":
            depth += 1
        elif toks[j].kind == "punct" and toks[j].text == ")":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced parentheses")


def _split(toks: list[_Tok]) -> list[list[_Tok]]:
    """Top-level comma-separated items."""
    items: list[list[_Tok]] = [[]]
    depth = 0
    for t in toks:
        if t.kind == "punct" and t.text == "(":
            depth += 1
        elif t.kind == "punct" and t.text == ")":
            depth -= 1
        if depth == 0 and t.kind == "punct" and t.text == ",":
            items.append([])
        else:
            items[-1].append(t)
    return [i for i in items if i]


def _columns(toks: list[_Tok], i: int) -> tuple[list[str], int]:
    """The names in the parenthesised list at `i` (COLLATE/ASC/DESC dropped), and the index after it."""
    end = _group_end(toks, i)
    return [item[0].name for item in _split(toks[i + 1 : end])], end + 1


_ACTIONS = ("SET NULL", "SET DEFAULT", "CASCADE", "RESTRICT", "NO ACTION")


def _fk_tail(toks: list[_Tok], i: int) -> tuple[dict[str, Any], int]:
    """ON DELETE/UPDATE, MATCH, [NOT] DEFERRABLE [INITIALLY ...] after REFERENCES t (cols)."""
    opts: dict[str, Any] = {}
    while i < len(toks):
        k = toks[i].kw
        if k == "ON" and i + 2 < len(toks):
            which = toks[i + 1].kw
            two = f"{toks[i + 2].kw} {toks[i + 3].kw}" if i + 3 < len(toks) else ""
            action = two if two in _ACTIONS else toks[i + 2].kw
            if action not in _ACTIONS or which not in ("DELETE", "UPDATE"):
                break
            if action != "NO ACTION":
                opts["ondelete" if which == "DELETE" else "onupdate"] = action
            i += 2 + len(action.split())
        elif k == "MATCH" and i + 1 < len(toks):
            i += 2
        elif k == "NOT" and i + 1 < len(toks) and toks[i + 1].kw == "DEFERRABLE":
            opts["deferrable"] = False
            i += 2
        elif k == "DEFERRABLE":
            opts["deferrable"] = True
            i += 1
        elif k == "INITIALLY" and i + 1 < len(toks):
            opts["initially"] = toks[i + 1].kw
            i += 2
        else:
            break
    return opts, i


def _references(toks: list[_Tok], i: int) -> tuple[str, list[str], dict[str, Any], int]:
    """`REFERENCES` at i-1: parent table, its columns (may be empty), options, next index."""
    table = toks[i].name
    i += 1
    cols: list[str] = []
    if i < len(toks) and toks[i].kind == "punct" and toks[i].text == "(":
        cols, i = _columns(toks, i)
    opts, i = _fk_tail(toks, i)
    return table, cols, opts, i


def parse_sqlite_constraints(sql: str) -> list[SQLiteConstraint]:
    """Every PRIMARY KEY, UNIQUE, CHECK and FOREIGN KEY of a CREATE TABLE text, named or not, in
    the order written (column constraints included), with names unquoted as SQLite reads them."""
    toks = _tokens(sql)
    start = next(i for i, t in enumerate(toks) if t.kind == "punct" and t.text == "(")
    end = _group_end(toks, start)
    out: list[SQLiteConstraint] = []
    for item in _split(toks[start + 1 : end]):
        if item[0].kw in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"):
            _table_constraint(item, sql, out)
        else:
            _column_constraints(item, sql, out)
    return out


def _table_constraint(t: list[_Tok], sql: str, out: list[SQLiteConstraint]) -> None:
    name, i = (t[1].name, 2) if t[0].kw == "CONSTRAINT" else (None, 0)
    k = t[i].kw
    if k in ("PRIMARY", "UNIQUE"):
        i += 2 if k == "PRIMARY" else 1
        cols, _ = _columns(t, i)
        out.append(SQLiteConstraint("pk" if k == "PRIMARY" else "unique", name, cols))
    elif k == "CHECK":
        close = _group_end(t, i + 1)
        out.append(SQLiteConstraint("check", name, sqltext=sql[t[i + 1].end : t[close].start].strip()))
    elif k == "FOREIGN":
        cols, i = _columns(t, i + 2)
        table, ref_cols, opts, _ = _references(t, i + 1)
        out.append(SQLiteConstraint("fk", name, cols, ref_table=table, ref_columns=ref_cols, options=opts))


def _column_constraints(t: list[_Tok], sql: str, out: list[SQLiteConstraint]) -> None:
    column = t[0].name
    name = None
    i = 1
    while i < len(t):
        tok = t[i]
        k = tok.kw
        if k == "CONSTRAINT" and i + 1 < len(t):
            name, i = t[i + 1].name, i + 2
            continue
        if k == "PRIMARY":
            out.append(SQLiteConstraint("pk", name, [column]))
        elif k == "UNIQUE":
            out.append(SQLiteConstraint("unique", name, [column]))
        elif k == "CHECK" and i + 1 < len(t) and t[i + 1].text == "(":
            close = _group_end(t, i + 1)
            out.append(SQLiteConstraint("check", name, sqltext=sql[t[i + 1].end : t[close].start].strip()))
            i = close
        elif k == "REFERENCES" and i + 1 < len(t):
            table, ref_cols, opts, nxt = _references(t, i + 1)
            out.append(SQLiteConstraint("fk", name, [column], ref_table=table, ref_columns=ref_cols, options=opts))
            name, i = None, nxt
            continue
        elif tok.kind == "punct" and tok.text == "(":
            i = _group_end(t, i)  # type arguments, DEFAULT (...), AS (...)
        if k in ("PRIMARY", "UNIQUE", "CHECK", "NOT", "NULL", "DEFAULT", "COLLATE", "GENERATED", "AS"):
            name = None
        i += 1


def _parsed(
    dialect: Any, connection: Any, table_name: str, schema: str | None, **kw: Any
) -> list[SQLiteConstraint] | None:
    try:
        sql = dialect._get_table_sql(connection, table_name, schema=schema, **kw)
        return parse_sqlite_constraints(sql) if sql else None
    except Exception:  # a text this parser cannot follow: SQLAlchemy's own answer stands
        return None


def _take(parsed: list[SQLiteConstraint], kind: str, match: Any) -> SQLiteConstraint | None:
    for i, c in enumerate(parsed):
        if c.kind == kind and match(c):
            return parsed.pop(i)
    return None


def _install_sqlite() -> None:
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect
    from sqlalchemy.exc import SAWarning

    def wrap(name: str):
        original = getattr(SQLiteDialect, name)

        def decorator(fix):
            @functools.wraps(original)
            def method(self, connection, table_name, schema=None, **kw):
                with warnings.catch_warnings():
                    # "SQL-parsed foreign key constraint ... could not be located": the name it
                    # could not read is read below.
                    warnings.filterwarnings("ignore", "WARNING: SQL-parsed foreign key", SAWarning)
                    result = original(self, connection, table_name, schema=schema, **kw)
                parsed = _parsed(self, connection, table_name, schema, **kw)
                if parsed is None:
                    return result
                return fix(self, connection, table_name, schema, kw, copy.deepcopy(result), parsed)

            setattr(SQLiteDialect, name, method)
            return fix

        return decorator

    @wrap("get_pk_constraint")
    def _pk(self, connection, table_name, schema, kw, result, parsed):
        pk = next((c for c in parsed if c.kind == "pk"), None)
        if result.get("constrained_columns"):
            result["name"] = pk.name if pk is not None else None
        return result

    @wrap("get_unique_constraints")
    def _unique(self, connection, table_name, schema, kw, result, parsed):
        # The UNIQUE constraints are exactly the indexes SQLite made for them (origin 'u'), with
        # their columns as SQLite knows them; only the names come from the text.
        rows = self._get_table_pragma(connection, "index_list", table_name, schema=schema)
        made = {r[1] for r in rows if len(r) > 3 and r[3] == "u"}
        if not made:
            return result
        indexes = self.get_indexes(connection, table_name, schema=schema, include_auto_indexes=True, **kw)
        out = []
        for idx in indexes:
            if idx["name"] in made:
                cols = list(idx["column_names"])
                found = _take(parsed, "unique", lambda c, cols=cols: c.columns == cols)
                out.append({"name": found.name if found else None, "column_names": cols})
        return out

    @wrap("get_foreign_keys")
    def _foreign_keys(self, connection, table_name, schema, kw, result, parsed):
        for fk in result:
            cols, table, ref = fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]
            found = _take(
                parsed,
                "fk",
                lambda c: c.columns == cols
                and c.ref_table.lower() == table.lower()
                and (not c.ref_columns or c.ref_columns == ref),
            )
            if found is not None:
                fk["name"] = found.name
                if not fk.get("options"):
                    fk["options"] = dict(found.options)
        return result

    @wrap("get_check_constraints")
    def _checks(self, connection, table_name, schema, kw, result, parsed):
        # Every CHECK, table or column constraint, read from the tokens (a "CHECK (" inside a
        # quoted name or a string is none), ordered as SQLAlchemy orders them.
        checks = [{"sqltext": c.sqltext, "name": c.name} for c in parsed if c.kind == "check"]
        return sorted(checks, key=lambda d: d["name"] or "~")


# -- MySQL/MariaDB: undouble backticks in SHOW CREATE TABLE names ----------------------------------


def _install_mysql() -> None:
    from sqlalchemy.dialects.mysql.reflection import MySQLTableDefinitionParser

    original_parse = MySQLTableDefinitionParser.parse
    original_prep = MySQLTableDefinitionParser._prep_regexes

    @functools.wraps(original_parse)
    def parse(self, show_create, charset):
        state = original_parse(self, show_create, charset)
        q = self.preparer.final_quote

        def un(name: Any) -> Any:
            return name.replace(q * 2, q) if isinstance(name, str) else name

        for col in state.columns:
            col["name"] = un(col["name"])
        for key in state.keys:
            key["name"] = un(key.get("name"))
            key["columns"] = [(un(c[0]), *c[1:]) for c in key.get("columns") or []]
        for fk in state.fk_constraints:
            fk["name"] = un(fk.get("name"))
            fk["local"] = [un(c) for c in fk.get("local") or []]
            fk["foreign"] = [un(c) for c in fk.get("foreign") or []]
        for ck in state.ck_constraints:
            ck["name"] = un(ck.get("name"))
        return state

    @functools.wraps(original_prep)
    def _prep_regexes(self):
        original_prep(self)
        iq, fq = re.escape(self.preparer.initial_quote), re.escape(self.preparer.final_quote)
        esc = re.escape(self.preparer._escape_identifier(self.preparer.final_quote))
        quoted = rf"{iq}(?:{esc}|[^{fq}])+{fq}"
        on = "RESTRICT|CASCADE|SET NULL|NO ACTION|SET DEFAULT"
        # SQLAlchemy's pattern, except that quoted names may hold a doubled quote character.
        self._re_fk_constraint = re.compile(
            r"  "
            rf"CONSTRAINT +{iq}(?P<name>(?:{esc}|[^{fq}])+){fq} +"
            r"FOREIGN KEY +"
            rf"\((?P<local>(?:{quoted}(?: *, *)?)+)\) REFERENCES +"
            rf"(?P<table>{quoted}(?:\.{quoted})?) +"
            rf"\((?P<foreign>(?:{quoted}(?: *, *)?)+)\)"
            r"(?: +(?P<match>MATCH \w+))?"
            rf"(?: +ON DELETE (?P<ondelete>{on}))?"
            rf"(?: +ON UPDATE (?P<onupdate>{on}))?",
            re.I | re.UNICODE,
        )

    MySQLTableDefinitionParser.parse = parse
    MySQLTableDefinitionParser._prep_regexes = _prep_regexes
