"""Plan a build: which selected products are stale, and why.

Staleness is decided by fingerprints stored in each port table's snapshot summary, so the fingerprint is
committed atomically with the data it describes: the transform's code, the port contract, the product's
build settings and the snapshot ids (or file states) of everything it reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from glob import glob
from typing import Any

from meshplane.graph import MeshGraph
from meshplane.spec import ContractSpec, OutputPortSpec, ProductSpec
from meshplane.storage.tables import CONTENT_PROPERTY
from meshplane.types import Address

__all__ = [
    "PROPERTY_PREFIX",
    "BuildPlan",
    "PlannedProduct",
    "PortFingerprint",
    "PortRun",
    "Reason",
    "SnapshotLookup",
    "SourceState",
    "SourceStates",
    "fingerprint_port",
    "plan_build",
    "port_reasons",
    "port_run",
    "source_state",
]

PROPERTY_PREFIX = "meshplane."


class Reason(StrEnum):
    NEW = "new"
    CODE_CHANGED = "code changed"
    CONTRACT_CHANGED = "contract changed"
    SETTINGS_CHANGED = "settings changed"
    UPSTREAM_CHANGED = "upstream snapshot changed"
    UPSTREAM_REBUILDING = "upstream is rebuilt in this plan"
    SOURCE_CHANGED = "source data changed"
    FORCED = "forced"


# A published port's snapshot summary (str -> str), or None when never published.
SnapshotLookup = Callable[[Address, int], Mapping[str, str] | None]


# One encoder for every digest: json.dumps with options builds a new one per call (50,000 calls in a plan of
# 10,000 products).
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def _digest(value: Any) -> str:
    text = _CANONICAL.encode(value)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source as one listing found it: what a port's fingerprint digests and, for files, the files listed. A
    build reads exactly those files, so the fingerprint it publishes describes the data it read: a file that lands
    during the run is new to the next plan, never recorded as read."""

    fingerprint: Any
    files: tuple[str, ...] = ()


# By source id: each source is listed once per plan and once per product build (a glob of a year of daily files
# costs ~20 ms).
SourceStates = dict[str, SourceState]


def source_state(graph: MeshGraph, source: ContractSpec, states: SourceStates | None = None) -> SourceState:
    """``source`` as ``states`` holds it, listed now (and kept there) when it does not."""
    if states is not None and source.id in states:
        return states[source.id]
    state = _list_source(graph, source)
    if states is not None:
        states[source.id] = state
    return state


def _list_source(graph: MeshGraph, source: ContractSpec) -> SourceState:
    """Files: their names, sizes and modification times. A PostgreSQL table: its row count and the largest value
    of the source contract's ``watermark`` column, or its newest row version (see ``postgres_fingerprint``)."""
    server = source.server
    if server is None:
        return SourceState(None)
    if server.type == "postgres" and server.table is not None:
        return SourceState(_postgres_state(graph, source))
    if server.type == "local" and server.path is not None:
        root = str(graph.spec.root)
        pattern = str(graph.spec.root / server.path)
        # Under a plain relative path every match is the pattern's folder plus a name: cutting the root off gives
        # what relpath would, without its normalising (~40 us a file, a year of daily files each plan).
        prefix = (
            root + os.sep if os.path.isabs(root) and _plain(server.path) and os.path.normpath(root) == root else None
        )
        states, files = [], []
        for name in sorted(glob(pattern, recursive=True)):
            try:
                stat = os.stat(name)
            except OSError:
                continue
            relative = name[len(prefix) :] if prefix and name.startswith(prefix) else os.path.relpath(name, root)
            states.append((relative, stat.st_size, stat.st_mtime_ns))
            files.append(name)
        return SourceState(states, tuple(files))
    return SourceState({"server": server.name, "table": server.table})


def _file_bytes(state: SourceState | None) -> int:
    """The bytes of a file source's listed files; 0 for other sources."""
    fingerprint = state.fingerprint if state is not None else None
    return sum(size for _, size, _ in fingerprint) if isinstance(fingerprint, list) else 0


def _plain(path: str) -> bool:
    """A relative path without ``.``/``..`` parts, empty parts or a trailing separator (normalising keeps it)."""
    return not os.path.isabs(path) and os.path.normpath(path) == path and not path.startswith("..")


def _postgres_state(graph: MeshGraph, source: ContractSpec) -> Any:
    server = source.server
    assert server is not None
    state: dict[str, Any] = {"server": server.name, "table": server.table}
    connection = graph.spec.config.connections.get(server.name)
    url = os.environ.get(connection.env) if connection is not None else None
    if not url:
        return state  # the build says which variable to set; nothing to compare until then
    from meshplane.engines.sources import postgres_fingerprint
    from meshplane.errors import BuildError

    watermark = source.custom.get("watermark")
    assert server.table is not None
    try:
        state["content"] = postgres_fingerprint(
            url, server.schema or "public", server.table, None if watermark is None else str(watermark)
        )
    except BuildError as error:  # unreachable now: plan a build, which reports the error
        state["content"] = f"unavailable: {error}"
    return state


@dataclass(frozen=True)
class PortFingerprint:
    """What a port's current snapshot must have been built from to be up to date."""

    code: str
    contract: str
    settings: str
    upstream: str
    sources: str

    def properties(self) -> dict[str, str]:
        return {
            f"{PROPERTY_PREFIX}code": self.code,
            f"{PROPERTY_PREFIX}contract": self.contract,
            f"{PROPERTY_PREFIX}settings": self.settings,
            f"{PROPERTY_PREFIX}upstream": self.upstream,
            f"{PROPERTY_PREFIX}sources": self.sources,
        }


def fingerprint_port(
    graph: MeshGraph,
    product: ProductSpec,
    port: OutputPortSpec,
    lookup: SnapshotLookup,
    engine: str,
    source_states: SourceStates | None = None,
) -> PortFingerprint:
    """``source_states``: each source's state, listed once across the products of a plan or the steps of a
    product's build (see :class:`SourceState`)."""
    upstream: dict[str, str | None] = {}
    sources: dict[str, Any] = {}
    for edge in graph.edges[product.address]:
        if edge.upstream_port is not None:
            major = graph.ports[edge.upstream_port].major
            summary = lookup(edge.upstream_port, major)
            # A compaction's snapshot holds an earlier snapshot's rows: consumers of it are not stale.
            content = summary.get(CONTENT_PROPERTY) or summary.get(f"{PROPERTY_PREFIX}snapshot") if summary else None
            upstream[edge.input.name] = content
        else:
            assert edge.source is not None
            sources[edge.input.name] = source_state(graph, edge.source, source_states).fingerprint
    return PortFingerprint(
        code=_digest(port.transform.code),
        contract=_digest(port.contract.raw),
        settings=_digest(
            {
                "engine": engine,
                "product_version": product.version,
                "inputs": [(i.name, i.contract_id) for i in product.input_ports],
            }
        ),
        upstream=_digest(upstream),
        sources=_digest(sources),
    )


@dataclass(frozen=True)
class PortRun:
    """Which kind of run a port gets (``full``, ``append`` or ``merge``) and why."""

    kind: str
    why: str

    def __str__(self) -> str:
        return f"{self.kind} ({self.why})"


def port_run(port: OutputPortSpec, current: Mapping[str, str] | None, reasons: set[Reason], forced: bool) -> PortRun:
    """The one rule for full vs append: an append port appends only to a table built by the same transform,
    contract and settings; anything else (first build, --full-refresh, a changed transform, contract or settings)
    rebuilds it whole. A contract change rebuilds even when additive: the published rows were checked and
    typed against the previous contract."""
    if not port.incremental:
        return PortRun("full", "refresh: full")
    if current is None or Reason.NEW in reasons:
        return PortRun("full", "first build")
    if forced:
        return PortRun("full", "--full-refresh")
    for reason in (Reason.CODE_CHANGED, Reason.CONTRACT_CHANGED, Reason.SETTINGS_CHANGED):
        if reason in reasons:
            return PortRun("full", reason.value)
    if port.refresh == "merge":
        keys = ", ".join(c.name for c in port.contract.columns if c.primary_key)
        return PortRun("merge", f"rows changed after the last published {port.watermark}, upserted by {keys}")
    if port.refresh == "partitions":
        spec = ", ".join(column if t == "identity" else f"{t}({column})" for column, t in port.partitioning)
        return PortRun(
            "partitions", f"partitions ({spec}) of the rows after the last published {port.watermark}, replaced whole"
        )
    return PortRun("append", f"rows after the last published {port.watermark}")


@dataclass(frozen=True)
class PlannedProduct:
    address: Address
    reasons: tuple[Reason, ...]
    fingerprints: Mapping[str, PortFingerprint] = field(repr=False)
    engine: str = "duckdb"
    runs: Mapping[str, PortRun] = field(default_factory=dict)  # output port name -> kind of run
    full_refresh: bool = False  # append ports rebuild whole too (a forced build alone still appends)
    source_bytes: int = 0
    """Bytes of its local file sources when planned (what a parallel build's ordering estimates cost from)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "product": str(self.address),
            "reasons": [r.value for r in self.reasons],
            "engine": self.engine,
            "runs": {name: {"kind": run.kind, "why": run.why} for name, run in self.runs.items()},
        }


@dataclass(frozen=True)
class BuildPlan:
    """Stale products in dependency order; empty when everything selected is up to date."""

    items: tuple[PlannedProduct, ...]
    selected: tuple[Address, ...]

    def __bool__(self) -> bool:
        return bool(self.items)

    def as_json(self) -> list[dict[str, Any]]:
        return [item.as_json() for item in self.items]


def port_reasons(current: Mapping[str, str] | None, wanted: PortFingerprint) -> set[Reason]:
    if current is None:
        return {Reason.NEW}
    reasons: set[Reason] = set()
    checks = (
        ("code", wanted.code, Reason.CODE_CHANGED),
        ("contract", wanted.contract, Reason.CONTRACT_CHANGED),
        ("settings", wanted.settings, Reason.SETTINGS_CHANGED),
        ("upstream", wanted.upstream, Reason.UPSTREAM_CHANGED),
        ("sources", wanted.sources, Reason.SOURCE_CHANGED),
    )
    for key, value, reason in checks:
        if current.get(f"{PROPERTY_PREFIX}{key}") != value:
            reasons.add(reason)
    return reasons


def plan_build(
    graph: MeshGraph,
    selected: Sequence[Address],
    lookup: SnapshotLookup,
    *,
    engine_for: Callable[[ProductSpec], str],
    full_refresh: bool = False,
    force: bool = False,
) -> BuildPlan:
    """Compare every selected product's fingerprints with its published snapshots, in build order.

    ``force`` plans every selected product (a schedule's tick); ``full_refresh`` does too and rebuilds append
    ports whole."""
    items: list[PlannedProduct] = []
    rebuilding: set[Address] = set()
    states: SourceStates = {}
    summaries: dict[tuple[Address, int], Mapping[str, str] | None] = {}

    def cached(port: Address, major: int) -> Mapping[str, str] | None:
        # Each port is looked up once per plan, whether as an output or as some consumer's upstream.
        if (port, major) not in summaries:
            summaries[port, major] = lookup(port, major)
        return summaries[port, major]

    for address in selected:
        product = graph.products[address]
        engine = engine_for(product)
        reasons: set[Reason] = {Reason.FORCED} if full_refresh or force else set()
        fingerprints: dict[str, PortFingerprint] = {}
        runs: dict[str, PortRun] = {}
        for port in product.output_ports:
            wanted = fingerprint_port(graph, product, port, cached, engine, states)
            fingerprints[port.name] = wanted
            current = cached(Address(address.domain, address.product, port.name), port.major)
            found = port_reasons(current, wanted)
            reasons |= found
            runs[port.name] = port_run(port, current, found, full_refresh)
        if graph.upstream_products(address) & rebuilding:
            reasons.add(Reason.UPSTREAM_REBUILDING)
        if reasons:
            rebuilding.add(address)
            ordered = tuple(r for r in Reason if r in reasons)
            read = sum(_file_bytes(states.get(e.source.id)) for e in graph.edges[address] if e.source is not None)
            items.append(PlannedProduct(address, ordered, fingerprints, engine, runs, full_refresh, read))
    return BuildPlan(tuple(items), tuple(selected))
