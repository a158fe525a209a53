"""What leaves the platform for someone who is not a product's owner: no data value, ever.

Check-failure samples are raw rows (unmasked, row filters not applied) and build errors quote values
(``Could not convert string 'alice@example.com' to INT32``), so outside the owner teams (the authority's
:meth:`~meshplane.access.authority.AccessAuthority.may_see_samples` and ``owns``) samples are dropped and
run errors are reduced to their kind. Grants' holders are shown only to the port's deciders.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import TypeVar

from meshplane.catalog import CheckResult, ProfileRecord, RunRecord
from meshplane.contracts.runner import CheckResult as CheckOutcome

__all__ = ["OWNER_ONLY", "Result", "profile_for_viewer", "public_error", "run_for_viewer", "without_samples"]

OWNER_ONLY = "details are shown to the product's owner team"

_KINDS = {
    "conversion": "a value could not be converted",
    "out of range": "a value was out of range",
    "invalid input": "invalid input",
    "type mismatch": "type mismatch",
    "constraint": "a constraint was violated",
    "out of memory": "out of memory",
    "binder": "the transform does not match its inputs",
    "parser": "the transform has a syntax error",
    "catalog": "the transform names something unknown",
    "io": "a file could not be read or written",
}
_PREFIX = re.compile(r"^\s*([A-Za-z ]+?) Error:", re.IGNORECASE)


def public_error(text: str | None) -> str | None:
    """A run error as a non-owner sees it: its kind, never its text."""
    if not text:
        return text
    match = _PREFIX.match(text)
    kind = _KINDS.get(match.group(1).strip().lower()) if match else None
    return f"the build failed: {kind} ({OWNER_ONLY})" if kind else f"the build failed ({OWNER_ONLY})"


def run_for_viewer(run: RunRecord, *, owner: bool) -> RunRecord:
    return run if owner or not run.error else dataclasses.replace(run, error=public_error(run.error))


def profile_for_viewer(profile: ProfileRecord, readable: frozenset[str] | None) -> ProfileRecord:
    """A port's profile as a viewer sees it: min, max, top values and histograms only of the columns whose values
    the viewer may read (``readable``, from the access authority; None: every column); counts of all."""
    if readable is None:
        return profile
    hidden: dict[str, object] = {"min": None, "max": None, "top": [], "histogram": [], "withheld": True}
    columns = tuple(c if c.get("name") in readable else {**c, **hidden} for c in profile.columns)
    return dataclasses.replace(profile, columns=columns)


Result = TypeVar("Result", CheckResult, CheckOutcome)


def without_samples(results: Iterable[Result]) -> tuple[Result, ...]:
    """Check results without their failing rows: stored ones (``sample``) and a test run's (``sample_rows``)."""
    shown: list[Result] = []
    for result in results:
        if isinstance(result, CheckResult):
            shown.append(dataclasses.replace(result, sample=()) if result.sample else result)
        else:
            shown.append(dataclasses.replace(result, sample_rows=()) if result.sample_rows else result)
    return tuple(shown)
