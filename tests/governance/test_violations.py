"""At least 30 broken meshes, each producing one expected, located violation (policy, subject, file:line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.governance import evaluate, load_policies

from .conftest import BASE_FILES, NOW, graph_of, write_mesh

CRM_P = "domains/crm/customers/product.odps.yaml"
CRM_C = "domains/crm/customers/customers.odcs.yaml"
SALES_P = "domains/sales/orders/product.odps.yaml"
SALES_C = "domains/sales/orders/orders.odcs.yaml"

# (id, changes, policy, subject address, file, marker: the first line containing it is the expected line)
CASES: list[tuple[str, dict[str, tuple[str, str] | str], str, str, str, str]] = [
    (
        "short-purpose",
        {CRM_P: ("purpose: Every customer of the shop with contact data.", "purpose: tbd")},
        "product-description",
        "crm.customers",
        CRM_P,
        "description:",
    ),
    (
        "no-purpose",
        {SALES_P: ("  purpose: Every order placed in the shop.\n", "  usage: ask sam\n")},
        "product-description",
        "sales.orders",
        SALES_P,
        "description:",
    ),
    (
        "undeclared-team",
        {SALES_P: ("name: sales-team", "name: ghost-team")},
        "product-owner-team",
        "sales.orders",
        SALES_P,
        "team:",
    ),
    (
        "col-desc-country",
        {CRM_C: ("        description: Country of residence.\n", "")},
        "column-description",
        "crm.customers.customers.country",
        CRM_C,
        "- name: country",
    ),
    (
        "col-desc-amount",
        {SALES_C: ("        description: Order total in EUR.\n", "")},
        "column-description",
        "sales.orders.orders.amount",
        SALES_C,
        "- name: amount",
    ),
    (
        "col-desc-empty",
        {SALES_C: ("description: Who ordered.", 'description: ""')},
        "column-description",
        "sales.orders.orders.customer_id",
        SALES_C,
        "- name: customer_id",
    ),
    (
        "pii-unclassified-email",
        {CRM_C: ("        classification: pii\n", "")},
        "pii-classified",
        "crm.customers.customers.email",
        CRM_C,
        "- name: email",
    ),
    (
        "pii-phone",
        {
            CRM_C: (
                "      - name: country\n",
                "      - name: phone\n        logicalType: string\n"
                "        description: Phone.\n      - name: country\n",
            )
        },
        "pii-classified",
        "crm.customers.customers.phone",
        CRM_C,
        "- name: phone",
    ),
    (
        "pii-birth-date",
        {
            SALES_C: (
                "      - name: amount\n",
                "      - name: birth_date\n        logicalType: date\n"
                "        description: Birthday.\n      - name: amount\n",
            )
        },
        "pii-classified",
        "sales.orders.orders.birth_date",
        SALES_C,
        "- name: birth_date",
    ),
    (
        "pii-no-mask",
        {CRM_C: ("        customProperties:\n          - {property: mask, value: hash}\n", "")},
        "pii-masked",
        "crm.customers.customers.email",
        CRM_C,
        "classification: pii",
    ),
    (
        "restricted-class-no-mask",
        {SALES_C: ("description: Order total in EUR.", "description: Total.\n        classification: restricted")},
        "pii-masked",
        "sales.orders.orders.amount",
        SALES_C,
        "classification: restricted",
    ),
    (
        "no-approver-roles",
        {CRM_C: ("roles:\n  - {role: customers_reader, access: read, firstLevelApprovers: crm-team}\n", "")},
        "restricted-port-approver",
        "crm.customers.customers",
        CRM_P,
        "customProperties:",
    ),
    (
        "approver-missing",
        {CRM_C: (", firstLevelApprovers: crm-team", "")},
        "restricted-port-approver",
        "crm.customers.customers",
        CRM_P,
        "customProperties:",
    ),
    (
        "restricted-sales-no-roles",
        {
            SALES_P: (
                "    contractId: sales.orders.orders\n",
                "    contractId: sales.orders.orders\n"
                "    customProperties:\n      - {property: accessLevel, value: restricted}\n",
            )
        },
        "restricted-port-approver",
        "sales.orders.orders",
        SALES_P,
        "    customProperties:",
    ),
    (
        "no-frequency",
        {SALES_C: ("  - {property: frequency, value: 1, unit: d}\n", "")},
        "port-slo",
        "sales.orders.orders",
        SALES_C,
        "slaProperties:",
    ),
    (
        "no-latency",
        {CRM_C: ("  - {property: latency, value: 1, unit: h}\n", "")},
        "port-slo",
        "crm.customers.customers",
        CRM_C,
        "slaProperties:",
    ),
    (
        "no-slas",
        {
            SALES_C: (
                "slaProperties:\n  - {property: latency, value: 1, unit: d}\n"
                "  - {property: frequency, value: 1, unit: d}\n",
                "",
            )
        },
        "port-slo",
        "sales.orders.orders",
        SALES_C,
        "apiVersion",
    ),
    (
        "glossary-pii",
        {"glossary.yaml": ("    title: Order identifier\n", "    title: Order identifier\n    classification: pii\n")},
        "pii-classified",
        "sales.orders.orders.order_id",
        SALES_C,
        "- name: order_id",
    ),
    (
        "id-untyped",
        {SALES_C: ('        authoritativeDefinitions: [{type: semanticType, url: "glossary:order_id"}]\n', "")},
        "identifier-semantic-type",
        "sales.orders.orders.order_id",
        SALES_C,
        "- name: order_id",
    ),
    (
        "pk-untyped",
        {CRM_C: ('        authoritativeDefinitions: [{type: semanticType, url: "glossary:customer_id"}]\n', "")},
        "identifier-semantic-type",
        "crm.customers.customers.customer_id",
        CRM_C,
        "- name: customer_id",
    ),
    (
        "camel-column",
        {SALES_C: ("- name: amount", "- name: totalAmount")},
        "column-naming",
        "sales.orders.orders.totalAmount",
        SALES_C,
        "- name: totalAmount",
    ),
    (
        "private-cross-domain",
        {CRM_P: ("value: restricted", "value: private")},
        "no-private-cross-domain-input",
        "sales.orders",
        SALES_P,
        "inputPorts:",
    ),
    (
        "no-retention",
        {CRM_C: ("customProperties:\n  - {property: retention, value: P400D}\n", "")},
        "pii-retention",
        "crm.customers.customers",
        CRM_P,
        "  - name: customers\n",
    ),
    (
        # A period nobody enforces: no column dates the rows, so builds and maintain cannot delete expired ones.
        "retention-not-enforced",
        {CRM_C: ("slaDefaultElement: customers.last_seen_at\n", "")},
        "pii-retention",
        "crm.customers.customers",
        CRM_P,
        "  - name: customers\n",
    ),
    (
        "bad-retention",
        {CRM_C: ("value: P400D", "value: forever")},
        "pii-retention",
        "crm.customers.customers",
        CRM_P,
        "  - name: customers\n",
    ),
    (
        "domain-no-description",
        {"domains/sales/domain.yaml": ("description: Orders placed in the shop.\n", "")},
        "domain-description",
        "sales",
        "domains/sales/domain.yaml",
        "name: sales",
    ),
    (
        "domain-empty-description",
        {"domains/crm/domain.yaml": ("description: Customers and their contact data.", 'description: ""')},
        "domain-description",
        "crm",
        "domains/crm/domain.yaml",
        "description:",
    ),
    (
        "mesh-no-guild",
        {"mesh.yaml": ("governance_team: governance-guild\n", "")},
        "mesh-governance-team",
        "shop",
        "mesh.yaml",
        "name: shop",
    ),
    (
        "global-policy",
        {
            "policies/status.yaml": """\
policies:
  - id: active-products
    title: Products are active
    subject: product
    points: [check]
    rule: subject.status == "active"
    message: "{{subject.address}} is {{subject.status}}"
    locate: [status]
""",
            SALES_P: ("status: active", "status: draft"),
        },
        "active-products",
        "sales.orders",
        SALES_P,
        "status: draft",
    ),
    (
        "domain-policy",
        {
            "domains/sales/policies/tags.yaml": """\
policies:
  - id: sales-tags
    title: Sales products are tagged
    subject: product
    points: [check, build]
    rule: size(subject.tags) > 0
    message: "{{subject.address}} has no tags"
    locate: [id]
"""
        },
        "sales-tags",
        "sales.orders",
        SALES_P,
        "id: sales.orders",
    ),
    (
        "domain-column-policy",
        {
            "domains/crm/policies/cols.yaml": """\
policies:
  - id: crm-no-country
    title: CRM does not publish countries
    subject: column
    points: [check]
    rule: subject.name != "country"
    message: "{{subject.address}} is published"
    locate: [name]
"""
        },
        "crm-no-country",
        "crm.customers.customers.country",
        CRM_C,
        "- name: country",
    ),
]


def _line(root: Path, relative: str, marker: str) -> int:
    text = (root / relative).read_text("utf-8")
    return text[: text.index(marker)].count("\n") + 1 + marker[: len(marker) - len(marker.lstrip("\n"))].count("\n")


@pytest.mark.parametrize(
    ("changes", "policy", "address", "relative", "marker"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_mesh_gives_located_violation(
    tmp_path: Path, changes: dict[str, tuple[str, str] | str], policy: str, address: str, relative: str, marker: str
) -> None:
    root = write_mesh(tmp_path / "shop", changes)
    report = evaluate(graph_of(root), "check", now=NOW)
    assert not report.problems
    found = [v for v in report.violations if v.policy == policy]
    assert [v.address for v in found] == [address], report.render_text()
    violation = found[0]
    assert violation.location.path == root / relative
    assert violation.location.line == _line(root, relative, marker), report.render_text()
    assert violation.message and violation.location.column >= 1


def test_at_least_thirty_fixtures() -> None:
    assert len(CASES) + len(BREAKING) >= 30


BREAKING = ["column removed without major bump"]


def test_breaking_change_without_major_version(mesh_root: Path) -> None:
    graph = graph_of(mesh_root)
    port = graph.ports[next(a for a in graph.ports if str(a) == "sales.orders.orders")]
    raw = dict(port.contract.raw)
    props = [*raw["schema"][0]["properties"], {"name": "discount", "logicalType": "number", "description": "Gone."}]
    published = OpenDataContractStandard.model_validate(
        {**raw, "version": "1.0.0", "schema": [{**raw["schema"][0], "properties": props}]}
    )
    report = evaluate(graph, "build", now=NOW, published={"sales.orders.orders": published})
    found = [v for v in report.violations if v.policy == "no-breaking-without-major"]
    assert [v.address for v in found] == ["sales.orders.orders"]
    assert found[0].location.path == mesh_root / SALES_C
    assert found[0].location.line == BASE_FILES[SALES_C].splitlines().index("version: 1.0.0") + 1
    bumped = OpenDataContractStandard.model_validate(
        {**published.model_dump(by_alias=True, exclude_none=True), "version": "0.9.0"}
    )
    report = evaluate(graph, "build", now=NOW, published={"sales.orders.orders": bumped})
    assert not [v for v in report.violations if v.policy == "no-breaking-without-major"]


def test_clean_mesh_passes_the_pack(mesh_root: Path) -> None:
    for point in ("check", "build"):
        report = evaluate(graph_of(mesh_root), point, now=NOW)
        assert report.ok and not report.violations, report.render_text()
    assert len(load_policies(None).policies) >= 15
