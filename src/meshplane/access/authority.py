"""The one access authority: who may read, request, decide, own, build, mint tokens and see who holds grants.

Every surface asks :class:`AccessAuthority` -- the CLI and the Python API through the workspace's access
service, the REST API and the portal through the discovery service, builds through :meth:`may_build` --
and nothing else decides. The rules themselves live next to the data they need (reads in
:class:`~meshplane.access.policy.AccessPolicy`, ownership facts in the ledger); this class is the single
door to them, so two surfaces cannot disagree.

The rules, in one place:

- **own**: members of the product's owner team (its effective ODPS ``team``) or of its domain's owner team.
  The governance team decides requests everywhere but owns nothing: it reads through grants like anyone.
- **read**: :meth:`AccessPolicy.decide` (access level, grants, masks, row filters, query policies).
- **request**: a declared user who does not own the port, for a ``restricted`` port.
- **request an agreement** for a product (what its build may read): a member of the product's owner teams
  or of the platform team, for a ``restricted`` port of another domain the product does not own.
- **decide** (approve, deny, revoke): the owner teams, the contract's ``roles[].firstLevelApprovers``,
  and the governance team.
- **give up** (withdraw a request, give up a grant): its requester; an agreement also the consuming product's
  owner teams and the platform team (those who may request it).
- **build**: the owner team or the platform team.
- **mint a token** for a user: that user, or a member of the platform team.
- **see who holds grants** of a port (usage, impact): those who may decide on it (and each grantee their own).
- **see check-failure samples** of a port: its owners only (samples are raw rows, unmasked and unfiltered).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from meshplane.access.ownership import ProductFacts, assert_may_build
from meshplane.access.policy import AccessPolicy, PortTarget
from meshplane.access.principals import Directory
from meshplane.errors import AccessDenied, MeshError, NotFound, UsageError
from meshplane.types import Address, Principal

__all__ = ["AccessAuthority", "Action", "Verdict"]


class Action(StrEnum):
    """Everything the authority decides; :meth:`AccessAuthority.check` takes one with its subject."""

    READ = "read"
    REQUEST = "request"
    REQUEST_AGREEMENT = "request_agreement"
    DECIDE = "decide"
    OWN = "own"
    BUILD = "build"
    MINT_TOKEN = "mint_token"
    SEE_GRANTS = "see_grants"
    SEE_SAMPLES = "see_samples"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision, and when refused, why (the message a user sees)."""

    allowed: bool
    reason: str = ""
    denied: bool = True
    """A refusal is a denial (AccessDenied, 403); False: the ask itself makes no sense (UsageError, 400)."""

    def __bool__(self) -> bool:
        return self.allowed

    def require(self) -> None:
        """Raise AccessDenied (or UsageError) with the reason unless allowed."""
        if not self.allowed:
            raise AccessDenied(self.reason) if self.denied else UsageError(self.reason)


_YES = Verdict(True)


@dataclass(frozen=True, slots=True)
class _TeamIndex:
    owns: Mapping[str, frozenset[str]]  # team -> products it owns
    decides: Mapping[str, frozenset[str]]  # team -> ports whose requests it decides
    ports: tuple[str, ...]  # every port, in the facts' order


class AccessAuthority:
    """Every access decision of one mesh; thread-safe. It keeps only per-principal views of the facts in force
    (owned products, decidable ports), each dropped when the facts change."""

    def __init__(self, directory: Directory, policy: AccessPolicy) -> None:
        self._lock = threading.Lock()
        self._views: dict[tuple[str, str, frozenset[str]], tuple[object, Any]] = {}
        self._team_index: tuple[object, _TeamIndex] | None = None
        self.directory = directory
        self.policy = policy

    # --- who ----------------------------------------------------------------------------------------

    def principal(self, username: str) -> Principal:
        """The declared user ``username``; AccessDenied (saying how to declare them) otherwise."""
        return self.directory.principal(username)

    def known(self, username: str) -> Principal | None:
        """The declared user ``username``, or None."""
        try:
            return self.directory.principal(username)
        except AccessDenied:
            return None

    # --- ports and products -------------------------------------------------------------------------

    def target(self, port: str) -> PortTarget:
        """The port with the facts in force (UsageError when there is no such port)."""
        return self.policy.target(port)

    def owner_teams(self, address: str) -> tuple[str, ...]:
        """The teams that own a product or port: its effective owner team and its domain's owner team."""
        parsed = Address.parse(address)
        product = self.policy.graph.products.get(parsed.product_address)
        if product is None:
            raise NotFound(f"no product {parsed.product_address} in this mesh")
        facts = self.policy.facts(product.address)  # the ledger: a pending team change is not in force
        teams = (facts.owner_team, self.directory.domain_owners.get(parsed.domain))
        return tuple(t for t in dict.fromkeys(teams) if t)

    def owns(self, principal: Principal, address: str) -> bool:
        """Whether ``principal`` is in an owner team of the product or port ``address`` (governance is not)."""
        try:
            return self.directory.in_any(principal, self.owner_teams(address))
        except (UsageError, ValueError):
            return False

    def approver_teams(self, port: str) -> tuple[str, ...]:
        """The teams that decide requests for ``port`` besides the governance team."""
        target = self.target(port)
        return tuple(t for t in dict.fromkeys((*target.owner_teams, *target.facts.approvers)) if t)

    def deciders(self, port: str) -> tuple[str, ...]:
        """Every team whose members may approve, deny or revoke access to ``port``."""
        return self.policy.deciders(self.target(port))

    def may_decide(self, principal: Principal, port: str) -> bool:
        """Approve, deny or revoke requests for ``port``; for a port no longer in the mesh, governance only."""
        try:
            return self.policy.may_decide(principal, self.target(port))
        except UsageError:
            return self.directory.in_any(principal, (self.directory.governance_team,))

    # --- actions ------------------------------------------------------------------------------------

    def may_read(self, principal: Principal, port: str) -> Verdict:
        try:
            self.policy.decide(principal, self.target(port))
        except MeshError as error:
            return Verdict(False, str(error))
        return _YES

    def may_request(self, principal: Principal, port: str) -> Verdict:
        """Whether ``principal`` may ask for access to ``port`` (UsageError for a port that does not exist)."""
        target = self.target(port)
        address = str(target.address)
        if self.policy.is_owner(principal, target):
            return Verdict(False, f"{principal.username} is in the owner team of {address}: no request is needed",
                           denied=False)  # fmt: skip
        level = target.facts.access_level
        if level == "private":
            teams = " and ".join(target.owner_teams)
            return Verdict(False, f"{address} is private to the {teams} team; it cannot be requested")
        if level == "public":
            return Verdict(False, f"{address} is public: every user of the mesh may read it without a request",
                           denied=False)  # fmt: skip
        return _YES

    def may_request_agreement(self, principal: Principal, product: str, port: str) -> Verdict:
        """Whether ``principal`` may ask for an agreement for ``product`` to read ``port`` in its builds."""
        spec = self.policy.graph.products.get(Address.parse(product).product_address)
        if spec is None:
            return Verdict(False, f"no product {product} in this mesh", denied=False)
        platform = self.directory.in_any(principal, (self.directory.platform_team,))
        if not (self.owns(principal, product) or platform):
            return Verdict(False, f"{principal.username} may not request agreements for {spec.address}: only its "
                                  "owner team or the platform team may")  # fmt: skip
        target = self.target(port)
        reader = self.directory.product_principal(str(spec.address), self.policy.facts(spec.address).owner_team)
        needs_none = f"{spec.address} needs no agreement to read {target.address}"
        if self.policy.is_owner(reader, target):
            return Verdict(False, f"{needs_none}: its owner team owns the port", denied=False)
        if target.address.domain == spec.address.domain:
            return Verdict(False, f"{needs_none}: it is in the same domain, whose policies apply", denied=False)
        level = target.facts.access_level
        if level == "public":
            return Verdict(False, f"{needs_none}: the port is public (its reads are recorded)", denied=False)
        if level == "private":
            return Verdict(False, f"{target.address} is private to its domain; no agreement can be made for it")
        return _YES

    def may_give_up(self, principal: Principal, requester: str, product: str | None = None) -> bool:
        """Withdraw a request or give up its grant without deciding on the port: the requester; for an agreement
        (``product``, the consuming product), also whoever may request agreements for that product."""
        if principal.username == requester:
            return True
        if product is None:
            return False
        return self.owns(principal, product) or self.directory.in_any(principal, (self.directory.platform_team,))

    def may_build(self, principal: Principal, product: str) -> Verdict:
        spec = self.policy.graph.products.get(Address.parse(product).product_address)
        if spec is None:
            return Verdict(False, f"no product {product} in this mesh")
        try:
            assert_may_build(self.directory, principal.username, spec)
        except AccessDenied as error:
            return Verdict(False, str(error))
        return _YES

    def may_mint_token(self, actor: Principal, username: str) -> Verdict:
        """Only the user themself or a member of the platform team may create a user's API token."""
        if self.known(username) is None:
            return Verdict(False, f"{username} is not a user of this mesh (declare them in mesh.yaml)")
        if actor.username == username or self.directory.in_any(actor, (self.directory.platform_team,)):
            return _YES
        return Verdict(False, f"{actor.username} may not create, list or revoke tokens of {username}; only they "
                              "or the platform team may")  # fmt: skip

    def may_see_grants(self, principal: Principal, port: str, grantee: str | None = None) -> bool:
        """Who holds grants on ``port`` is shown to those who decide them; one's own grant to oneself."""
        return grantee == principal.username or self.may_decide(principal, port)

    def _per_principal(self, kind: str, principal: Principal, compute: Callable[[Any], Any]) -> Any:
        """``compute(facts)`` for ``principal``, kept while the facts in force are the same object (the ledger
        hands out a new one whenever the audit log changes)."""
        facts = self.policy.all_facts()
        key = (kind, principal.username, principal.teams)
        with self._lock:
            hit = self._views.get(key)
            if hit is not None and hit[0] is facts:
                return hit[1]
        value = compute(facts)
        with self._lock:
            if len(self._views) > 4096:
                self._views.clear()
            self._views[key] = (facts, value)
        return value

    def _by_team(self, facts: Mapping[Address, ProductFacts]) -> _TeamIndex:
        """The facts in force indexed by team, once per facts object (a change hands out a new one): which
        products each team owns (owner team or domain owner, as :meth:`owns`) and which ports it decides (the
        teams :meth:`AccessPolicy.deciders_of` names). A person's views are then unions over their teams."""
        with self._lock:
            if self._team_index is not None and self._team_index[0] is facts:
                return self._team_index[1]
        owns: dict[str, set[str]] = defaultdict(set)
        decides: dict[str, set[str]] = defaultdict(set)
        ports: list[str] = []
        for address, product in facts.items():
            owners = (product.owner_team, self.directory.domain_owners.get(address.domain))
            owner_teams = tuple(t for t in dict.fromkeys(owners) if t)
            for team in owner_teams:
                owns[team].add(str(address))
            for name, port in product.ports.items():
                ports.append(f"{address}.{name}")
                for team in self.policy.deciders_of(owner_teams, port.approvers):
                    decides[team].add(ports[-1])
        index = _TeamIndex({t: frozenset(v) for t, v in owns.items()}, {t: frozenset(v) for t, v in decides.items()},
                           tuple(ports))  # fmt: skip
        with self._lock:
            self._team_index = (facts, index)
        return index

    def prepare(self) -> None:
        """Read the facts in force and index them by team now (a server at start-up), not in a first request."""
        self._by_team(self.policy.all_facts())

    def _teams(self, principal: Principal) -> frozenset[str]:
        """The teams ``principal`` is a member of, as :meth:`Directory.in_any` counts them: a product principal's
        own (its owner team), a person's declared in mesh.yaml and given by the identity provider."""
        if principal.product is not None:
            return principal.teams
        return self.directory.teams_of(principal.username)

    def decidable_ports(self, principal: Principal) -> list[str]:
        """Every port of the mesh whose requests ``principal`` may decide, from one read of the facts in force
        (what :meth:`may_decide` answers port by port, through the same :meth:`AccessPolicy.deciders_of`)."""

        def compute(facts: Mapping[Address, ProductFacts]) -> list[str]:
            index = self._by_team(facts)
            chosen = frozenset().union(*(index.decides.get(t, frozenset()) for t in self._teams(principal)))
            return [port for port in index.ports if port in chosen] if chosen else []

        return list(self._per_principal("decide", principal, compute))

    def owned_products(self, principal: Principal) -> set[str]:
        """The products ``principal`` owns (what :meth:`owns` answers one by one), from one read of the facts."""

        def compute(facts: Mapping[Address, ProductFacts]) -> frozenset[str]:
            index = self._by_team(facts)
            return frozenset().union(*(index.owns.get(t, frozenset()) for t in self._teams(principal)))

        return set(self._per_principal("own", principal, compute))

    def owns_any(self, principal: Principal) -> bool:
        """Whether ``principal`` is in an owner team of some product."""
        return bool(self.owned_products(principal))

    def readable_values(self, principal: Principal, port: str) -> frozenset[str] | None:
        """The columns of ``port`` whose values ``principal`` may see in a summary of all its rows (a profile's
        min, max, top values, histograms): None for its owners (every column); otherwise the columns they may
        query unmasked, and none when they may not read the port or read it through a row filter (a summary of
        every row would show values of rows they cannot query)."""
        if self.owns(principal, port):
            return None
        try:
            target = self.target(port)
            decision = self.policy.decide(principal, target)
        except MeshError:
            return frozenset()
        if decision.row_filter:
            return frozenset()
        declared = [c.name for c in target.port.contract.columns]
        granted = decision.granted_columns
        return frozenset(c for c in declared if (granted is None or c in granted) and c not in decision.masks)

    def may_see_samples(self, principal: Principal, port: str) -> bool:
        """Failing rows of a port's checks are raw data: its owners only."""
        return self.owns(principal, port)

    def check(self, principal: Principal, action: Action, subject: str) -> Verdict:
        """One decision by name: ``subject`` is a port, a product, or (for MINT_TOKEN) a username."""
        if action is Action.READ:
            return self.may_read(principal, subject)
        if action is Action.REQUEST:
            return self.may_request(principal, subject)
        if action is Action.BUILD:
            return self.may_build(principal, subject)
        if action is Action.REQUEST_AGREEMENT:  # subject: "<domain>.<product> <port>"
            product, _, port = subject.partition(" ")
            return self.may_request_agreement(principal, product, port)
        if action is Action.MINT_TOKEN:
            return self.may_mint_token(principal, subject)
        allowed = {
            Action.DECIDE: self.may_decide,
            Action.OWN: self.owns,
            Action.SEE_GRANTS: self.may_see_grants,
            Action.SEE_SAMPLES: self.may_see_samples,
        }[action](principal, subject)
        return _YES if allowed else Verdict(False, f"{principal.username} may not {action.value} {subject}")
