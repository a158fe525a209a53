"""The access decision wired to one mesh's catalog: who may read what, agreements, requests and grants.

:class:`AccessDecisions` holds what decides (principals, ownership ledger, policy, authority, workflow,
agreements) without the query gateway: ``meshplane check`` asks it about every input port and loads neither
the SQL parser nor an engine. :class:`~meshplane.workspace.access.AccessService` adds the gateway.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from meshplane.access.agreements import Agreements
from meshplane.access.authority import AccessAuthority
from meshplane.access.ownership import OwnershipLedger
from meshplane.access.policy import AccessPolicy, CachedGovernance
from meshplane.access.principals import Directory
from meshplane.access.workflow import AccessWorkflow
from meshplane.catalog import CatalogStore
from meshplane.errors import AccessDenied
from meshplane.graph import MeshGraph
from meshplane.workspace.platform import Platform

__all__ = ["AccessDecisions"]


class AccessDecisions:
    """The access authority and its workflow for one mesh (no gateway, no SQL parser)."""

    def __init__(self, graph: MeshGraph, platform: Platform) -> None:
        self.graph = graph
        self.platform = platform

    # --- wiring -----------------------------------------------------------------------------------

    @property
    def catalog(self) -> CatalogStore:
        return self.platform.catalog

    @cached_property
    def directory(self) -> Directory:
        return Directory.from_spec(self.graph.spec)

    @cached_property
    def ledger(self) -> OwnershipLedger:
        return OwnershipLedger(self.graph, self.directory, self.catalog.reader, self.catalog.writer)

    @cached_property
    def policy(self) -> AccessPolicy:
        return AccessPolicy(
            self.graph,
            self.directory,
            self.ledger.effective,
            self.catalog.reader,
            lambda: self.platform.tables,
            governance=self._governance(),
        )

    def _governance(self) -> CachedGovernance:
        from meshplane.governance import build_query_input, evaluate_query, load_policies
        from meshplane.types import Severity

        spec = self.graph.spec
        policies = load_policies(spec.root, domains=[d.name for d in spec.domains], global_root=spec.governance_root)
        broken = [p for p in policies.problems if p.severity is Severity.ERROR]

        def evaluate(doc: Any) -> Any:
            if broken:  # fail closed: a policy that does not load cannot allow anything
                raise AccessDenied("the mesh's policies do not load; run meshplane check")
            return evaluate_query(doc, policies=policies)

        return CachedGovernance(evaluate, build_query_input, self.graph)

    @cached_property
    def authority(self) -> AccessAuthority:
        """The one access authority: every surface (CLI, Python, REST, portal, builds) asks it."""
        return AccessAuthority(self.directory, self.policy)

    @cached_property
    def workflow(self) -> AccessWorkflow:
        return AccessWorkflow(self.policy, self.directory, self.catalog.reader, self.catalog.writer, self.authority)

    @cached_property
    def agreements(self) -> Agreements:
        return Agreements(self.graph, self.authority, self.catalog.reader, self.catalog.writer)
