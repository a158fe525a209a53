"""The resolved mesh: products, ports, edges across domains; selectors; contract diffs."""

from meshplane.graph.resolve import Edge, MeshGraph, resolve
from meshplane.graph.selectors import SelectorError, select
from meshplane.graph.versions import matches

__all__ = ["Edge", "MeshGraph", "SelectorError", "matches", "resolve", "select"]
