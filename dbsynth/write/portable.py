"""Moving one column's type, server default or CHECK text from one engine to another.

Only used when source and target engines differ: a same-engine write copies the reflected DDL
as is. Each function either returns the target's equivalent or says, with a reason, that there
is none (types: `UnsupportedSchema`; defaults and CHECKs: `None`, so the caller can record the
loss instead of failing a whole write over an engine-specific constraint).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from dbsynth.errors import UnsupportedSchema

# Unbounded strings in a key become VARCHAR(255) on MySQL: InnoDB cannot index TEXT without a
# prefix length, and 255 utf8mb4 characters stay well under the 3072-byte key limit.
MYSQL_KEY_VARCHAR = 255
# NUMERIC without precision is arbitrary-precision on PostgreSQL but DECIMAL(10,0) on MySQL,
# which would silently round every value: use the widest DECIMAL MySQL allows instead.
MYSQL_WIDEST_DECIMAL = (65, 30)


def portable_type(
    t: sa.types.TypeEngine, target: str, where: str, *, keyed: bool = False, enum_name: str | None = None
) -> sa.types.TypeEngine:
    """The generic type `t` becomes on `target`; `where` ("table.column") names it in errors.

    `keyed`: the column is part of a primary key, unique constraint, index or foreign key.
    `enum_name`: the name a native enum gets where the target needs one (PostgreSQL).
    """
    if isinstance(t, sa.Enum):
        labels = list(t.enums)
        if target in ("postgresql", "duckdb"):  # a type of its own, created before the tables
            return sa.Enum(*labels, name=t.name or enum_name)
        if target == "mysql":
            return sa.Enum(*labels)
        # SQLite has no enum type: a VARCHAR wide enough, its labels enforced by a CHECK the
        # caller adds (see enum_check).
        return sa.String(max((len(v) for v in labels), default=1))
    if isinstance(t, sa.ARRAY) and target != "postgresql":
        raise UnsupportedSchema(f"{where}: array type {_spelled(t)} has no equivalent on {target}")
    generic = _generic(t, where)
    if isinstance(generic, sa.String) and not isinstance(generic, sa.Enum):
        length = generic.length
        if target == "mysql" and length is None:
            return sa.String(MYSQL_KEY_VARCHAR) if keyed else mysql.LONGTEXT()
        if isinstance(generic, sa.Text):
            return sa.Text()
        if isinstance(t, sa.types.CHAR) and not isinstance(t, sa.types.NCHAR):
            return sa.CHAR(length)
        return sa.String(length)
    if isinstance(generic, sa.LargeBinary) and target == "mysql":
        return sa.VARBINARY(MYSQL_KEY_VARCHAR) if keyed else mysql.LONGBLOB()
    if isinstance(generic, sa.Numeric) and not isinstance(generic, sa.Float):
        if generic.precision is None and target == "mysql":
            return sa.Numeric(*MYSQL_WIDEST_DECIMAL)
        return sa.Numeric(generic.precision, generic.scale)
    if isinstance(generic, sa.Double):
        return sa.Double()
    if isinstance(generic, sa.Float):
        # FLOAT means double precision on PostgreSQL but single on MySQL: name it by size.
        # (and MariaDB reads REAL as DOUBLE unless REAL_AS_FLOAT is set).
        if generic.precision is not None and generic.precision > 24:
            return sa.Double()
        return mysql.FLOAT() if target == "mysql" else sa.REAL()
    # MySQL's DATETIME and TIME default to whole seconds; the other engines keep microseconds.
    # Only PostgreSQL stores a time zone with the value.
    zoned = bool(getattr(generic, "timezone", False)) and target == "postgresql"
    if isinstance(generic, sa.DateTime):
        return mysql.DATETIME(fsp=6) if target == "mysql" else sa.DateTime(timezone=zoned)
    if isinstance(generic, sa.Time):
        return mysql.TIME(fsp=6) if target == "mysql" else sa.Time(timezone=zoned)
    if isinstance(generic, sa.Integer):
        return type(generic)()
    return generic


def _generic(t: sa.types.TypeEngine, where: str) -> sa.types.TypeEngine:
    """The engine-neutral family of `t`, fixing the few cases SQLAlchemy's heuristic gets wrong."""
    if isinstance(t, mysql.SET):
        raise UnsupportedSchema(f"{where}: MySQL SET type {_spelled(t)} has no equivalent outside MySQL")
    if isinstance(t, (mysql.TINYINT, mysql.SMALLINT, mysql.YEAR)):
        return sa.SmallInteger()
    if isinstance(t, mysql.MEDIUMINT):
        return sa.Integer()
    if isinstance(t, mysql.BIT) and (t.length or 1) == 1:
        return sa.Boolean()
    if isinstance(t, (sa.Text, mysql.TINYTEXT, mysql.MEDIUMTEXT, mysql.LONGTEXT)):
        return sa.Text()  # as_generic makes MySQL's TINY/MEDIUM/LONGTEXT a VARCHAR
    try:
        return t.as_generic()
    except NotImplementedError:
        raise UnsupportedSchema(f"{where}: type {_spelled(t)} has no generic equivalent") from None


def _spelled(t: sa.types.TypeEngine) -> str:
    try:
        return str(t.compile())
    except Exception:
        return type(t).__name__


def enum_check(column: str, labels: list[str], name: str | None = None) -> sa.CheckConstraint:
    """The CHECK that keeps an enum's labels on an engine without enum types."""
    return sa.CheckConstraint(sa.column(column).in_(labels), name=name)


# -- SQL text: server defaults and CHECK constraints ---------------------------------------------

# A PostgreSQL cast: `::numeric`, `::character varying`, `::timestamp(3) without time zone`, `::text[]`.
_CAST = re.compile(
    r"::\s*\"?[A-Za-z_][\w]*\"?"
    r"(?:\s+(?:varying|precision|without\s+time\s+zone|with\s+time\s+zone))*"
    r"(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?"
    r"(?:\s+(?:without\s+time\s+zone|with\s+time\s+zone))?"
    r"(?:\[\])*"
)
# PostgreSQL spells `x IN (...)` as `x = ANY (ARRAY[...])` in its catalog, and NOT IN as `<> ALL`.
_ANY_ARRAY = re.compile(r"=\s*ANY\s*\(\s*\(?\s*ARRAY\s*\[(.*?)\]\s*\)?\s*\)", re.IGNORECASE | re.DOTALL)
_ALL_ARRAY = re.compile(r"<>\s*ALL\s*\(\s*\(?\s*ARRAY\s*\[(.*?)\]\s*\)?\s*\)", re.IGNORECASE | re.DOTALL)
# Constructs only PostgreSQL understands; a CHECK still holding one after translation is dropped.
_PG_ONLY = re.compile(r"::|~|\bSIMILAR\s+TO\b|\bILIKE\b|\bARRAY\s*\[|\bE'|\$\d", re.IGNORECASE)
_MYSQL_ONLY = re.compile(r"\bjson_valid\s*\(|\bREGEXP\b|\bRLIKE\b", re.IGNORECASE)

_NOW = re.compile(
    r"^\(?\s*(now\(\)|current_timestamp(\(\s*\d*\s*\))?|localtimestamp(\(\s*\d*\s*\))?|"
    r"transaction_timestamp\(\)|statement_timestamp\(\))\s*\)?$",
    re.IGNORECASE,
)
_LITERAL = re.compile(r"^(-?\d+(\.\d+)?([eE][-+]?\d+)?|'(?:[^']|'')*'|NULL)$", re.IGNORECASE)
_BOOLEAN = {"true": True, "false": False, "'t'": True, "'f'": False, "1": True, "0": False, "b'1'": True, "b'0'": False}


def strip_casts(sql: str) -> str:
    """Remove PostgreSQL `::type` casts outside string literals, and rewrite `= ANY (ARRAY[..])`."""
    sql = _outside_literals(sql, lambda p: _CAST.sub("", p))
    sql = _ANY_ARRAY.sub(lambda m: f"IN ({m.group(1).strip()})", sql)
    sql = _ALL_ARRAY.sub(lambda m: f"NOT IN ({m.group(1).strip()})", sql)
    return sql


def portable_default(text: str, generic: sa.types.TypeEngine, source: str, target: str) -> str | None:
    """A server default's text on `target`, or None when it is engine-specific (nextval(...),
    gen_random_uuid(), ...) and is better dropped than guessed."""
    text = strip_casts(text.strip()) if source == "postgresql" else text.strip()
    text = _unwrap(text)
    if _NOW.match(text):
        if not isinstance(generic, sa.DateTime):
            return None
        # On MySQL the default's precision must match the DATETIME(6) column's.
        return "CURRENT_TIMESTAMP(6)" if target == "mysql" else "CURRENT_TIMESTAMP"
    if isinstance(generic, sa.Boolean):
        value = _BOOLEAN.get(text.lower())
        if value is None:
            return None
        return ("true" if value else "false") if target in ("postgresql", "duckdb") else ("1" if value else "0")
    if not _LITERAL.match(text):
        return None
    if text.upper() == "NULL":
        return None  # DEFAULT NULL is every engine's default anyway
    if text.startswith("'") and isinstance(generic, (sa.Integer, sa.Numeric)):
        inner = text[1:-1]
        return inner if re.fullmatch(r"-?\d+(\.\d+)?", inner) else None
    return text


_NEXTVAL = re.compile(r"nextval\('([^']+)'(?:::regclass)?\)")


def serial_sequence_text(default: str) -> str | None:
    """The sequence a PostgreSQL `nextval('seq'::regclass)` default draws from, if it is one."""
    m = _NEXTVAL.search(default)
    # 'public.seq' when the sequence is outside the search path: it is recreated in the target's.
    return m.group(1).split(".")[-1].strip('"') if m else None


def _unwrap(text: str) -> str:
    """PostgreSQL and MariaDB wrap default expressions in parentheses: `(0)`, `('x')`."""
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def portable_check(sqltext: str, source: str, target: str) -> str | None:
    """A CHECK constraint's text on `target`, or None when it uses what `target` lacks."""
    text = sqltext.strip()
    if source == "postgresql":
        text = strip_casts(text)
        if _PG_ONLY.search(text):
            return None
    if source == "mysql" and _MYSQL_ONLY.search(text):
        return None
    # Identifiers and string literals in the target's own spelling: MySQL reads "x" as a string
    # unless ANSI_QUOTES is on and escapes quotes in literals with a backslash ('it\'s').
    text = respell_sql(text, source, target)
    if target == "mysql":
        # length() counts bytes on MySQL, characters elsewhere.
        text = _outside_literals(text, lambda p: _LENGTH.sub("char_length(", p))
    if target == "sqlite":
        text = _outside_literals(text, lambda p: _CHAR_LENGTH.sub("length(", p))  # SQLite has only length()
    return text


_LENGTH = re.compile(r"(?<![\w.])length\s*\(", re.IGNORECASE)
_CHAR_LENGTH = re.compile(r"(?<![\w.])(?:char_length|character_length)\s*\(", re.IGNORECASE)
# Trailing `ON UPDATE ...` that MySQL reflection appends to a column's default text.
ON_UPDATE = re.compile(r"\s+ON\s+UPDATE\s+.*$", re.IGNORECASE | re.DOTALL)


def _outside_literals(text: str, fn: Any) -> str:
    parts = re.split(r"('(?:[^']|'')*')", text)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


# -- identifier quoting and string-literal escaping per engine ----------------------------------

# MySQL/MariaDB (without ANSI_QUOTES / NO_BACKSLASH_ESCAPES, the defaults): 'a\'b' or 'a''b' are
# strings, `a``b` an identifier. PostgreSQL and SQLite: 'a''b' strings, "a""b" identifiers (SQLite
# also takes `a` and [a]).
_MYSQL_SQL = re.compile(r"(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<ident>`(?:[^`]|``)*`)", re.DOTALL)
_STANDARD_SQL = re.compile(
    r"(?P<str>'(?:[^']|'')*')|(?P<ident>\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\[[^\]]*\])", re.DOTALL
)
_MYSQL_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


def sql_tokens(text: str, kind: str) -> list[tuple[str, str]]:
    """`text` cut into ("str", value), ("ident", name) and ("sql", text) pieces, literals and
    quoted names decoded by the rules of engine `kind`."""
    pattern = _MYSQL_SQL if kind == "mysql" else _STANDARD_SQL
    out: list[tuple[str, str]] = []
    pos = 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            out.append(("sql", text[pos : m.start()]))
        token = m.group()
        if m.lastgroup == "str":
            out.append(("str", _decode_literal(token, kind)))
        elif token[0] == "[":
            out.append(("ident", token[1:-1]))
        else:
            out.append(("ident", token[1:-1].replace(token[0] * 2, token[0])))
        pos = m.end()
    if pos < len(text):
        out.append(("sql", text[pos:]))
    return out


def _decode_literal(token: str, kind: str) -> str:
    body = token[1:-1]
    if kind != "mysql":
        return body.replace("''", "'")
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            # \% and \_ keep their backslash (they are LIKE escapes); other letters stand for themselves.
            out.append(_MYSQL_ESCAPES.get(nxt, "\\" + nxt if nxt in "%_" else nxt))
            i += 2
        elif ch == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def quote_literal(value: str, kind: str) -> str:
    """A string literal for engine `kind` (MySQL: backslashes escaped, as its default mode reads them)."""
    if kind == "mysql":
        value = value.replace("\\", "\\\\")
    return "'" + value.replace("'", "''") + "'"


def quote_name(name: str, kind: str) -> str:
    q = "`" if kind == "mysql" else '"'
    return q + name.replace(q, q * 2) + q


def respell_sql(text: str, source: str, target: str) -> str:
    """SQL text written for `source` with its quoted names and string literals re-spelled for `target`."""
    parts = sql_tokens(text, source)
    return "".join(
        quote_literal(v, target) if k == "str" else quote_name(v, target) if k == "ident" else v for k, v in parts
    )
