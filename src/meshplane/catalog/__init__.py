"""The catalog store: the mesh's metadata, run and audit history, and search.

SQLAlchemy Core over SQLite (default, WAL, safe for concurrent writers) or PostgreSQL, with Alembic
migrations applied on open. The workspace maps the resolved mesh onto :class:`MeshSnapshot` and calls
``store.writer.sync_mesh``; everything else reads through ``store.reader``.
"""

from meshplane.catalog.database import default_url
from meshplane.catalog.reader import CatalogReader
from meshplane.catalog.records import (
    CLASSIFICATION_ORDER,
    PRODUCT_GRANTEE,
    AccessRequest,
    AccessRequestStatus,
    ApiToken,
    AuditEvent,
    CheckResult,
    ColumnLineageEdge,
    ColumnRecord,
    DomainRecord,
    GlossaryTerm,
    Grant,
    LineageEdge,
    MeshSnapshot,
    PolicyResult,
    PortRecord,
    PortUsage,
    ProductRecord,
    ProfileRecord,
    QueryDecision,
    QueryLogEntry,
    RunRecord,
    RunStatus,
    SearchFacets,
    SearchHit,
    SearchKind,
    SearchResults,
    SloEvaluation,
    TeamMember,
    TeamRecord,
    VersionRecord,
)
from meshplane.catalog.store import CatalogStore
from meshplane.catalog.writer import CatalogWriter

__all__ = [
    "CLASSIFICATION_ORDER",
    "PRODUCT_GRANTEE",
    "AccessRequest",
    "AccessRequestStatus",
    "ApiToken",
    "AuditEvent",
    "CatalogReader",
    "CatalogStore",
    "CatalogWriter",
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
    "ProfileRecord",
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
    "default_url",
]
