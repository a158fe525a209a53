"""Selectors, dbt style: ``podcasts``, ``podcasts.listening_insights``, ``+x`` (with upstream), ``x+``."""

from __future__ import annotations

import difflib

from meshplane.graph.resolve import MeshGraph
from meshplane.types import Address

__all__ = ["SelectorError", "select"]


class SelectorError(ValueError):
    """A selector that names nothing in the mesh; the message says what exists."""


def _suggest(text: str, known: list[str]) -> str:
    close = difflib.get_close_matches(text, known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return "; known: " + ", ".join(known) if known else ""


def _match_one(graph: MeshGraph, text: str) -> set[Address]:
    try:
        address = Address.parse(text)
    except ValueError:
        raise SelectorError(
            f"selector {text!r} is not DOMAIN, DOMAIN.PRODUCT or DOMAIN.PRODUCT.PORT (lower_snake_case),"
            " optionally with + before (upstream) or after (downstream)"
        ) from None
    if address.product is None:
        found = {a for a in graph.products if a.domain == address.domain}
        domains = sorted({d.name for d in graph.spec.domains} | {a.domain for a in graph.products})
        if not found and address.domain not in domains:
            raise SelectorError(f"no domain named {address.domain!r}" + _suggest(address.domain, domains))
        return found
    product = address.product_address
    if product not in graph.products:
        products = sorted(str(a) for a in graph.products)
        raise SelectorError(f"no product {product}" + _suggest(str(product), products))
    if address.port is not None and address not in graph.ports:
        ports = sorted(str(a) for a in graph.ports if a.product_address == product)
        raise SelectorError(f"no port {address}" + _suggest(str(address), ports))
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
            if not core:
                raise SelectorError(f"selector {text!r} names nothing; write e.g. +podcasts.listening_insights")
            base = _match_one(graph, core)
            chosen |= base
            if upstream:
                chosen |= graph.closure(base, upstream=True)
            if downstream:
                chosen |= graph.closure(base, upstream=False)
    return [a for a in graph.order if a in chosen]
