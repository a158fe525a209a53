"""Semver ranges as written in input ports: ``^1.2``, ``~1.2.3``, ``>=1.0.0 <2.0.0``, ``1.x``, ``1.2.3``.

The meaning follows npm's node-semver for these forms: a partial version is a range (``1.2`` is
``>=1.2.0 <1.3.0``), ``>1.2`` means ``>=1.3.0`` and ``<=1.2`` means ``<1.3.0``. Space-separated comparators
must all hold. Hyphen ranges and ``||`` are not supported and raise :class:`RangeError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import semver

__all__ = ["RangeError", "matches"]

_PART = r"(?:0|[1-9][0-9]*|[xX*])"
_COMPARATOR = re.compile(rf"^(>=|<=|>|<|==|=|\^|~)?v?({_PART}(?:\.{_PART}){{0,2}})$")

Predicate = Callable[[semver.Version], bool]


class RangeError(ValueError):
    """A version range that is not semver; ``token`` is the part that could not be read."""

    def __init__(self, message: str, token: str = "") -> None:
        super().__init__(message)
        self.token = token


def _at_least(base: semver.Version) -> Predicate:
    return lambda v: v >= base


def _below(bound: semver.Version) -> Predicate:
    return lambda v: v < bound


def _predicates(token: str) -> list[Predicate]:
    match = _COMPARATOR.match(re.sub(r"\s+", "", token))
    if match is None:
        raise RangeError(f"{token!r} is not a version comparator", token)
    op, text = match.groups()
    fixed: list[int] = []
    for part in text.split("."):
        if part in ("x", "X", "*"):
            break  # everything after a wildcard is a wildcard too
        fixed.append(int(part))
    if not fixed:
        return [] if op in (None, "=", "==", ">=", "<=", "^", "~") else [lambda v: False]
    base = semver.Version(*(fixed + [0] * (3 - len(fixed))))
    # The first version past the partial one: 1 -> 2.0.0, 1.2 -> 1.3.0, 1.2.3 -> 1.2.4 (exclusive bound).
    past = base.bump_major() if len(fixed) == 1 else base.bump_minor() if len(fixed) == 2 else None
    if op in (None, "=", "=="):
        return [lambda v: v == base] if past is None else [_at_least(base), _below(past)]
    if op == ">=":
        return [_at_least(base)]
    if op == ">":
        return [lambda v: v > base] if past is None else [_at_least(past)]
    if op == "<":
        return [_below(base)]
    if op == "<=":
        return [lambda v: v <= base] if past is None else [_below(past)]
    if op == "^":
        if base.major > 0 or len(fixed) == 1:
            upper = base.bump_major()
        elif base.minor > 0 or len(fixed) == 2:
            upper = base.bump_minor()
        else:
            upper = base.bump_patch()
        return [_at_least(base), _below(upper)]
    # "~": patch-level changes when a minor is given, else minor-level.
    upper = base.bump_minor() if len(fixed) >= 2 else base.bump_major()
    return [_at_least(base), _below(upper)]


_TOKEN = re.compile(r"(?:>=|<=|==|>|<|=|\^|~)?\s*[^\s,<>=^~]+|(?:>=|<=|==|>|<|=|\^|~)\s*(?=,|$)")


def matches(version: str, range_text: str | None) -> bool:
    """True when ``version`` satisfies every comparator of ``range_text`` (None or empty: anything)."""
    if range_text is None or not str(range_text).strip():
        return True
    return _matches(str(version), str(range_text))


@lru_cache(maxsize=4096)  # a large mesh repeats a few ranges and versions on thousands of input ports
def _matches(version: str, range_text: str) -> bool:
    target = semver.Version.parse(version)
    # A comparator may be separated from its version by spaces (">= 1.2"); keep each token as written,
    # so an error quotes the author's own text.
    tokens = _TOKEN.findall(str(range_text))
    predicates = [pred for token in tokens for pred in _predicates(token)]
    return all(pred(target) for pred in predicates)
