"""A small mesh that passes the whole built-in pack; tests copy it and break one thing at a time.

Two domains: crm.customers publishes a restricted port with PII (masked, with retention and an approver);
sales.orders reads it across the domain boundary. Files are literal so the asserted lines are visible.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from meshplane.graph import MeshGraph
from meshplane.workspace.mesh import check_mesh

NOW = dt.date(2026, 6, 1)

BASE_FILES: dict[str, str] = {
    "mesh.yaml": """\
name: shop
title: Shop
teams:
  - name: crm-team
    members:
      - {username: carla, role: owner}
  - name: sales-team
    members:
      - {username: sam, role: owner}
  - name: governance-guild
    members: [{username: gina, role: lead}]
governance_team: governance-guild
""",
    "glossary.yaml": """\
terms:
  - name: customer_id
    title: Customer identifier
    logicalType: string
  - name: order_id
    title: Order identifier
    logicalType: string
""",
    "domains/crm/domain.yaml": """\
name: crm
title: CRM
description: Customers and their contact data.
owner: crm-team
""",
    "domains/sales/domain.yaml": """\
name: sales
title: Sales
description: Orders placed in the shop.
owner: sales-team
""",
    "domains/crm/customers/product.odps.yaml": """\
apiVersion: v1.0.0
kind: DataProduct
id: crm.customers
name: customers
domain: crm
version: 1.0.0
status: active
description:
  purpose: Every customer of the shop with contact data.
team:
  name: crm-team
outputPorts:
  - name: customers
    description: One row per customer.
    type: tables
    version: 1.0.0
    contractId: crm.customers.customers
    customProperties:
      - {property: accessLevel, value: restricted}
""",
    "domains/crm/customers/customers.odcs.yaml": """\
apiVersion: v3.1.0
kind: DataContract
id: crm.customers.customers
name: customers
version: 1.0.0
status: active
domain: crm
dataProduct: customers
schema:
  - name: customers
    physicalType: table
    properties:
      - name: customer_id
        logicalType: string
        primaryKey: true
        description: Customer number.
        authoritativeDefinitions: [{type: semanticType, url: "glossary:customer_id"}]
      - name: email
        logicalType: string
        classification: pii
        description: Contact e-mail.
        customProperties:
          - {property: mask, value: hash}
      - name: country
        logicalType: string
        description: Country of residence.
      - name: last_seen_at
        logicalType: timestamp
        description: When the customer last signed in; retention counts from it.
slaDefaultElement: customers.last_seen_at
slaProperties:
  - {property: latency, value: 1, unit: h}
  - {property: frequency, value: 1, unit: d}
roles:
  - {role: customers_reader, access: read, firstLevelApprovers: crm-team}
customProperties:
  - {property: retention, value: P400D}
""",
    "domains/crm/customers/customers.sql": (
        "SELECT 'c1' AS customer_id, 'a@b.c' AS email, 'FR' AS country,"
        " TIMESTAMP '2026-11-30 09:00:00' AS last_seen_at\n"
    ),
    "domains/sales/orders/product.odps.yaml": """\
apiVersion: v1.0.0
kind: DataProduct
id: sales.orders
name: orders
domain: sales
version: 2.1.0
status: active
description:
  purpose: Every order placed in the shop.
team:
  name: sales-team
inputPorts:
  - {customProperties: [{property: purpose, value: Order totals per customer}],
     name: customers, version: ^1.0.0, contractId: crm.customers.customers}
outputPorts:
  - name: orders
    description: One row per order.
    type: tables
    version: 1.0.0
    contractId: sales.orders.orders
""",
    "domains/sales/orders/orders.odcs.yaml": """\
apiVersion: v3.1.0
kind: DataContract
id: sales.orders.orders
name: orders
version: 1.0.0
status: active
domain: sales
dataProduct: orders
schema:
  - name: orders
    physicalType: table
    properties:
      - name: order_id
        logicalType: string
        primaryKey: true
        description: Order number.
        authoritativeDefinitions: [{type: semanticType, url: "glossary:order_id"}]
      - name: customer_id
        logicalType: string
        description: Who ordered.
        authoritativeDefinitions: [{type: semanticType, url: "glossary:customer_id"}]
      - name: amount
        logicalType: number
        description: Order total in EUR.
slaProperties:
  - {property: latency, value: 1, unit: d}
  - {property: frequency, value: 1, unit: d}
""",
    "domains/sales/orders/orders.sql": "SELECT 'o1' AS order_id, customer_id, 1.0 AS amount FROM customers\n",
}


def write_mesh(root: Path, changes: dict[str, tuple[str, str] | str] | None = None, *, agree: bool = True) -> Path:
    """Write the base mesh; ``changes`` maps a file to (old, new) text to replace, or to a whole new text.

    With ``agree``, sales.orders's agreement to read crm.customers is requested and approved when the mesh
    opens (a mesh these changes break stays as written)."""
    files = dict(BASE_FILES)
    for relative, change in (changes or {}).items():
        if isinstance(change, tuple):
            old, new = change
            assert old in files[relative], f"{old!r} not in {relative}"
            files[relative] = files[relative].replace(old, new, 1)
        else:
            files[relative] = change
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    if agree:
        from meshplane.errors import MeshError
        from meshplane.workspace import Mesh
        from meshplane.workspace.edges import agree_declared_as_owners

        try:
            with Mesh.open(root) as mesh:
                agree_declared_as_owners(mesh.graph, mesh.access)
        except MeshError:
            pass
    return root


def graph_of(root: Path) -> MeshGraph:
    report = check_mesh(root)
    assert report.graph is not None, report.problems
    return report.graph


@pytest.fixture
def mesh_root(tmp_path: Path) -> Path:
    return write_mesh(tmp_path / "shop")
