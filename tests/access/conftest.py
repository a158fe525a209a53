"""Parquet fixtures with canaries for the query gateway, and a resolver that grants like a real mesh would.

Canary values sit in PII cells (masked or not granted), in the row the row filter removes, in an old
snapshot, in files that belong to no granted port, and in the consumer's hashing key. None of them may
ever reach a result cell, a column name, an error message or a log entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from meshplane.access import (
    MaskKind,
    PortColumn,
    QueryGateway,
    QueryLogEntry,
    ReadablePort,
)
from meshplane.engines.duckdb_sandbox import SandboxLimits
from meshplane.errors import AccessDenied
from meshplane.sql import PortRef
from meshplane.storage.objectstore import S3Location, s3_location
from meshplane.types import Principal

CONSUMER_KEY = "k3y-CANARYKEY-7f1e"
CANARIES = (
    "CANARYNAME",
    "canarypii",
    "CANARYPHONE",
    "CANARYSSN",
    "canarystruct",
    "CANARYCITY",
    "CANARYTAG",
    "FILTEREDCANARY",
    "31337",
    "FILECANARY",
    "SALARYCANARY",
    "OLDSNAPCANARY",
    "CANARYKEY",
    "LISTCANARY",
    "UNDECLAREDCANARY",
    "MAPCANARY",
)
ANALYST = Principal("rita", frozenset({"royalties-team"}))

CUSTOMER_COLUMNS = (
    PortColumn("id", "INTEGER"),
    PortColumn("name", "VARCHAR"),
    PortColumn("email", "VARCHAR"),
    PortColumn("phone", "VARCHAR"),
    PortColumn("ssn", "VARCHAR"),
    PortColumn("region", "VARCHAR"),
    PortColumn("balance", "DECIMAL(10,2)"),
    PortColumn("profile", "STRUCT(email VARCHAR, city VARCHAR)"),
    PortColumn("tags", "VARCHAR[]"),
    PortColumn("notes", "VARCHAR"),
)
CUSTOMER_MASKS = {
    "name": MaskKind.HASH,
    "email": MaskKind.PARTIAL,
    "phone": MaskKind.REDACT,
    "profile": MaskKind.REDACT,
    "tags": MaskKind.NULL,
}
CUSTOMER_GRANT = frozenset(c.name for c in CUSTOMER_COLUMNS) - {"ssn"}
ROW_FILTER = "region <> 'HIDDEN'"

_CUSTOMERS_SQL = """
SELECT * FROM (VALUES
 (1, 'Alice CANARYNAME', 'canarypiia@example.org', '+1 555 CANARYPHONE1', 'CANARYSSN-001', 'EU', 10.50,
  {'email': 'canarystructa@example.org', 'city': 'CANARYCITY'}, ['CANARYTAG', 'a'], '100'),
 (2, 'Bob CANARYNAME', 'canarypiib@example.org', '+1 555 CANARYPHONE2', 'CANARYSSN-002', 'US', 20.00,
  {'email': 'canarystructb@example.org', 'city': 'CANARYCITY'}, ['CANARYTAG'], '200'),
 (3, 'Carol CANARYNAME', NULL, '+1 555 CANARYPHONE3', 'CANARYSSN-003', 'EU', 30.25,
  {'email': NULL, 'city': 'CANARYCITY'}, [], '300'),
 (4, 'Mallory FILTEREDCANARY', 'filteredcanary@example.org', 'FILTEREDCANARY-PHONE', 'FILTEREDCANARY-SSN',
  'HIDDEN', 31337.77, {'email': 'FILTEREDCANARY@example.org', 'city': 'FILTEREDCANARY'},
  ['FILTEREDCANARY'], 'FILTEREDCANARY')
) AS t(id, name, email, phone, ssn, region, balance, profile, tags, notes)
"""


# Nested ODCS properties: masks on STRUCT fields (contact.email hashed, contact.phone partial), and a partial
# mask on a whole STRUCT (address), which masks each of its fields, nested ones included. ``visits`` is a LIST
# of STRUCT whose elements' fields are masked each (visits.email hashed, visits.ip partial). The files also
# hold fields the contract does not declare (contact.vault, visits[].token): the port's types leave them out,
# as the access policy does for every consumer but the owners, so no query may reach them.
# MAPs carry their keys as data: ``attributes`` declares the keys plan and email (email hashed; the files also
# hold an undeclared key, token), ``scores`` the keys level and pin (pin NULL-masked; undeclared: vaultpin),
# ``hidden`` declares none, so a consumer sees none of its entries (the policy leaves such a MAP out; the
# gateway shows it NULL when a port lists it anyway).
CONTACT_COLUMNS = (
    PortColumn("id", "INTEGER"),
    PortColumn("contact", "STRUCT(email VARCHAR, phone VARCHAR, city VARCHAR)"),
    PortColumn("address", "STRUCT(street VARCHAR, geo STRUCT(zone INTEGER, note VARCHAR))"),
    PortColumn("visits", "STRUCT(email VARCHAR, ip VARCHAR, page VARCHAR)[]"),
    PortColumn("attributes", "MAP(VARCHAR, VARCHAR)"),
    PortColumn("scores", "MAP(VARCHAR, INTEGER)"),
    PortColumn("hidden", "MAP(VARCHAR, VARCHAR)"),
)
CONTACT_MASKS = {
    "contact.email": MaskKind.HASH,
    "contact.phone": MaskKind.PARTIAL,
    "address": MaskKind.PARTIAL,
    "visits.email": MaskKind.HASH,
    "visits.ip": MaskKind.PARTIAL,
    "attributes.email": MaskKind.HASH,
    "scores.pin": MaskKind.NULL,
}
CONTACT_MAP_KEYS = {"attributes": frozenset({"plan", "email"}), "scores": frozenset({"level", "pin"})}
UNDECLARED_FIELDS = ("vault", "token")
_CONTACTS_SQL = """
SELECT * FROM (VALUES
 (1, {'email': 'canarystructc@example.org', 'phone': '+1 555 CANARYPHONE7', 'city': 'Lyon',
      'vault': 'UNDECLAREDCANARY-1'},
  {'street': '1 CANARYCITY Road', 'geo': {'zone': 31337, 'note': 'CANARYTAG gate'}},
  [{'email': 'listcanarya@example.org', 'ip': 'LISTCANARY-10.9.8.7', 'page': 'home', 'token': 'UNDECLAREDCANARY-2'},
   {'email': 'listcanaryb@example.org', 'ip': NULL, 'page': 'shop', 'token': 'UNDECLAREDCANARY-3'}],
  MAP {'plan': 'gold', 'email': 'mapcanarya@example.org', 'token': 'MAPCANARY-TOKEN'},
  MAP {'level': 3, 'pin': 4242, 'vaultpin': 4242},
  MAP {'note': 'MAPCANARY-HIDDEN'}),
 (2, {'email': NULL, 'phone': NULL, 'city': 'Oslo', 'vault': 'UNDECLAREDCANARY-4'}, NULL, NULL,
  MAP {'Email': 'mapcanaryb@example.org', 'TOKEN': 'MAPCANARY-UPPER'}, NULL, NULL)
) AS t(id, contact, address, visits, attributes, scores, hidden)
"""


@dataclass
class Mesh:
    root: Path
    files: dict[str, Path]
    log: list[QueryLogEntry] = field(default_factory=list)
    # The warehouse on S3: the same files as objects under s3://bucket/ (and the credentials to read them).
    store: S3Location | None = None

    @property
    def base(self) -> str:
        """Where the fixture files live: the local folder, or ``s3://bucket``."""
        return self.store.uri if self.store is not None else str(self.root)

    def path(self, name: str) -> str:
        if self.store is not None:
            return f"{self.store.uri}/{self.files[name].relative_to(self.root).as_posix()}"
        return str(self.files[name])


def upload_fixtures(mesh: Mesh, server: Any) -> Mesh:
    """The same fixture files as objects in a fresh bucket of the loopback S3 server."""
    bucket = server.create_bucket("gateway")
    env = server.env()
    store = s3_location(f"s3://{bucket}", env)
    filesystem = store.filesystem()
    for path in mesh.files.values():
        with filesystem.open_output_stream(f"{bucket}/{path.relative_to(mesh.root).as_posix()}") as out:
            out.write(path.read_bytes())
    return Mesh(mesh.root, mesh.files, store=store)


def _write(connection: duckdb.DuckDBPyConnection, query: str, target: Path, fmt: str = "parquet") -> None:
    literal = str(target).replace("'", "''")
    connection.execute(f"COPY ({query}) TO '{literal}' (FORMAT {fmt})")


def build_fixtures(root: Path) -> dict[str, Path]:
    files = {
        "customers_s2": root / "crm" / "customers" / "snap-2" / "part-0.parquet",
        "customers_s1": root / "crm" / "customers" / "snap-1" / "part-0.parquet",
        "orders": root / "sales" / "orders" / "part-0.parquet",
        "regions": root / "ref" / "regions" / "part-0.parquet",
        "contacts": root / "crm" / "contacts" / "part-0.parquet",
        "salaries": root / "hr" / "salaries" / "part-0.parquet",
        "secret_parquet": root / "secret.parquet",
        "secret_csv": root / "secret.csv",
        "secret_txt": root / "secret.txt",
        "secret_json": root / "secret.json",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    _write(con, _CUSTOMERS_SQL, files["customers_s2"])
    _write(
        con,
        _CUSTOMERS_SQL.replace("CANARYNAME", "OLDSNAPCANARY").replace("'100'", "'101'"),
        files["customers_s1"],
    )
    _write(
        con,
        "SELECT * FROM (VALUES (10, 1, 5.0, 'canarypiia@example.org', 'open'),"
        " (11, 2, 7.5, 'canarypiib@example.org', 'paid'), (12, 4, 1.0, 'filteredcanary@example.org', 'open'))"
        " AS t(order_id, customer_id, amount, customer_email, status)",
        files["orders"],
    )
    _write(con, "SELECT * FROM (VALUES ('EU', 'Europe'), ('US', 'United States')) AS t(code, label)", files["regions"])
    _write(con, _CONTACTS_SQL, files["contacts"])
    _write(con, "SELECT 'SALARYCANARY' AS employee, 99 AS salary", files["salaries"])
    _write(con, "SELECT 'FILECANARY' AS secret", files["secret_parquet"])
    _write(con, "SELECT 'FILECANARY' AS secret", files["secret_csv"], "csv")
    files["secret_txt"].write_text("FILECANARY\n")
    files["secret_json"].write_text(json.dumps({"secret": "FILECANARY"}) + "\n")
    con.close()
    return files


SNAPSHOTS = {1: datetime(2024, 1, 1, tzinfo=UTC), 2: datetime(2025, 1, 1, tzinfo=UTC)}


def make_resolver(mesh: Mesh, *, row_filter: str | None = ROW_FILTER) -> Any:
    def resolve(ref: PortRef) -> ReadablePort:
        if ref.address == "crm.customers.customers":
            if ref.version not in (None, "v1"):
                raise AccessDenied(f"{ref.address} has no version {ref.version}")
            snapshot = 2
            if ref.as_of_snapshot is not None:
                if ref.as_of_snapshot not in SNAPSHOTS:
                    raise AccessDenied(f"{ref.address} has no snapshot {ref.as_of_snapshot}")
                snapshot = ref.as_of_snapshot
            elif ref.as_of_timestamp is not None:
                older = [s for s, at in SNAPSHOTS.items() if at <= ref.as_of_timestamp]
                if not older:
                    raise AccessDenied(f"{ref.address} has no snapshot at that time")
                snapshot = max(older)
            return ReadablePort(
                address=ref.address,
                version="1.2.0",
                files=(mesh.path(f"customers_s{snapshot}"),),
                columns=CUSTOMER_COLUMNS,
                masks=CUSTOMER_MASKS,
                granted_columns=CUSTOMER_GRANT,
                row_filter=row_filter,
                snapshot_id=snapshot,
            )
        if ref.as_of_snapshot is not None or ref.as_of_timestamp is not None:
            raise AccessDenied(f"{ref.address} keeps no history")
        if ref.address == "sales.orders.orders":
            return ReadablePort(
                address=ref.address,
                version="2.0.0",
                files=(mesh.path("orders"),),
                columns=(
                    PortColumn("order_id", "INTEGER"),
                    PortColumn("customer_id", "INTEGER"),
                    PortColumn("amount", "DECIMAL(3,1)"),
                    PortColumn("customer_email", "VARCHAR"),
                    PortColumn("status", "VARCHAR"),
                ),
                masks={"customer_email": MaskKind.HASH},
            )
        if ref.address in ("crm.contacts.contacts", "crm.contacts"):
            return ReadablePort(
                address="crm.contacts.contacts",
                version="1.0.0",
                files=(mesh.path("contacts"),),
                columns=CONTACT_COLUMNS,
                masks=CONTACT_MASKS,
                map_keys=CONTACT_MAP_KEYS,
            )
        if ref.address in ("ref.regions.regions", "ref.regions"):
            return ReadablePort(
                address="ref.regions.regions",
                version="1.0.0",
                files=(mesh.path("regions"),),
                columns=(PortColumn("code", "VARCHAR"), PortColumn("label", "VARCHAR")),
            )
        raise AccessDenied(f"{ref.address} is restricted; request access with: meshplane access request {ref.address}")

    return resolve


@pytest.fixture(scope="session", params=["local", "s3"])
def mesh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    """The fixture ports' files on local disk, and again as objects in a bucket on the loopback S3 server."""
    root = tmp_path_factory.mktemp("gateway-mesh")
    local = Mesh(root, build_fixtures(root))
    if request.param == "local":
        return local
    return upload_fixtures(local, request.getfixturevalue("s3_server"))


@pytest.fixture(scope="session")
def gateway(mesh: Mesh) -> Iterator[QueryGateway]:
    limits = SandboxLimits(memory_limit="512MB", threads=2, timeout_seconds=3.0, max_rows=50_000)
    instance = QueryGateway(limits=limits, on_query=mesh.log.append, object_store=mesh.store)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def resolver(mesh: Mesh) -> Any:
    return make_resolver(mesh)
