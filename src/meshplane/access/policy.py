"""Access decisions: who may read a port (and how), and who may decide on requests for it.

Access levels (ODPS output port ``customProperties.accessLevel``):

- ``public``: every user of the mesh reads it, masked columns masked;
- ``restricted``: the owner team, and users holding an active grant (granted columns, row filter);
- ``private``: the owning domain's teams only, grants or not.

Owners (members of the product's owner team or of its domain's owner team) read their own ports
unmasked. Everyone else gets the masks of the contract's classifications (a column's declared mask, or
``hash`` for ``pii`` / ``restricted`` columns without one) plus whatever the query-time policies of the
governance layer require; a policy that denies, fails or cannot be evaluated denies. The facts used are
the *effective* ones (:class:`~meshplane.access.ownership.OwnershipLedger`): a spec change that loosens
access waits for the owner's approval before it counts.

:meth:`AccessPolicy.resolver` turns each port reference of a query into a
:class:`~meshplane.access.query_ports.ReadablePort`: the files of the snapshot asked for (the current
one, ``AT (VERSION => id)``, ``AT (TIMESTAMP => ...)``, or the table of another major version with
``.v1``), the visible columns with their DuckDB types, the masks and the grants' row filter.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.access.levels import agreement_command, read_refusal, request_hint
from meshplane.access.ownership import PortFacts, ProductFacts, declared_fields
from meshplane.access.principals import Directory
from meshplane.access.query_ports import MaskKind, PortColumn, PortResolver, Predicate, ReadablePort
from meshplane.catalog import PRODUCT_GRANTEE, CatalogReader, Grant
from meshplane.errors import AccessDenied, MeshError, NotFound, QueryRejected, StorageError, UsageError
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.spec.contracts import snake_case
from meshplane.spec.models import OutputPortSpec
from meshplane.storage import TableId, TableStore
from meshplane.types import Address, Principal

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from meshplane.sql import PortRef

__all__ = [
    "AccessPolicy",
    "GovernanceHook",
    "PortTarget",
    "ReadDecision",
    "agreement_command",
    "arrow_to_duckdb_type",
    "combine_row_filters",
    "declared_map_keys",
    "declared_type",
    "request_hint",
]

GovernanceHook = Callable[[Principal, "PortTarget", tuple[str, ...], str | None, Mapping[str, Any] | None],
                          tuple[bool, Mapping[str, str], tuple[str, ...]]]  # fmt: skip
"""``(principal, port, columns, purpose, grant) -> (allow, masks, reasons)``; raising denies."""


@dataclass(frozen=True)
class PortTarget:
    """A port of the mesh with its product and the facts in force for it."""

    address: Address
    product: ProductSpec
    port: OutputPortSpec
    facts: PortFacts
    owner_team: str
    domain_owner: str | None

    @property
    def owner_teams(self) -> tuple[str, ...]:
        return tuple(t for t in dict.fromkeys((self.owner_team, self.domain_owner)) if t)


@dataclass(frozen=True)
class ReadDecision:
    """How one principal may read one port (before the snapshot is chosen)."""

    target: PortTarget
    owner: bool
    granted_columns: frozenset[str] | None
    row_filter: str | None
    masks: Mapping[str, MaskKind] = field(default_factory=dict)
    grants: tuple[Grant, ...] = ()


class AccessPolicy:
    """Decides reads and request decisions for one mesh; resolves query references to readable ports."""

    def __init__(
        self,
        graph: MeshGraph,
        directory: Directory,
        facts: Callable[[Address], ProductFacts],
        catalog: CatalogReader,
        tables: Callable[[], TableStore],
        governance: GovernanceHook | None = None,
        all_facts: Callable[[], Mapping[Address, ProductFacts]] | None = None,
    ) -> None:
        self.graph = graph
        self._all_facts = all_facts
        self.directory = directory
        self._facts = facts
        self.catalog = catalog
        self._tables = tables
        self.governance = governance
        self._lock = threading.Lock()
        self._decisions: OrderedDict[tuple[str, frozenset[str], str],
                                     tuple[tuple[object, ...], float, ReadDecision]] = OrderedDict()  # fmt: skip

    # --- ports and owners -----------------------------------------------------------------------

    def table_port(self, address: str) -> str:
        """``domain.product.port.table`` (one table of a port whose contract has several) as the address of the
        port spec that builds it (``domain.product.port`` or ``domain.product.port__table``); other addresses
        unchanged."""
        parts = address.strip().split(".")
        if len(parts) != 4:
            return address
        domain, product_name, port_name, table = parts
        product = self.graph.products.get(Address(domain, product_name))
        if product is None:
            raise NotFound(f"no product {domain}.{product_name} in this mesh")
        tables = [p for p in product.output_ports if p.name == port_name or p.table_of == port_name]
        for spec in tables:
            if table in (spec.contract.table, snake_case(spec.contract.table)):
                return f"{domain}.{product_name}.{spec.name}"
        names = ", ".join(f"{domain}.{product_name}.{port_name}.{snake_case(p.contract.table)}" for p in tables)
        raise NotFound(
            f"no table {table!r} in port {domain}.{product_name}.{port_name}" + (f"; it has: {names}" if names else "")
        )

    def target(self, address: str, facts: Mapping[Address, ProductFacts] | None = None) -> PortTarget:
        """The port named ``domain.product.port`` (or ``domain.product`` of a single-port product, or
        ``domain.product.port.table`` of a port whose contract has several tables)."""
        address = self.table_port(address)
        try:
            parsed = Address.parse(address)
        except ValueError:
            raise UsageError(f"{address!r} is not a port address; write domain.product.port") from None
        if parsed.product is None:
            raise UsageError(f"{address!r} is a domain; name a port as domain.product.port")
        product = self.graph.products.get(parsed.product_address)
        if product is None:
            raise NotFound(f"no product {parsed.product_address} in this mesh")
        if parsed.port is None:
            if len(product.output_ports) != 1:
                names = ", ".join(f"{parsed}.{p.name}" for p in product.output_ports)
                raise UsageError(f"{parsed} has several ports; name one of: {names}")
            parsed = Address(parsed.domain, parsed.product, product.output_ports[0].name)
        port = product.output(parsed.port or "")
        if port is None:
            names = ", ".join(f"{parsed.product_address}.{p.name}" for p in product.output_ports)
            raise NotFound(f"no port {parsed} in this mesh; {parsed.product_address} has: {names}")
        product_facts = (facts or {}).get(product.address) or self._facts(product.address)
        port_facts = product_facts.ports.get(port.name)
        if port_facts is None:  # pragma: no cover - facts are computed from the same spec
            raise AccessDenied(f"could not decide access to {parsed}; access is denied")
        return PortTarget(
            address=parsed,
            product=product,
            port=port,
            facts=port_facts,
            owner_team=product_facts.owner_team,
            domain_owner=self.directory.domain_owners.get(parsed.domain),
        )

    def facts(self, product: Address) -> ProductFacts:
        """The facts in force for ``product`` (a pending spec change is not)."""
        return self._facts(product)

    def all_facts(self) -> Mapping[Address, ProductFacts]:
        """The facts in force for every product, read at once when the source can (else product by product)."""
        if self._all_facts is not None:
            return self._all_facts()
        return {address: self._facts(address) for address in self.graph.products}

    def is_owner(self, principal: Principal, target: PortTarget) -> bool:
        return self.directory.in_any(principal, target.owner_teams)

    def deciders(self, target: PortTarget) -> tuple[str, ...]:
        """The teams whose members may approve, deny or revoke access to ``target``."""
        return self.deciders_of(target.owner_teams, target.facts.approvers)

    def deciders_of(self, owner_teams: Iterable[str], approvers: Iterable[str]) -> tuple[str, ...]:
        """:meth:`deciders` from a port's owner teams and approvers (for many ports without their targets)."""
        teams = (*owner_teams, *approvers, self.directory.governance_team)
        return tuple(t for t in dict.fromkeys(teams) if t)

    def may_decide(self, principal: Principal, target: PortTarget) -> bool:
        return self.directory.in_any(principal, self.deciders(target))

    # --- reads ------------------------------------------------------------------------------------

    def decide(self, principal: Principal, target: PortTarget, *, at: datetime | None = None) -> ReadDecision:
        """How ``principal`` may read ``target`` now; AccessDenied (with how to ask) when it may not."""
        return self._decide(principal, target, at=at)[0]

    def _decide(
        self, principal: Principal, target: PortTarget, *, at: datetime | None = None
    ) -> tuple[ReadDecision, float]:
        """:meth:`decide`, and the ``time.monotonic()`` until which the decision may be reused: the first
        expiry of a grant it rests on, or of the governance decision (now, for a hook that does not say)."""
        now = time.monotonic()
        valid_until = now + DECISION_TTL_SECONDS
        address = str(target.address)
        owner = self.is_owner(principal, target)
        level = target.facts.access_level
        grants: tuple[Grant, ...] = ()
        columns: frozenset[str] | None = None
        row_filter: str | None = None
        # The access level's rule (meshplane.access.levels): owners and products of the port's own domain need
        # nothing (masks and query-time policies still apply to the latter), restricted ports a grant.
        if (
            not owner
            and level == "restricted"
            and not (principal.product is not None and principal.product.split(".")[0] == target.address.domain)
        ):
            grants = tuple(self.catalog.grants(grantee=principal.username, port=address, active_at=at))
            if target.port.table_of is not None and target.port.table_of != target.port.name:
                # a grant on the port covers each of its tables (its first table is the port's address)
                whole = str(Address(target.address.domain, target.address.product, target.port.table_of))
                grants += tuple(self.catalog.grants(grantee=principal.username, port=whole, active_at=at))
        refusal = read_refusal(address=address, level=level, reader=principal.username, product=principal.product,
                               owner=owner, owner_teams=target.owner_teams, granted=bool(grants))  # fmt: skip
        if refusal is not None:
            raise AccessDenied(refusal)
        if grants:
            moment = at or datetime.now(UTC)
            for grant in grants:
                for ends in (grant.expires_at, grant.revoked_at):
                    if ends is not None:
                        valid_until = min(valid_until, now + (ends - moment).total_seconds())
            columns = _granted_columns(grants)
            row_filter = combine_row_filters([g.row_filter for g in grants], _contract_columns(target))
        declared = _contract_columns(target)
        visible = tuple(c for c in declared if columns is None or c in columns)
        masks: dict[str, MaskKind] = {}
        if not owner:
            # only an agreement may lift a mask, column by column, and only when it says so explicitly
            unmasked = {c for g in grants if g.grantee.startswith(PRODUCT_GRANTEE) for c in g.unmasked}
            for name, kind in target.facts.masks.items():
                if name not in unmasked:
                    masks[name] = _mask_kind(kind, address)
        if self.governance is not None:
            purpose = self._purpose(grants)
            grant_doc = _grant_doc(grants) if grants else None
            try:
                if isinstance(self.governance, CachedGovernance):
                    (allow, required, reasons), expires = self.governance.evaluate_until(
                        principal, target, visible, purpose, grant_doc)  # fmt: skip
                    valid_until = min(valid_until, expires)
                else:  # a hook that keeps no cache is asked on every query
                    allow, required, reasons = self.governance(principal, target, visible, purpose, grant_doc)
                    valid_until = now
            except MeshError:
                raise
            except Exception:
                raise AccessDenied(
                    f"the query policies for {address} could not be evaluated; access is denied"
                ) from None
            if not allow:
                shown = "; ".join(reasons) or "a query policy denies it"
                raise AccessDenied(f"{principal.username} may not read {address}: {shown}")
            for name, kind in required.items():
                wanted = _mask_kind(kind, address)
                # the stronger of the contract's mask and the policy's wins
                if name not in masks or _rank(wanted) > _rank(masks[name]):
                    masks[name] = wanted
        return ReadDecision(target, owner, columns, row_filter, masks, grants), valid_until

    def _purpose(self, grants: tuple[Grant, ...]) -> str | None:
        purposes = []
        for grant in grants:
            request = self.catalog.access_request(grant.request_id)
            if request is not None and request.purpose.strip():
                purposes.append(request.purpose.strip())
        return "; ".join(dict.fromkeys(purposes)) or None

    def resolver(self, principal: Principal, *, at: datetime | None = None) -> PortResolver:
        """A resolver for one query of ``principal``: each reference becomes a ReadablePort or is denied.

        Decisions are reused across queries while nothing they rest on changed: one catalog read per query
        (:meth:`CatalogReader.access_version`: the principal's grants and the audit events of the products
        read) is compared with the stamp each cached decision was made under, and a decision is never used
        past the expiry of a grant or of the governance decision it rests on. Time travel on decisions
        (``at``) is never cached.
        """
        return _Resolver(self, principal, at)

    def _port_key(self, address: str) -> tuple[str, str] | None:
        """``(port address, product address)`` of a reference, or None when :meth:`target` would refuse it."""
        try:
            parsed = Address.parse(self.table_port(address))
        except (ValueError, NotFound):
            return None
        if parsed.product is None:
            return None
        product = self.graph.products.get(parsed.product_address)
        if product is None:
            return None
        if parsed.port is None:
            if len(product.output_ports) != 1:
                return None
            parsed = Address(parsed.domain, parsed.product, product.output_ports[0].name)
        if product.output(parsed.port or "") is None:
            return None
        return str(parsed), str(product.address)

    def _cached(self, key: tuple[str, frozenset[str], str], stamp: tuple[object, ...]) -> ReadDecision | None:
        with self._lock:
            hit = self._decisions.get(key)
            if hit is None or hit[0] != stamp or time.monotonic() >= hit[1]:
                return None
            self._decisions.move_to_end(key)
            return hit[2]

    def _remember(self, key: tuple[str, frozenset[str], str], stamp: tuple[object, ...], until: float,
                  decision: ReadDecision) -> None:  # fmt: skip
        if until <= time.monotonic():
            return
        with self._lock:
            self._decisions[key] = (stamp, until, decision)
            self._decisions.move_to_end(key)
            while len(self._decisions) > _DECISION_CACHE_SIZE:
                self._decisions.popitem(last=False)

    def readable(self, decision: ReadDecision, ref: PortRef) -> ReadablePort:
        """The snapshot ``ref`` asks for, read as ``decision`` allows."""
        target = decision.target
        address = target.address
        if target.port.kind != "tables":
            raise QueryRejected(
                f"{address} is a {target.port.kind} port: meshplane catalogues and governs it but does not serve "
                "its data; read it where its contract's servers say"
            )
        major = target.port.major if ref.version is None else int(ref.version.removeprefix("v"))
        assert address.product is not None and address.port is not None
        table_id = TableId.for_port(address.domain, address.product, address.port, major)
        try:
            snapshot = self._tables().snapshot(table_id, snapshot_id=ref.as_of_snapshot, as_of=ref.as_of_timestamp)
        except StorageError:
            what = f"version v{major} of {address}" if ref.version else str(address)
            if ref.as_of_snapshot is not None or ref.as_of_timestamp is not None:
                raise QueryRejected(f"{what} has no snapshot at the point in time asked for") from None
            raise QueryRejected(f"{what} has no published data yet; it must be built first") from None
        for path in snapshot.data_files:  # a lost file is a storage fault, named, not an access decision
            if not isinstance(path, str) and not Path(path).exists():
                raise StorageError(
                    f"data file {path} of {address} (snapshot {snapshot.snapshot_id}) is missing from the "
                    f"warehouse; rebuild the port: meshplane build {address.product_address} --full-refresh"
                )
        declared = set(_contract_columns(target))
        contract = target.port.contract
        fields = declared_fields(contract.raw, contract.table_index) if not decision.owner else {}
        columns: list[PortColumn] = []
        map_keys: dict[str, frozenset[str]] | None = None if decision.owner else {}
        for arrow_field in snapshot.schema:
            data_type = arrow_field.type
            if map_keys is not None:
                if arrow_field.name not in declared:
                    continue  # undeclared columns carry no classification: only owners see them
                data_type = declared_type(data_type, fields.get(arrow_field.name.lower()))
                if data_type is None:
                    continue  # a STRUCT none of whose fields (a MAP none of whose keys) the contract declares
                map_keys.update(declared_map_keys(data_type, fields.get(arrow_field.name.lower()),
                                                  arrow_field.name.lower()))  # fmt: skip
            columns.append(PortColumn(arrow_field.name, arrow_to_duckdb_type(data_type)))
        names = {c.name for c in columns}
        granted = None if decision.granted_columns is None else frozenset(decision.granted_columns & names)
        version = snapshot.properties.get("meshplane.contract_version") or (
            target.port.version if major == target.port.major else f"{major}.0.0"
        )
        return ReadablePort(
            address=str(address),
            version=version,
            files=tuple(str(path) for path in snapshot.data_files),
            columns=tuple(columns),
            masks={name: kind for name, kind in decision.masks.items() if name.split(".", 1)[0] in names},
            granted_columns=granted,
            row_filter=decision.row_filter,
            snapshot_id=snapshot.snapshot_id,
            map_keys=map_keys,
        )


DECISION_TTL_SECONDS = 30.0
"""The longest a read decision is reused (the governance layer's own cache lives as long)."""
_DECISION_CACHE_SIZE = 4096


class _Resolver:
    """One query's :data:`PortResolver` (see :meth:`AccessPolicy.resolver`)."""

    def __init__(self, policy: AccessPolicy, principal: Principal, at: datetime | None) -> None:
        self._policy = policy
        self._principal = principal
        self._at = at
        self._decisions: dict[str, ReadDecision] = {}
        self._grants: tuple[object, ...] | None = None
        self._products: dict[str, object] = {}

    def prefetch(self, refs: Iterable[PortRef]) -> None:
        """Read the catalog stamp for every product ``refs`` name at once (one round trip per query)."""
        if self._at is None:
            keys = (self._policy._port_key(ref.address) for ref in refs)
            self._stamp({key[1] for key in keys if key is not None})

    def _stamp(self, products: set[str]) -> None:
        missing = products - self._products.keys()
        if self._grants is not None and not missing:
            return
        stamp = self._policy.catalog.access_version(self._principal.username, missing)
        if self._grants is None:
            self._grants = stamp[:-1]
        found = stamp[-1]
        assert isinstance(found, tuple)
        self._products.update(dict(found))

    def prune(self, port: ReadablePort, predicates: tuple[Predicate, ...]) -> tuple[str, ...] | None:
        """The files of ``port`` (as this resolver answered it) that may hold rows matching every predicate of
        the query's WHERE, by the table's partitioning; None: no pruning. The gateway keeps only files ``port``
        lists (pruning narrows the files read, never what is readable)."""
        if port.snapshot_id is None or not port.files:
            return None
        address = Address.parse(port.address)
        if address.product is None or address.port is None:
            return None
        table_id = TableId.for_port(address.domain, address.product, address.port, int(port.version.split(".")[0]))
        files = self._policy._tables().prune(table_id, port.snapshot_id, predicates)
        return None if files is None else tuple(str(path) for path in files)

    def __call__(self, ref: PortRef) -> ReadablePort:
        policy = self._policy
        key = policy._port_key(ref.address) if self._at is None else None
        if key is None or key[0] not in self._decisions:
            decision = self._decide(ref, key)
            self._decisions[str(decision.target.address)] = decision
        else:
            decision = self._decisions[key[0]]
        return policy.readable(decision, ref)

    def _decide(self, ref: PortRef, key: tuple[str, str] | None) -> ReadDecision:
        policy, principal = self._policy, self._principal
        cache_key = stamp = None
        if key is not None:
            self._stamp({key[1]})
            product_stamp = self._products.get(key[1])
            if product_stamp is not None:  # no audit event yet: the baseline may come from the catalog's record
                cache_key = (principal.username, principal.teams, key[0])
                stamp = (self._grants, product_stamp)
                cached = policy._cached(cache_key, stamp)
                if cached is not None:
                    return cached
        try:
            target = policy.target(ref.address)
        except UsageError as error:
            raise AccessDenied(str(error)) from None
        decision, until = policy._decide(principal, target, at=self._at)
        if cache_key is not None and stamp is not None and str(target.address) == cache_key[2]:
            policy._remember(cache_key, stamp, until, decision)
        return decision


# --- helpers ------------------------------------------------------------------------------------------


_RANK = {MaskKind.PARTIAL: 1, MaskKind.HASH: 2, MaskKind.REDACT: 3, MaskKind.NULL: 3}


def _rank(kind: MaskKind) -> int:
    return _RANK.get(kind, 3)


def _mask_kind(kind: str, address: str) -> MaskKind:
    try:
        return MaskKind(kind)
    except ValueError:
        raise AccessDenied(f"{address} asks for an unknown mask {kind!r}; access is denied") from None


def _contract_columns(target: PortTarget) -> tuple[str, ...]:
    return tuple(column.name for column in target.port.contract.columns)


def _granted_columns(grants: tuple[Grant, ...]) -> frozenset[str] | None:
    if any(not grant.columns for grant in grants):
        return None
    return frozenset(name for grant in grants for name in grant.columns)


def combine_row_filters(filters: list[str | None], columns: tuple[str, ...]) -> str | None:
    """The union of several grants' row filters (None when one grant has none); each is guarded."""
    if any(f is None for f in filters) or not filters:
        return None
    from sqlglot import exp  # a row filter is SQL; deciding without one (check) never loads the parser

    from meshplane.sql import guard_row_filter, parse_expression, render

    trees: list[exp.Expr] = []
    for text in filters:
        assert text is not None
        try:
            tree = parse_expression(text)
            guard_row_filter(tree, columns)
        except QueryRejected as error:
            raise AccessDenied(f"a grant's row filter is invalid ({error}); access is denied") from None
        trees.append(exp.Paren(this=tree))
    if len(trees) == 1:
        return render(trees[0].this)
    combined: exp.Expr = trees[0]
    for tree in trees[1:]:
        combined = exp.Or(this=combined, expression=tree)
    return render(combined)


def _grant_doc(grants: tuple[Grant, ...]) -> dict[str, Any]:
    first = grants[0]
    return {
        "id": first.id,
        "ids": [g.id for g in grants],
        "granted_by": first.granted_by,
        "columns": sorted({c for g in grants for c in g.columns}),
        "row_filter": first.row_filter if len(grants) == 1 else None,
        "unmasked": sorted({c for g in grants for c in g.unmasked}),
        "expires_at": first.expires_at.isoformat() if first.expires_at else None,
    }


def arrow_to_duckdb_type(data_type: pa.DataType) -> str:
    """The DuckDB type name of an Arrow type (used for typed NULL masks and empty snapshots)."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    t = pa.types
    simple: list[tuple[Callable[[Any], bool], str]] = [
        (t.is_boolean, "BOOLEAN"), (t.is_int8, "TINYINT"), (t.is_int16, "SMALLINT"), (t.is_int32, "INTEGER"),
        (t.is_int64, "BIGINT"), (t.is_uint8, "UTINYINT"), (t.is_uint16, "USMALLINT"),
        (t.is_uint32, "UINTEGER"), (t.is_uint64, "UBIGINT"), (t.is_float16, "FLOAT"), (t.is_float32, "FLOAT"),
        (t.is_float64, "DOUBLE"), (t.is_string, "VARCHAR"), (t.is_large_string, "VARCHAR"),
        (t.is_binary, "BLOB"), (t.is_large_binary, "BLOB"), (t.is_date, "DATE"), (t.is_time, "TIME"),
        (t.is_duration, "INTERVAL"), (t.is_null, "VARCHAR"),
    ]  # fmt: skip
    if hasattr(t, "is_string_view"):
        simple.append((t.is_string_view, "VARCHAR"))
    for test, name in simple:
        if test(data_type):
            return name
    if t.is_timestamp(data_type):
        return "TIMESTAMPTZ" if data_type.tz else "TIMESTAMP"
    if t.is_decimal(data_type):
        return f"DECIMAL({min(data_type.precision, 38)},{data_type.scale})"
    if t.is_dictionary(data_type):
        return arrow_to_duckdb_type(data_type.value_type)
    if t.is_list(data_type) or t.is_large_list(data_type):
        return arrow_to_duckdb_type(data_type.value_type) + "[]"
    if t.is_fixed_size_list(data_type):
        return f"{arrow_to_duckdb_type(data_type.value_type)}[{data_type.list_size}]"
    if t.is_map(data_type):
        return f"MAP({arrow_to_duckdb_type(data_type.key_type)}, {arrow_to_duckdb_type(data_type.item_type)})"
    if t.is_struct(data_type):
        fields = ", ".join(
            '"' + data_type.field(i).name.replace('"', '""') + '" ' + arrow_to_duckdb_type(data_type.field(i).type)
            for i in range(data_type.num_fields)
        )
        return f"STRUCT({fields})"
    raise QueryRejected(f"a column has a type the gateway cannot govern ({data_type})")


def declared_type(data_type: pa.DataType, fields: Mapping[str, Any] | None) -> pa.DataType | None:
    """``data_type`` cut down to the nested fields the contract declares (``fields`` from
    :func:`~meshplane.access.ownership.declared_fields`): a STRUCT keeps only its declared fields, in its own
    order, the elements of a LIST the same, recursively; None when nothing of a STRUCT is declared.

    Undeclared fields carry no classification, so, like undeclared columns, only owners see them.
    """
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    t = pa.types
    if t.is_list(data_type) or t.is_large_list(data_type) or t.is_fixed_size_list(data_type):
        inner = declared_type(data_type.value_type, fields)
        if inner is None:
            return None
        return data_type if inner.equals(data_type.value_type) else pa.list_(inner)
    if t.is_map(data_type):
        # a MAP's keys are data: its entries are shown by the keys the contract declares (``map_keys``); one
        # declaring none, or whose values are nested (their fields could not be cut), is not shown at all
        item = data_type.item_type
        if not fields or t.is_struct(item) or t.is_map(item) or t.is_list(item) or t.is_large_list(item):
            return None
        return data_type
    if not t.is_struct(data_type):
        return data_type
    if not fields:  # an object whose fields the contract does not name
        return None
    kept = []
    for i in range(data_type.num_fields):
        child = data_type.field(i)
        name = child.name.lower()
        if name not in fields:
            continue
        inner = declared_type(child.type, fields[name])
        if inner is not None:
            kept.append(child.with_type(inner))
    return pa.struct(kept) if kept else None


def declared_map_keys(data_type: pa.DataType, fields: Mapping[str, Any] | None, path: str) -> dict[str, frozenset[str]]:
    """The path (``attributes``, ``profile.attributes``) of each MAP in ``data_type`` (as
    :func:`declared_type` cut it) -> the keys its contract declares (lower case), for
    :attr:`ReadablePort.map_keys`."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    t = pa.types
    if t.is_list(data_type) or t.is_large_list(data_type) or t.is_fixed_size_list(data_type):
        return declared_map_keys(data_type.value_type, fields, path)
    if t.is_map(data_type):
        return {path: frozenset(fields)} if fields else {}
    found: dict[str, frozenset[str]] = {}
    if t.is_struct(data_type) and fields:
        for i in range(data_type.num_fields):
            child = data_type.field(i)
            found.update(declared_map_keys(child.type, fields.get(child.name.lower()), f"{path}.{child.name.lower()}"))
    return found


class CachedGovernance:
    """The governance layer's query-time hook, with decisions cached for a short time.

    ``evaluate`` receives the query input document; identical documents (same principal, port, columns,
    purpose and grant) within ``ttl_seconds`` reuse the decision, so a revoked or changed grant is never
    served from the cache.
    """

    def __init__(self, evaluate: Callable[[Mapping[str, Any]], Any], build: Callable[..., dict[str, Any]],
                 graph: MeshGraph, *, ttl_seconds: float = 30.0, size: int = 1024) -> None:  # fmt: skip
        self._evaluate = evaluate
        self._build = build
        self._graph = graph
        self._ttl = ttl_seconds
        self._size = size
        self._cache: OrderedDict[str, tuple[float, tuple[bool, dict[str, str], tuple[str, ...]]]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(
        self,
        principal: Principal,
        target: PortTarget,
        columns: tuple[str, ...],
        purpose: str | None,
        grant: Mapping[str, Any] | None,
    ) -> tuple[bool, Mapping[str, str], tuple[str, ...]]:
        return self.evaluate_until(principal, target, columns, purpose, grant)[0]

    def evaluate_until(
        self,
        principal: Principal,
        target: PortTarget,
        columns: tuple[str, ...],
        purpose: str | None,
        grant: Mapping[str, Any] | None,
    ) -> tuple[tuple[bool, Mapping[str, str], tuple[str, ...]], float]:
        """The decision, and the ``time.monotonic()`` at which it leaves the cache."""
        doc = self._build(self._graph, principal, target.address, columns=list(columns), purpose=purpose,
                          grant=grant)  # fmt: skip
        # the effective access level counts, not a pending loosening in the spec
        doc["port_access_level"] = target.facts.access_level
        doc["owner_team"] = target.owner_team
        doc["is_owner"] = target.owner_team in principal.teams or (
            target.domain_owner is not None and target.domain_owner in principal.teams
        )
        key = json.dumps(doc, sort_keys=True, default=str)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                self._cache.move_to_end(key)
                return hit[1], hit[0] + self._ttl
        decision = self._evaluate(doc)
        answer = (bool(decision.allow), {str(k): str(v) for k, v in dict(decision.masks).items()},
                  tuple(str(r) for r in decision.reasons))  # fmt: skip
        with self._lock:
            self._cache[key] = (now, answer)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return answer, now + self._ttl
