"""The mesh map laid out by Graphviz ``dot``: domains as clusters, products as nodes, edges routed around boxes.

``dot -Tjson`` gives the coordinates (clusters, node centres, spline control points); this module draws them as
inline SVG itself, so nodes link into the portal, carry classes for highlighting and stay accessible. A layout is
a pure function of the mesh's products and edges, so it is computed once per distinct graph and cached.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup, escape

from meshplane.lineage import ProductEdge

__all__ = ["Box", "LayoutUnavailable", "MapLayout", "Route", "layout_map", "map_svg"]

_CHAR_PX = 7.4  # average glyph width of the 13px node label font, in layout points (1 pt = 1 SVG unit)
_NODE_H = 32.0
_TIMEOUT_S = 30.0


class LayoutUnavailable(RuntimeError):
    """Graphviz is not installed, or it failed on this graph; the caller falls back to a simpler drawing."""


@dataclass(frozen=True, slots=True)
class Box:
    name: str  # product address, or domain name for a cluster
    x: float  # top-left corner, SVG coordinates (y grows downwards)
    y: float
    w: float
    h: float

    def contains(self, px: float, py: float, inset: float = 0.0) -> bool:
        return self.x + inset < px < self.x + self.w - inset and self.y + inset < py < self.y + self.h - inset


@dataclass(frozen=True, slots=True)
class Route:
    upstream: str  # product addresses
    downstream: str
    ports: tuple[str, ...]  # the upstream ports this edge stands for
    points: tuple[tuple[float, float], ...]  # cubic Bézier control points: p0, then 3 per segment
    head: tuple[float, float] | None  # arrow tip, when dot drew one

    @property
    def cross_domain(self) -> bool:
        return self.upstream.split(".", 1)[0] != self.downstream.split(".", 1)[0]

    def sample(self, steps: int = 24) -> list[tuple[float, float]]:
        """Points along the drawn curve (including the stretch to the arrow tip)."""
        pts, out = self.points, [self.points[0]]
        for i in range(0, len(pts) - 3, 3):
            (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts[i : i + 4]
            for k in range(1, steps + 1):
                t = k / steps
                a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
                out.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
        if self.head is not None:
            (lx, ly), (hx, hy) = out[-1], self.head
            out.extend((lx + (hx - lx) * k / 4, ly + (hy - ly) * k / 4) for k in range(1, 5))
        return out


@dataclass(frozen=True, slots=True)
class MapLayout:
    width: float
    height: float
    clusters: tuple[Box, ...]
    nodes: tuple[Box, ...]
    routes: tuple[Route, ...]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_source(domains: Sequence[tuple[str, Sequence[str]]], pairs: Sequence[tuple[str, str]]) -> str:
    lines = ["digraph mesh {", 'graph [rankdir=LR, splines=true, nodesep=0.35, ranksep=0.9, newrank=true, '
             'fontsize=14, margin=0];', "node [shape=box, fixedsize=true, fontsize=13];"]  # fmt: skip
    for index, (domain, products) in enumerate(domains):
        lines.append(f"subgraph cluster_{index} {{ label={_quote(domain)}; margin=14;")
        for product in products:
            label = product.split(".", 1)[1]
            width = (len(label) * _CHAR_PX + 22) / 72
            lines.append(f"  {_quote(product)} [label={_quote(label)}, width={width:.3f}, height={_NODE_H / 72:.3f}];")
        lines.append("}")
    lines.extend(f"{_quote(a)} -> {_quote(b)};" for a, b in pairs)
    lines.append("}")
    return "\n".join(lines)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


@lru_cache(maxsize=16)
def _run_dot(source: str) -> MapLayout:
    dot = shutil.which("dot")
    if dot is None:
        raise LayoutUnavailable("Graphviz is not installed: `apt-get install graphviz` draws a routed mesh map")
    try:
        done = subprocess.run([dot, "-Tjson"], input=source.encode(), capture_output=True, timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LayoutUnavailable(f"Graphviz took longer than {_TIMEOUT_S:.0f} s on this mesh") from None
    if done.returncode != 0:
        raise LayoutUnavailable(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    data = json.loads(done.stdout)
    _, _, width, height = _floats(data["bb"])

    def flip(x: float, y: float) -> tuple[float, float]:  # dot's origin is bottom-left
        return (round(x, 2), round(height - y, 2))

    clusters, nodes, names = [], [], {}
    for obj in data.get("objects", []):
        if "nodes" in obj and "bb" in obj:
            x1, y1, x2, y2 = _floats(obj["bb"])
            clusters.append(Box(obj["label"], x1, height - y2, x2 - x1, y2 - y1))
        elif "pos" in obj:
            cx, cy = flip(*_floats(obj["pos"]))
            w, h = float(obj["width"]) * 72, float(obj["height"]) * 72
            nodes.append(Box(obj["name"], cx - w / 2, cy - h / 2, w, h))
            names[obj["_gvid"]] = obj["name"]
    routes = []
    for edge in data.get("edges", []):
        head, points = None, []
        for part in edge["pos"].split():
            if part.startswith("e,"):
                head = flip(*_floats(part[2:]))
            elif not part.startswith("s,"):
                points.append(flip(*_floats(part)))
        routes.append(Route(names[edge["tail"]], names[edge["head"]], (), tuple(points), head))
    return MapLayout(width, height, tuple(clusters), tuple(nodes), tuple(routes))


def layout_map(domains: Sequence[tuple[str, Sequence[str]]], edges: Sequence[ProductEdge]) -> MapLayout:
    """Lay out products (grouped by domain) and the product-to-product edges among them (sources left out;
    several ports from one product into another make one edge)."""
    known = {p for _, products in domains for p in products}
    ports: dict[tuple[str, str], list[str]] = {}
    for edge in edges:
        if not edge.source and edge.upstream in known and edge.downstream in known:
            ports.setdefault((edge.upstream, edge.downstream), []).append(edge.port)
    laid = _run_dot(_dot_source(domains, sorted(ports)))
    routes = tuple(Route(r.upstream, r.downstream, tuple(sorted(ports[(r.upstream, r.downstream)])), r.points, r.head)
                   for r in laid.routes)  # fmt: skip
    return MapLayout(laid.width, laid.height, laid.clusters, laid.nodes, routes)


def _path(route: Route) -> str:
    (x0, y0), rest = route.points[0], route.points[1:]
    d = [f"M{x0},{y0}"]
    for i in range(0, len(rest) - 2, 3):
        (ax, ay), (bx, by), (cx, cy) = rest[i : i + 3]
        d.append(f"C{ax},{ay} {bx},{by} {cx},{cy}")
    if route.head is not None:
        d.append(f"L{route.head[0]},{route.head[1]}")
    return " ".join(d)


def map_svg(layout: MapLayout, *, focus: str | None = None, upstream: Collection[str] = (),
            downstream: Collection[str] = ()) -> Markup:  # fmt: skip
    """The laid-out map; with a ``focus``, its upstream and downstream products and edges are highlighted and
    the rest dimmed. Each node links to the map focused on it (the focus panel links to the product page)."""
    pad = 8
    width, height = layout.width + 2 * pad, layout.height + 2 * pad
    lit = {focus, *upstream, *downstream} if focus else set()

    def tone(name: str) -> str:
        if not focus:
            return ""
        if name == focus:
            return " focus"
        return " up" if name in upstream else " down" if name in downstream else " dim"

    parts = [f'<svg id="mesh-map" class="graph map zoomable" viewBox="{-pad} {-pad} {width:.0f} {height:.0f}" '
             f'width="{width:.0f}" height="{height:.0f}" role="img" '
             f'aria-label="Mesh map: products grouped by domain, arrows where data flows">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow"/></marker></defs>',
             '<g class="viewport">']  # fmt: skip
    for box in layout.clusters:
        name = escape(box.name)
        parts.append(f'<g class="cluster" data-domain="{name}"><rect x="{box.x}" y="{box.y}" width="{box.w}" '
                     f'height="{box.h}" rx="10" class="domain"/><a href="/domains/{name}"><text x="{box.x + 10}" '
                     f'y="{box.y + 18}" class="domain-label">{name}</text></a></g>')  # fmt: skip
    for route in layout.routes:
        on = focus and route.upstream in lit and route.downstream in lit and (
            route.downstream == focus or route.downstream in downstream or route.upstream == focus
            or route.upstream in upstream)  # fmt: skip
        cls = "edge" + (" cross" if route.cross_domain else "") + (" lit" if on else " dim" if focus else "")
        tip = escape(", ".join(route.ports) + f" → {route.downstream}")
        ends = f'data-from="{escape(route.upstream)}" data-to="{escape(route.downstream)}"'
        parts.append(f'<path d="{_path(route)}" class="{cls}" {ends} marker-end="url(#arrow)">'
                     f"<title>{tip}</title></path>")  # fmt: skip
    for box in layout.nodes:
        name, label = escape(box.name), escape(box.name.split(".", 1)[1])
        cx, cy = box.x + box.w / 2, box.y + box.h / 2 + 4.5
        parts.append(f'<a href="/map?focus={name}#map" class="node-link{tone(box.name)}" data-product="{name}">'
                     f'<title>{name}</title><rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" '
                     f'height="{box.h:.1f}" rx="6" class="node product"/>'
                     f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" class="node-label">{label}</text>'
                     "</a>")  # fmt: skip
    parts.append("</g></svg>")
    return Markup("".join(parts))
