"""The input documents policies see (``schema_version: 1``), built from a MeshGraph.

One document per subject: the mesh, each domain, product, output port, column, and (at query time) each
query. docs/governance.md lists every field; fields are only added within a schema version, never
renamed or removed. Each document travels with the spec element it came from, so a violation points at
the file:line:column of the offending key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Protocol

from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.governance.model import SCHEMA_VERSION, Subject
from meshplane.graph.resolve import MeshGraph
from meshplane.spec.models import CLASSIFICATION_LEVELS, ColumnSpec, ContractSpec, OutputPortSpec, ProductSpec
from meshplane.spec.retention import retention_of
from meshplane.spec.yamlsafe import YamlDocument
from meshplane.types import Address, Principal, SourceLocation

__all__ = ["Locator", "SubjectDoc", "build_inputs", "build_query_input", "column_doc", "is_identifier"]

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_PII_NAME = re.compile(
    r"(^|_)(email|e_mail|phone|mobile|first_name|last_name|full_name|birth|birthday|dob|ssn|passport|iban|"
    r"street|address|postcode|zip|ip_address|ip)($|_)"
)


class Locator(Protocol):
    def location(self, *keys: str | int) -> SourceLocation: ...


@dataclass(frozen=True)
class _DocumentLocator:
    document: YamlDocument

    def location(self, *keys: str | int) -> SourceLocation:
        return self.document.locate(tuple(keys))


class SubjectDoc:
    """An input document with its spec element (for locations) and its place in the mesh.

    The document itself is built on first use (``doc``): an evaluation builds the documents inside its
    worker processes, in parallel, and the parent only builds those it reports a violation for.
    """

    __slots__ = ("_build", "_doc", "address", "domain", "kind", "locator", "product")

    def __init__(
        self,
        kind: Subject,
        address: str,
        doc: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
        locator: Locator,
        domain: str | None,
        product: str | None,
    ) -> None:
        self.kind = kind
        self.address = address
        self.locator = locator
        self.domain = domain
        self.product = product
        self._doc: Mapping[str, Any] | None = None if callable(doc) else doc
        self._build: Callable[[], Mapping[str, Any]] | None = doc if callable(doc) else None

    @property
    def doc(self) -> Mapping[str, Any]:
        if self._doc is None:
            assert self._build is not None
            self._doc = self._build()
            self._build = None
        return self._doc

    def __repr__(self) -> str:
        return f"SubjectDoc({self.kind.value} {self.address})"


def is_identifier(column: ColumnSpec, contract: ContractSpec | None = None) -> bool:
    """Named ``*_id``/``id``, or the single primary key column (parts of composite keys such as dates are not)."""
    if column.name.endswith("_id") or column.name == "id":
        return True
    if not column.primary_key:
        return False
    return contract is None or sum(1 for c in contract.columns if c.primary_key) == 1


@lru_cache(maxsize=65536)
def _name_flags(name: str) -> tuple[bool, bool]:
    """(snake case, suggests PII): column names repeat across a mesh, so each is matched once."""
    return bool(_SNAKE.match(name)), bool(_PII_NAME.search(name))


def _sla(contract: ContractSpec) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for entry in contract.raw.get("slaProperties") or []:
        if isinstance(entry, dict) and entry.get("property"):
            result[str(entry["property"])] = {
                "value": entry.get("value"),
                "unit": entry.get("unit"),
                "element": entry.get("element"),
            }
    return result


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _roles(contract: ContractSpec) -> list[dict[str, Any]]:
    roles = []
    for entry in contract.raw.get("roles") or []:
        if isinstance(entry, dict):
            roles.append(
                {
                    "role": str(entry.get("role") or ""),
                    "access": str(entry.get("access") or ""),
                    "first_level_approvers": _names(entry.get("firstLevelApprovers")),
                    "second_level_approvers": _names(entry.get("secondLevelApprovers")),
                }
            )
    return roles


def _plain(value: Any) -> Any:
    """Only JSON-like values reach CEL (dates and other scalars become strings)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _diff(port: OutputPortSpec, published: OpenDataContractStandard | None) -> dict[str, Any]:
    empty: dict[str, Any] = {
        "available": False,
        "published_version": None,
        "breaking": [],
        "additive": [],
        "cosmetic": [],
        "is_breaking": False,
        "major_bumped": False,
        "requires_major": False,
    }
    if published is None:
        return empty
    try:
        from meshplane.graph.diff import diff_contracts, requires_major_bump
    except ImportError:  # the diff module is optional at this layer's build time
        return empty
    diff = diff_contracts(published, port.contract.odcs)
    old_version = str(published.version)

    def changes(kind: Iterable[Any]) -> list[dict[str, str]]:
        return [{"code": c.code, "path": c.path, "message": c.message} for c in kind]

    try:
        requires = requires_major_bump(diff, old_version, port.contract.version)
    except ValueError:
        requires = diff.is_breaking
    return {
        "available": True,
        "published_version": old_version,
        "breaking": changes(diff.breaking),
        "additive": changes(diff.additive),
        "cosmetic": changes(diff.cosmetic),
        "is_breaking": diff.is_breaking,
        "major_bumped": diff.is_breaking and not requires,
        "requires_major": requires,
    }


def column_doc(
    column: ColumnSpec,
    port_address: str,
    port: OutputPortSpec | None,
    team: str,
    glossary: Mapping[str, Any],
    upstream: tuple[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    term = glossary.get(column.semantic_type) if column.semantic_type else None
    snake, pii = _name_flags(column.name)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "column",
        "address": f"{port_address}.{column.name}",
        "name": column.name,
        "port": port_address,
        "product": port_address.rsplit(".", 1)[0],
        "domain": port_address.split(".", 1)[0],
        "team": team,
        "port_access_level": port.access_level.value if port else None,
        "logical_type": column.logical_type,
        "physical_type": column.physical_type,
        "required": column.required,
        "unique": column.unique,
        "primary_key": column.primary_key,
        "classification": column.classification,
        "mask": column.mask.value if column.mask else None,
        "description": column.description,
        "semantic_type": column.semantic_type,
        "glossary_classification": getattr(term, "classification", None),
        "is_identifier": is_identifier(column, port.contract if port else None),
        "name_is_snake_case": snake,
        "name_suggests_pii": pii,
        # classification flows downstream: the sensitive input columns whose values this column carries
        "upstream_classification": upstream[0] if upstream else None,
        "upstream_columns": list(upstream[1]) if upstream else [],
        "classification_at_least": list(CLASSIFICATION_LEVELS[CLASSIFICATION_LEVELS.index(upstream[0]) :])
        if upstream
        else [],
        "nested_classifications": _nested_classifications(port, column.name) if port else [],
    }


def _nested_classifications(port: OutputPortSpec, name: str) -> list[str]:
    """Classifications of a column's nested fields (each field is masked by its own): a STRUCT's
    ``properties``, and an ``array``'s ``items`` with their ``properties`` (a LIST of STRUCT's fields)."""
    found: list[str] = []

    def below(prop: Mapping[str, Any]) -> None:
        items = prop.get("items")
        if isinstance(items, Mapping):
            if items.get("classification"):
                found.append(str(items["classification"]))
            below(items)
        walk(prop.get("properties"))

    def walk(props: Any) -> None:
        for prop in props if isinstance(props, list) else []:
            if isinstance(prop, Mapping):
                if prop.get("classification"):
                    found.append(str(prop["classification"]))
                below(prop)

    for prop in _table_doc(port.contract).get("properties") or []:
        if isinstance(prop, Mapping) and prop.get("name") == name:
            below(prop)
    return found


def _table_doc(contract: ContractSpec) -> dict[str, Any]:
    """The schema object of the table a port spec builds."""
    schema = contract.raw.get("schema") or [{}]
    table: dict[str, Any] = schema[contract.table_index] if contract.table_index < len(schema) else {}
    return table


def _port_doc(
    address: str,
    product: ProductSpec,
    port: OutputPortSpec,
    published: OpenDataContractStandard | None,
    quality: Any,
    consumers: Iterable[str] = (),
) -> dict[str, Any]:
    contract = port.contract
    classes = sorted({c.classification for c in contract.columns if c.classification})
    roles = _roles(contract)
    description = contract.raw.get("description")
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "port",
        "address": address,
        "name": port.name,
        # a table of a port with several tables is named <port>__<table> by meshplane: the port's name is the
        # one its team wrote
        "name_is_snake_case": bool(_SNAKE.match(port.table_of or port.name)),
        "version_is_semver": bool(_SEMVER.match(port.version)),
        "product": str(product.address),
        "domain": product.domain,
        "team": product.team,
        "version": port.version,
        "product_version": product.version,
        "description": port.description,
        "access_level": port.access_level.value,
        "contract": {
            "id": contract.id,
            "port": f"{product.address}.{port.table_of or port.name}",
            "version": contract.version,
            "status": str(contract.raw.get("status") or ""),
            "table": contract.table,
            "column_count": len(contract.columns),
            "has_description": bool(description),
            "quality_rule_count": len(_table_doc(contract).get("quality") or [])
            + sum(len(c.get("quality") or []) for c in _table_doc(contract).get("properties") or []),
        },
        "sla": _sla(contract),
        "roles": roles,
        "approvers": sorted({a for r in roles for a in r["first_level_approvers"]}),
        "retention": str(contract.custom["retention"]) if contract.custom.get("retention") is not None else None,
        **_retention(contract),
        "classifications": classes,
        "has_pii": "pii" in classes or "restricted" in classes,
        "masked_columns": [c.name for c in contract.columns if c.mask is not None],
        "columns": [c.name for c in contract.columns],
        "custom": _plain(port.custom),
        "diff": _diff(port, published),
        "quality": _plain(quality) if quality is not None else {"available": False},
        "consumers": sorted(consumers),
    }


def _retention(contract: ContractSpec) -> dict[str, Any]:
    """Whether the contract's retention is enforced (a period and a dated column), and if not, why."""
    try:
        retention = retention_of(contract)
    except ValueError as error:
        return {"retention_enforced": False, "retention_problem": str(error)}
    if retention is None:
        return {"retention_enforced": False, "retention_problem": "no retention declared"}
    return {"retention_enforced": retention.enforced, "retention_problem": retention.problem}


def _product_doc(graph: MeshGraph, product: ProductSpec, teams: set[str]) -> dict[str, Any]:
    inputs = []
    edges = {e.input.name: e for e in graph.edges.get(product.address, ())}
    for port in product.input_ports:
        edge = edges.get(port.name)
        upstream = edge.upstream_port if edge else None
        upstream_spec = graph.ports.get(upstream) if upstream else None
        source = edge.source if edge else None
        domain = upstream.domain if upstream else (source.address.domain if source else None)
        inputs.append(
            {
                "name": port.name,
                "contract_id": port.contract_id,
                "version_range": port.version_range,
                "kind": "port" if upstream else ("source" if source else "unresolved"),
                "upstream_domain": domain,
                "upstream_product": str(upstream.product_address) if upstream else None,
                "upstream_access_level": upstream_spec.access_level.value if upstream_spec else None,
                "cross_domain": domain is not None and domain != product.domain,
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "product",
        "address": str(product.address),
        "domain": product.domain,
        "name": product.name,
        "name_is_snake_case": bool(_SNAKE.match(product.name)),
        "title": product.title,
        "version": product.version,
        "version_is_semver": bool(_SEMVER.match(product.version)),
        "status": product.status,
        "type": product.type,
        "team": product.team,
        "team_declared": product.team in teams,
        "description": dict(product.description),
        "tags": list(product.tags),
        "custom": _plain(product.custom),
        "input_ports": inputs,
        "output_ports": [
            {
                "name": p.name,
                "address": f"{product.address}.{p.name}",
                "version": p.version,
                "version_is_semver": bool(_SEMVER.match(p.version)),
                "access_level": p.access_level.value,
                "has_contract": p.contract is not None,
            }
            for p in product.output_ports
        ],
    }


def build_inputs(
    graph: MeshGraph,
    *,
    published: Mapping[str, OpenDataContractStandard] | None = None,
    quality: Mapping[str, Any] | None = None,
    subjects: Iterable[Subject] = tuple(Subject),
    upstream: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
) -> dict[Subject, list[SubjectDoc]]:
    """Every input document of the mesh, by subject kind. ``published`` and ``quality`` are keyed by port address."""
    wanted = set(subjects)
    spec = graph.spec
    teams = {t.name for t in spec.config.teams}
    glossary = {t.name: t for t in spec.glossary.terms}
    published = published or {}
    quality = quality or {}
    out: dict[Subject, list[SubjectDoc]] = {kind: [] for kind in Subject}
    consumers: dict[str, list[str]] = {}
    for product_edges in graph.edges.values():
        for edge in product_edges:
            if edge.upstream_port is not None:
                consumers.setdefault(str(edge.upstream_port), []).append(str(edge.consumer))
    if Subject.MESH in wanted:
        governance = spec.team(spec.config.governance_team or "")
        out[Subject.MESH].append(
            SubjectDoc(
                Subject.MESH,
                spec.config.name,
                {
                    "schema_version": SCHEMA_VERSION,
                    "kind": "mesh",
                    "address": spec.config.name,
                    "name": spec.config.name,
                    "title": spec.config.title,
                    "description": spec.config.description,
                    "governance_team": spec.config.governance_team,
                    "governance_members": [m.username for m in governance.members] if governance else [],
                    "platform_team": spec.config.platform_team,
                    "teams": [{"name": t.name, "members": [m.username for m in t.members]} for t in spec.config.teams],
                    "domains": [d.name for d in spec.domains],
                    "glossary": sorted(glossary),
                    "product_count": len(graph.products),
                },
                _DocumentLocator(spec.config_document),
                None,
                None,
            )
        )
    if Subject.DOMAIN in wanted:
        for domain in spec.domains:
            members = [str(a) for a in graph.products if a.domain == domain.name]
            out[Subject.DOMAIN].append(
                SubjectDoc(
                    Subject.DOMAIN,
                    domain.name,
                    {
                        "schema_version": SCHEMA_VERSION,
                        "kind": "domain",
                        "address": domain.name,
                        "name": domain.name,
                        "title": domain.config.title,
                        "description": domain.config.description,
                        "owner": domain.config.owner,
                        "owner_declared": domain.config.owner in teams,
                        "tags": list(domain.config.tags),
                        "products": members,
                        "product_count": len(members),
                    },
                    _DocumentLocator(domain.document),
                    domain.name,
                    None,
                )
            )
    for address in sorted(graph.products):
        product = graph.products[address]
        product_address = str(address)
        if Subject.PRODUCT in wanted:
            out[Subject.PRODUCT].append(
                SubjectDoc(
                    Subject.PRODUCT,
                    product_address,
                    partial(_product_doc, graph, product, teams),
                    product,
                    product.domain,
                    product_address,
                )
            )
        for port in product.output_ports:
            port_address = f"{product_address}.{port.name}"
            if Subject.PORT in wanted:
                build = partial(
                    _port_doc,
                    port_address,
                    product,
                    port,
                    published.get(port_address),
                    quality.get(port_address),
                    consumers.get(port_address, ()),
                )
                out[Subject.PORT].append(
                    SubjectDoc(Subject.PORT, port_address, build, _PortLocator(port), product.domain, product_address)
                )
            if Subject.COLUMN in wanted:
                for column in port.contract.columns:
                    out[Subject.COLUMN].append(
                        SubjectDoc(
                            Subject.COLUMN,
                            f"{port_address}.{column.name}",
                            partial(
                                column_doc,
                                column,
                                port_address,
                                port,
                                product.team,
                                glossary,
                                (upstream or {}).get(f"{port_address}.{column.name}"),
                            ),
                            column,
                            product.domain,
                            product_address,
                        )
                    )
    return out


@dataclass(frozen=True)
class _PortLocator:
    """Port keys that live in the contract (sla, roles, retention, schema) point into the .odcs.yaml file.

    ``contract, ...`` always means the contract file and ``port, ...`` the port's entry in product.odps.yaml.
    """

    port: OutputPortSpec

    _CONTRACT_KEYS = frozenset(
        {"slaProperties", "roles", "customProperties", "schema", "status", "description", "id", "kind"}
    )

    def location(self, *keys: str | int) -> SourceLocation:
        if keys and keys[0] == "contract":
            return self.port.contract.location(*keys[1:])
        if keys and keys[0] == "port":
            return self.port.location(*keys[1:])
        if keys and keys[0] in self._CONTRACT_KEYS:
            return self.port.contract.location(*keys)
        return self.port.location(*keys)


def build_query_input(
    graph: MeshGraph,
    principal: Principal,
    port: Address | str,
    *,
    columns: Sequence[str] | None = None,
    purpose: str | None = None,
    grant: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``query`` input document for one port read by one principal (the access layer calls this)."""
    address = Address.parse(str(port))
    spec = graph.ports.get(address) or graph.products[address.product_address].output(address.port or "")
    if spec is None:
        raise KeyError(str(address))  # the access layer denies: no such port
    owner = graph.owner_of(address)
    glossary = {t.name: t for t in graph.spec.glossary.terms}
    read = [c for c in spec.contract.columns if columns is None or c.name in columns]
    column_docs = [column_doc(c, str(address), spec, owner, glossary) for c in read]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "query",
        "address": str(address),
        "principal": {
            "username": principal.username,
            "teams": sorted(principal.teams),
            "is_platform_admin": principal.is_platform_admin,
            "is_governance": principal.is_governance,
        },
        "teams": sorted(principal.teams),
        "port": str(address),
        "product": str(address.product_address),
        "domain": address.domain,
        "owner_team": owner,
        "is_owner": owner in principal.teams,
        "port_access_level": spec.access_level.value,
        "grant": _plain(grant) if grant is not None else None,
        "purpose": purpose,
        "classifications": sorted({c.classification for c in read if c.classification}),
        "columns": column_docs,
    }
