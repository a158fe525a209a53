"""Plain frozen records that go in and out of the catalog store.

The catalog never sees spec models or the mesh graph: the workspace maps the resolved graph onto
:class:`MeshSnapshot` and hands it to :meth:`CatalogWriter.sync_mesh`. Addresses are plain strings
(``domain.product`` / ``domain.product.port``); times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "CLASSIFICATION_ORDER",
    "PRODUCT_GRANTEE",
    "AccessRequest",
    "AccessRequestStatus",
    "ApiToken",
    "AuditEvent",
    "CheckResult",
    "ColumnLineageEdge",
    "ColumnRecord",
    "DomainRecord",
    "GlossaryTerm",
    "Grant",
    "LineageEdge",
    "MeshSnapshot",
    "PolicyResult",
    "PortRecord",
    "PortUsage",
    "ProductRecord",
    "QueryDecision",
    "QueryLogEntry",
    "RunRecord",
    "RunStatus",
    "SearchFacets",
    "SearchHit",
    "SearchKind",
    "SearchResults",
    "SloEvaluation",
    "TeamMember",
    "TeamRecord",
    "VersionRecord",
]

# Low to high, as in docs/mesh-format.md; the search facet of a product or port is its highest column.
CLASSIFICATION_ORDER: tuple[str, ...] = ("public", "internal", "confidential", "pii", "restricted")

JsonObject = Mapping[str, Any]


# --- spec-derived rows (replaced wholesale by sync_mesh) -------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamMember:
    username: str
    role: str = ""


@dataclass(frozen=True, slots=True)
class TeamRecord:
    name: str
    title: str = ""
    members: tuple[TeamMember, ...] = ()


@dataclass(frozen=True, slots=True)
class DomainRecord:
    name: str
    title: str = ""
    description: str = ""
    owner_team: str = ""


@dataclass(frozen=True, slots=True)
class ColumnRecord:
    name: str
    logical_type: str = ""
    physical_type: str = ""
    classification: str | None = None
    description: str = ""
    semantic_type: str | None = None  # a glossary term name
    required: bool = False
    primary_key: bool = False


@dataclass(frozen=True, slots=True)
class PortRecord:
    address: str  # domain.product.port
    version: str
    access_level: str = "public"  # public | restricted | private
    description: str = ""
    status: str = "active"
    contract: JsonObject = field(default_factory=dict)  # the ODCS document as JSON
    columns: tuple[ColumnRecord, ...] = ()

    @property
    def product_address(self) -> str:
        return self.address.rsplit(".", 1)[0]


@dataclass(frozen=True, slots=True)
class ProductRecord:
    address: str  # domain.product
    version: str
    status: str = "active"
    type: str = ""  # sourceAligned | aggregate | consumerAligned
    owner_team: str = ""
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    access_level: str = "public"
    ports: tuple[PortRecord, ...] = ()
    # What changed in this version (from the graph's diff); stored once, when the version is first seen.
    changes: tuple[str, ...] = ()

    @property
    def domain(self) -> str:
        return self.address.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.address.split(".", 1)[1]


@dataclass(frozen=True, slots=True)
class GlossaryTerm:
    name: str
    title: str = ""
    description: str = ""
    logical_type: str = ""
    classification: str | None = None


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """Product-level lineage: data flows from ``upstream`` (a port or source) into ``downstream``."""

    upstream: str
    downstream: str


@dataclass(frozen=True, slots=True)
class ColumnLineageEdge:
    upstream_port: str
    upstream_column: str
    downstream_port: str
    downstream_column: str


@dataclass(frozen=True, slots=True)
class MeshSnapshot:
    """Everything the specs say, as sync_mesh stores it in one transaction."""

    domains: tuple[DomainRecord, ...] = ()
    products: tuple[ProductRecord, ...] = ()
    glossary: tuple[GlossaryTerm, ...] = ()
    teams: tuple[TeamRecord, ...] = ()
    lineage: tuple[LineageEdge, ...] = ()
    column_lineage: tuple[ColumnLineageEdge, ...] = ()


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One version of a product or port, as first seen by sync_mesh."""

    address: str
    version: str
    recorded_at: datetime
    changes: tuple[str, ...] = ()


# --- history rows (kept across syncs) --------------------------------------------------------------


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    product: str
    status: RunStatus
    started_at: datetime
    port: str | None = None
    ended_at: datetime | None = None
    rows_written: int | None = None
    snapshot_id: str | None = None
    error: str | None = None
    engine: str = ""
    trigger: str = ""  # manual | schedule | api | ...
    pid: int | None = None
    host: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    rule_id: str
    port: str
    passed: bool
    metric: str = ""
    column: str | None = None
    observed: float | None = None
    threshold: str = ""  # rendered operator and bound, e.g. "mustBeLessThan 5"
    severity: str = "error"
    sample: tuple[JsonObject, ...] = ()  # failing rows, already masked by the caller
    run_id: str = ""  # filled in on read

    @property
    def executed(self) -> bool:
        """False for a text or custom rule recorded as not executed (meshplane.contracts.runner.NOT_EXECUTED)."""
        return self.threshold != "not executed"


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """A port's profile as one build measured it: ``columns`` are JSON objects (name, kind, sensitive, nulls,
    distinct, min, max, top ``[[value, rows]]``, histogram ``[[low, high, rows]]``, and ``sampled``: the sample's
    rows when a large port's distinct, min, max, top values and histogram were measured on a sample), in the
    table's order."""

    port: str
    run_id: str
    profiled_at: datetime
    row_count: int
    columns: tuple[JsonObject, ...] = ()

    def column(self, name: str) -> JsonObject | None:
        return next((c for c in self.columns if c.get("name") == name), None)

    @property
    def sampled_rows(self) -> int | None:
        """The rows of the sample its columns' values were measured on; None: measured on every row."""
        sizes = [c.get("sampled") for c in self.columns]
        found = [s for s in sizes if isinstance(s, int) and not isinstance(s, bool)]
        return max(found) if found else None

    def null_share(self, name: str) -> float | None:
        """The share of rows where ``name`` is null (None: no rows, or no such column)."""
        found = self.column(name)
        if found is None or not self.row_count:
            return None
        return float(found.get("nulls") or 0) / self.row_count


@dataclass(frozen=True, slots=True)
class PolicyResult:
    policy_id: str
    subject: str
    outcome: str  # pass | fail | waived | error
    message: str = ""
    location: str = ""  # file:line:column
    severity: str = "error"
    evaluation_id: str = ""  # filled in on read
    evaluated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SloEvaluation:
    port: str
    slo: str  # latency | frequency | completeness | availability
    status: str  # met | at_risk | breached
    observed: float | None = None
    target: float | None = None
    evidence: JsonObject = field(default_factory=dict)
    evaluated_at: datetime | None = None


PRODUCT_GRANTEE = "product:"
"""Grantees of agreements are ``product:<domain>.<product>``; user names cannot contain a colon."""


class AccessRequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class AccessRequest:
    id: str
    requester: str
    port: str
    purpose: str
    status: AccessRequestStatus
    created_at: datetime
    columns: tuple[str, ...] = ()  # empty: every column
    until: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    row_filter: str | None = None
    note: str = ""
    product: str | None = None
    """The consuming product of a data usage agreement (``domain.product``); None for a person's request."""
    unmasked: tuple[str, ...] = ()
    """Columns an agreement asks to read unmasked (only agreements may; policies may still forbid it)."""

    @property
    def grantee(self) -> str:
        """Who the grant goes to: the requester, or ``product:<address>`` for an agreement."""
        return PRODUCT_GRANTEE + self.product if self.product else self.requester


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    request_id: str
    grantee: str
    port: str
    granted_by: str
    granted_at: datetime
    columns: tuple[str, ...] = ()
    row_filter: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    unmasked: tuple[str, ...] = ()

    def active_at(self, when: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= when:
            return False
        return self.expires_at is None or when < self.expires_at


@dataclass(frozen=True, slots=True)
class AuditEvent:
    actor: str
    action: str
    subject: str
    detail: JsonObject = field(default_factory=dict)
    at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's metadata; the plaintext is only ever returned by create_token."""

    id: str
    username: str
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class QueryDecision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    REJECTED = "rejected"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class QueryLogEntry:
    username: str
    sql: str
    decision: QueryDecision
    ports: tuple[str, ...] = ()
    rows: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    sql_hash: str = ""  # filled in on write (sha256 of the text)
    at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class PortUsage:
    port: str
    queries: int
    users: int
    rows: int
    last_queried_at: datetime | None


# --- search -----------------------------------------------------------------------------------------


class SearchKind(StrEnum):
    PRODUCT = "product"
    PORT = "port"
    COLUMN = "column"
    GLOSSARY = "glossary"


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: SearchKind
    address: str  # product/port address, port.column for columns, glossary:name for terms
    title: str
    snippet: str
    score: float  # higher is better; comparable within one result only
    domain: str | None = None
    classification: str | None = None
    status: str | None = None
    access_level: str | None = None


# facet name -> value -> count, over every match (not only the returned page)
SearchFacets = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class SearchResults:
    query: str
    total: int
    hits: tuple[SearchHit, ...]
    facets: SearchFacets
