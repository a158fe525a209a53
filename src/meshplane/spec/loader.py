"""Load every file of a mesh into a :class:`MeshSpec`, collecting all problems in one pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import semver
from pydantic import BaseModel, ValidationError

from meshplane.spec.contracts import custom_properties, read_contract
from meshplane.spec.models import (
    NAME_PATTERN,
    AccessLevel,
    ContractSpec,
    DomainConfig,
    DomainSpec,
    GlossaryConfig,
    InputPortSpec,
    MeshConfig,
    MeshSpec,
    OutputPortSpec,
    ProductSpec,
    TransformSpec,
)
from meshplane.spec.schemas import validate_document
from meshplane.spec.yamlsafe import YamlDocument, read_yaml
from meshplane.types import Address, Problem, Severity, SourceLocation

__all__ = ["LoadResult", "load_mesh"]

_Model = TypeVar("_Model", bound=BaseModel)
RESERVED_DIRS = frozenset({"sources", "policies"})
PRODUCT_FILE = "product.odps.yaml"
_KNOWN_PRODUCT_PROPERTIES = {"schedule", "engine", "dialect", "materialization", "owner_approval"}
_KNOWN_PORT_PROPERTIES = {"accessLevel", "deprecationDate"}


class LoadResult:
    """The spec (when loading got far enough) and every problem found."""

    def __init__(self, spec: MeshSpec | None, problems: list[Problem]) -> None:
        self.spec = spec
        self.problems = sorted(problems, key=lambda p: (p.location, p.message))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]


def _document(path: Path, problems: list[Problem]) -> YamlDocument | None:
    result = read_yaml(path)
    if isinstance(result, Problem):
        problems.append(result)
        return None
    if not isinstance(result.data, dict):
        problems.append(
            Problem(SourceLocation(path, 1, 1), "expected a mapping of keys at the top of the file", code="yaml-shape")
        )
        return None
    return result


def _model(document: YamlDocument, model: type[_Model], label: str, problems: list[Problem]) -> _Model | None:
    try:
        return model.model_validate(document.data)
    except ValidationError as error:
        for item in error.errors():
            loc = tuple(item["loc"])
            field = ".".join(str(p) for p in loc) or "the document"
            hint = ""
            if item["type"] == "extra_forbidden":
                hint = f"remove {loc[-1]!r} or check its spelling"
            elif item["type"] == "missing":
                hint = f"add {loc[-1]!r}"
            elif item["type"] == "string_pattern_mismatch":
                hint = "use lower_snake_case"
            problems.append(
                Problem(document.locate(loc), f"invalid {label}: {field}: {item['msg']}", hint, code="spec-field")
            )
        return None


def _check_semver(document: YamlDocument, key: tuple[str | int, ...], value: Any, problems: list[Problem]) -> None:
    if not semver.Version.is_valid(str(value)):
        problems.append(
            Problem(
                document.locate(key),
                f"version {value!r} is not semantic versioning",
                "write MAJOR.MINOR.PATCH, e.g. 1.0.0",
                code="semver",
            )
        )


def _transform(folder: Path, port: str, location: SourceLocation, problems: list[Problem]) -> TransformSpec | None:
    candidates = [folder / f"{port}.sql", folder / f"{port}.py"]
    found = [c for c in candidates if c.is_file()]
    if len(found) != 1:
        message = (
            f"output port {port!r} has no transform"
            if not found
            else f"output port {port!r} has both {port}.sql and {port}.py"
        )
        problems.append(
            Problem(
                location, message, f"keep exactly one of {port}.sql or {port}.py next to the product", code="transform"
            )
        )
        return None
    path = found[0]
    try:
        code = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(SourceLocation(path), f"cannot read transform: {error}", code="transform"))
        return None
    return TransformSpec(path=path, language="sql" if path.suffix == ".sql" else "python", code=code)


def _output_port(
    document: YamlDocument,
    index: int,
    entry: dict[str, Any],
    product: Address,
    folder: Path,
    problems: list[Problem],
) -> OutputPortSpec | None:
    path = ("outputPorts", index)
    name = str(entry.get("name"))
    if not NAME_PATTERN.match(name):
        problems.append(
            Problem(document.locate((*path, "name")), f"port name {name!r} is not lower_snake_case", code="port-name")
        )
        return None
    expected = f"{product}.{name}"
    contract_id = entry.get("contractId")
    if contract_id != expected:
        problems.append(
            Problem(
                document.locate((*path, "contractId") if contract_id else path),
                f"output port {name!r} must name its contract {expected!r}",
                f"write contractId: {expected}",
                code="port-contract",
            )
        )
    custom = custom_properties(document, path, problems)
    access_raw = custom.get("accessLevel", "public")
    try:
        access = AccessLevel(str(access_raw))
    except ValueError:
        problems.append(
            Problem(
                document.locate((*path, "customProperties")),
                f"unknown accessLevel {access_raw!r}",
                "use public, restricted or private",
                code="access-level",
            )
        )
        access = AccessLevel.PRIVATE
    contract_path = folder / f"{name}.odcs.yaml"
    if not contract_path.is_file():
        problems.append(
            Problem(
                document.locate(path),
                f"output port {name!r} has no contract file {contract_path.name}",
                f"create {contract_path.name} (meshplane new product writes one)",
                code="port-contract",
            )
        )
        return None
    contract_doc = _document(contract_path, problems)
    if contract_doc is None:
        return None
    schema_problems = validate_document(contract_doc, "odcs", "ODCS data contract")
    problems.extend(schema_problems)
    if schema_problems:
        return None
    contract = read_contract(contract_doc, expected, is_source=False, problems=problems)
    transform = _transform(folder, name, document.locate(path), problems)
    if contract is None or transform is None:
        return None
    version = str(entry.get("version") or contract.version)
    if entry.get("version") is not None and version != contract.version:
        problems.append(
            Problem(
                document.locate((*path, "version")),
                f"port version {version} differs from its contract's version {contract.version}",
                f"write version: {contract.version}",
                code="port-version",
            )
        )
    _check_semver(contract_doc, ("version",), contract.version, problems)
    return OutputPortSpec(
        document=document,
        json_path=path,
        name=name,
        version=contract.version,
        contract_id=expected,
        description=entry.get("description"),
        access_level=access,
        contract=contract,
        transform=transform,
        custom=custom,
    )


def _product(path: Path, domain: str, teams: set[str], problems: list[Problem]) -> ProductSpec | None:
    document = _document(path, problems)
    if document is None:
        return None
    schema_problems = validate_document(document, "odps", "ODPS data product")
    problems.extend(schema_problems)
    if schema_problems:
        return None
    data = document.data
    folder = path.parent
    name = folder.name
    address = Address(domain, name)
    if data.get("kind") != "DataProduct":
        problems.append(Problem(document.locate(("kind",)), "kind must be DataProduct", code="product-kind"))
    if data.get("id") != str(address):
        problems.append(
            Problem(
                document.locate(("id",)),
                f"product id {data.get('id')!r} does not match its folder",
                f"write id: {address}",
                code="product-id",
            )
        )
    if data.get("domain") not in (None, domain):
        problems.append(
            Problem(
                document.locate(("domain",)),
                f"domain {data.get('domain')!r} does not match the folder",
                f"write domain: {domain}",
                code="product-domain",
            )
        )
    version = data.get("version")
    if version is None:
        problems.append(Problem(document.locate(()), "the product has no version", "add version: 1.0.0", code="semver"))
    else:
        _check_semver(document, ("version",), version, problems)
    team = (data.get("team") or {}).get("name")
    if not team:
        problems.append(
            Problem(
                document.locate(("team",) if "team" in data else ()),
                "the product names no owner team",
                "add team: {name: <a team from mesh.yaml>}",
                code="product-team",
            )
        )
    elif team not in teams:
        problems.append(
            Problem(
                document.locate(("team", "name")),
                f"team {team!r} is not declared in mesh.yaml",
                "declare it under teams: in mesh.yaml, or use one of: " + ", ".join(sorted(teams)),
                code="product-team",
            )
        )
    custom = custom_properties(document, (), problems)
    _check_product_custom(document, custom, problems)
    inputs: list[InputPortSpec] = []
    for index, entry in enumerate(data.get("inputPorts") or []):
        contract_id = entry.get("contractId")
        if not contract_id:
            problems.append(
                Problem(
                    document.locate(("inputPorts", index)),
                    f"input port {entry.get('name')!r} names no contractId",
                    "write contractId: <domain>.<product>.<port> or <domain>.sources.<name>",
                    code="input-port",
                )
            )
            continue
        if not NAME_PATTERN.match(str(entry.get("name"))):
            problems.append(
                Problem(
                    document.locate(("inputPorts", index, "name")),
                    f"input port name {entry.get('name')!r} is not lower_snake_case (it is the SQL relation name)",
                    code="port-name",
                )
            )
            continue
        inputs.append(
            InputPortSpec(
                document=document,
                json_path=("inputPorts", index),
                name=str(entry["name"]),
                version_range=entry.get("version"),
                contract_id=str(contract_id),
            )
        )
    outputs = [
        port
        for index, entry in enumerate(data.get("outputPorts") or [])
        if (port := _output_port(document, index, entry, address, folder, problems)) is not None
    ]
    if not data.get("outputPorts"):
        problems.append(
            Problem(
                document.locate(()),
                "the product has no output ports",
                "add outputPorts: with at least one port",
                code="product-ports",
            )
        )
    _check_orphans(folder, {p.name for p in outputs} | _port_names(data), problems)
    description = data.get("description") or {}
    return ProductSpec(
        document=document,
        json_path=(),
        address=address,
        path=path,
        version=str(version),
        status=str(data.get("status") or "draft"),
        type=data.get("type"),
        name=name,
        title=data.get("name"),
        description={k: str(v) for k, v in description.items() if isinstance(v, str)},
        tags=tuple(str(t) for t in data.get("tags") or ()),
        team=str(team or ""),
        input_ports=tuple(inputs),
        output_ports=tuple(outputs),
        custom=custom,
    )


def _port_names(data: dict[str, Any]) -> set[str]:
    return {str(e.get("name")) for e in data.get("outputPorts") or [] if isinstance(e, dict)}


def _check_orphans(folder: Path, ports: set[str], problems: list[Problem]) -> None:
    for contract in sorted(folder.glob("*.odcs.yaml")):
        port = contract.name.removesuffix(".odcs.yaml")
        if port not in ports:
            problems.append(
                Problem(
                    SourceLocation(contract, 1, 1),
                    f"contract {contract.name} belongs to no output port",
                    f"add an output port named {port!r} to product.odps.yaml, or delete the file",
                    code="orphan-contract",
                )
            )


def _check_product_custom(document: YamlDocument, custom: dict[str, Any], problems: list[Problem]) -> None:
    schedule = custom.get("schedule")
    if schedule is not None:
        from croniter import croniter

        if not croniter.is_valid(str(schedule)):
            problems.append(
                Problem(
                    document.locate(("customProperties",)),
                    f"schedule {schedule!r} is not a cron expression",
                    "write five fields, e.g. '0 * * * *' for hourly",
                    code="schedule",
                )
            )
    engine = custom.get("engine")
    if engine is not None and engine not in ("duckdb", "spark"):
        problems.append(
            Problem(
                document.locate(("customProperties",)),
                f"unknown engine {engine!r}",
                "use duckdb or spark",
                code="engine",
            )
        )


def _sources(domain_dir: Path, domain: str, problems: list[Problem]) -> list[ContractSpec]:
    found: list[ContractSpec] = []
    for path in sorted((domain_dir / "sources").glob("*.odcs.yaml")):
        document = _document(path, problems)
        if document is None:
            continue
        schema_problems = validate_document(document, "odcs", "ODCS source contract")
        problems.extend(schema_problems)
        if schema_problems:
            continue
        expected = f"{domain}.sources.{path.name.removesuffix('.odcs.yaml')}"
        contract = read_contract(document, expected, is_source=True, problems=problems)
        if contract is not None:
            found.append(contract)
    return found


def load_mesh(root: Path) -> LoadResult:
    """Read and validate every file under ``root``; never raises for bad input."""
    root = root.resolve()
    problems: list[Problem] = []
    mesh_path = root / "mesh.yaml"
    if not mesh_path.is_file():
        problems.append(
            Problem(
                SourceLocation(mesh_path),
                "no mesh.yaml here: this folder is not a mesh",
                "run meshplane init DIR to create one, or pass the mesh folder",
                code="no-mesh",
            )
        )
        return LoadResult(None, problems)
    mesh_document = _document(mesh_path, problems)
    config = _model(mesh_document, MeshConfig, "mesh.yaml", problems) if mesh_document else None
    teams = {t.name for t in config.teams} if config else set()
    if config:
        _check_teams(mesh_document, config, problems)  # type: ignore[arg-type]
    glossary = GlossaryConfig()
    glossary_path = root / "glossary.yaml"
    if glossary_path.is_file():
        glossary_doc = _document(glossary_path, problems)
        loaded = _model(glossary_doc, GlossaryConfig, "glossary", problems) if glossary_doc else None
        glossary = loaded or glossary
    domains: list[DomainSpec] = []
    products: list[ProductSpec] = []
    sources: list[ContractSpec] = []
    for domain_dir in sorted(p for p in (root / "domains").glob("*") if p.is_dir()):
        domain_file = domain_dir / "domain.yaml"
        if not domain_file.is_file():
            problems.append(
                Problem(
                    SourceLocation(domain_file),
                    f"domain folder {domain_dir.name!r} has no domain.yaml",
                    "run meshplane new domain NAME, or add domain.yaml with name and owner",
                    code="domain",
                )
            )
            continue
        domain_doc = _document(domain_file, problems)
        domain = _model(domain_doc, DomainConfig, "domain.yaml", problems) if domain_doc else None
        if domain is None or domain_doc is None:
            continue
        if domain.name != domain_dir.name:
            problems.append(
                Problem(
                    domain_doc.locate(("name",)),
                    f"domain name {domain.name!r} does not match its folder",
                    f"write name: {domain_dir.name}",
                    code="domain",
                )
            )
        if domain.owner not in teams:
            problems.append(
                Problem(
                    domain_doc.locate(("owner",)),
                    f"owner team {domain.owner!r} is not declared in mesh.yaml",
                    "declare it under teams: in mesh.yaml",
                    code="domain-owner",
                )
            )
        domains.append(DomainSpec(config=domain, path=domain_file, document=domain_doc))
        sources.extend(_sources(domain_dir, domain.name, problems))
        for product_dir in sorted(p for p in domain_dir.iterdir() if p.is_dir() and p.name not in RESERVED_DIRS):
            product_file = product_dir / PRODUCT_FILE
            if not product_file.is_file():
                if any(product_dir.glob("*.odcs.yaml")) or any(product_dir.glob("*.sql")):
                    problems.append(
                        Problem(
                            SourceLocation(product_file),
                            f"product folder {product_dir.name!r} has no {PRODUCT_FILE}",
                            "run meshplane new product DOMAIN/NAME",
                            code="product",
                        )
                    )
                continue
            if not NAME_PATTERN.match(product_dir.name):
                problems.append(
                    Problem(
                        SourceLocation(product_file, 1, 1),
                        f"product folder {product_dir.name!r} is not lower_snake_case",
                        code="product-name",
                    )
                )
                continue
            product = _product(product_file, domain.name, teams, problems)
            if product is not None:
                products.append(product)
    spec = None
    if config is not None and mesh_document is not None:
        spec = MeshSpec(
            root=root,
            config=config,
            config_document=mesh_document,
            glossary=glossary,
            domains=tuple(domains),
            products=tuple(products),
            sources=tuple(sources),
        )
        _check_glossary_refs(spec, problems)
    return LoadResult(spec, problems)


def _check_teams(document: YamlDocument, config: MeshConfig, problems: list[Problem]) -> None:
    names = [t.name for t in config.teams]
    for index, name in enumerate(names):
        if names.index(name) != index:
            problems.append(
                Problem(document.locate(("teams", index, "name")), f"team {name!r} is declared twice", code="team")
            )
    for key in ("governance_team", "platform_team"):
        value = getattr(config, key)
        if value is not None and value not in names:
            problems.append(
                Problem(
                    document.locate((key,)),
                    f"{key} {value!r} is not a declared team",
                    "declare it under teams:",
                    code="team",
                )
            )


def _check_glossary_refs(spec: MeshSpec, problems: list[Problem]) -> None:
    terms = {t.name for t in spec.glossary.terms}
    contracts = [p.contract for product in spec.products for p in product.output_ports] + list(spec.sources)
    for contract in contracts:
        for column in contract.columns:
            if column.semantic_type is not None and column.semantic_type not in terms:
                problems.append(
                    Problem(
                        column.location("authoritativeDefinitions"),
                        f"column {column.name!r} names glossary term {column.semantic_type!r}, missing from glossary.yaml",
                        "add the term to glossary.yaml or fix the name",
                        code="glossary-ref",
                    )
                )
