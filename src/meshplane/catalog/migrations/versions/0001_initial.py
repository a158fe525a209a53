"""Initial catalog schema, its full-text index and the append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 05:55:44.686840
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mp_access_requests",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("requester", sa.String(length=255), nullable=False),
        sa.Column("port", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("row_filter", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_access_requests")),
    )
    op.create_index("ix_mp_access_requests_port", "mp_access_requests", ["port"])
    op.create_index("ix_mp_access_requests_requester", "mp_access_requests", ["requester"])
    op.create_index("ix_mp_access_requests_status", "mp_access_requests", ["status"])

    op.create_table(
        "mp_api_tokens",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("salt", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_api_tokens")),
    )
    op.create_index("ix_mp_api_tokens_username", "mp_api_tokens", ["username"])

    op.create_table(
        "mp_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_audit_log")),
    )
    op.create_index("ix_mp_audit_log_actor", "mp_audit_log", ["actor"])
    op.create_index("ix_mp_audit_log_at", "mp_audit_log", ["at"])
    op.create_index("ix_mp_audit_log_subject", "mp_audit_log", ["subject"])

    op.create_table(
        "mp_column_lineage",
        sa.Column("upstream_port", sa.String(length=255), nullable=False),
        sa.Column("upstream_column", sa.String(length=255), nullable=False),
        sa.Column("downstream_port", sa.String(length=255), nullable=False),
        sa.Column("downstream_column", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint(
            "upstream_port",
            "upstream_column",
            "downstream_port",
            "downstream_column",
            name=op.f("pk_mp_column_lineage"),
        ),
    )
    op.create_index("ix_mp_column_lineage_downstream_port", "mp_column_lineage", ["downstream_port"])

    op.create_table(
        "mp_columns",
        sa.Column("port", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("logical_type", sa.String(length=255), nullable=False),
        sa.Column("physical_type", sa.String(length=255), nullable=False),
        sa.Column("classification", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("semantic_type", sa.String(length=255), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("primary_key", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("port", "name", name=op.f("pk_mp_columns")),
    )
    op.create_index("ix_mp_columns_semantic_type", "mp_columns", ["semantic_type"])

    op.create_table(
        "mp_domains",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_team", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mp_domains")),
    )
    op.create_table(
        "mp_glossary_terms",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("logical_type", sa.String(length=255), nullable=False),
        sa.Column("classification", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mp_glossary_terms")),
    )
    op.create_table(
        "mp_lineage_edges",
        sa.Column("upstream", sa.String(length=255), nullable=False),
        sa.Column("downstream", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("upstream", "downstream", name=op.f("pk_mp_lineage_edges")),
    )
    op.create_index("ix_mp_lineage_edges_downstream", "mp_lineage_edges", ["downstream"])

    op.create_table(
        "mp_policy_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evaluation_id", sa.String(length=255), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy_id", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_policy_results")),
    )
    op.create_index("ix_mp_policy_results_evaluation_id", "mp_policy_results", ["evaluation_id"])
    op.create_index("ix_mp_policy_results_subject", "mp_policy_results", ["subject"])

    op.create_table(
        "mp_ports",
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("product", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("access_level", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contract", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_mp_ports")),
    )
    op.create_index("ix_mp_ports_product", "mp_ports", ["product"])

    op.create_table(
        "mp_products",
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("owner_team", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("access_level", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_mp_products")),
    )
    op.create_index("ix_mp_products_domain", "mp_products", ["domain"])
    op.create_index("ix_mp_products_owner_team", "mp_products", ["owner_team"])

    op.create_table(
        "mp_query_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("sql_hash", sa.String(length=255), nullable=False),
        sa.Column("sql_text", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(length=255), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_query_log")),
    )
    op.create_index("ix_mp_query_log_at", "mp_query_log", ["at"])
    op.create_index("ix_mp_query_log_username", "mp_query_log", ["username"])

    op.create_table(
        "mp_runs",
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("product", sa.String(length=255), nullable=False),
        sa.Column("port", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_written", sa.BigInteger(), nullable=True),
        sa.Column("snapshot_id", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("engine", sa.String(length=255), nullable=False),
        sa.Column("trigger", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_mp_runs")),
    )
    op.create_index("ix_mp_runs_product_started_at", "mp_runs", ["product", "started_at"])
    op.create_index("ix_mp_runs_status", "mp_runs", ["status"])

    op.create_table(
        "mp_search_docs",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("classification", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=255), nullable=True),
        sa.Column("access_level", sa.String(length=255), nullable=True),
        sa.Column("facet_key", sa.Text(), nullable=False),
        sa.Column("name_text", sa.Text(), nullable=False),
        sa.Column("keyword_text", sa.Text(), nullable=False),
        sa.Column("owner_text", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_search_docs")),
    )
    op.create_table(
        "mp_slo_evaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("port", sa.String(length=255), nullable=False),
        sa.Column("slo", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_slo_evaluations")),
    )
    op.create_index("ix_mp_slo_evaluations_port_evaluated_at", "mp_slo_evaluations", ["port", "evaluated_at"])

    op.create_table(
        "mp_team_members",
        sa.Column("team", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("team", "username", name=op.f("pk_mp_team_members")),
    )
    op.create_index("ix_mp_team_members_username", "mp_team_members", ["username"])

    op.create_table(
        "mp_teams",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mp_teams")),
    )
    op.create_table(
        "mp_versions",
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("address", "version", name=op.f("pk_mp_versions")),
    )
    op.create_table(
        "mp_check_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("rule_id", sa.String(length=255), nullable=False),
        sa.Column("port", sa.String(length=255), nullable=False),
        sa.Column("column_name", sa.String(length=255), nullable=True),
        sa.Column("metric", sa.String(length=255), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=255), nullable=False),
        sa.Column("sample", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["mp_runs.run_id"], name=op.f("fk_mp_check_results_run_id_mp_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_check_results")),
    )
    op.create_index("ix_mp_check_results_port", "mp_check_results", ["port"])
    op.create_index("ix_mp_check_results_run_id", "mp_check_results", ["run_id"])

    op.create_table(
        "mp_grants",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.Column("grantee", sa.String(length=255), nullable=False),
        sa.Column("port", sa.String(length=255), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("row_filter", sa.Text(), nullable=True),
        sa.Column("granted_by", sa.String(length=255), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["mp_access_requests.id"], name=op.f("fk_mp_grants_request_id_mp_access_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_grants")),
        sa.UniqueConstraint("request_id", name=op.f("uq_mp_grants_request_id")),
    )
    op.create_index("ix_mp_grants_grantee", "mp_grants", ["grantee"])
    op.create_index("ix_mp_grants_port", "mp_grants", ["port"])

    op.create_table(
        "mp_query_log_ports",
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("port", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_id"], ["mp_query_log.id"], name=op.f("fk_mp_query_log_ports_query_id_mp_query_log")
        ),
        sa.PrimaryKeyConstraint("query_id", "port", name=op.f("pk_mp_query_log_ports")),
    )
    op.create_index("ix_mp_query_log_ports_port", "mp_query_log_ports", ["port"])
    _create_search_index()
    _make_audit_log_append_only()


def downgrade() -> None:
    _drop_extras()
    op.drop_table("mp_query_log_ports")
    op.drop_table("mp_grants")
    op.drop_table("mp_check_results")
    op.drop_table("mp_versions")
    op.drop_table("mp_teams")
    op.drop_table("mp_team_members")
    op.drop_table("mp_slo_evaluations")
    op.drop_table("mp_search_docs")
    op.drop_table("mp_runs")
    op.drop_table("mp_query_log")
    op.drop_table("mp_products")
    op.drop_table("mp_ports")
    op.drop_table("mp_policy_results")
    op.drop_table("mp_lineage_edges")
    op.drop_table("mp_glossary_terms")
    op.drop_table("mp_domains")
    op.drop_table("mp_columns")
    op.drop_table("mp_column_lineage")
    op.drop_table("mp_audit_log")
    op.drop_table("mp_api_tokens")
    op.drop_table("mp_access_requests")


_SQLITE_SEARCH = """
CREATE VIRTUAL TABLE mp_search_fts USING fts5(
    name_text, keyword_text, owner_text, body_text,
    content='mp_search_docs', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3'
)
"""

# PostgreSQL's parser reads a.b_c as one host or file token; search splits on punctuation
# (as SQLite's unicode61 does), so the index does too.
# Weights A..D rank name hits above keywords (tags, glossary terms), owners and descriptions.
_PG_SEARCH = (
    r"""
    CREATE FUNCTION mp_words(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN regexp_replace($1, '[^[:alnum:]]+', ' ', 'g')
    """,
    """
    ALTER TABLE mp_search_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', mp_words(name_text)), 'A')
        || setweight(to_tsvector('simple', mp_words(keyword_text)), 'B')
        || setweight(to_tsvector('simple', mp_words(owner_text)), 'C')
        || setweight(to_tsvector('simple', mp_words(body_text)), 'D')
    ) STORED
    """,
    "CREATE INDEX ix_mp_search_docs_tsv ON mp_search_docs USING gin (tsv)",
)

_REFUSE = "mp_audit_log is append-only"

_SQLITE_AUDIT = tuple(
    f"CREATE TRIGGER mp_audit_log_no_{verb.lower()} BEFORE {verb} ON mp_audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
    for verb in ("UPDATE", "DELETE")
)

_PG_AUDIT = (
    f"""
    CREATE FUNCTION mp_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$
    """,
    "CREATE TRIGGER mp_audit_log_append_only BEFORE UPDATE OR DELETE ON mp_audit_log "
    "FOR EACH ROW EXECUTE FUNCTION mp_refuse_audit_change()",
    "CREATE TRIGGER mp_audit_log_no_truncate BEFORE TRUNCATE ON mp_audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION mp_refuse_audit_change()",
)


def _dialect() -> str:
    return str(op.get_bind().dialect.name)


def _create_search_index() -> None:
    for statement in (_SQLITE_SEARCH,) if _dialect() == "sqlite" else _PG_SEARCH:
        op.execute(statement)


def _make_audit_log_append_only() -> None:
    for statement in _SQLITE_AUDIT if _dialect() == "sqlite" else _PG_AUDIT:
        op.execute(statement)


def _drop_extras() -> None:
    if _dialect() == "sqlite":
        op.execute("DROP TABLE mp_search_fts")
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER mp_audit_log_no_{verb}")
    else:
        op.execute("DROP TRIGGER mp_audit_log_append_only ON mp_audit_log")
        op.execute("DROP TRIGGER mp_audit_log_no_truncate ON mp_audit_log")
        op.execute("DROP FUNCTION mp_refuse_audit_change()")
        op.execute("DROP FUNCTION mp_words(text)")
