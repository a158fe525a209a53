CREATE TABLE mp_alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT mp_alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE mp_access_requests (
	id VARCHAR(255) NOT NULL, 
	requester VARCHAR(255) NOT NULL, 
	port VARCHAR(255) NOT NULL, 
	purpose TEXT NOT NULL, 
	columns JSON NOT NULL, 
	until DATETIME, 
	status VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	decided_by VARCHAR(255), 
	decided_at DATETIME, 
	row_filter TEXT, 
	note TEXT NOT NULL, product VARCHAR(255), unmasked JSON, 
	CONSTRAINT pk_mp_access_requests PRIMARY KEY (id)
);
CREATE INDEX ix_mp_access_requests_port ON mp_access_requests (port);
CREATE INDEX ix_mp_access_requests_requester ON mp_access_requests (requester);
CREATE INDEX ix_mp_access_requests_status ON mp_access_requests (status);
CREATE TABLE mp_api_tokens (
	id VARCHAR(255) NOT NULL, 
	username VARCHAR(255) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	salt VARCHAR(255) NOT NULL, 
	token_hash VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	revoked_at DATETIME, scram_verifier VARCHAR(255), 
	CONSTRAINT pk_mp_api_tokens PRIMARY KEY (id)
);
CREATE INDEX ix_mp_api_tokens_username ON mp_api_tokens (username);
CREATE TABLE mp_audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(255) NOT NULL, 
	action VARCHAR(255) NOT NULL, 
	subject VARCHAR(255) NOT NULL, 
	detail JSON NOT NULL, 
	CONSTRAINT pk_mp_audit_log PRIMARY KEY (id)
);
CREATE INDEX ix_mp_audit_log_actor ON mp_audit_log (actor);
CREATE INDEX ix_mp_audit_log_at ON mp_audit_log (at);
CREATE INDEX ix_mp_audit_log_subject ON mp_audit_log (subject);
CREATE TABLE mp_column_lineage (
	upstream_port VARCHAR(255) NOT NULL, 
	upstream_column VARCHAR(255) NOT NULL, 
	downstream_port VARCHAR(255) NOT NULL, 
	downstream_column VARCHAR(255) NOT NULL, 
	CONSTRAINT pk_mp_column_lineage PRIMARY KEY (upstream_port, upstream_column, downstream_port, downstream_column)
);
CREATE INDEX ix_mp_column_lineage_downstream_port ON mp_column_lineage (downstream_port);
CREATE TABLE mp_columns (
	port VARCHAR(255) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	position INTEGER NOT NULL, 
	logical_type VARCHAR(255) NOT NULL, 
	physical_type VARCHAR(255) NOT NULL, 
	classification VARCHAR(255), 
	description TEXT NOT NULL, 
	semantic_type VARCHAR(255), 
	required BOOLEAN NOT NULL, 
	primary_key BOOLEAN NOT NULL, 
	CONSTRAINT pk_mp_columns PRIMARY KEY (port, name)
);
CREATE INDEX ix_mp_columns_semantic_type ON mp_columns (semantic_type);
CREATE TABLE mp_domains (
	name VARCHAR(255) NOT NULL, 
	title TEXT NOT NULL, 
	description TEXT NOT NULL, 
	owner_team VARCHAR(255) NOT NULL, 
	CONSTRAINT pk_mp_domains PRIMARY KEY (name)
);
CREATE TABLE mp_glossary_terms (
	name VARCHAR(255) NOT NULL, 
	title TEXT NOT NULL, 
	description TEXT NOT NULL, 
	logical_type VARCHAR(255) NOT NULL, 
	classification VARCHAR(255), 
	CONSTRAINT pk_mp_glossary_terms PRIMARY KEY (name)
);
CREATE TABLE mp_lineage_edges (
	upstream VARCHAR(255) NOT NULL, 
	downstream VARCHAR(255) NOT NULL, 
	CONSTRAINT pk_mp_lineage_edges PRIMARY KEY (upstream, downstream)
);
CREATE INDEX ix_mp_lineage_edges_downstream ON mp_lineage_edges (downstream);
CREATE TABLE mp_policy_results (
	id INTEGER NOT NULL, 
	evaluation_id VARCHAR(255) NOT NULL, 
	evaluated_at DATETIME NOT NULL, 
	policy_id VARCHAR(255) NOT NULL, 
	subject VARCHAR(255) NOT NULL, 
	outcome VARCHAR(255) NOT NULL, 
	message TEXT NOT NULL, 
	location TEXT NOT NULL, 
	severity VARCHAR(255) NOT NULL, 
	CONSTRAINT pk_mp_policy_results PRIMARY KEY (id)
);
CREATE INDEX ix_mp_policy_results_evaluation_id ON mp_policy_results (evaluation_id);
CREATE INDEX ix_mp_policy_results_subject ON mp_policy_results (subject);
CREATE TABLE mp_ports (
	address VARCHAR(255) NOT NULL, 
	product VARCHAR(255) NOT NULL, 
	version VARCHAR(255) NOT NULL, 
	status VARCHAR(255) NOT NULL, 
	access_level VARCHAR(255) NOT NULL, 
	description TEXT NOT NULL, 
	contract JSON NOT NULL, 
	CONSTRAINT pk_mp_ports PRIMARY KEY (address)
);
CREATE INDEX ix_mp_ports_product ON mp_ports (product);
CREATE TABLE mp_products (
	address VARCHAR(255) NOT NULL, 
	domain VARCHAR(255) NOT NULL, 
	version VARCHAR(255) NOT NULL, 
	status VARCHAR(255) NOT NULL, 
	type VARCHAR(255) NOT NULL, 
	owner_team VARCHAR(255) NOT NULL, 
	title TEXT NOT NULL, 
	description TEXT NOT NULL, 
	tags JSON NOT NULL, 
	access_level VARCHAR(255) NOT NULL, 
	CONSTRAINT pk_mp_products PRIMARY KEY (address)
);
CREATE INDEX ix_mp_products_domain ON mp_products (domain);
CREATE INDEX ix_mp_products_owner_team ON mp_products (owner_team);
CREATE TABLE mp_query_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	username VARCHAR(255) NOT NULL, 
	sql_hash VARCHAR(255) NOT NULL, 
	sql_text TEXT NOT NULL, 
	rows BIGINT, 
	duration_ms FLOAT, 
	decision VARCHAR(255) NOT NULL, 
	error TEXT, 
	CONSTRAINT pk_mp_query_log PRIMARY KEY (id)
);
CREATE INDEX ix_mp_query_log_at ON mp_query_log (at);
CREATE INDEX ix_mp_query_log_username ON mp_query_log (username);
CREATE TABLE mp_runs (
	run_id VARCHAR(255) NOT NULL, 
	product VARCHAR(255) NOT NULL, 
	port VARCHAR(255), 
	status VARCHAR(255) NOT NULL, 
	started_at DATETIME NOT NULL, 
	ended_at DATETIME, 
	rows_written BIGINT, 
	snapshot_id VARCHAR(255), 
	error TEXT, 
	engine VARCHAR(255) NOT NULL, 
	"trigger" VARCHAR(255) NOT NULL, 
	pid INTEGER, 
	host VARCHAR(255) NOT NULL, 
	CONSTRAINT pk_mp_runs PRIMARY KEY (run_id)
);
CREATE INDEX ix_mp_runs_product_started_at ON mp_runs (product, started_at);
CREATE INDEX ix_mp_runs_status ON mp_runs (status);
CREATE TABLE mp_search_docs (
	id INTEGER NOT NULL, 
	kind VARCHAR(255) NOT NULL, 
	address VARCHAR(255) NOT NULL, 
	title TEXT NOT NULL, 
	domain VARCHAR(255), 
	classification VARCHAR(255), 
	status VARCHAR(255), 
	access_level VARCHAR(255), 
	facet_key TEXT NOT NULL, 
	name_text TEXT NOT NULL, 
	keyword_text TEXT NOT NULL, 
	owner_text TEXT NOT NULL, 
	body_text TEXT NOT NULL, 
	CONSTRAINT pk_mp_search_docs PRIMARY KEY (id)
);
CREATE TABLE mp_slo_evaluations (
	id INTEGER NOT NULL, 
	port VARCHAR(255) NOT NULL, 
	slo VARCHAR(255) NOT NULL, 
	status VARCHAR(255) NOT NULL, 
	observed FLOAT, 
	target FLOAT, 
	evidence JSON NOT NULL, 
	evaluated_at DATETIME NOT NULL, 
	CONSTRAINT pk_mp_slo_evaluations PRIMARY KEY (id)
);
CREATE INDEX ix_mp_slo_evaluations_port_evaluated_at ON mp_slo_evaluations (port, evaluated_at);
CREATE TABLE mp_team_members (
	team VARCHAR(255) NOT NULL, 
	username VARCHAR(255) NOT NULL, 
	role VARCHAR(255) NOT NULL, 
	CONSTRAINT pk_mp_team_members PRIMARY KEY (team, username)
);
CREATE INDEX ix_mp_team_members_username ON mp_team_members (username);
CREATE TABLE mp_teams (
	name VARCHAR(255) NOT NULL, 
	title TEXT NOT NULL, 
	CONSTRAINT pk_mp_teams PRIMARY KEY (name)
);
CREATE TABLE mp_versions (
	address VARCHAR(255) NOT NULL, 
	version VARCHAR(255) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	changes JSON NOT NULL, 
	CONSTRAINT pk_mp_versions PRIMARY KEY (address, version)
);
CREATE TABLE mp_check_results (
	id INTEGER NOT NULL, 
	run_id VARCHAR(255) NOT NULL, 
	rule_id VARCHAR(255) NOT NULL, 
	port VARCHAR(255) NOT NULL, 
	column_name VARCHAR(255), 
	metric VARCHAR(255) NOT NULL, 
	observed FLOAT, 
	threshold TEXT NOT NULL, 
	passed BOOLEAN NOT NULL, 
	severity VARCHAR(255) NOT NULL, 
	sample JSON NOT NULL, 
	CONSTRAINT pk_mp_check_results PRIMARY KEY (id), 
	CONSTRAINT fk_mp_check_results_run_id_mp_runs FOREIGN KEY(run_id) REFERENCES mp_runs (run_id)
);
CREATE INDEX ix_mp_check_results_port ON mp_check_results (port);
CREATE INDEX ix_mp_check_results_run_id ON mp_check_results (run_id);
CREATE TABLE mp_grants (
	id VARCHAR(255) NOT NULL, 
	request_id VARCHAR(255) NOT NULL, 
	grantee VARCHAR(255) NOT NULL, 
	port VARCHAR(255) NOT NULL, 
	columns JSON NOT NULL, 
	row_filter TEXT, 
	granted_by VARCHAR(255) NOT NULL, 
	granted_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	revoked_at DATETIME, unmasked JSON, 
	CONSTRAINT pk_mp_grants PRIMARY KEY (id), 
	CONSTRAINT fk_mp_grants_request_id_mp_access_requests FOREIGN KEY(request_id) REFERENCES mp_access_requests (id), 
	CONSTRAINT uq_mp_grants_request_id UNIQUE (request_id)
);
CREATE INDEX ix_mp_grants_grantee ON mp_grants (grantee);
CREATE INDEX ix_mp_grants_port ON mp_grants (port);
CREATE TABLE mp_query_log_ports (
	query_id INTEGER NOT NULL, 
	port VARCHAR(255) NOT NULL, 
	CONSTRAINT pk_mp_query_log_ports PRIMARY KEY (query_id, port), 
	CONSTRAINT fk_mp_query_log_ports_query_id_mp_query_log FOREIGN KEY(query_id) REFERENCES mp_query_log (id)
);
CREATE INDEX ix_mp_query_log_ports_port ON mp_query_log_ports (port);
CREATE VIRTUAL TABLE mp_search_fts USING fts5(
    name_text, keyword_text, owner_text, body_text,
    content='mp_search_docs', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3'
);
CREATE TRIGGER mp_audit_log_no_update BEFORE UPDATE ON mp_audit_log BEGIN SELECT RAISE(ABORT, 'mp_audit_log is append-only'); END;
CREATE TRIGGER mp_audit_log_no_delete BEFORE DELETE ON mp_audit_log BEGIN SELECT RAISE(ABORT, 'mp_audit_log is append-only'); END;
CREATE TABLE mp_settings (
	"key" VARCHAR(255) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_mp_settings PRIMARY KEY ("key")
);
CREATE TABLE mp_notifications (
	id VARCHAR(255) NOT NULL, 
	kind VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	subject VARCHAR(255) NOT NULL, 
	title TEXT NOT NULL, 
	payload JSON NOT NULL, 
	audience JSON NOT NULL, 
	dedupe_key VARCHAR(255), 
	CONSTRAINT pk_mp_notifications PRIMARY KEY (id), 
	CONSTRAINT uq_mp_notifications_dedupe_key UNIQUE (dedupe_key)
);
CREATE INDEX ix_mp_notifications_kind ON mp_notifications (kind);
CREATE INDEX ix_mp_notifications_created_at ON mp_notifications (created_at);
CREATE TABLE mp_deliveries (
	id VARCHAR(255) NOT NULL, 
	notification_id VARCHAR(255) NOT NULL, 
	channel VARCHAR(255) NOT NULL, 
	channel_type VARCHAR(255) NOT NULL, 
	subscriber VARCHAR(255) NOT NULL, 
	status VARCHAR(255) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME, 
	delivered_at DATETIME, 
	last_error TEXT, 
	CONSTRAINT pk_mp_deliveries PRIMARY KEY (id), 
	CONSTRAINT fk_mp_deliveries_notification_id_mp_notifications FOREIGN KEY(notification_id) REFERENCES mp_notifications (id)
);
CREATE INDEX ix_mp_deliveries_notification_id ON mp_deliveries (notification_id);
CREATE INDEX ix_mp_deliveries_status_next_attempt_at ON mp_deliveries (status, next_attempt_at);
CREATE TABLE mp_delivery_attempts (
	id INTEGER NOT NULL, 
	delivery_id VARCHAR(255) NOT NULL, 
	attempt INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	ok BOOLEAN NOT NULL, 
	status_code INTEGER, 
	error TEXT, 
	seconds FLOAT NOT NULL, 
	CONSTRAINT pk_mp_delivery_attempts PRIMARY KEY (id), 
	CONSTRAINT fk_mp_delivery_attempts_delivery_id_mp_deliveries FOREIGN KEY(delivery_id) REFERENCES mp_deliveries (id)
);
CREATE INDEX ix_mp_delivery_attempts_delivery_id ON mp_delivery_attempts (delivery_id);
CREATE INDEX ix_mp_access_requests_product ON mp_access_requests (product);
CREATE TABLE mp_query_history (
	id INTEGER NOT NULL, 
	username VARCHAR(255) NOT NULL, 
	at DATETIME NOT NULL, 
	sql_text TEXT NOT NULL, 
	rows BIGINT, 
	duration_ms FLOAT, 
	error TEXT, 
	CONSTRAINT pk_mp_query_history PRIMARY KEY (id)
);
CREATE INDEX ix_mp_query_history_username_at ON mp_query_history (username, at);
CREATE TABLE mp_saved_queries (
	id VARCHAR(255) NOT NULL, 
	username VARCHAR(255) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	sql_text TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_mp_saved_queries PRIMARY KEY (id), 
	CONSTRAINT uq_mp_saved_queries_username_name UNIQUE (username, name)
);
CREATE TABLE mp_annotations (
	product VARCHAR(255) NOT NULL, 
	field VARCHAR(255) NOT NULL, 
	value JSON NOT NULL, 
	author VARCHAR(255) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_mp_annotations PRIMARY KEY (product, field)
);
CREATE TABLE mp_signin_teams (
	username VARCHAR(255) NOT NULL, 
	teams JSON NOT NULL, 
	groups JSON NOT NULL, 
	signed_in_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	CONSTRAINT pk_mp_signin_teams PRIMARY KEY (username)
);
CREATE TABLE mp_profiles (
	id INTEGER NOT NULL, 
	run_id VARCHAR(255) NOT NULL, 
	port VARCHAR(255) NOT NULL, 
	profiled_at DATETIME NOT NULL, 
	row_count BIGINT NOT NULL, 
	columns JSON NOT NULL, 
	CONSTRAINT pk_mp_profiles PRIMARY KEY (id), 
	CONSTRAINT fk_mp_profiles_run_id_mp_runs FOREIGN KEY(run_id) REFERENCES mp_runs (run_id)
);
CREATE INDEX ix_mp_profiles_run_id ON mp_profiles (run_id);
CREATE INDEX ix_mp_profiles_port_profiled_at ON mp_profiles (port, profiled_at);
CREATE INDEX ix_mp_audit_log_action_id ON mp_audit_log (action, id);
INSERT INTO mp_alembic_version (version_num) VALUES ('0010');
