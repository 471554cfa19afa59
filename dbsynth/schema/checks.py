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


def _ident(col: str) -> str:
    return rf"\(*\b{re.escape(col)}\b\)*"


def domain_from_checks(column: str, checks: list[str]) -> CheckDomain:
    values: tuple | None = None
    lower = upper = None
    for raw in checks:
        text = _clean(raw)
        m = re.search(_ident(column) + r"\s+IN\s*\(([^()]*)\)", text, re.IGNORECASE)
        if m:
            values = tuple(_literal(v.strip()) for v in _split(m.group(1)))
        m = re.search(r"=\s*ANY\s*\(\s*\(?ARRAY\[?([^\]]*)", _CAST.sub("", raw), re.IGNORECASE)
        if m and re.search(rf"\b{re.escape(column)}\b", raw) and values is None:
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
    out, cur, quoted = [], "", False
    for ch in body:
        if ch == "'":
            quoted = not quoted
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
        return token[1:-1].replace("''", "'")
    try:
        return int(token)
    except ValueError:
        try:
            return float(token)
        except ValueError:
            return token
