"""Per-domain builder credentials: the storage itself, not only meshplane, keeps a domain's builder to its tables.

Every table of domain ``d`` lives under ``<warehouse>/d/`` (:meth:`TableStore.table_uri`) and its current
metadata pointer is the ``iceberg_tables`` row of namespace ``d`` in the catalog database. A builder that can
write neither anything else in the bucket nor any other namespace's pointer cannot publish into another domain,
whatever code it runs:

- :func:`s3_builder_policy` is the IAM policy of a domain's builder key: read the warehouse (its inputs are other
  domains' published files, read through its own governed gateway), write and delete only below its domain.
- :func:`grant_builder` gives a PostgreSQL role the right to build one domain: it may read and write the catalog's
  bookkeeping tables, but row-level security lets it insert, move or drop only its own domains' table pointers.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from meshplane.errors import StorageError, UsageError
from meshplane.storage.objectstore import S3Location

__all__ = ["domain_write_role", "grant_builder", "s3_builder_policy"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DATABASE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
# pyiceberg's SQL catalog: the table pointers and the namespaces (one per domain).
_POINTERS = {"iceberg_tables": "table_namespace", "iceberg_namespace_properties": "namespace"}
_POLICY = "meshplane_builders_write_own_domains"
_WRITER_PREFIX = "meshplane_publishes_"


def domain_write_role(domain: str, database: str) -> str:
    """The NOLOGIN role whose members may publish ``domain``'s tables in the catalog ``database``.

    Roles are cluster-wide in PostgreSQL, so the name carries the database: a builder granted a domain in a
    staging catalog gains nothing in the production catalog on the same server."""
    if not _NAME.match(domain):
        raise UsageError(f"invalid domain name {domain!r}: use lower_snake_case")
    role = f"{_WRITER_PREFIX}{domain}@{database}"
    if len(role.encode()) > 63:
        raise UsageError(f"the role name {role!r} is longer than PostgreSQL's 63 bytes: shorten the domain name")
    return role


def s3_builder_policy(location: S3Location, domain: str) -> dict[str, Any]:
    """An IAM policy document for ``domain``'s builder key on the warehouse ``location``."""
    if not _NAME.match(domain):
        raise UsageError(f"invalid domain name {domain!r}: use lower_snake_case")
    warehouse = f"arn:aws:s3:::{location.bucket}" + (f"/{location.prefix}" if location.prefix else "")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListTheWarehouse",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                # Listing shows object names only (reads need s3:GetObject); the bucket is the platform's own.
                "Resource": [f"arn:aws:s3:::{location.bucket}"],
            },
            {
                "Sid": "ReadPublishedTables",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{warehouse}/*"],
            },
            {
                "Sid": f"PublishOnly{''.join(p.title() for p in domain.split('_'))}",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": [f"{warehouse}/{domain}/*"],
            },
        ],
    }


def grant_builder(catalog_url: str, domain: str, role: str) -> list[str]:
    """Let the PostgreSQL ``role`` build ``domain`` against the catalog at ``catalog_url`` (run as its owner).

    Idempotent; returns the statements it ran. Row-level security on the table pointers is switched on at the
    first grant: from then on a role publishes only the domains it was granted (the owner is not restricted).
    """
    if not _ROLE.match(role):
        raise UsageError(f"invalid PostgreSQL role name {role!r}")
    url = sa.engine.make_url(catalog_url)
    if url.get_backend_name() != "postgresql":
        raise UsageError(
            "per-domain builder roles need the catalog on PostgreSQL (platform.catalog_url_env); with SQLite the "
            "builder holds the catalog file and meshplane alone keeps it to its own domains"
        )
    if not url.database or not _DATABASE.match(url.database):
        raise UsageError(
            f"the catalog URL {url.render_as_string(hide_password=True)} must name a database of letters, "
            "digits, '_' and '-'"
        )
    writer = domain_write_role(domain, url.database)
    statements = [
        f'DO $$ BEGIN CREATE ROLE "{writer}" NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$',
        f'GRANT "{writer}" TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
        # Tables a later meshplane version's migrations add are the builder's to use too.
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO "{role}"',
    ]
    for table, namespace in _POINTERS.items():
        # A role may touch a pointer row only when it is a member of that namespace's writer role.
        own = (
            f"EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = '{_WRITER_PREFIX}' || "
            f"split_part({namespace}, '.', 1) || '@' || current_database() "
            "AND pg_has_role(current_user, r.oid, 'MEMBER'))"
        )
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS meshplane_builders_read ON {table}",
            f"CREATE POLICY meshplane_builders_read ON {table} FOR SELECT USING (true)",
            f"DROP POLICY IF EXISTS {_POLICY} ON {table}",
            f"CREATE POLICY {_POLICY} ON {table} FOR ALL USING ({own}) WITH CHECK ({own})",
        ]
    engine = sa.create_engine(catalog_url)
    try:
        with engine.begin() as conn:
            missing = [t for t in _POINTERS if not sa.inspect(conn).has_table(t)]
            if missing:
                raise UsageError(
                    f"the catalog has no {', '.join(missing)} table yet: build or publish once as the platform "
                    "(the catalog's owner) before granting builder roles"
                )
            for statement in statements:
                conn.execute(sa.text(statement))
    except sa.exc.SQLAlchemyError as exc:
        detail = getattr(exc, "orig", None) or exc  # the driver's own message, without the SQL
        raise StorageError(f"cannot grant {role} the right to build {domain}: {detail}") from exc
    finally:
        engine.dispose()
    return statements
