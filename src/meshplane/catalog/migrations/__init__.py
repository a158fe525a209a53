"""Alembic migrations of the catalog store, run programmatically by meshplane.catalog.migrate."""
