"""Value types shared by every layer (standard library only)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

__all__ = ["TIME_UNIT_SECONDS", "Address", "EventKind", "Point", "Principal", "Problem", "Severity", "SourceLocation"]


@dataclass(frozen=True, slots=True, order=True)
class SourceLocation:
    """A place in a mesh file; line and column are 1-based, 0 when unknown."""

    path: Path
    line: int = 0
    column: int = 0

    def render(self, root: Path | None = None) -> str:
        shown = self.path
        if root is not None:
            try:
                shown = self.path.relative_to(root)
            except ValueError:
                shown = self.path
        if self.line:
            return f"{shown}:{self.line}:{self.column or 1}"
        return str(shown)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Point(StrEnum):
    """Where a governance policy is enforced (``meshplane.governance``); here so the CLI can name the points
    without importing the policy engine."""

    CHECK = "check"
    BUILD = "build"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class Problem:
    """One located finding: what is wrong, where, and what to write instead."""

    location: SourceLocation
    message: str
    hint: str = ""
    code: str = ""
    severity: Severity = Severity.ERROR

    def render(self, root: Path | None = None) -> str:
        text = f"{self.location.render(root)}: {self.severity.value}: {self.message}"
        if self.code:
            text += f" [{self.code}]"
        if self.hint:
            text += f"\n    fix: {self.hint}"
        return text


_NAME = r"[a-z][a-z0-9_]*"
_ADDRESS = re.compile(rf"^({_NAME})(?:\.({_NAME}))?(?:\.({_NAME}))?$")


@dataclass(frozen=True, slots=True, order=True)
class Address:
    """``<domain>``, ``<domain>.<product>`` or ``<domain>.<product>.<port>``."""

    domain: str
    product: str | None = None
    port: str | None = None

    @classmethod
    def parse(cls, text: str) -> Address:
        match = _ADDRESS.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not an address; write <domain>.<product>.<port> in lower_snake_case")
        domain, product, port = match.groups()
        return cls(domain, product, port)

    @property
    def product_address(self) -> Address:
        return Address(self.domain, self.product)

    def __str__(self) -> str:
        return ".".join(part for part in (self.domain, self.product, self.port) if part)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a user name and the teams they belong to."""

    username: str
    teams: frozenset[str] = field(default_factory=frozenset)
    is_platform_admin: bool = False
    is_governance: bool = False
    product: str | None = None
    """Set when a product's build reads (``domain.product``): the principal is that product, not a person."""


class EventKind(StrEnum):
    """What a notification is about; subscriptions in mesh.yaml name these values."""

    ACCESS_REQUESTED = "access_requested"
    ACCESS_DECIDED = "access_decided"
    ACCESS_EXPIRING = "access_expiring"
    ACCESS_REVOKED = "access_revoked"
    AGREEMENT_REQUESTED = "agreement_requested"
    AGREEMENT_REVOKED = "agreement_revoked"
    BREAKING_CHANGE_PROPOSED = "breaking_change_proposed"
    BREAKING_CHANGE_PUBLISHED = "breaking_change_published"
    DEPRECATION_APPROACHING = "deprecation_approaching"
    SLO_AT_RISK = "slo_at_risk"
    SLO_BREACHED = "slo_breached"
    BUILD_FAILED = "build_failed"
    BUILD_OVERDUE = "build_overdue"
    QUALITY_CHECK_FAILED = "quality_check_failed"
    POLICY_VIOLATION = "policy_violation"
    ANOMALY_DETECTED = "anomaly_detected"


# Seconds per time unit as contracts write them (slaProperties units): one table for SLO evaluation, contract
# diffs and retention. A month is 30 days and a year 365.
TIME_UNIT_SECONDS: dict[str, int] = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    "mo": 2_592_000,
    "month": 2_592_000,
    "months": 2_592_000,
    "y": 31_536_000,
    "yr": 31_536_000,
    "year": 31_536_000,
    "years": 31_536_000,
}
