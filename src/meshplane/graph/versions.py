"""Semver ranges as written in input ports: ``^1.2``, ``~1.2.3``, ``>=1.0.0 <2.0.0``, ``1.x``, ``1.2.3``."""

from __future__ import annotations

import re
from collections.abc import Callable

import semver

__all__ = ["RangeError", "matches"]

_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|==|\^|~)?\s*v?([0-9x*]+(?:\.[0-9x*]+){0,2})$")


class RangeError(ValueError):
    """A version range that is not semver; ``token`` is the part that could not be read."""

    def __init__(self, message: str, token: str = "") -> None:
        super().__init__(message)
        self.token = token


def _pad(text: str) -> tuple[list[int | None], int]:
    parts = text.split(".")
    given = len(parts)
    numbers: list[int | None] = [None if p in ("x", "*") else int(p) for p in parts]
    while len(numbers) < 3:
        numbers.append(None)
    return numbers, given


def _predicates(token: str) -> list[Callable[[semver.Version], bool]]:
    match = _COMPARATOR.match(token)
    if match is None:
        raise RangeError(f"{token!r} is not a version comparator", token)
    op, text = match.groups()
    numbers, given = _pad(text)
    fixed = [n for n in numbers if n is not None]
    base = semver.Version(*(fixed + [0] * (3 - len(fixed))))
    wildcard = any(n is None for n in numbers[:given]) or given < 3
    if op in (None, "=", "==") and wildcard:
        op = "~" if len(fixed) >= 2 else "^"
        if not fixed:
            return [lambda v: True]
    if op in (None, "=", "=="):
        return [lambda v: v == base]
    if op == ">=":
        return [lambda v: v >= base]
    if op == ">":
        return [lambda v: v > base]
    if op == "<=":
        return [lambda v: v <= base]
    if op == "<":
        return [lambda v: v < base]
    if op == "^":
        if base.major > 0 or len(fixed) == 1:
            upper = base.bump_major()
        elif base.minor > 0 or len(fixed) == 2:
            upper = base.bump_minor()
        else:
            upper = base.bump_patch()
        return [lambda v: v >= base, lambda v: v < upper]
    # "~": patch-level changes when a minor is given, else minor-level.
    upper = base.bump_minor() if len(fixed) >= 2 else base.bump_major()
    return [lambda v: v >= base, lambda v: v < upper]


def matches(version: str, range_text: str | None) -> bool:
    """True when ``version`` satisfies every comparator of ``range_text`` (None or empty: anything)."""
    if not range_text or not str(range_text).strip():
        return True
    target = semver.Version.parse(version)
    tokens = re.sub(r"(>=|<=|>|<|==|=|\^|~)\s+", r"\1", str(range_text).replace(",", " ")).split()
    return all(pred(target) for token in tokens for pred in _predicates(token))
