"""Strings that follow a CHECK's LIKE pattern or regular expression, made up data-independently.

A DOMAIN such as `email AS text CHECK (VALUE LIKE '%@%')` or `us_postal_code AS text CHECK
(VALUE ~ '^\\d{5}$')` holds every value to a pattern; a made-up value (Faker text, an unreleased
category) must follow it too. `follow` keeps a value that matches and otherwise makes one from the
pattern: `%` becomes a word, `_` a letter, a regular expression is walked branch by branch. The
PostgreSQL writer still checks every value against the target's own domain CHECKs
(`write/postgres.py`): a pattern dbsynth cannot follow costs realism, never a failed write.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

import numpy as np

from dbsynth.schema.checks import TextPattern

try:  # Python 3.11+: the parser moved under re
    from re import _constants as sre, _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as sre  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

_LETTERS = string.ascii_lowercase
_MAX_REPEAT = 6  # an open repeat (+, *, {2,}) is drawn up to this many times past its minimum


def like_regex(pattern: str, ignore_case: bool = False) -> re.Pattern:
    """LIKE (backslash escapes, as PostgreSQL's default) as an anchored regular expression."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(pattern: TextPattern, value: str) -> bool:
    if pattern.kind == "like":
        return like_regex(pattern.pattern, pattern.ignore_case).fullmatch(value) is not None
    try:
        return re.search(pattern.pattern, value, re.IGNORECASE if pattern.ignore_case else 0) is not None
    except re.error:
        return False


def follow(pattern: TextPattern, value: Any, word: Callable[[], str], rng: np.random.Generator,
           max_length: int | None = None) -> Any:
    """`value` if it follows `pattern`, else a value made from the pattern (or `value` unchanged
    when the pattern is one this module cannot walk)."""
    if not isinstance(value, str) or matches(pattern, value):
        return value
    for _ in range(8):
        made = _from_like(pattern.pattern, word, rng) if pattern.kind == "like" else _from_regex(pattern.pattern, rng)
        if made is not None and (max_length is None or len(made) <= max_length) and matches(pattern, made):
            return made
    return value


def _from_like(pattern: str, word: Callable[[], str], rng: np.random.Generator) -> str:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append(word() if ch == "%" else _LETTERS[int(rng.integers(26))] if ch == "_" else ch)
        i += 1
    return "".join(out)


def _from_regex(pattern: str, rng: np.random.Generator) -> str | None:
    try:
        tree = sre_parse.parse(pattern)
        return _walk(list(tree), rng)
    except (re.error, _CannotWalk, RecursionError):
        return None


class _CannotWalk(Exception):
    pass


_CLASSES = {
    sre.CATEGORY_DIGIT: string.digits,
    sre.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    sre.CATEGORY_SPACE: " ",
}


def _walk(items: list, rng: np.random.Generator) -> str:
    out = []
    for op, arg in items:
        if op is sre.LITERAL:
            out.append(chr(arg))
        elif op is sre.ANY:
            out.append(_LETTERS[int(rng.integers(26))])
        elif op is sre.IN:
            out.append(_one_of(arg, rng))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = arg
            top = lo + _MAX_REPEAT if hi is sre.MAXREPEAT else hi
            out.extend(_walk(list(sub), rng) for _ in range(int(rng.integers(lo, top + 1))))
        elif op is sre.SUBPATTERN:
            out.append(_walk(list(arg[-1]), rng))
        elif op is sre.BRANCH:
            branches = arg[1]
            out.append(_walk(list(branches[int(rng.integers(len(branches)))]), rng))
        elif op is sre.AT:
            continue  # ^, $, \b: the walk makes the whole string
        else:
            raise _CannotWalk(str(op))
    return "".join(out)


def _one_of(items: list, rng: np.random.Generator) -> str:
    """One character a [...] class accepts (a negated class: a letter or digit it leaves out)."""
    if items and items[0][0] is sre.NEGATE:
        excluded = _chars(items[1:])
        allowed = [c for c in _LETTERS + string.digits if c not in excluded]
    else:
        allowed = list(_chars(items))
    if not allowed:
        raise _CannotWalk("empty class")
    return allowed[int(rng.integers(len(allowed)))]


def _chars(items: list) -> str:
    out = []
    for op, arg in items:
        if op is sre.LITERAL:
            out.append(chr(arg))
        elif op is sre.RANGE:
            lo, hi = arg
            out.extend(chr(c) for c in range(lo, min(hi, lo + 255) + 1))
        elif op is sre.CATEGORY and arg in _CLASSES:
            out.append(_CLASSES[arg])
        else:
            raise _CannotWalk(str(op))
    return "".join(out)
