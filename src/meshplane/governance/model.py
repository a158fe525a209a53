"""The governance domain model: policies, waivers, violations, reports and query decisions.

Policies and waivers are validated with frozen pydantic models (``extra="forbid"``); everything the
evaluation produces is a frozen dataclass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from meshplane.types import Point, Severity, SourceLocation

__all__ = [
    "POLICY_ID_PATTERN",
    "SCHEMA_VERSION",
    "Effect",
    "LoadedPolicy",
    "Point",
    "PolicyModel",
    "PolicyScope",
    "PythonPolicy",
    "QueryDecision",
    "Subject",
    "Violation",
    "Waiver",
    "WaiverModel",
]

SCHEMA_VERSION = 1
POLICY_ID_PATTERN = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"


class Subject(StrEnum):
    MESH = "mesh"
    DOMAIN = "domain"
    PRODUCT = "product"
    PORT = "port"
    COLUMN = "column"
    QUERY = "query"


class Effect(StrEnum):
    """What a failing rule does. ``deny`` blocks (or reports); ``mask`` (query policies) masks a column."""

    DENY = "deny"
    MASK = "mask"


class PolicyScope(StrEnum):
    PACK = "pack"
    GLOBAL = "global"
    DOMAIN = "domain"
    PLUGIN = "plugin"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyModel(_Frozen):
    """One entry of a policy file's ``policies:`` list."""

    id: str = Field(pattern=POLICY_ID_PATTERN, max_length=80)
    title: str = Field(min_length=1)
    rationale: str = ""
    severity: Severity = Severity.ERROR
    subject: Subject
    points: tuple[Point, ...] = Field(min_length=1)
    rule: str = Field(min_length=1, max_length=4000)
    message: str = Field(min_length=1)
    fix: str = ""
    locate: tuple[str | int, ...] = ()
    effect: Effect = Effect.DENY
    enabled: bool = True
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy with where it came from; ``domain`` is set for domain policies only."""

    model: PolicyModel
    scope: PolicyScope
    location: SourceLocation
    domain: str | None = None

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def severity(self) -> Severity:
        return self.model.severity

    @property
    def subject(self) -> Subject:
        return self.model.subject


class WaiverModel(_Frozen):
    """One entry of ``waivers.yaml``'s ``waivers:`` list (or a catalog record)."""

    policy: str = Field(pattern=POLICY_ID_PATTERN)
    subject: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: dt.date


@dataclass(frozen=True)
class Waiver:
    policy: str
    subject: str
    reason: str
    approver: str
    expires: dt.date
    location: SourceLocation | None = None

    def active(self, today: dt.date) -> bool:
        """A waiver applies up to and including its expiry date."""
        return today <= self.expires

    def covers(self, policy: str, address: str) -> bool:
        """Matches the exact subject, or any subject inside it (``d.p`` covers ``d.p.port.col``)."""
        return self.policy == policy and (address == self.subject or address.startswith(self.subject + "."))

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "subject": self.subject,
            "reason": self.reason,
            "approver": self.approver,
            "expires": self.expires.isoformat(),
            "location": self.location.render() if self.location else None,
        }


@dataclass(frozen=True)
class Violation:
    """A subject that a policy's rule did not allow."""

    policy: str
    title: str
    severity: Severity
    subject: Subject
    address: str
    location: SourceLocation
    message: str
    fix: str
    domain: str | None = None
    product: str | None = None
    waiver: Waiver | None = None
    failed: bool = False  # the policy could not be evaluated (error, timeout): counted as a violation

    def render(self, root: Path | None = None) -> str:
        text = f"{self.location.render(root)}: {self.severity.value}: [{self.policy}] {self.address}: {self.message}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        if self.waiver is not None:
            text += (
                f"\n    waived until {self.waiver.expires.isoformat()} by {self.waiver.approver}: {self.waiver.reason}"
            )
        return text

    def as_json(self, root: Path | None = None) -> dict[str, Any]:
        path = self.location.path
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        return {
            "policy": self.policy,
            "title": self.title,
            "severity": self.severity.value,
            "subject": self.subject.value,
            "address": self.address,
            "path": str(path),
            "line": self.location.line,
            "column": self.location.column,
            "message": self.message,
            "fix": self.fix,
            "waiver": self.waiver.as_json() if self.waiver else None,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class QueryDecision:
    """The query-time verdict: deny wins; ``masks`` maps column name to the mask kind to apply."""

    allow: bool
    masks: Mapping[str, str] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "allow": self.allow,
            "masks": dict(self.masks),
            "reasons": list(self.reasons),
            "policies": list(self.policies),
        }


@runtime_checkable
class PythonPolicy(Protocol):
    """A policy written in Python, registered in the ``meshplane.policies`` entry point group.

    ``evaluate`` receives the subject's input document (the same one CEL rules see as ``subject``) and
    returns True (allowed), False (violation with the policy's message), or a list of messages (one
    violation each; an empty list allows). Raising counts as a violation: fail closed.
    """

    id: str
    title: str
    severity: Severity
    subject: Subject
    points: tuple[Point, ...]

    def evaluate(self, input_doc: Mapping[str, Any]) -> bool | list[str]: ...
