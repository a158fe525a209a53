"""The mesh map is laid out by Graphviz: no edge crosses a box it does not connect, in both example meshes;
a focused product lights its upstream and downstream."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from meshplane.lineage import product_edges
from meshplane.server.layout import Box, MapLayout, Route, layout_map
from meshplane.workspace.loading import check_mesh
from server.conftest import TestClient
from server.helpers import CONSUMER, bearer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` (apt-get install graphviz)")


def crossings(layout: MapLayout, domain_of: dict[str, str]) -> list[str]:
    """Every (edge, box) pair where the drawn edge enters a product box or domain box it does not connect."""
    found = []
    for route in layout.routes:
        points = route.sample()
        ends = {route.upstream, route.downstream}
        for box in layout.nodes:
            if box.name not in ends and any(box.contains(x, y) for x, y in points):
                found.append(f"{route.upstream} -> {route.downstream} crosses product {box.name}")
        for box in layout.clusters:
            if box.name not in {domain_of[e] for e in ends} and any(box.contains(x, y) for x, y in points):
                found.append(f"{route.upstream} -> {route.downstream} crosses domain {box.name}")
    return found


def test_the_checker_sees_a_crossing() -> None:
    """The geometry check itself: a straight edge drawn through a third box is reported, one around it is not."""
    boxes = (Box("a.x", 0, 0, 50, 20), Box("a.y", 100, 0, 50, 20), Box("b.z", 200, 0, 50, 20))
    clusters = (Box("a", -10, -10, 170, 40), Box("b", 190, -10, 70, 40))
    through = Route("a.x", "b.z", (), ((50, 10), (100, 10), (150, 10), (200, 10)), None)
    around = Route("a.x", "b.z", (), ((50, 10), (80, 80), (170, 80), (200, 10)), None)
    domain_of = {"a.x": "a", "a.y": "a", "b.z": "b"}
    assert crossings(MapLayout(260, 100, clusters, boxes, (through,)), domain_of) == ["a.x -> b.z crosses product a.y"]
    assert crossings(MapLayout(260, 100, clusters, boxes, (around,)), domain_of) == []


@needs_dot
@pytest.mark.parametrize("example", ["media", "pharma"])
def test_no_edge_crosses_a_box_it_does_not_connect(example: str) -> None:
    graph = check_mesh(EXAMPLES / example).graph
    assert graph is not None
    grouped = [(d.name, [str(p) for p in sorted(graph.products) if p.domain == d.name]) for d in graph.spec.domains]
    edges = product_edges(graph)
    layout = layout_map(grouped, edges)
    domain_of = {p: d for d, products in grouped for p in products}
    assert {b.name for b in layout.nodes} == set(domain_of)
    assert {b.name for b in layout.clusters} == {d for d, products in grouped if products}
    wanted = {(e.upstream, e.downstream) for e in edges if not e.source}
    assert {(r.upstream, r.downstream) for r in layout.routes} == wanted and wanted
    assert crossings(layout, domain_of) == []
    for node in layout.nodes:  # every product sits inside its own domain's box, and boxes do not overlap
        cluster = next(c for c in layout.clusters if c.name == domain_of[node.name])
        assert cluster.contains(node.x, node.y) and cluster.contains(node.x + node.w, node.y + node.h)
    for one in layout.nodes:
        for other in layout.nodes:
            assert one is other or not _overlap(one, other), (one.name, other.name)


def _overlap(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


@needs_dot
def test_map_page_highlights_upstream_and_downstream(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get("/map", headers=bearer(tokens, CONSUMER))
    assert page.status_code == 200
    assert 'id="mesh-map"' in page.text and "cluster" in page.text and "/static/map.js" in page.text
    assert "dim" not in page.text.split('id="mesh-map"')[1]  # nothing dimmed without a focus
    focused = client.get("/map?focus=podcasts.listening_insights", headers=bearer(tokens, CONSUMER)).text
    assert 'class="node-link focus" data-product="podcasts.listening_insights"' in focused
    upstream = focused.split('id="upstream"')[1].split("</ul>")[0]
    assert "podcasts.listening_events" in upstream
    assert 'class="node-link up" data-product="podcasts.listening_events"' in focused
    assert (
        'class="edge lit" data-from="podcasts.listening_events" data-to="podcasts.listening_insights"' in focused
        or 'class="edge cross lit"' in focused
    )
    assert client.get("/map?focus=nope.nothing", headers=bearer(tokens, CONSUMER)).status_code == 404


def test_map_script_is_served(client: TestClient) -> None:
    script = client.get("/static/map.js")
    assert script.status_code == 200 and "viewBox" in script.text


@needs_dot
def test_a_mesh_too_large_to_draw_whole_is_drawn_per_focus(client: TestClient, tokens: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from meshplane.server import portal

    monkeypatch.setattr(portal, "MAP_MAX_PRODUCTS", 3)  # the media example has 9 products
    whole = client.get("/map", headers=bearer(tokens, CONSUMER)).text
    assert 'id="mesh-map"' not in whole and "too many to draw at once" in whole
    focused = client.get("/map?focus=podcasts.listening_insights", headers=bearer(tokens, CONSUMER)).text
    drawn = set(re.findall(r'data-product="([^"]+)"', focused))
    assert drawn == {"podcasts.listening_insights", "podcasts.listening_events", "podcasts.catalog"}
    product = client.get("/products/podcasts.listening_insights", headers=bearer(tokens, CONSUMER)).text
    assert 'href="/map?focus=podcasts.listening_insights#map"' in product
