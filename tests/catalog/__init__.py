"""Conformance suite of the catalog store: every test runs on SQLite and on PostgreSQL."""
