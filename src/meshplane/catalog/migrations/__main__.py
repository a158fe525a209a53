"""``python -m meshplane.catalog.migrations``: after adding a migration, write the dump of the head schema that
new SQLite catalogs are created from (:func:`meshplane.catalog.migrate.write_sqlite_head`)."""

from meshplane.catalog.migrate import write_sqlite_head

print(f"wrote {write_sqlite_head()}")
