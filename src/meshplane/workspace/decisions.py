"""The access decision wired to one mesh's catalog: who may read what, agreements, requests and grants.

:class:`AccessDecisions` holds what decides (principals, ownership ledger, policy, authority, workflow,
agreements) without the query gateway: ``meshplane check`` asks it about every input port and loads neither
the SQL parser nor an engine. :class:`~meshplane.workspace.access.AccessService` adds the gateway.
"""

from __future__ import annotations

import time
from datetime import datetime
from functools import cached_property
from typing import Any

from meshplane.access.agreements import Agreements
from meshplane.access.authority import AccessAuthority
from meshplane.access.ownership import OwnershipLedger
from meshplane.access.policy import AccessPolicy, CachedGovernance
from meshplane.access.principals import Directory, acting_user
from meshplane.access.workflow import AccessWorkflow
from meshplane.catalog import CatalogStore
from meshplane.errors import AccessDenied, MeshError
from meshplane.graph import MeshGraph
from meshplane.workspace.platform import Platform

__all__ = ["AccessDecisions"]

SIGNIN_TTL_S = 5.0  # how late a decision sees a new sign-in's teams (another process's cache)


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
        return Directory.from_spec(self.graph.spec, signed_in=self._signed_in_teams)

    @cached_property
    def _signin_cache(self) -> dict[str, tuple[float, frozenset[str]]]:
        return {}

    def _signed_in_teams(self, username: str) -> frozenset[str]:
        """Teams the identity provider gave ``username`` at their last sign-in, read from the catalog at most
        every few seconds per person (every decision asks; a new sign-in is seen by other processes this late)."""
        now = time.monotonic()
        hit = self._signin_cache.get(username)
        if hit is not None and hit[0] > now:
            return hit[1]
        teams = self.catalog.signin_teams.teams(username)
        if len(self._signin_cache) > 10_000:
            self._signin_cache.clear()
        self._signin_cache[username] = (now + SIGNIN_TTL_S, teams)
        return teams

    def record_sign_in(self, username: str, groups: object, expires_at: datetime) -> frozenset[str]:
        """After the identity provider vouched for ``username`` (a verified ID token): map its ``groups`` claim
        through mesh.yaml's ``sign_in: group_teams`` and record the teams, replacing an earlier sign-in's, until
        ``expires_at``. Returns the teams; without a mapping in mesh.yaml records nothing."""
        mapping = self.graph.spec.config.sign_in.group_teams
        if not mapping:
            return frozenset()
        acting_user(username)  # a valid user name, or UsageError
        names = [groups] if isinstance(groups, str) else list(groups) if isinstance(groups, list | tuple) else []
        listed = [str(g) for g in names if isinstance(g, str | int)][:1000]
        teams = frozenset(mapping[g] for g in listed if g in mapping)
        self.catalog.signin_teams.record(username, sorted(teams), listed, expires_at)
        self._signin_cache.pop(username, None)
        return teams

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
            all_facts=self.ledger.effective_all,
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

    def browsable_ports(
        self, user: str, *, prefix: str = "", limit: int | None = None
    ) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
        """The ports ``user`` may query now whose address starts with ``prefix`` (``"podcasts."``: one domain's),
        as ``(address, description, ((column, type), ...))``, at most ``limit`` of them: the SQL editor's schema
        browser and completion. Decided by the access decision alone, port by port, only for the ports matching
        the prefix and only until ``limit`` are found (no engine, no data read): only granted columns, each
        masked one typed as its mask, e.g. ``masked (hash)``."""
        principal = self.directory.principal(user)
        facts = self.ledger.effective_all()  # every product's facts in force, in one read (not one per port)
        found: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
        for record in self.catalog.reader.ports(prefix=prefix or None):
            if limit is not None and len(found) >= limit:
                break
            try:
                decision = self.policy.decide(principal, self.policy.target(record.address, facts))
            except MeshError:
                continue  # not readable by this user: not listed
            granted, masks = decision.granted_columns, decision.masks
            columns = tuple(
                (c.name, f"masked ({masks[c.name]})" if c.name in masks else (c.physical_type or c.logical_type))
                for c in record.columns
                if granted is None or c.name in granted
            )
            found.append((record.address, record.description, columns))
        return found
