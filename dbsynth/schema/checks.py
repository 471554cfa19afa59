"""Reading what simple CHECK constraints say about a column's domain.

Only the common shapes are understood (`col IN (...)`, `col >= a AND col <= b`, `BETWEEN`);
a domain read from the schema is public and costs no budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def domain_from_checks(column: str, checks: list[str]) -> CheckDomain:
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
            lower, upper = float(m.group(1)), float(m.group(2))
        for op, num in re.findall(_ident(column) + rf"\s*(>=|>|<=|<)\s*\(*({_NUM})\)*", text):
            v = float(num)
            if op in (">=", ">"):
                lower = v if lower is None else max(lower, v)
            else:
                upper = v if upper is None else min(upper, v)
    return CheckDomain(values, lower, upper)


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
