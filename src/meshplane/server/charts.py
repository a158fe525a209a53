"""Inline SVG for the portal: run history bars, the lineage graph, and the mesh map. No JavaScript needed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from meshplane.lineage import LineageView, ProductEdge

__all__ = ["Bar", "bars", "lineage_svg", "mesh_map_svg"]


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # shown in the tooltip
    value: float
    tone: str = "ok"  # ok | bad | muted


def bars(series: Sequence[Bar], *, title: str, unit: str = "", height: int = 110) -> Markup:
    """A small bar chart with a tooltip per bar; ``role=img`` with a text alternative."""
    width = max(240, 14 * len(series) + 40)
    top = max((b.value for b in series), default=0) or 1
    inner = height - 28
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="4" y="12" class="chart-title">{escape(title)}</text>',
        f'<line x1="30" y1="{height - 14}" x2="{width - 4}" y2="{height - 14}" class="axis"/>',
        f'<text x="4" y="24" class="tick">{top:,.0f}</text>',
    ]
    for i, bar in enumerate(series):
        h = max(2.0, inner * bar.value / top) if bar.value else 2.0
        x = 34 + i * 14
        y = height - 14 - h
        parts.append(
            f'<rect x="{x}" y="{y:.1f}" width="10" height="{h:.1f}" class="bar {escape(bar.tone)}">'
            f"<title>{escape(bar.label)}: {bar.value:,.0f}{escape(unit)}</title></rect>"
        )
    if not series:
        parts.append(f'<text x="40" y="{height // 2}" class="tick">no runs yet</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _box(x: float, y: float, w: float, label: str, href: str | None, cls: str) -> str:
    text = escape(label if len(label) <= 30 else label[:29] + "…")
    rect = (f'<rect x="{x}" y="{y}" width="{w}" height="30" rx="6" class="node {cls}"/>'
            f'<text x="{x + 8}" y="{y + 19}" class="node-label">{text}</text>')  # fmt: skip
    if href:
        return f'<a href="{escape(href)}" class="node-link"><title>{escape(label)}</title>{rect}</a>'
    return f"<g><title>{escape(label)}</title>{rect}</g>"


def _curve(x1: float, y1: float, x2: float, y2: float, cls: str, tip: str) -> str:
    mid = (x1 + x2) / 2
    return (f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" class="edge {cls}" marker-end="url(#arrow)">'
            f"<title>{escape(tip)}</title></path>")  # fmt: skip


_DEFS = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
         'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow"/></marker></defs>')  # fmt: skip


def lineage_svg(view: LineageView) -> Markup:
    """Columns by distance from the focus (upstream left, downstream right)."""
    by_depth: dict[int, list[str]] = defaultdict(list)
    kinds = {n.address: n.kind for n in view.nodes}
    for node in view.nodes:
        by_depth[node.depth].append(node.address)
    depths = sorted(by_depth)
    col_w, node_w, row_h = 300, 220, 44
    rows = max((len(v) for v in by_depth.values()), default=1)
    width, height = max(col_w * len(depths), 260), rows * row_h + 20
    pos: dict[str, tuple[float, float]] = {}
    parts = [f'<svg class="graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="Lineage of {escape(view.focus)}">', _DEFS]  # fmt: skip
    for col, depth in enumerate(depths):
        for row, address in enumerate(sorted(by_depth[depth])):
            pos[address] = (10 + col * col_w, 10 + row * row_h)
    for edge in view.edges:
        if edge.upstream in pos and edge.downstream in pos:
            (x1, y1), (x2, y2) = pos[edge.upstream], pos[edge.downstream]
            parts.append(_curve(x1 + node_w, y1 + 15, x2 - 2, y2 + 15, "cross" if edge.cross_domain else "",
                                f"{edge.port} → {edge.downstream} (as {edge.input})"))  # fmt: skip
    for address, (x, y) in pos.items():
        kind = kinds.get(address, "product")
        cls = "focus" if address == view.focus else kind
        parts.append(_box(x, y, node_w, address, None if kind == "source" else f"/products/{address}", cls))
    parts.append("</svg>")
    return Markup("".join(parts))


def mesh_map_svg(domains: Sequence[tuple[str, Sequence[str]]], edges: Sequence[ProductEdge]) -> Markup:
    """Products as nodes grouped by domain (one column each); edges between products, cross-domain ones bold."""
    col_w, node_w, row_h, head = 300, 190, 46, 40
    rows = max((len(p) for _, p in domains), default=1)
    width, height = max(col_w * len(domains), 300), head + rows * row_h + 20
    parts = [f'<svg class="graph map" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="Mesh map: products grouped by domain, arrows where data flows">', _DEFS]  # fmt: skip
    pos: dict[str, tuple[float, float]] = {}
    for col, (domain, products) in enumerate(domains):
        x = 10 + col * col_w
        parts.append(f'<rect x="{x - 6}" y="4" width="{node_w + 12}" height="{height - 8}" rx="10" class="domain"/>')
        parts.append(f'<a href="/domains/{escape(domain)}"><text x="{x + 4}" y="26" class="domain-label">'
                     f"{escape(domain)}</text></a>")  # fmt: skip
        for row, product in enumerate(products):
            pos[product] = (x, head + row * row_h)
    for edge in edges:
        if edge.source or edge.upstream not in pos or edge.downstream not in pos:
            continue
        (x1, y1), (x2, y2) = pos[edge.upstream], pos[edge.downstream]
        if x2 > x1:
            start, end = x1 + node_w, x2 - 2
        elif x2 < x1:
            start, end = x1, x2 + node_w + 2
        else:
            start, end = x1 + node_w, x2 + node_w + 2
        parts.append(_curve(start, y1 + 15, end, y2 + 15, "cross" if edge.cross_domain else "",
                            f"{edge.port} → {edge.downstream}"))  # fmt: skip
    for product, (px, py) in pos.items():
        parts.append(_box(px, py, node_w, product.split(".", 1)[1], f"/products/{product}", "product"))
    parts.append("</svg>")
    return Markup("".join(parts))
