"""Map the resolved mesh onto catalog records, so the catalog mirrors the specs (`meshplane publish`)."""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Collection, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from meshplane.catalog import (
    ColumnLineageEdge,
    ColumnRecord,
    DomainRecord,
    GlossaryTerm,
    LineageEdge,
    MeshSnapshot,
    PortRecord,
    ProductRecord,
    TeamMember,
    TeamRecord,
)
from meshplane.graph import MeshGraph
from meshplane.spec import OutputPortSpec, ProductSpec
from meshplane.types import Address

if TYPE_CHECKING:
    from meshplane.catalog import CatalogStore

__all__ = ["column_edges", "mesh_snapshot", "mesh_state", "sync_catalog"]

# Bump when mesh_snapshot or column lineage derive different rows from the same specs.
_STATE_FORMAT = "2"  # 2: UNION BY NAME lineage pairs columns by name
# Each graph's state, computed once: a build syncs before and after it runs, and a scheduler builds the same
# (immutable) graph every day.
_STATES: dict[int, tuple[weakref.ref[MeshGraph], str]] = {}


def _columns(port: OutputPortSpec) -> tuple[ColumnRecord, ...]:
    return tuple(
        ColumnRecord(
            name=c.name,
            logical_type=c.logical_type or "",
            physical_type=c.physical_type or "",
            classification=c.classification,
            description=c.description or "",
            semantic_type=c.semantic_type,
            required=c.required,
            primary_key=c.primary_key,
        )
        for c in port.contract.columns
    )


def _port(product: ProductSpec, port: OutputPortSpec) -> PortRecord:
    contract: dict[str, Any] = port.contract.raw
    return PortRecord(
        address=f"{product.address}.{port.name}",
        version=port.version,
        access_level=port.access_level.value,
        description=port.description or str((contract.get("description") or {}).get("purpose") or ""),
        status=str(contract.get("status") or product.status),
        contract=contract,
        columns=_columns(port),
    )


def _highest_access(ports: Iterable[PortRecord]) -> str:
    order = ("public", "restricted", "private")
    levels = [p.access_level for p in ports] or ["public"]
    return max(levels, key=order.index)


def _product(product: ProductSpec) -> ProductRecord:
    ports = tuple(_port(product, p) for p in (*product.output_ports, *product.described_ports))
    description = " ".join(
        text for key in ("purpose", "usage", "limitations") if (text := product.description.get(key))
    )
    return ProductRecord(
        address=str(product.address),
        version=product.version,
        status=product.status,
        type=product.type or "",
        owner_team=product.team,
        title=product.title or product.name,
        description=description,
        tags=product.tags,
        access_level=_highest_access(ports),
        ports=ports,
    )


def column_edges(graph: MeshGraph) -> list[ColumnLineageEdge]:
    """Column-level lineage of every SQL transform, as the catalog stores it."""
    from meshplane.lineage import column_lineage

    return [
        ColumnLineageEdge(e.upstream_port, e.upstream_column, e.downstream_port, e.downstream_column)
        for e in column_lineage(graph)
    ]


def mesh_snapshot(graph: MeshGraph, column_lineage: Iterable[ColumnLineageEdge] | None = None) -> MeshSnapshot:
    spec = graph.spec
    if column_lineage is None:
        column_lineage = column_edges(graph)
    lineage = tuple(
        LineageEdge(
            upstream=str(edge.upstream_port) if edge.upstream_port else (edge.source.id if edge.source else ""),
            downstream=f"{address}",
        )
        for address, edges in graph.edges.items()
        for edge in edges
    )
    return MeshSnapshot(
        domains=tuple(
            DomainRecord(
                name=d.name,
                title=d.config.title or d.name,
                description=d.config.description or "",
                owner_team=d.config.owner,
            )
            for d in spec.domains
        ),
        products=tuple(_product(p) for p in spec.products),
        glossary=tuple(
            GlossaryTerm(
                name=t.name,
                title=t.title or t.name,
                description=t.description or "",
                logical_type=t.logicalType or "",
                classification=t.classification,
            )
            for t in spec.glossary.terms
        ),
        teams=tuple(
            TeamRecord(
                name=t.name, title=t.title or t.name, members=tuple(TeamMember(m.username, m.role) for m in t.members)
            )
            for t in spec.config.teams
        ),
        lineage=lineage,
        column_lineage=tuple(column_lineage),
    )


def mesh_state(graph: MeshGraph) -> str:
    """A hash of everything :func:`mesh_snapshot` derives the catalog rows from: the snapshot without its
    column lineage, and what column lineage reads (each transform's code and inputs, the sources' columns),
    with the versions of the code that derives them."""
    known = _STATES.get(id(graph))
    if known is not None and known[0]() is graph:
        return known[1]
    state = _mesh_state(graph)
    key = id(graph)
    _STATES[key] = (weakref.ref(graph, lambda _: _STATES.pop(key, None)), state)
    return state


@functools.cache
def _code_versions() -> str:
    from importlib.metadata import version  # reads the installed package's metadata file: once per process

    from meshplane import __version__

    return f"{_STATE_FORMAT}|{__version__}|{version('sqlglot')}|"


def _mesh_state(graph: MeshGraph) -> str:
    digest = hashlib.sha256(_code_versions().encode())
    digest.update(repr(mesh_snapshot(graph, column_lineage=())).encode())
    for address in graph.order:
        product = graph.products[address]
        digest.update(
            repr(
                (str(address), [(p.name, p.transform.language, p.transform.code) for p in product.output_ports])
            ).encode()
        )
        digest.update(
            repr(
                [
                    (e.input.name, str(e.upstream_port or ""), e.source.id if e.source else "")
                    for e in graph.edges.get(address, ())
                ]
            ).encode()
        )
    for source_id in sorted(graph.sources):
        columns = graph.sources[source_id].columns
        digest.update(repr((source_id, [(c.name, c.logical_type, c.physical_type) for c in columns])).encode())
    return digest.hexdigest()


def sync_catalog(graph: MeshGraph, catalog: CatalogStore, *, held_back: Collection[Address] = ()) -> bool:
    """Sync the specs into the catalog unless it already holds this exact mesh state; True when synced.

    A build syncs before it runs: with an unchanged mesh that is one indexed read instead of rewriting
    every row and recomputing column lineage with sqlglot for every SQL transform.

    The products in ``held_back`` keep what the catalog says about them (their version and their ports'
    published contracts; ports it never had stay out): a build syncs its products only once they published,
    so a refused build never becomes the baseline the next change is compared with.
    """
    from meshplane.catalog.writer import MESH_STATE

    state = mesh_state(graph)
    shared = graph.spec.config.repository != "mono"
    if not shared and catalog.reader.setting(MESH_STATE) == state:  # already these specs: nothing to hold back
        return False
    snapshot = mesh_snapshot(graph)
    if held_back:
        snapshot = _with_held_back(snapshot, catalog, {str(a) for a in held_back})
    if shared:  # one repository of many: replace only its own share of the platform's catalog
        from meshplane.workspace.repositories import publish_files, scoped_snapshot

        catalog.writer.sync_mesh(scoped_snapshot(graph, snapshot, catalog), state=None)
        publish_files(graph, catalog)
        return True
    catalog.writer.sync_mesh(snapshot, state=None if held_back else state)
    return True


def _with_held_back(snapshot: MeshSnapshot, catalog: CatalogStore, held: set[str]) -> MeshSnapshot:
    products: list[ProductRecord] = []
    for product in snapshot.products:
        if product.address not in held:
            products.append(product)
            continue
        stored = catalog.reader.product(product.address)
        if stored is None:  # never published: listed (owners, consumers see it planned), without ports
            products.append(replace(product, ports=()))
        else:
            products.append(replace(product, version=stored.version, ports=stored.ports))
    return replace(snapshot, products=tuple(products))
