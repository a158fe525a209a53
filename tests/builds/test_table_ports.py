"""A contract with several tables is one output port with several tables: each table has its own transform
(``<port>.<table>.sql``), is built, checked and published with the product's other tables atomically, is
catalogued and searchable, and is queryable through the gateway as ``<domain>.<product>.<port>.<table>``; a
grant on the port covers every one of its tables. Bitol's official examples with several tables load so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from meshplane.cli.app import _register_commands
from meshplane.cli.common import app as cli_app
from meshplane.errors import AccessDenied, MeshError
from meshplane.spec.scaffold import new_domain, new_mesh, new_product
from meshplane.workspace import Mesh

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = next(p / "shared" / "standards" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir())

LINES = """\
  - name: order_lines
    physicalType: table
    description: One row per line of an order.
    properties:
      - name: order_id
        logicalType: string
        physicalType: VARCHAR
        required: true
        description: The order the line belongs to.
      - name: line_no
        logicalType: integer
        physicalType: INTEGER
        required: true
      - name: amount
        logicalType: number
        physicalType: DOUBLE
    quality:
      - {metric: rowCount, mustBeGreaterThan: 0}
"""
LINES_SQL = (
    "SELECT order_id, line_no::INTEGER AS line_no, amount::DOUBLE AS amount\n"
    "FROM (VALUES ('r-1', 1, 9.5), ('r-1', 2, 0.5), ('r-2', 1, 3.0)) AS t(order_id, line_no, amount)\n"
)


def _yaml_edit(path: Path, edit: object) -> None:
    yaml = YAML()
    data = yaml.load(path.read_text("utf-8"))
    edit(data)  # type: ignore[operator]
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


@pytest.fixture(scope="module")
def mesh_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tables") / "acme"
    new_mesh(root)
    new_domain(root, "sales")
    new_domain(root, "finance")
    new_product(root, "sales", "orders")

    def members(data: dict[str, object]) -> None:
        for team in data["teams"]:  # type: ignore[attr-defined]
            if team["name"] == "sales-team":
                team["members"] = [{"username": "amelie", "role": "owner"}]
            if team["name"] == "finance-team":
                team["members"] = [{"username": "raj", "role": "analyst"}]

    _yaml_edit(root / "mesh.yaml", members)
    folder = root / "domains/sales/orders"
    contract = folder / "orders.odcs.yaml"
    text = contract.read_text("utf-8")
    roles = "roles:\n  - {role: order_reader, access: read, firstLevelApprovers: sales-team}\n"
    contract.write_text(text.replace("slaProperties:", LINES + roles + "slaProperties:"), "utf-8")
    product = folder / "product.odps.yaml"
    product.write_text(product.read_text("utf-8").replace("value: public", "value: restricted"), "utf-8")
    (folder / "orders.sql").rename(folder / "orders.orders.sql")
    (folder / "orders.order_lines.sql").write_text(LINES_SQL, "utf-8")
    with Mesh.open(root) as mesh:
        result = mesh.build(jobs=1)
        assert result.ok, result
    return root


def test_each_table_is_built_checked_and_published(mesh_root: Path) -> None:
    with Mesh.open(mesh_root) as mesh:
        product = mesh.graph.products[next(a for a in mesh.graph.products if str(a) == "sales.orders")]
        assert [(p.name, p.table_of, p.contract.table) for p in product.output_ports] == [
            ("orders", "orders", "orders"),
            ("orders__order_lines", "orders", "order_lines"),
        ]
        assert mesh.read("sales.orders.orders").num_rows == 2
        lines = mesh.read("sales.orders.orders__order_lines")
        assert lines.column_names == ["order_id", "line_no", "amount"] and lines.num_rows == 3
        checks = {
            r.rule_id for r in mesh.platform.catalog.reader.check_results(port="sales.orders.orders__order_lines")
        }
        assert "sales.orders.orders.order_lines.order_lines.rowCount" in checks
        assert not any("record_id" in c for c in checks)  # the first table's rules are not the second's


def test_table_shaped_exports_render_the_ports_own_table(mesh_root: Path) -> None:
    _register_commands()
    runner = CliRunner()
    ddl = runner.invoke(cli_app, ["contract", "export", "sales.orders.orders__order_lines", "--mesh", str(mesh_root),
                                  "--format", "sql-ddl"])  # fmt: skip
    assert ddl.exit_code == 0, ddl.output
    assert "order_lines" in ddl.output and "amount" in ddl.output and "record_id" not in ddl.output
    first = runner.invoke(cli_app, ["contract", "export", "sales.orders.orders", "--mesh", str(mesh_root),
                                    "--format", "sql-ddl"])  # fmt: skip
    assert "record_id" in first.output and "amount" not in first.output


def test_a_failing_table_keeps_every_table_of_the_port_unpublished(mesh_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "acme"
    shutil.copytree(mesh_root, root)
    with Mesh.open(root) as mesh:
        assert mesh.relocate()  # the copy's tables now live in the copy
    (root / "domains/sales/orders/orders.orders.sql").write_text("SELECT 'r-9' AS record_id, 'new' AS label\n")
    (root / "domains/sales/orders/orders.order_lines.sql").write_text(LINES_SQL.replace("'r-2'", "NULL"))
    with Mesh.open(root) as mesh:
        result = mesh.build(jobs=1)
        assert not result.ok
        assert "order_id" in str(result) and "required" in str(result)
        # the first table passed its checks but is not published either: the product publishes whole
        assert sorted(mesh.read("sales.orders.orders").column("record_id").to_pylist()) == ["r-1", "r-2"]


def test_catalogued_searchable_and_queryable_as_port_dot_table(mesh_root: Path) -> None:
    with Mesh.open(mesh_root) as mesh:
        hits = mesh.discovery.search("order_lines").hits
        assert "sales.orders.orders__order_lines" in {h.address for h in hits}
        assert "sales.orders.orders__order_lines.amount" in {h.address for h in hits}
        query = "SELECT count(*) AS n FROM sales.orders.orders.order_lines"
        with pytest.raises(AccessDenied) as denied:
            mesh.connect(as_user="raj").sql(query)
        assert "restricted" in str(denied.value)
        # raj asks for the port; a grant on it covers each of its tables
        request = mesh.access.request_access("raj", "sales.orders.orders", "reconcile orders")
        mesh.access.approve("amelie", request.id)
        rows = mesh.connect(as_user="raj").sql(
            "SELECT o.record_id, sum(l.amount) AS total FROM sales.orders.orders.orders AS o "
            "JOIN sales.orders.orders.order_lines AS l ON l.order_id = o.record_id GROUP BY 1 ORDER BY 1"
        )
        assert rows.to_arrow().to_pylist() == [{"record_id": "r-1", "total": 10.0}, {"record_id": "r-2", "total": 3.0}]
        assert mesh.connect(as_user="raj").sql(query).to_arrow().to_pylist() == [{"n": 3}]
        with pytest.raises(MeshError) as unknown:
            mesh.connect(as_user="raj").sql("SELECT * FROM sales.orders.orders.shipments")
        assert "sales.orders.orders.order_lines" in str(unknown.value)


def test_bitols_examples_with_several_tables_load_as_port_contracts(tmp_path: Path) -> None:
    root = tmp_path / "acme"
    new_mesh(root)
    new_domain(root, "sales")
    for example, port in (("all__full-example.odcs.yaml", "full"),
                          ("all__postgresql-adventureworks-contract.odcs.yaml", "works")):  # fmt: skip
        new_product(root, "sales", port)
        folder = root / "domains/sales" / port
        original = YAML(typ="safe", pure=True).load((STANDARDS / "odcs-examples" / example).read_text("utf-8"))

        def own(data: dict[str, object], port: str = port) -> None:
            data["id"] = f"sales.{port}.{port}"

        contract = folder / f"{port}.odcs.yaml"
        shutil.copyfile(STANDARDS / "odcs-examples" / example, contract)
        _yaml_edit(contract, own)
        (folder / f"{port}.sql").unlink()
        for table in original["schema"]:  # each table's transform is named after its physical name
            name = table.get("physicalName") or table["name"]
            (folder / f"{port}.{name}.sql").write_text("SELECT 1 AS x\n", "utf-8")
        odps = folder / "product.odps.yaml"
        version = original["version"]
        odps.write_text(
            odps.read_text("utf-8").replace("version: 0.1.0\n    contractId", f"version: {version}\n    contractId"),
            "utf-8",
        )
    with Mesh.open(root) as mesh:
        full = mesh.graph.products[next(a for a in mesh.graph.products if str(a) == "sales.full")]
        assert [(p.name, len(p.contract.columns)) for p in full.output_ports] == [
            ("full", 3),
            ("full__receivers_master", 4),
        ]
        works = mesh.graph.products[next(a for a in mesh.graph.products if str(a) == "sales.works")]
        assert len(works.output_ports) == 68
        assert works.output_ports[1].name == "works__employee"
