"""Reading what simple CHECK constraints say about a column's domain.

Only the common shapes are understood (`col IN (...)`, `col >= a AND col <= b`, `BETWEEN`);
a domain read from the schema is public and costs no budget.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dbsynth.schema.model import INTEGER_GENERICS

_CAST = re.compile(r"::[a-zA-Z_ ]+(\[\])?")
_NUM = r"-?\d+(?:\.\d+)?"


@dataclass(frozen=True)
class CheckDomain:
    values: tuple | None = None
    lower: float | None = None
    upper: float | None = None


def _clean(sql: str) -> str:
    return _CAST.sub("", sql).replace('"', "").replace("`", "").replace("[", "").replace("]", "")


# A string literal (quotes doubled, or backslash-escaped as MySQL prints them), a quoted name in
# any engine's style, or a bare word.
_TOKEN = re.compile(
    r"(?P<str>'(?:[^'\\]|\\.|'')*')"
    r"|(?P<quoted>\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|(?<![Yy])\[[^\]]+\])"  # not ARRAY[...]
    r"|(?P<word>(?<!\w)(?<!::)[^\W\d]\w*)"  # not a ::cast
)
_MARK = "\x00"  # where the column is named


def _mark(sql: str, column: str) -> str:
    """`sql` with every mention of `column` (quoted in any style, or bare) replaced by _MARK and
    every other quoted name by a plain word, string literals untouched: names with spaces, quotes,
    backticks or non-ASCII letters are then found like any other."""

    def swap(m: re.Match) -> str:
        token = m.group()
        if m.lastgroup == "str":
            return token
        if m.lastgroup == "word":
            return _MARK if token.lower() == column.lower() else token
        name = token[1:-1] if token[0] == "[" else token[1:-1].replace(token[0] * 2, token[0])
        return _MARK if name == column else "other_name"

    return _TOKEN.sub(swap, sql)


def _ident(col: str) -> str:
    return rf"\(*{_MARK}\)*"


def domain_from_checks(column: str, checks: list[str], *, integer: bool = False) -> CheckDomain:
    """`integer`: the column holds integers, so each bound is read as the closed integer bound it
    is (`c > 0 AND c < 10` is 1..9, the IN list it is equivalent to: read as 0..10, the model kept
    cells for 0 and 10 that no row can hold and the shadow failed its own CHECK)."""
    values: tuple | None = None
    lower = upper = None
    for raw in checks:
        raw = _mark(raw, column)
        text = _clean(raw)
        m = re.search(_ident(column) + r"\s+IN\s*\(([^()]*)\)", text, re.IGNORECASE)
        if m:
            values = tuple(_literal(v.strip()) for v in _split(m.group(1)))
        m = re.search(r"=\s*ANY\s*\(\s*\(?ARRAY\[?([^\]]*)", _CAST.sub("", raw), re.IGNORECASE)
        if m and _MARK in raw and values is None:
            values = tuple(_literal(v.strip().strip("()")) for v in _split(m.group(1).replace("[", "")))
        m = re.search(_ident(column) + rf"\s+BETWEEN\s+\(*({_NUM})\)*\s+AND\s+\(*({_NUM})\)*", text, re.IGNORECASE)
        if m:
            lower, upper = _closed(float(m.group(1)), ">=", integer), _closed(float(m.group(2)), "<=", integer)
        for op, num in re.findall(_ident(column) + rf"\s*(>=|>|<=|<)\s*\(*({_NUM})\)*", text):
            v = _closed(float(num), op, integer)
            if op in (">=", ">"):
                lower = v if lower is None else max(lower, v)
            else:
                upper = v if upper is None else min(upper, v)
    return CheckDomain(values, lower, upper)


def _closed(v: float, op: str, integer: bool) -> float:
    """The bound `op v` as a closed bound: as is, or for an integer column the integer the
    comparison admits nearest to v (> 0 is >= 1, <= 9.5 is <= 9). A strict bound on a
    non-integer column stays as written."""
    if not integer:
        return v
    if op in (">", ">="):
        return float(math.floor(v) + 1 if op == ">" else math.ceil(v))
    return float(math.ceil(v) - 1 if op == "<" else math.floor(v))


def is_integral(col) -> bool:
    """Whether a column holds integers only (any INTEGER family, NUMERIC(p, 0))."""
    return col.generic in INTEGER_GENERICS or (col.generic == "Numeric" and col.scale == 0)


def _split(body: str) -> list[str]:
    out, cur, quoted, escaped = [], "", False, False
    for ch in body:
        if ch == "'" and not escaped:
            quoted = not quoted
        escaped = quoted and ch == "\\" and not escaped
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def _literal(token: str):
    token = token.strip()
    if token.startswith("'") and token.endswith("'"):
        return token[1:-1].replace("''", "'").replace("\\'", "'")  # MySQL prints it\'s
    try:
        return int(token)
    except ValueError:
        try:
            return float(token)
        except ValueError:
            return token


def column_domain(table, col) -> CheckDomain:
    """What the table's CHECKs and, for a DOMAIN-typed column, the domain's CHECKs (written over
    VALUE) say about the column's values: both hold, so values intersect and bounds tighten."""
    integer = is_integral(col)
    found = domain_from_checks(col.name, [c.sqltext for c in table.checks], integer=integer)
    if not getattr(col, "domain_checks", ()):
        return found
    return _both(found, domain_from_checks("VALUE", list(col.domain_checks), integer=integer))


def _both(a: CheckDomain, b: CheckDomain) -> CheckDomain:
    values = a.values if b.values is None else b.values
    if a.values is not None and b.values is not None:
        values = tuple(v for v in a.values if v in b.values)
    lower = max((v for v in (a.lower, b.lower) if v is not None), default=None)
    upper = min((v for v in (a.upper, b.upper) if v is not None), default=None)
    return CheckDomain(values, lower, upper)


@dataclass(frozen=True)
class TextPattern:
    """A LIKE pattern or a regular expression a string CHECK holds its values to."""

    kind: str  # like | regex
    pattern: str
    ignore_case: bool = False


# PostgreSQL prints LIKE as ~~ and ILIKE as ~~*; ~ and ~* are regular-expression matches.
_PATTERN = re.compile(r"\x00\)*(?:::[a-z ]+?)?\)*\s*(~~\*|~~|~\*|~)\s*\(*'((?:[^']|'')*)'")


def text_pattern(column: str, checks: list[str]) -> TextPattern | None:
    """The first LIKE/ILIKE/~ pattern a CHECK holds `column` to (checks over VALUE: column
    "VALUE"); None when there is none. Negated matches (NOT LIKE, !~) are not patterns to follow."""
    for raw in checks:
        m = _PATTERN.search(_mark(raw, column))
        if m is None:
            continue
        op, literal = m.group(1), m.group(2).replace("''", "'")
        return TextPattern("like" if op.startswith("~~") else "regex", literal, op.endswith("*"))
    return None


def substitute(sql: str, column: str, expression: str) -> str:
    """`sql` with every mention of `column` (quoted or bare, not inside a string literal) replaced
    by `expression`: a domain CHECK over VALUE evaluated over another expression."""
    return _mark(sql, column).replace(_MARK, expression)


_LENGTH_CALL = re.compile(r"\b(?:char_length|character_length|length)\s*\(\s*\(?\s*\x00\s*\)?(?:::[a-z ]+)?\s*\)",
                          re.IGNORECASE)
_LENGTH_IS = re.compile(r"dbsynth_length\)*\s*=\s*\(*(\d+)")


def length_bounds(column: str, checks: list[str]) -> CheckDomain:
    """What CHECKs on char_length(column) (or length) say about the length of its strings:
    `char_length(VALUE) BETWEEN 3 AND 8` gives lower 3, upper 8."""
    spelled = [_LENGTH_CALL.sub("dbsynth_length", _mark(raw, column)) for raw in checks]
    found = domain_from_checks("dbsynth_length", [s for s in spelled if "dbsynth_length" in s])
    exact = [float(m) for s in spelled for m in _LENGTH_IS.findall(s)]
    return _both(found, CheckDomain(None, exact[0], exact[0])) if exact else found
