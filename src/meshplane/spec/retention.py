"""A contract's retention: how long rows are kept, and which column dates them.

ODCS declares retention as an SLA property (``slaProperties: [{property: retention, value: 400, unit: d,
element: listening_events.started_at}]``); the column is the property's ``element`` or the contract's
``slaDefaultElement``. The governance pack's ``pii-retention`` policy also reads the ISO-8601
``customProperties: [{property: retention, value: P400D}]``. Either declares the period; only a period with a
date or timestamp column is *enforced* (rows older than it are deleted on every build and by ``meshplane
maintain``). This module is the one place that reads a contract's retention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from meshplane.spec.models import ContractSpec
from meshplane.types import TIME_UNIT_SECONDS

__all__ = ["Retention", "parse_period", "retention_of"]

# Calendar parts are counted as whole days (a year is 365 days, a month 30): retention deletes a little late,
# never early.
_ISO_PERIOD = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$", re.IGNORECASE)
_DATED_TYPES = ("date", "timestamp")


@dataclass(frozen=True)
class Retention:
    """A port's declared retention; ``column`` is set only when it can be enforced."""

    period: timedelta
    declared: str  # as written, for messages ("400 d", "P400D")
    column: str | None = None
    problem: str | None = None  # why it is not enforced (no column, not a dated column)

    @property
    def enforced(self) -> bool:
        return self.column is not None


def parse_period(value: Any, unit: str | None = None) -> timedelta:
    """``("P25Y", None)``, ``(400, "d")`` -> a timedelta; ValueError says what to write."""
    if isinstance(value, str) and unit is None:
        match = _ISO_PERIOD.match(value.strip())
        if match and any(match.groups()):
            years, months, weeks, days = (int(g or 0) for g in match.groups())
            return timedelta(days=years * 365 + months * 30 + weeks * 7 + days)
        raise ValueError(f"retention {value!r} is not an ISO-8601 period; write e.g. P400D or P25Y")
    seconds = TIME_UNIT_SECONDS.get((unit or "").strip().lower())
    if seconds is None:
        raise ValueError(f"retention unit {unit!r} is not a time unit; use d, w, mo or y")
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"retention {value!r} is not a number of {unit}") from None
    if amount <= 0:
        raise ValueError(f"retention must be positive, got {value!r}")
    return timedelta(seconds=amount * seconds)


def retention_of(contract: ContractSpec) -> Retention | None:
    """The contract's retention (None when it declares none). A malformed one raises ValueError."""
    raw = contract.raw
    sla = next(
        (e for e in raw.get("slaProperties") or [] if isinstance(e, dict) and e.get("property") == "retention"),
        None,
    )
    custom = next(
        (e for e in raw.get("customProperties") or [] if isinstance(e, dict) and e.get("property") == "retention"),
        None,
    )
    if sla is not None:
        period = parse_period(sla.get("value"), sla.get("unit"))
        declared = f"{sla.get('value')} {sla.get('unit') or ''}".strip()
        element = sla.get("element") or raw.get("slaDefaultElement")
    elif custom is not None:
        period = parse_period(custom.get("value"))
        declared = str(custom.get("value"))
        element = raw.get("slaDefaultElement")
    else:
        return None
    if not element:
        return Retention(period, declared, problem="no column dates the rows: add element: <table>.<column>")
    table, _, name = str(element).rpartition(".")
    if table and table != contract.table:
        return Retention(period, declared, problem=f"element {element!r} names another table than {contract.table}")
    column = contract.column(name)
    if column is None:
        return Retention(period, declared, problem=f"element {element!r} names no column of {contract.table}")
    kind = (column.logical_type or column.physical_type or "").lower()
    if not kind.startswith(_DATED_TYPES):
        return Retention(period, declared, problem=f"column {name} is {kind or 'untyped'}, not a date or timestamp")
    return Retention(period, declared, column=name)
