"""A port meshplane does not build (a Kafka topic, an API) is described by its contract: an ODPS output port of
``type: topic`` (or ``api``) with Bitol's own Kafka example as its contract is catalogued with its fields,
searchable, governed (access requests and grants apply) and shown in the portal; the build leaves it alone and
a query is told where the data is not."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from meshplane.cli.app import _register_commands
from meshplane.cli.common import app as cli_app
from meshplane.errors import AccessDenied, QueryRejected
from meshplane.server import create_app
from meshplane.spec.scaffold import new_domain, new_mesh, new_product
from meshplane.workspace import Mesh

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = next(p / "shared" / "standards" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir())
TOPIC = "sales.orders.order_events"
PORT = """\
  - name: order_events
    description: Every order as an event on the orders Kafka topic.
    type: topic
    version: 0.0.1
    contractId: sales.orders.order_events
    customProperties:
      - {property: accessLevel, value: restricted}
"""


@pytest.fixture(scope="module")
def mesh_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("described") / "acme"
    new_mesh(root)
    new_domain(root, "sales")
    new_domain(root, "finance")
    new_product(root, "sales", "orders")
    yaml = YAML()
    mesh_file = root / "mesh.yaml"
    config = yaml.load(mesh_file.read_text("utf-8"))
    for team in config["teams"]:
        if team["name"] == "sales-team":
            team["members"] = [{"username": "amelie", "role": "owner"}]
        if team["name"] == "finance-team":
            team["members"] = [{"username": "raj", "role": "analyst"}]
    with mesh_file.open("w", encoding="utf-8") as handle:
        yaml.dump(config, handle)
    folder = root / "domains/sales/orders"
    product = folder / "product.odps.yaml"
    product.write_text(product.read_text("utf-8").replace("customProperties:\n  - {property: productType",
                                                          PORT + "customProperties:\n  - {property: productType"),
                       "utf-8")  # fmt: skip
    # Bitol's Kafka example as it is published, with the id meshplane gives the port and an approver
    text = (STANDARDS / "odcs-examples" / "schema__kafka-schema.odcs.yaml").read_text("utf-8")
    text = text.replace("id: orders\n", f"id: {TOPIC}\n")
    text = text.rstrip() + "\nroles:\n  - {role: order_events_reader, access: read, firstLevelApprovers: sales-team}\n"
    (folder / "order_events.odcs.yaml").write_text(text, "utf-8")
    with Mesh.open(root) as mesh:
        result = mesh.build(jobs=1)
        assert result.ok, result
    return root


def test_described_not_built(mesh_root: Path) -> None:
    with Mesh.open(mesh_root) as mesh:
        product = next(p for a, p in mesh.graph.products.items() if str(a) == "sales.orders")
        assert [p.name for p in product.output_ports] == ["orders"]
        [topic] = product.described_ports
        assert (topic.kind, topic.contract.table) == ("topic", "orders")
        assert [c.name for c in topic.contract.columns] == ["cust_id", "prod_id", "qty"]
        assert mesh.plan().as_json() == []  # nothing left to build: the topic is not a table


def test_listed_among_the_ports(mesh_root: Path) -> None:
    _register_commands()
    done = CliRunner().invoke(cli_app, ["ls", "ports", "--mesh", str(mesh_root), "--format", "json"])
    assert done.exit_code == 0, done.output
    rows = {row["port"]: row for row in json.loads(done.output)}
    assert rows[TOPIC] == {"port": TOPIC, "version": "0.0.1", "access": "restricted", "columns": "3"}
    assert "sales.orders.orders" in rows


def test_catalogued_searchable_and_shown_in_the_portal(mesh_root: Path) -> None:
    with Mesh.open(mesh_root) as mesh:
        hits = {h.address for h in mesh.discovery.search("qty").hits}
        assert f"{TOPIC}.qty" in hits
        assert TOPIC in {h.address for h in mesh.discovery.search("order_events").hits}
        store = mesh.platform.catalog
        token = store.writer.create_token("admin", name="tests")[0]
        with warnings.catch_warnings():  # starlette nags about httpx vs httpx2; the pinned httpx works
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient
        with TestClient(create_app(mesh, dev_mode=True), base_url="http://testserver") as client:
            page = client.get("/products/sales.orders", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert "order_events" in page.text and "cust_id" in page.text


def test_governed_access_requests_and_grants_apply(mesh_root: Path) -> None:
    query = f"SELECT * FROM {TOPIC}"
    with Mesh.open(mesh_root) as mesh:
        with pytest.raises(AccessDenied) as denied:
            mesh.connect(as_user="raj").sql(query)
        assert "restricted" in str(denied.value) and "meshplane access request" in str(denied.value)
        request = mesh.access.request_access("raj", TOPIC, "order analytics")
        assert request.port == TOPIC
        grant = mesh.access.approve("amelie", request.id)
        assert grant.port == TOPIC
        with pytest.raises(QueryRejected) as served:
            mesh.connect(as_user="raj").sql(query)
        assert "topic port" in str(served.value) and "servers" in str(served.value)
