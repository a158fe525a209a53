"""Selectors, dbt style: ``podcasts``, ``podcasts.listening_insights``, ``+x`` (with upstream), ``x+``."""

from __future__ import annotations

from meshplane.graph.resolve import MeshGraph
from meshplane.types import Address

__all__ = ["SelectorError", "select"]


class SelectorError(ValueError):
    pass


def _match_one(graph: MeshGraph, text: str) -> set[Address]:
    try:
        address = Address.parse(text)
    except ValueError as error:
        raise SelectorError(str(error)) from None
    if address.product is None:
        found = {a for a in graph.products if a.domain == address.domain}
        if not found and not any(d.name == address.domain for d in graph.spec.domains):
            raise SelectorError(f"no domain named {address.domain!r}")
        return found
    product = address.product_address
    if product not in graph.products:
        raise SelectorError(f"no product {product}; `meshplane ls products` lists them")
    if address.port is not None and address not in graph.ports:
        raise SelectorError(f"no port {address}")
    return {product}


def select(graph: MeshGraph, selectors: list[str] | None) -> list[Address]:
    """Products picked by the selectors, in build order (all products when none are given)."""
    if not selectors:
        return list(graph.order)
    chosen: set[Address] = set()
    for raw in selectors:
        for text in raw.split():
            upstream = text.startswith("+")
            downstream = text.endswith("+")
            core = text.strip("+")
            base = _match_one(graph, core)
            chosen |= base
            if upstream:
                chosen |= graph.closure(base, upstream=True)
            if downstream:
                chosen |= graph.closure(base, upstream=False)
    return [a for a in graph.order if a in chosen]
