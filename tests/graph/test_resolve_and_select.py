"""The resolved graph through the public API: open_mesh, build order, closures and dbt-style selectors."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshplane
from meshplane.errors import SpecError, UsageError
from meshplane.graph import MeshGraph, SelectorError, resolve, select
from meshplane.spec import load_mesh
from meshplane.types import Address
from meshplane.workspace import Mesh

MESH = """\
name: media
teams:
  - {name: podcasts-team}
  - {name: films-team}
  - {name: royalties-team}
"""

SOURCE = """\
apiVersion: v3.1.0
kind: DataContract
id: {domain}.sources.{name}
version: 1.0.0
status: active
servers:
  - {{server: local, type: local, path: data/{name}/*.csv, format: csv}}
schema:
  - name: {name}
    properties:
      - {{name: id, logicalType: string}}
"""

PRODUCT = """\
apiVersion: v1.0.0
kind: DataProduct
id: {domain}.{name}
name: {name}
domain: {domain}
version: 1.0.0
status: active
team: {{name: {domain}-team}}
inputPorts:{inputs}
outputPorts:
  - name: {name}
    type: tables
    version: {version}
    contractId: {domain}.{name}.{name}
"""

CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: {domain}.{name}.{name}
version: {version}
status: active
schema:
  - name: {name}
    properties:
      - {{name: id, logicalType: string}}
"""


def write_product(root: Path, address: str, *inputs: str, version: str = "1.0.0") -> None:
    """``inputs`` are contract ids (an upstream port or a source), each read with ``^1.0.0``."""
    domain, name = address.split(".")
    folder = root / "domains" / domain / name
    folder.mkdir(parents=True, exist_ok=True)
    ports = "".join(
        f"\n  - {{name: {contract.split('.')[-1]}, version: ^1.0.0, contractId: {contract}}}" for contract in inputs
    )
    values = {"domain": domain, "name": name, "version": version}
    (folder / "product.odps.yaml").write_text(PRODUCT.format(inputs=ports or " []", **values), "utf-8")
    (folder / f"{name}.odcs.yaml").write_text(CONTRACT.format(**values), "utf-8")
    (folder / f"{name}.sql").write_text("SELECT 1 AS id\n", "utf-8")


def write_mesh(root: Path) -> Path:
    r"""podcasts.listening_events -> podcasts.listening_insights; films.screenings; both -> royalties.payouts
    -> royalties.statements; the domain ``archive`` has no products.
    """
    root.mkdir(parents=True)
    (root / "mesh.yaml").write_text(MESH, "utf-8")
    for domain in ("podcasts", "films", "royalties", "archive"):
        (root / "domains" / domain).mkdir(parents=True)
        owner = "films-team" if domain == "archive" else f"{domain}-team"
        (root / "domains" / domain / "domain.yaml").write_text(f"name: {domain}\nowner: {owner}\n", "utf-8")
    for domain, name in (("podcasts", "hosting_listens"), ("films", "box_office")):
        (root / "domains" / domain / "sources").mkdir()
        source = root / "domains" / domain / "sources" / f"{name}.odcs.yaml"
        source.write_text(SOURCE.format(domain=domain, name=name), "utf-8")
    write_product(root, "podcasts.listening_events", "podcasts.sources.hosting_listens")
    write_product(root, "podcasts.listening_insights", "podcasts.listening_events.listening_events")
    write_product(root, "films.screenings", "films.sources.box_office")
    write_product(
        root, "royalties.payouts", "podcasts.listening_events.listening_events", "films.screenings.screenings"
    )
    write_product(root, "royalties.statements", "royalties.payouts.payouts")
    return root


EVENTS = Address("podcasts", "listening_events")
INSIGHTS = Address("podcasts", "listening_insights")
SCREENINGS = Address("films", "screenings")
PAYOUTS = Address("royalties", "payouts")
STATEMENTS = Address("royalties", "statements")
ALL = {EVENTS, INSIGHTS, SCREENINGS, PAYOUTS, STATEMENTS}


@pytest.fixture
def mesh(tmp_path: Path) -> Mesh:
    return meshplane.open_mesh(write_mesh(tmp_path / "media"))


def _names(addresses: list[Address]) -> list[str]:
    return [str(a) for a in addresses]


# -- open_mesh and the graph -------------------------------------------------------------------------------------


def test_open_mesh_returns_a_mesh_with_a_resolved_graph(mesh: Mesh, tmp_path: Path) -> None:
    assert isinstance(mesh, Mesh)
    assert isinstance(mesh.graph, MeshGraph)
    assert mesh.name == "media"
    assert mesh.root == (tmp_path / "media").resolve()
    assert set(mesh.graph.products) == ALL
    assert {str(a) for a in mesh.graph.ports} == {f"{a}.{a.product}" for a in ALL}
    assert set(mesh.graph.sources) == {"podcasts.sources.hosting_listens", "films.sources.box_office"}
    assert [d.name for d in mesh.spec.domains] == ["archive", "films", "podcasts", "royalties"]


def test_open_mesh_defaults_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(write_mesh(tmp_path / "media"))
    assert set(meshplane.open_mesh().graph.products) == ALL


def test_edges_bind_ports_to_upstream_ports_or_sources(mesh: Mesh) -> None:
    graph = mesh.graph
    (source_edge,) = graph.edges[EVENTS]
    assert source_edge.source is not None and source_edge.source.id == "podcasts.sources.hosting_listens"
    assert source_edge.upstream_port is None and source_edge.upstream_product is None
    payouts = {e.input.name: e for e in graph.edges[PAYOUTS]}
    assert set(payouts) == {"listening_events", "screenings"}
    assert payouts["listening_events"].upstream_port == Address("podcasts", "listening_events", "listening_events")
    assert payouts["screenings"].upstream_product == SCREENINGS
    assert graph.upstream_products(PAYOUTS) == {EVENTS, SCREENINGS}
    assert graph.downstream[EVENTS] == {INSIGHTS, PAYOUTS}
    assert graph.owner_of(Address("films", "screenings", "screenings")) == "films-team"
    consumers = graph.consumers_of_port(Address("podcasts", "listening_events", "listening_events"))
    assert {e.consumer for e in consumers} == {INSIGHTS, PAYOUTS}


def test_build_order_puts_every_upstream_first(mesh: Mesh) -> None:
    order = list(mesh.graph.order)
    assert set(order) == ALL and len(order) == len(ALL)
    for product in order:
        for upstream in mesh.graph.upstream_products(product):
            assert order.index(upstream) < order.index(product)


def test_closures(mesh: Mesh) -> None:
    graph = mesh.graph
    assert graph.closure([STATEMENTS], upstream=True) == {STATEMENTS, PAYOUTS, EVENTS, SCREENINGS}
    assert graph.closure([EVENTS], upstream=False) == {EVENTS, INSIGHTS, PAYOUTS, STATEMENTS}
    assert graph.closure([INSIGHTS], upstream=False) == {INSIGHTS}
    assert graph.closure([SCREENINGS], upstream=True) == {SCREENINGS}
    assert graph.closure([], upstream=True) == set()


# -- selectors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        (None, ALL),
        ([], ALL),
        (["podcasts"], {EVENTS, INSIGHTS}),
        (["podcasts.listening_insights"], {INSIGHTS}),
        (["podcasts.listening_events.listening_events"], {EVENTS}),
        (["+royalties.payouts"], {PAYOUTS, EVENTS, SCREENINGS}),
        (["royalties.payouts+"], {PAYOUTS, STATEMENTS}),
        (["+royalties.payouts+"], {PAYOUTS, EVENTS, SCREENINGS, STATEMENTS}),
        (["podcasts.listening_events+"], {EVENTS, INSIGHTS, PAYOUTS, STATEMENTS}),
        (["+podcasts"], {EVENTS, INSIGHTS}),
        (["+royalties"], {PAYOUTS, STATEMENTS, EVENTS, SCREENINGS}),
        (["films+"], {SCREENINGS, PAYOUTS, STATEMENTS}),
        (["films", "podcasts.listening_insights"], {SCREENINGS, INSIGHTS}),
        (["films podcasts.listening_insights"], {SCREENINGS, INSIGHTS}),
        (["archive"], set()),
    ],
)
def test_selectors(mesh: Mesh, selectors: list[str] | None, expected: set[Address]) -> None:
    chosen = mesh.select(selectors)
    assert set(chosen) == expected
    assert chosen == [a for a in mesh.graph.order if a in expected]  # always in build order
    assert select(mesh.graph, selectors) == chosen


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("podcast", "no domain named 'podcast'; did you mean 'podcasts'?"),
        ("marketing", "no domain named 'marketing'; known: archive, films, podcasts, royalties"),
        (
            "podcasts.listening_insight",
            "no product podcasts.listening_insight; did you mean 'podcasts.listening_insights'?",
        ),
        ("+royalties.payout+", "no product royalties.payout; did you mean 'royalties.payouts'?"),
        (
            "films.screenings.screening",
            "no port films.screenings.screening; did you mean 'films.screenings.screenings'?",
        ),
        ("Podcasts", "selector 'Podcasts' is not DOMAIN, DOMAIN.PRODUCT or DOMAIN.PRODUCT.PORT"),
        ("podcasts/listening_events", "selector 'podcasts/listening_events' is not DOMAIN"),
        ("++", "selector '++' names nothing"),
    ],
)
def test_unknown_selectors(mesh: Mesh, selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as raised:
        select(mesh.graph, [selector])
    assert str(raised.value).startswith(message)
    with pytest.raises(UsageError) as usage:
        mesh.select(["films", selector])
    assert str(usage.value) == str(raised.value)
    assert usage.value.exit_code == 2


# -- a mesh that does not resolve ----------------------------------------------------------------------------------


def test_open_mesh_raises_spec_error_with_every_problem(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "media")
    payouts = root / "domains/royalties/payouts/product.odps.yaml"
    payouts.write_text(payouts.read_text("utf-8").replace("films.screenings.screenings", "films.screening.x"), "utf-8")
    statements = root / "domains/royalties/statements/product.odps.yaml"
    statements.write_text(statements.read_text("utf-8").replace("version: ^1.0.0", "version: ^2.0.0"), "utf-8")
    domain = root / "domains/films/domain.yaml"
    domain.write_text("name: films\nowner: nobody\n", "utf-8")
    with pytest.raises(SpecError) as raised:
        meshplane.open_mesh(root)
    problems = raised.value.problems
    assert [(p.location.path.relative_to(root).as_posix(), p.location.line, p.code) for p in problems] == [
        ("domains/films/domain.yaml", 2, "domain-owner"),
        ("domains/royalties/payouts/product.odps.yaml", 11, "input-unresolved"),
        ("domains/royalties/statements/product.odps.yaml", 10, "version-mismatch"),
    ]
    assert raised.value.exit_code == 1
    rendered = str(raised.value)
    assert "owner team 'nobody' is not declared in mesh.yaml" in rendered
    assert "reads port films.screening.x, which does not exist" in rendered
    assert "wants royalties.payouts.payouts ^2.0.0, but it is at 1.0.0" in rendered


def test_cycle_of_three_products_across_domains_is_reported_with_its_path(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "media")
    # films.screenings now reads royalties.statements: screenings -> statements -> payouts -> screenings.
    write_product(root, "films.screenings", "royalties.statements.statements")
    loaded = load_mesh(root)
    assert loaded.spec is not None and loaded.problems == []
    graph, problems = resolve(loaded.spec)
    assert graph is None
    (problem,) = problems
    assert problem.code == "cycle"
    assert problem.message == (
        "products form a cycle (each reads the next): "
        "films.screenings -> royalties.statements -> royalties.payouts -> films.screenings"
    )
    # Located at the input port of the first product in the path that reads the next one.
    assert problem.location.path == root.resolve() / "domains/films/screenings/product.odps.yaml"
    assert (problem.location.line, problem.location.column) == (10, 41)
    with pytest.raises(SpecError) as raised:
        meshplane.open_mesh(root)
    assert [p.code for p in raised.value.problems] == ["cycle"]


def test_self_reference_is_refused(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "media")
    write_product(root, "royalties.statements", "royalties.statements.statements")
    with pytest.raises(SpecError) as raised:
        meshplane.open_mesh(root)
    (problem,) = raised.value.problems
    assert problem.code == "cycle"
    assert problem.message == (
        "input port 'statements' reads royalties.statements.statements, an output of its own product"
    )


def test_version_ranges_select_the_upstream_major(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "media")
    write_product(root, "films.screenings", "films.sources.box_office", version="2.0.0")
    with pytest.raises(SpecError) as raised:
        meshplane.open_mesh(root)
    (problem,) = raised.value.problems
    assert problem.code == "version-mismatch"
    assert problem.message == "input port 'screenings' wants films.screenings.screenings ^1.0.0, but it is at 2.0.0"
    assert problem.hint == "write a range that admits 2.0.0, e.g. version: ^2.0.0"
