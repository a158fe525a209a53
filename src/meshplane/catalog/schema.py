"""The catalog's tables as SQLAlchemy Core objects, shared by SQLite and PostgreSQL.

Every name starts with ``mp_`` so the catalog can share a database with pyiceberg's SQL catalog
(``iceberg_tables``, ``iceberg_namespace_properties``). The migrations in ``migrations/versions``
create exactly these tables; a conformance test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["VERSION_TABLE", "UtcDateTime", "metadata"]

VERSION_TABLE = "mp_alembic_version"


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the dialect stores (SQLite keeps naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the catalog stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _table(name: str, *items: Any) -> sa.Table:
    return sa.Table(name, metadata, *items)


Text = sa.Text
Str = sa.String(255)

# --- spec-derived, replaced by sync_mesh -----------------------------------------------------------

domains = _table(
    "mp_domains",
    sa.Column("name", Str, primary_key=True),
    sa.Column("title", Text, nullable=False),
    sa.Column("description", Text, nullable=False),
    sa.Column("owner_team", Str, nullable=False),
)

products = _table(
    "mp_products",
    sa.Column("address", Str, primary_key=True),
    sa.Column("domain", Str, nullable=False, index=True),
    sa.Column("version", Str, nullable=False),
    sa.Column("status", Str, nullable=False),
    sa.Column("type", Str, nullable=False),
    sa.Column("owner_team", Str, nullable=False, index=True),
    sa.Column("title", Text, nullable=False),
    sa.Column("description", Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("access_level", Str, nullable=False),
)

ports = _table(
    "mp_ports",
    sa.Column("address", Str, primary_key=True),
    sa.Column("product", Str, nullable=False, index=True),
    sa.Column("version", Str, nullable=False),
    sa.Column("status", Str, nullable=False),
    sa.Column("access_level", Str, nullable=False),
    sa.Column("description", Text, nullable=False),
    sa.Column("contract", sa.JSON, nullable=False),
)

columns = _table(
    "mp_columns",
    sa.Column("port", Str, primary_key=True),
    sa.Column("name", Str, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("logical_type", Str, nullable=False),
    sa.Column("physical_type", Str, nullable=False),
    sa.Column("classification", Str),
    sa.Column("description", Text, nullable=False),
    sa.Column("semantic_type", Str, index=True),
    sa.Column("required", sa.Boolean, nullable=False),
    sa.Column("primary_key", sa.Boolean, nullable=False),
)

glossary_terms = _table(
    "mp_glossary_terms",
    sa.Column("name", Str, primary_key=True),
    sa.Column("title", Text, nullable=False),
    sa.Column("description", Text, nullable=False),
    sa.Column("logical_type", Str, nullable=False),
    sa.Column("classification", Str),
)

teams = _table(
    "mp_teams",
    sa.Column("name", Str, primary_key=True),
    sa.Column("title", Text, nullable=False),
)

team_members = _table(
    "mp_team_members",
    sa.Column("team", Str, primary_key=True),
    sa.Column("username", Str, primary_key=True, index=True),
    sa.Column("role", Str, nullable=False),
)

lineage_edges = _table(
    "mp_lineage_edges",
    sa.Column("upstream", Str, primary_key=True),
    sa.Column("downstream", Str, primary_key=True, index=True),
)

column_lineage = _table(
    "mp_column_lineage",
    sa.Column("upstream_port", Str, primary_key=True),
    sa.Column("upstream_column", Str, primary_key=True),
    sa.Column("downstream_port", Str, primary_key=True, index=True),
    sa.Column("downstream_column", Str, primary_key=True),
)

# One row per searchable thing; SQLite indexes it with an FTS5 table, PostgreSQL with a generated
# tsvector column (both created by the migration, outside this metadata).
search_docs = _table(
    "mp_search_docs",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", Str, nullable=False),
    sa.Column("address", Str, nullable=False),
    sa.Column("title", Text, nullable=False),
    sa.Column("domain", Str),
    sa.Column("classification", Str),
    sa.Column("status", Str),
    sa.Column("access_level", Str),
    # The five facets joined into one value: grouping by one column is several times faster than by five.
    sa.Column("facet_key", Text, nullable=False),
    sa.Column("name_text", Text, nullable=False),
    sa.Column("keyword_text", Text, nullable=False),
    sa.Column("owner_text", Text, nullable=False),
    sa.Column("body_text", Text, nullable=False),
)

# --- history, kept across syncs --------------------------------------------------------------------

versions = _table(
    "mp_versions",
    sa.Column("address", Str, primary_key=True),
    sa.Column("version", Str, primary_key=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
)

runs = _table(
    "mp_runs",
    sa.Column("run_id", Str, primary_key=True),
    sa.Column("product", Str, nullable=False),
    sa.Column("port", Str),
    sa.Column("status", Str, nullable=False, index=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime),
    sa.Column("rows_written", sa.BigInteger),
    sa.Column("snapshot_id", Str),
    sa.Column("error", Text),
    sa.Column("engine", Str, nullable=False),
    sa.Column("trigger", Str, nullable=False),
    sa.Column("pid", sa.Integer),
    sa.Column("host", Str, nullable=False),
    sa.Index("ix_mp_runs_product_started_at", "product", "started_at"),
)

check_results = _table(
    "mp_check_results",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", Str, sa.ForeignKey("mp_runs.run_id"), nullable=False, index=True),
    sa.Column("rule_id", Str, nullable=False),
    sa.Column("port", Str, nullable=False, index=True),
    sa.Column("column_name", Str),
    sa.Column("metric", Str, nullable=False),
    sa.Column("observed", sa.Float),
    sa.Column("threshold", Text, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("severity", Str, nullable=False),
    sa.Column("sample", sa.JSON, nullable=False),
)

profiles = _table(
    "mp_profiles",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", Str, sa.ForeignKey("mp_runs.run_id"), nullable=False, index=True),
    sa.Column("port", Str, nullable=False),
    sa.Column("profiled_at", UtcDateTime, nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Index("ix_mp_profiles_port_profiled_at", "port", "profiled_at"),
)

policy_results = _table(
    "mp_policy_results",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("evaluation_id", Str, nullable=False, index=True),
    sa.Column("evaluated_at", UtcDateTime, nullable=False),
    sa.Column("policy_id", Str, nullable=False),
    sa.Column("subject", Str, nullable=False, index=True),
    sa.Column("outcome", Str, nullable=False),
    sa.Column("message", Text, nullable=False),
    sa.Column("location", Text, nullable=False),
    sa.Column("severity", Str, nullable=False),
)

slo_evaluations = _table(
    "mp_slo_evaluations",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("port", Str, nullable=False),
    sa.Column("slo", Str, nullable=False),
    sa.Column("status", Str, nullable=False),
    sa.Column("observed", sa.Float),
    sa.Column("target", sa.Float),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("evaluated_at", UtcDateTime, nullable=False),
    sa.Index("ix_mp_slo_evaluations_port_evaluated_at", "port", "evaluated_at"),
)

access_requests = _table(
    "mp_access_requests",
    sa.Column("id", Str, primary_key=True),
    sa.Column("requester", Str, nullable=False, index=True),
    sa.Column("port", Str, nullable=False, index=True),
    sa.Column("purpose", Text, nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("until", UtcDateTime),
    sa.Column("status", Str, nullable=False, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("decided_by", Str),
    sa.Column("decided_at", UtcDateTime),
    sa.Column("row_filter", Text),
    sa.Column("note", Text, nullable=False),
    sa.Column("product", Str, index=True),  # the consuming product of an agreement; None for a person
    sa.Column("unmasked", sa.JSON),  # columns an agreement reads unmasked
)

grants = _table(
    "mp_grants",
    sa.Column("id", Str, primary_key=True),
    sa.Column("request_id", Str, sa.ForeignKey("mp_access_requests.id"), nullable=False, unique=True),
    sa.Column("grantee", Str, nullable=False, index=True),
    sa.Column("port", Str, nullable=False, index=True),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("row_filter", Text),
    sa.Column("granted_by", Str, nullable=False),
    sa.Column("granted_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("unmasked", sa.JSON),
)

# Append-only: the migration adds triggers that refuse UPDATE and DELETE.
audit_log = _table(
    "mp_audit_log",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Column("actor", Str, nullable=False, index=True),
    sa.Column("action", Str, nullable=False),
    sa.Column("subject", Str, nullable=False, index=True),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index("ix_mp_audit_log_action_id", "action", "id"),
)

api_tokens = _table(
    "mp_api_tokens",
    sa.Column("id", Str, primary_key=True),
    sa.Column("username", Str, nullable=False, index=True),
    sa.Column("name", Str, nullable=False),
    sa.Column("salt", Str, nullable=False),
    sa.Column("token_hash", Str, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("scram_verifier", Str),  # SCRAM-SHA-256 verifier for PostgreSQL clients (migration 0008)
)

query_log = _table(
    "mp_query_log",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Column("username", Str, nullable=False, index=True),
    sa.Column("sql_hash", Str, nullable=False),
    sa.Column("sql_text", Text, nullable=False),
    sa.Column("rows", sa.BigInteger),
    sa.Column("duration_ms", sa.Float),
    sa.Column("decision", Str, nullable=False),
    sa.Column("error", Text),
)

# The ports each logged query read, so usage per port is an indexed join rather than JSON parsing.
query_log_ports = _table(
    "mp_query_log_ports",
    sa.Column("query_id", sa.Integer, sa.ForeignKey("mp_query_log.id"), primary_key=True),
    sa.Column("port", Str, primary_key=True, index=True),
)

# Small key/value facts about the catalog itself, e.g. the hash of the mesh state sync_mesh last stored.
settings = _table(
    "mp_settings",
    sa.Column("key", Str, primary_key=True),
    sa.Column("value", Text, nullable=False),
)

# --- notifications: the outbox, its deliveries, and every attempt (the delivery log) -----------------

notifications = _table(
    "mp_notifications",
    sa.Column("id", Str, primary_key=True),
    sa.Column("kind", Str, nullable=False, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sa.Column("subject", Str, nullable=False),
    sa.Column("title", Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("audience", sa.JSON, nullable=False),
    sa.Column("dedupe_key", Str, unique=True),
)

deliveries = _table(
    "mp_deliveries",
    sa.Column("id", Str, primary_key=True),
    sa.Column("notification_id", Str, sa.ForeignKey("mp_notifications.id"), nullable=False, index=True),
    sa.Column("channel", Str, nullable=False),
    sa.Column("channel_type", Str, nullable=False),
    sa.Column("subscriber", Str, nullable=False),
    sa.Column("status", Str, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("delivered_at", UtcDateTime),
    sa.Column("last_error", Text),
    sa.Index("ix_mp_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
)

delivery_attempts = _table(
    "mp_delivery_attempts",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", Str, sa.ForeignKey("mp_deliveries.id"), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", Text),
    sa.Column("seconds", sa.Float, nullable=False),
)

# --- the portal's workbench: each person's query history and saved queries, owners' annotations --------------

# What a person ran from the SQL editor (the audit trail is mp_query_log, which nobody may clear; this history is
# the person's own, kept short and clearable).
query_history = _table(
    "mp_query_history",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", Str, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("sql_text", Text, nullable=False),
    sa.Column("rows", sa.BigInteger),
    sa.Column("duration_ms", sa.Float),
    sa.Column("error", Text),
    sa.Index("ix_mp_query_history_username_at", "username", "at"),
)

saved_queries = _table(
    "mp_saved_queries",
    sa.Column("id", Str, primary_key=True),
    sa.Column("username", Str, nullable=False),
    sa.Column("name", Str, nullable=False),
    sa.Column("sql_text", Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("username", "name"),
)

# Descriptions and tags an owner edited in the portal: shown beside the product files' own values, never
# written into them (``field`` is description or tags; ``value`` a string or a list of strings).
product_annotations = _table(
    "mp_annotations",
    sa.Column("product", Str, primary_key=True),
    sa.Column("field", Str, primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("author", Str, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The teams the company's identity provider vouched for when a person last signed in (mesh.yaml's sign_in:
# group_teams), in force until ``expires_at`` (the session's own expiry) or the next sign-in.
signin_teams = _table(
    "mp_signin_teams",
    sa.Column("username", Str, primary_key=True),
    sa.Column("teams", sa.JSON, nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("signed_in_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)
