"""Ownership, enforced: who may build a product, and which spec changes wait for the owner's approval.

Only members of a product's owner team (or the platform team) may publish it (:func:`assert_may_build`).

The facts that protect consumers' data — the owner team, each port's access level, the masks non-owners
see, and who may get or give grants (``autoApprove`` teams, the contract's approver teams) — are kept as a
*baseline* per product in the append-only audit log (action ``spec.baseline``). A spec that loosens any of
them (moves the product to another team, lowers an access level, removes or weakens a mask, widens a
grant) produces :class:`SpecChange` records; until the current owner team or the governance team approves
a change (action ``spec.approve``), the change does not take effect: access decisions use the baseline's
value for that fact (:meth:`OwnershipLedger.effective`) and the build gate refuses to publish. Tightening
changes need no approval and take effect at once. When nothing is pending, the baseline moves to the spec.

The first baseline of a product is what the catalog last published for it (``meshplane publish``), else its
spec. Call :meth:`OwnershipLedger.ensure_baselines` before syncing specs into the catalog, so a sync cannot
silently accept a pending change.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from meshplane.access.principals import Directory
from meshplane.catalog import CatalogReader, CatalogWriter, ProductRecord
from meshplane.errors import AccessDenied, NotFound, PolicyViolation, UsageError
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.spec.models import ContractSpec, OutputPortSpec
from meshplane.types import Address, Principal

__all__ = [
    "ACCESS_ORDER",
    "BASELINE_ACTION",
    "MASKED_CLASSIFICATIONS",
    "SPEC_APPROVE_ACTION",
    "ChangeKind",
    "OwnershipLedger",
    "PortFacts",
    "ProductFacts",
    "SpecChange",
    "assert_may_build",
    "auto_approve_teams",
    "declared_fields",
    "diff_facts",
    "facts_from_record",
    "facts_from_spec",
    "mask_strength",
    "nested_properties",
    "port_masks",
]

BASELINE_ACTION = "spec.baseline"
SPEC_APPROVE_ACTION = "spec.approve"
_ONE_BY_ONE = 20  # products without a baseline up to which each one's catalog record is read by itself
ACCESS_ORDER: tuple[str, ...] = ("public", "restricted", "private")
"""Access levels from open to closed."""
MASKED_CLASSIFICATIONS = frozenset({"pii", "restricted"})
"""Columns of these classifications are masked for non-owners, with their declared mask or ``hash``."""
DEFAULT_MASK = "hash"
_STRENGTH = {"partial": 1, "hash": 2, "redact": 3, "null": 3}


def mask_strength(kind: str | None) -> int:
    """0 for no mask; higher hides more (``partial`` < ``hash`` < ``redact`` = ``null``)."""
    return 0 if kind is None else _STRENGTH.get(kind, 3)


class ChangeKind(StrEnum):
    """A kind of spec change that needs the current owner's (or the governance team's) approval."""

    OWNER_TEAM = "owner_team"
    ACCESS_LEVEL = "access_level"
    MASK = "mask"
    GRANT = "grant"


@dataclass(frozen=True)
class PortFacts:
    """What protects one port's data: its access level, non-owner masks, and who gets or gives grants."""

    access_level: str
    masks: Mapping[str, str] = field(default_factory=dict)
    """column -> mask kind applied for everyone outside the owner team"""
    auto_approve: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "access_level": self.access_level,
            "masks": dict(sorted(self.masks.items())),
            "auto_approve": sorted(self.auto_approve),
            "approvers": sorted(self.approvers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PortFacts:
        return cls(
            access_level=str(data.get("access_level") or "private"),
            masks=MappingProxyType({str(k): str(v) for k, v in dict(data.get("masks") or {}).items()}),
            auto_approve=tuple(str(t) for t in data.get("auto_approve") or ()),
            approvers=tuple(str(t) for t in data.get("approvers") or ()),
        )


@dataclass(frozen=True)
class ProductFacts:
    """The protective facts of one product and its ports."""

    product: str
    owner_team: str
    ports: Mapping[str, PortFacts] = field(default_factory=dict)
    """port name -> facts"""

    def as_json(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "owner_team": self.owner_team,
            "ports": {name: facts.as_json() for name, facts in sorted(self.ports.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProductFacts:
        return cls(
            product=str(data["product"]),
            owner_team=str(data.get("owner_team") or ""),
            ports=MappingProxyType({str(k): PortFacts.from_json(v) for k, v in dict(data.get("ports") or {}).items()}),
        )


@dataclass(frozen=True)
class SpecChange:
    """One loosening change of a product's spec, waiting for approval."""

    id: str
    product: str
    kind: ChangeKind
    port: str | None
    column: str | None
    before: str
    after: str

    @property
    def subject(self) -> str:
        return ".".join(part for part in (self.product, self.port, self.column) if part)

    def describe(self) -> str:
        what = {
            ChangeKind.OWNER_TEAM: "moves the product from team",
            ChangeKind.ACCESS_LEVEL: "lowers the access level from",
            ChangeKind.MASK: "weakens the mask from",
            ChangeKind.GRANT: "widens who gets or gives grants from",
        }[self.kind]
        return f"{self.subject}: {what} {self.before or 'none'} to {self.after or 'none'}"

    def as_json(self) -> dict[str, Any]:
        return {
            "change": self.id, "kind": self.kind.value, "product": self.product, "port": self.port,
            "column": self.column, "before": self.before, "after": self.after, "description": self.describe(),
        }  # fmt: skip


def _change(
    product: str, kind: ChangeKind, port: str | None, column: str | None, before: str, after: str
) -> SpecChange:
    digest = hashlib.sha256(json.dumps([product, kind.value, port, column, before, after]).encode()).hexdigest()
    return SpecChange(digest[:12], product, kind, port, column, before, after)


# --- facts from a spec or a catalog record ------------------------------------------------------------


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(sorted({str(v).strip() for v in value if str(v).strip()}))
    return tuple(sorted({part.strip() for part in str(value).split(",") if part.strip()}))


def auto_approve_teams(port: OutputPortSpec) -> tuple[str, ...]:
    """The teams whose members' requests for ``port`` are approved at once (ODPS port ``autoApprove``)."""
    return _names(port.custom.get("autoApprove"))


def _approvers(contract: Mapping[str, Any]) -> tuple[str, ...]:
    teams: set[str] = set()
    for role in contract.get("roles") or []:
        if isinstance(role, Mapping):
            teams.update(_names(role.get("firstLevelApprovers")))
    return tuple(sorted(teams))


def nested_properties(prop: Any) -> list[Any] | None:
    """The ODCS properties nested below ``prop``: an ``object``'s ``properties`` (a STRUCT's fields), or the
    ``properties`` of an ``array``'s ``items`` (the fields of each element of a LIST of STRUCT). None when
    ``prop`` declares none."""
    if not isinstance(prop, Mapping):
        return None
    children = prop.get("properties")
    if isinstance(children, list):
        return children
    items = prop.get("items")
    if isinstance(items, Mapping) and isinstance(items.get("properties"), list):
        return list(items["properties"])
    return None


def _declared_mask(prop: Mapping[str, Any]) -> str | None:
    """A property's mask: its declared one, else ``hash`` when its classification asks for one."""
    for entry in reversed(prop.get("customProperties") or []):
        if isinstance(entry, Mapping) and entry.get("property") == "mask" and entry.get("value"):
            return str(entry["value"])
    if str(prop.get("classification") or "") in MASKED_CLASSIFICATIONS:
        return DEFAULT_MASK
    return None


def _masks_from_properties(properties: Iterable[Any], prefix: str = "") -> dict[str, str]:
    """Masks of ODCS properties, nested ones (an ``object`` property's ``properties``: a STRUCT's fields; an
    ``array`` property's ``items.properties``: the fields of each element) under dotted names:
    ``profile.email``, ``sessions.ip``. An ``array``'s ``items`` classified or masked themselves (a list of
    e-mail addresses) mask the whole list."""
    masks: dict[str, str] = {}
    for prop in properties:
        if not isinstance(prop, Mapping) or not prop.get("name"):
            continue
        name = prefix + str(prop["name"])
        declared = _declared_mask(prop)
        items = prop.get("items")
        if declared is None and isinstance(items, Mapping):
            declared = _declared_mask(items)
        if declared is not None:
            masks[name] = declared
        children = nested_properties(prop)
        if children is not None:
            masks.update(_masks_from_properties(children, name + "."))
    return masks


def port_masks(contract: ContractSpec) -> dict[str, str]:
    """The masks a contract asks for non-owners: declared masks, and ``hash`` for undeclared PII columns,
    nested fields included (``column.field``: a STRUCT's fields and the fields of a LIST of STRUCT's
    elements)."""
    masks: dict[str, str] = {}
    for column in contract.columns:
        if column.mask is not None:
            masks[column.name] = column.mask.value
        elif column.classification in MASKED_CLASSIFICATIONS:
            masks[column.name] = DEFAULT_MASK
    for prop in _table_properties(contract.raw, contract.table_index):
        if not isinstance(prop, Mapping) or not prop.get("name"):
            continue
        items = prop.get("items")
        if prop["name"] not in masks and isinstance(items, Mapping) and _declared_mask(items) is not None:
            masks[prop["name"]] = str(_declared_mask(items))
        children = nested_properties(prop)
        if children is not None:
            masks.update(_masks_from_properties(children, f"{prop['name']}."))
    return masks


def _table_properties(contract: Mapping[str, Any], table_index: int) -> list[Any]:
    """The properties of the table a port spec builds (``schema[table_index]``: a contract may hold several)."""
    schema = contract.get("schema") or []
    table = schema[table_index] if isinstance(schema, list) and 0 <= table_index < len(schema) else None
    properties = table.get("properties") if isinstance(table, Mapping) else None
    return properties if isinstance(properties, list) else []


def declared_fields(contract: Mapping[str, Any], table_index: int = 0) -> dict[str, Any]:
    """Column name -> its declared nested fields, for the gateway's projection: a dict of field name -> the
    same below it, or None for a property that declares no nested properties (lower-case names), for the
    table ``schema[table_index]``."""

    def walk(properties: Iterable[Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for prop in properties:
            if isinstance(prop, Mapping) and prop.get("name"):
                children = nested_properties(prop)
                found[str(prop["name"]).lower()] = None if children is None else walk(children)
        return found

    return walk(_table_properties(contract, table_index))


def facts_from_spec(product: ProductSpec) -> ProductFacts:
    ports = {
        port.name: PortFacts(
            access_level=port.access_level.value,
            masks=MappingProxyType(port_masks(port.contract)),
            auto_approve=auto_approve_teams(port),
            approvers=_approvers(port.contract.raw),
        )
        for port in (*product.output_ports, *product.described_ports)
    }
    return ProductFacts(str(product.address), product.team, MappingProxyType(ports))


def facts_from_record(record: ProductRecord) -> ProductFacts:
    """Facts from what the catalog last published (it does not keep ``autoApprove``: none is assumed)."""
    ports: dict[str, PortFacts] = {}
    for port in record.ports:
        schema = port.contract.get("schema") or [{}]
        # a table of a port with several tables records its port's whole contract: its own schema object is
        # the one declaring its columns
        names = {c.name for c in port.columns}
        table = next(
            (o for o in schema if isinstance(o, Mapping) and names
             and {str(p.get("name")) for p in o.get("properties") or [] if isinstance(p, Mapping)} == names),
            schema[0],
        )  # fmt: skip
        properties = table.get("properties") or [] if isinstance(table, Mapping) else []
        ports[port.address.rsplit(".", 1)[-1]] = PortFacts(
            access_level=port.access_level,
            masks=MappingProxyType(_masks_from_properties(properties)),
            approvers=_approvers(port.contract),
        )
    return ProductFacts(record.address, record.owner_team, MappingProxyType(ports))


def diff_facts(baseline: ProductFacts, current: ProductFacts) -> list[SpecChange]:
    """The loosening changes from ``baseline`` to ``current`` (tightening changes are not listed)."""
    product = current.product
    changes: list[SpecChange] = []
    if baseline.owner_team != current.owner_team:
        changes.append(_change(product, ChangeKind.OWNER_TEAM, None, None, baseline.owner_team, current.owner_team))
    for name, now in sorted(current.ports.items()):
        before = baseline.ports.get(name)
        if before is None:
            continue
        if _level(now.access_level) < _level(before.access_level):
            changes.append(_change(product, ChangeKind.ACCESS_LEVEL, name, None, before.access_level, now.access_level))
        for column, kind in sorted(before.masks.items()):
            after = now.masks.get(column)
            if mask_strength(after) < mask_strength(kind):
                changes.append(_change(product, ChangeKind.MASK, name, column, kind, after or ""))
        for label, old, new in (("autoApprove", before.auto_approve, now.auto_approve),
                                ("approvers", before.approvers, now.approvers)):  # fmt: skip
            if set(new) - set(old):
                changes.append(
                    _change(product, ChangeKind.GRANT, name, label, ",".join(sorted(old)), ",".join(sorted(new)))
                )
    return changes


def _level(access_level: str) -> int:
    return ACCESS_ORDER.index(access_level) if access_level in ACCESS_ORDER else len(ACCESS_ORDER)


def _revert(facts: ProductFacts, baseline: ProductFacts, change: SpecChange) -> ProductFacts:
    """``facts`` with the fact ``change`` touches put back to its baseline value."""
    if change.kind is ChangeKind.OWNER_TEAM:
        return replace(facts, owner_team=baseline.owner_team)
    assert change.port is not None
    port, old = facts.ports[change.port], baseline.ports[change.port]
    if change.kind is ChangeKind.ACCESS_LEVEL:
        port = replace(port, access_level=old.access_level)
    elif change.kind is ChangeKind.MASK and change.column is not None:
        port = replace(port, masks=MappingProxyType({**port.masks, change.column: change.before}))
    elif change.column == "autoApprove":
        port = replace(port, auto_approve=old.auto_approve)
    else:
        port = replace(port, approvers=old.approvers)
    return replace(facts, ports=MappingProxyType({**facts.ports, change.port: port}))


# --- build permission -------------------------------------------------------------------------------


def assert_may_build(directory: Directory, username: str, product: ProductSpec) -> None:
    """Raise AccessDenied unless ``username`` is in the product's owner team or the platform team."""
    principal = directory.principal(username)
    if directory.in_any(principal, (product.team, directory.platform_team)):
        return
    members = ", ".join(sorted(directory.members(product.team))) or "nobody"
    platform = f" or the platform team ({directory.platform_team})" if directory.platform_team else ""
    raise AccessDenied(
        f"{username} may not build {product.address}: only members of its owner team {product.team} "
        f"({members}){platform} may publish it"
    )


# --- the ledger: baselines and approvals in the audit log ---------------------------------------------


@dataclass(frozen=True)
class _Baseline:
    facts: ProductFacts
    event_id: int  # 0 when read from the catalog's published record (no baseline event yet)


class OwnershipLedger:
    """Baselines and approvals of spec changes, kept in the catalog's append-only audit log."""

    def __init__(self, graph: MeshGraph, directory: Directory, reader: CatalogReader, writer: CatalogWriter) -> None:
        self.graph = graph
        self.directory = directory
        self.reader = reader
        self.writer = writer
        self._lock = threading.Lock()
        self._all: tuple[tuple[object, ...], Mapping[Address, ProductFacts]] | None = None
        # Products known to have a baseline event: the log is append-only, so one never loses it (a build asks
        # three times; only a product not known yet makes it read the log again).
        self._baselined: set[str] = set()

    def _product(self, product: str | Address) -> ProductSpec:
        try:
            address = product if isinstance(product, Address) else Address.parse(product)
        except ValueError as error:
            raise UsageError(str(error)) from None
        spec = self.graph.products.get(address)
        if spec is None:
            raise NotFound(f"no product {product} in this mesh")
        return spec

    def _baseline(self, product: str) -> _Baseline | None:
        events = self.reader.audit_log(action=BASELINE_ACTION, subject=product, limit=1)
        if events:
            event = events[0]
            return _Baseline(ProductFacts.from_json(event.detail), event.id or 0)
        record = self.reader.product(product)
        return _Baseline(facts_from_record(record), 0) if record is not None else None

    def _approved(self, product: str, after_event: int) -> set[str]:
        events = self.reader.audit_log(action=SPEC_APPROVE_ACTION, subject=product, limit=10_000)
        return {str(e.detail.get("change")) for e in events if (e.id or 0) > after_event}

    def pending(self, product: str | Address) -> list[SpecChange]:
        """The product's loosening changes that still wait for approval."""
        spec = self._product(product)
        return self._pending(spec, self._baseline(str(spec.address)))

    def _pending(self, spec: ProductSpec, baseline: _Baseline | None) -> list[SpecChange]:
        if baseline is None:
            return []
        changes = diff_facts(baseline.facts, facts_from_spec(spec))
        if not changes:
            return []
        approved = self._approved(str(spec.address), baseline.event_id)
        return [c for c in changes if c.id not in approved]

    def effective(self, product: str | Address) -> ProductFacts:
        """The facts in force: the spec's, except unapproved loosening changes keep their baseline value."""
        spec = self._product(product)
        return self._in_force(spec, self._baseline(str(spec.address)))

    def _in_force(self, spec: ProductSpec, baseline: _Baseline | None) -> ProductFacts:
        facts = facts_from_spec(spec)
        if baseline is None:
            return facts
        changes = diff_facts(baseline.facts, facts)
        if changes:
            approved = self._approved(str(spec.address), baseline.event_id)
            for change in changes:
                if change.id not in approved:
                    facts = _revert(facts, baseline.facts, change)
        return facts

    def effective_all(self) -> Mapping[Address, ProductFacts]:
        """:meth:`effective` of every product of the mesh, from one read of the baselines (and one per product
        with a change), kept until a baseline or an approval is appended to the audit log (queries' own audit
        events do not change ownership)."""
        # a product without a baseline yet takes its facts from the catalog's published record: a sync changes it
        stamp = (*self.reader.audit_stamp((BASELINE_ACTION, SPEC_APPROVE_ACTION)), self.reader.search_version())
        with self._lock:
            if self._all is not None and self._all[0] == stamp:
                return self._all[1]
        events = self.reader.latest_audit_events(BASELINE_ACTION)
        missing = [str(a) for a in self.graph.products if str(a) not in events]
        records = {r.address: r for r in self.reader.products()} if missing else {}
        found: dict[Address, ProductFacts] = {}
        for address, spec in self.graph.products.items():
            event = events.get(str(address))
            if event is not None:
                baseline: _Baseline | None = _Baseline(ProductFacts.from_json(event.detail), event.id or 0)
            else:
                record = records.get(str(address))
                baseline = _Baseline(facts_from_record(record), 0) if record is not None else None
            found[address] = self._in_force(spec, baseline)
        view = MappingProxyType(found)
        with self._lock:
            self._all = (stamp, view)
        return view

    def may_approve(self, principal: Principal, product: str | Address) -> bool:
        """The current (baseline) owner team, or the governance team."""
        spec = self._product(product)
        baseline = self._baseline(str(spec.address))
        owner = baseline.facts.owner_team if baseline is not None else spec.team
        return self.directory.in_any(principal, (owner, self.directory.governance_team))

    def approve(self, username: str, product: str | Address, change_id: str) -> SpecChange:
        """Record ``username``'s approval of one pending change; the baseline moves once none is left."""
        principal = self.directory.principal(username)
        spec = self._product(product)
        pending = self.pending(spec.address)
        change = next((c for c in pending if c.id == change_id), None)
        if change is None:
            known = ", ".join(c.id for c in pending) or "none"
            raise UsageError(f"{spec.address} has no pending spec change {change_id!r} (pending: {known})")
        if not self.may_approve(principal, spec.address):
            baseline = self._baseline(str(spec.address))
            owner = baseline.facts.owner_team if baseline is not None else spec.team
            raise AccessDenied(
                f"{username} may not approve spec changes of {spec.address}: only its current owner team "
                f"({owner}) or the governance team may"
            )
        self.writer.append_audit(username, SPEC_APPROVE_ACTION, str(spec.address), change.as_json())
        if not self.pending(spec.address):
            self.record_baseline(spec, actor=username, reason="approved")
        return change

    def record_baseline(self, product: ProductSpec, *, actor: str, reason: str,
                        facts: ProductFacts | None = None) -> None:  # fmt: skip
        detail = (facts or facts_from_spec(product)).as_json()
        self.writer.append_audit(actor, BASELINE_ACTION, str(product.address), {**detail, "reason": reason})

    def ensure_baselines(self, actor: str, products: Sequence[ProductSpec] | None = None) -> None:
        """Give every product without a baseline event one: the catalog's published facts, else its spec."""
        chosen = products if products is not None else self.graph.products.values()
        if all(str(spec.address) in self._baselined for spec in chosen):
            return
        recorded = {e.subject for e in self.reader.audit_log(action=BASELINE_ACTION, limit=1_000_000)}
        with self._lock:
            self._baselined |= recorded
        missing = [spec for spec in chosen if str(spec.address) not in recorded]
        if len(missing) > _ONE_BY_ONE:  # a new mesh: one read of the catalog's products, not one per product
            records = {r.address: r for r in self.reader.products()}
            published = {str(s.address): records.get(str(s.address)) for s in missing}
        else:
            published = {str(s.address): self.reader.product(str(s.address)) for s in missing}
        events: list[tuple[str, str, str, Mapping[str, Any]]] = []
        for spec in missing:
            record = published[str(spec.address)]
            facts = facts_from_record(record) if record is not None else facts_from_spec(spec)
            reason = "published" if record is not None else "first seen"
            events.append((actor, BASELINE_ACTION, str(spec.address), {**facts.as_json(), "reason": reason}))
        self.writer.append_audits(events)  # one transaction, however many products are new
        with self._lock:
            self._baselined.update(str(spec.address) for spec in missing)

    def assert_approved(self, product: str | Address, *, actor: str) -> None:
        """The build gate: refuse while a loosening change waits; advance the baseline when clean."""
        spec = self._product(product)
        baseline = self._baseline(str(spec.address))  # read once: what is pending and whether to advance it
        pending = self._pending(spec, baseline)
        if pending:
            lines = "; ".join(f"{c.describe()} [change {c.id}]" for c in pending)
            raise PolicyViolation(
                f"{spec.address} has spec changes that need the approval of its owner team or the governance "
                f"team before they take effect: {lines}. Approve with: meshplane access approve-change "
                f"{spec.address} CHANGE_ID"
            )
        current = facts_from_spec(spec)
        if baseline is None or baseline.event_id == 0 or baseline.facts.as_json() != current.as_json():
            self.record_baseline(spec, actor=actor, reason="built")
