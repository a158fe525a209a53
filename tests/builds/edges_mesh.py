"""A two-domain mesh for governed edges: crm publishes customers (restricted, PII) and notes (private);
sales builds products that read them. Canary values mark everything a sales build must never see raw."""

from __future__ import annotations

from pathlib import Path

RAW_EMAIL = "canary.pii.one@example.com"
UNGRANTED = "CANARY_UNGRANTED_NAME"
US_ROW = "CANARY_US_ROW"
PRIVATE = "CANARY_PRIVATE_NOTE"
ENV_CANARY = "CANARY_ENV_VALUE_7f3a"
FILE_CANARY = "CANARY_FILE_SECRET_9b1c"
NET_CANARY = "CANARY_NETWORK_REPLY_c4d2"
ROW_FILTER = "country <> 'US'"

_MESH = """\
name: shop
title: Shop
platform: {{engine: duckdb, build_limits: {{memory: 1GB, timeout_seconds: {timeout}, cpu_seconds: {cpu}}}}}
teams:
  - name: crm-team
    members: [{{username: carla, role: owner}}]
  - name: sales-team
    members: [{{username: sam, role: owner}}]
  - name: governance-guild
    members: [{{username: gina, role: lead}}]
  - name: platform-team
    members: [{{username: paolo, role: lead}}]
governance_team: governance-guild
platform_team: platform-team
"""

_DOMAIN = "name: {name}\ntitle: {title}\ndescription: {title} data.\nowner: {team}\n"

_PRODUCT = """\
apiVersion: v1.0.0
kind: DataProduct
id: {domain}.{name}
name: {name}
domain: {domain}
version: 1.0.0
status: active
description:
  purpose: {purpose}
team:
  name: {team}
{inputs}outputPorts:
  - name: {port}
    description: {purpose}
    type: tables
    version: 1.0.0
    contractId: {domain}.{name}.{port}
    customProperties:
      - {{property: accessLevel, value: {level}}}
"""

_CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: {domain}.{name}.{port}
name: {port}
version: 1.0.0
status: active
domain: {domain}
dataProduct: {name}
schema:
  - name: {port}
    physicalType: table
    properties:
{properties}slaProperties:
  - {{property: latency, value: 1, unit: h}}
  - {{property: frequency, value: 1, unit: d}}
roles:
  - {{role: {port}_reader, access: read, firstLevelApprovers: {team}}}
customProperties:
  - {{property: retention, value: P400D}}
"""


def _column(name: str, logical: str = "string", extra: str = "") -> str:
    return f"      - name: {name}\n        logicalType: {logical}\n        description: The {name}.\n{extra}"


PII = "        classification: pii\n        customProperties:\n          - {property: mask, value: hash}\n"

CUSTOMERS_SQL = f"""\
SELECT *, TIMESTAMP '2026-11-30 09:00:00' AS signed_up_at FROM (VALUES
    ('c1', '{UNGRANTED}', '{RAW_EMAIL}', 'FR'),
    ('{US_ROW}', 'Nobody', 'canary.pii.us@example.com', 'US'),
    ('c3', 'Other', 'someone@example.org', 'DE')
) AS t(customer_id, name, email, country)
"""


def write_edges_mesh(root: Path, *, timeout: float = 60, cpu: int = 60) -> Path:
    """The mesh, with ``sales.reader`` reading crm.customers (its transform is written by the tests)."""
    files: dict[str, str] = {
        "mesh.yaml": _MESH.format(timeout=timeout, cpu=cpu),
        "domains/crm/domain.yaml": _DOMAIN.format(name="crm", title="CRM", team="crm-team"),
        "domains/sales/domain.yaml": _DOMAIN.format(name="sales", title="Sales", team="sales-team"),
    }
    products = [
        ("crm", "customers", "customers", "crm-team", "restricted", "",
         _column("customer_id") + _column("name") + _column("email", extra=PII) + _column("country")
         + _column("signed_up_at", "timestamp")),
        ("crm", "notes", "notes", "crm-team", "private", "", _column("note")),
        ("sales", "reader", "result", "sales-team", "public",
         "inputPorts:\n  - name: customers\n    version: ^1.0.0\n    contractId: crm.customers.customers\n",
         _column("x")),
    ]  # fmt: skip
    for domain, name, port, team, level, inputs, properties in products:
        folder = f"domains/{domain}/{name}"
        files[f"{folder}/product.odps.yaml"] = _PRODUCT.format(
            domain=domain, name=name, port=port, team=team, level=level, inputs=inputs, purpose=f"The {name}."
        )
        files[f"{folder}/{port}.odcs.yaml"] = _CONTRACT.format(
            domain=domain, name=name, port=port, team=team, properties=properties
        )
    # The PII port's retention (P400D) counts from signed_up_at, so builds enforce it (the pii-retention policy).
    contract = "domains/crm/customers/customers.odcs.yaml"
    files[contract] = files[contract].replace("schema:\n", "slaDefaultElement: customers.signed_up_at\nschema:\n", 1)
    files["domains/crm/customers/customers.sql"] = CUSTOMERS_SQL
    files["domains/crm/notes/notes.sql"] = f"SELECT '{PRIVATE}' AS note\n"
    files["domains/sales/reader/result.sql"] = "SELECT customer_id AS x FROM customers\n"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return root


def set_transform(root: Path, code: str, language: str) -> None:
    """Replace sales.reader's transform with ``code`` (``sql`` or ``py``)."""
    folder = root / "domains/sales/reader"
    for suffix in ("sql", "py"):
        (folder / f"result.{suffix}").unlink(missing_ok=True)
    (folder / f"result.{language}").write_text(code, "utf-8")
