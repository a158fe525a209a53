"""Reading one ``product.odps.yaml`` with its port contracts and transforms, and meshplane's product rules."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from meshplane.spec.contracts import custom_properties, custom_property_location, read_contract, snake_case
from meshplane.spec.documents import check_semver, read_mapping
from meshplane.spec.models import (
    NAME_PATTERN,
    AccessLevel,
    ContractSpec,
    InputPortSpec,
    OutputPortSpec,
    ProductSpec,
    TransformSpec,
)
from meshplane.spec.paths import is_file, listing, outside_mesh
from meshplane.spec.schemas import validate_document
from meshplane.spec.yamlsafe import JsonPath, YamlDocument
from meshplane.types import Address, Problem, SourceLocation

__all__ = ["PRODUCT_FILE", "PRODUCT_STATUSES", "read_product"]

PRODUCT_FILE = "product.odps.yaml"
PRODUCT_STATUSES = ("proposed", "draft", "active", "deprecated", "retired")


def _transform(
    folder: Path, port: str, document: YamlDocument, at: tuple[str | int, ...], problems: list[Problem]
) -> TransformSpec | None:
    candidates = [folder / f"{port}.sql", folder / f"{port}.py"]
    found = [c for c in candidates if is_file(c)]
    if len(found) != 1:
        message = (
            f"output port {port!r} has no transform"
            if not found
            else f"output port {port!r} has both {port}.sql and {port}.py"
        )
        problems.append(
            Problem(
                document.locate(at),
                message,
                f"keep exactly one of {port}.sql or {port}.py next to the product",
                code="transform",
            )
        )
        return None
    path = found[0]
    escape = outside_mesh(path)
    if escape is not None:
        problems.append(escape)
        return None
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
    unloaded: set[str],
) -> list[OutputPortSpec]:
    ports = _load_output_port(document, index, entry, product, folder, problems)
    if not ports:
        unloaded.add(f"{product}.{entry.get('name')}")
    return ports


def _load_output_port(
    document: YamlDocument,
    index: int,
    entry: dict[str, Any],
    product: Address,
    folder: Path,
    problems: list[Problem],
) -> list[OutputPortSpec]:
    """The port's table (a list of one), or one port spec per table when its contract has several."""
    path = ("outputPorts", index)
    name = str(entry.get("name"))
    if not NAME_PATTERN.match(name):
        problems.append(
            Problem(
                document.locate((*path, "name")),
                f"port name {name!r} is not lower_snake_case",
                f"write name: {snake_case(name)} (and rename its contract and transform files to match)",
                code="port-name",
            )
        )
        return []
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
                custom_property_location(document, path, "accessLevel"),
                f"unknown accessLevel {access_raw!r}",
                "use public, restricted or private",
                code="access-level",
            )
        )
        access = AccessLevel.PRIVATE
    contract_path = folder / f"{name}.odcs.yaml"
    if not is_file(contract_path):
        problems.append(
            Problem(
                document.locate(path),
                f"output port {name!r} has no contract file {contract_path.name}",
                f"create {contract_path.name} (meshplane new product writes one)",
                code="port-contract",
            )
        )
        return []
    contract_doc = read_mapping(contract_path, problems)
    if contract_doc is None:
        return []
    schema_problems = validate_document(contract_doc, "odcs", "ODCS data contract")
    problems.extend(schema_problems)
    if schema_problems:
        return []
    kind = str(entry.get("type") or "tables")
    contract = read_contract(contract_doc, expected, is_source=False, problems=problems, described=kind != "tables")
    if contract is not None and kind != "tables":
        _check_port_version(document, path, entry, contract, problems)
        # Described, not built: no transform. The placeholder names the contract, the file that defines the port.
        return [
            OutputPortSpec(
                document=document,
                json_path=path,
                name=name,
                version=contract.version,
                contract_id=expected,
                description=entry.get("description"),
                access_level=access,
                contract=contract,
                transform=TransformSpec(path=contract.path, language="sql", code=""),
                custom=custom,
                kind=kind,
            )
        ]
    if contract is not None and len(contract.tables) > 1:
        _check_port_version(document, path, entry, contract, problems)
        return _table_ports(document, path, entry, name, expected, access, custom, contract, folder, problems)
    transform = _transform(folder, name, document, path, problems)
    if contract is None or transform is None:
        return []
    _check_port_version(document, path, entry, contract, problems)
    _check_refresh(document, path, custom, contract, problems)
    return [
        OutputPortSpec(
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
    ]


def _check_port_version(
    document: YamlDocument, path: JsonPath, entry: dict[str, Any], contract: ContractSpec, problems: list[Problem]
) -> None:
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
    check_semver(contract.document, ("version",), contract.version, problems)


def _table_ports(
    document: YamlDocument,
    path: JsonPath,
    entry: dict[str, Any],
    name: str,
    expected: str,
    access: AccessLevel,
    custom: dict[str, Any],
    contract: ContractSpec,
    folder: Path,
    problems: list[Problem],
) -> list[OutputPortSpec]:
    """One port spec per table of a contract with several: the first keeps the port's name, each further one
    is ``<port>__<table>``; each table has its own transform, ``<port>.<table>.sql`` or ``.py``."""
    ports: list[OutputPortSpec] = []
    taken = _port_names(document.data) - {name}
    single = [f for f in (folder / f"{name}.sql", folder / f"{name}.py") if is_file(f)]
    if single:
        files = ", ".join(f"{name}.{snake_case(t.name)}{single[0].suffix}" for t in contract.tables)
        problems.append(
            Problem(
                document.locate(path),
                f"output port {name!r} has {len(contract.tables)} tables in its contract "
                f"({', '.join(t.name for t in contract.tables)}); {single[0].name} builds one",
                f"give each table its own transform: {files} (or keep one table in {contract.path.name})",
                code="transform",
            )
        )
        return []
    for position, table in enumerate(contract.tables):
        part = snake_case(table.name)
        port_name = name if position == 0 else f"{name}__{part}"
        if port_name in taken or any(p.name == port_name for p in ports):
            problems.append(
                Problem(
                    contract.document.locate((*table.json_path, "name")),
                    f"table {table.name!r} of port {name!r} would be the port {port_name!r}, which already exists",
                    "rename the table (its physicalName) or the other port",
                    code="contract-schema",
                )
            )
            continue
        transform = _transform(folder, f"{name}.{part}", document, path, problems)
        if transform is None:
            continue
        spec = replace(contract, table=table.name, columns=table.columns, table_index=int(table.json_path[1]))
        _check_refresh(document, path, custom, spec, problems)
        ports.append(
            OutputPortSpec(
                document=document,
                json_path=path,
                name=port_name,
                version=contract.version,
                contract_id=expected,
                description=entry.get("description"),
                access_level=access,
                contract=spec,
                transform=transform,
                custom=custom,
                table_of=name,
            )
        )
    return ports if len(ports) == len(contract.tables) else []


def read_product(
    path: Path, domain: str, teams: set[str] | None, problems: list[Problem], unloaded: set[str]
) -> ProductSpec | None:
    product = _load_product(path, domain, teams, problems, unloaded)
    if product is None:
        unloaded.add(f"{domain}.{path.parent.name}")
    return product


def _load_product(
    path: Path, domain: str, teams: set[str] | None, problems: list[Problem], unloaded: set[str]
) -> ProductSpec | None:
    document = read_mapping(path, problems)
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
        check_semver(document, ("version",), version, problems)
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
    elif teams is not None and team not in teams:
        problems.append(
            Problem(
                document.locate(("team", "name")),
                f"team {team!r} is not declared in mesh.yaml",
                "declare it under teams: in mesh.yaml, or use one of: " + ", ".join(sorted(teams)),
                code="product-team",
            )
        )
    status = data.get("status")
    if status is not None and status not in PRODUCT_STATUSES:
        problems.append(
            Problem(
                document.locate(("status",)),
                f"status {status!r} is not an ODPS product status",
                "use one of: " + ", ".join(PRODUCT_STATUSES),
                code="product-status",
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
        input_custom = custom_properties(document, ("inputPorts", index), problems)
        purpose = input_custom.get("purpose")
        columns = input_custom.get("columns") or []
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            problems.append(
                Problem(
                    custom_property_location(document, ("inputPorts", index), "columns"),
                    "the input port's columns must be a list of column names",
                    "write {property: columns, value: [column_a, column_b]}",
                    code="input-port",
                )
            )
            columns = []
        inputs.append(
            InputPortSpec(
                document=document,
                json_path=("inputPorts", index),
                name=str(entry["name"]),
                version_range=entry.get("version"),
                contract_id=str(contract_id),
                purpose=str(purpose).strip() if purpose else None,
                columns=tuple(columns),
            )
        )
    ports = [
        port
        for index, entry in enumerate(data.get("outputPorts") or [])
        for port in _output_port(document, index, entry, address, folder, problems, unloaded)
    ]
    outputs = [p for p in ports if p.kind == "tables"]
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
        type=_product_type(custom),
        name=name,
        title=data.get("name"),
        description={k: str(v) for k, v in description.items() if isinstance(v, str)},
        tags=tuple(str(t) for t in data.get("tags") or ()),
        team=str(team or ""),
        input_ports=tuple(inputs),
        output_ports=tuple(outputs),
        custom=custom,
        described_ports=tuple(p for p in ports if p.kind != "tables"),
    )


def _port_names(data: dict[str, Any]) -> set[str]:
    return {str(e.get("name")) for e in data.get("outputPorts") or [] if isinstance(e, dict)}


def _check_orphans(folder: Path, ports: set[str], problems: list[Problem]) -> None:
    # one directory listing (Path.glob costs ten times as much, once per product of a large mesh), the one the
    # load already made of the product's folder
    listed = listing(folder)
    if listed is None:
        try:
            listed = sorted(e.name for e in os.scandir(folder))
        except OSError:
            listed = []
    names = [name for name in listed if name.endswith(".odcs.yaml")]
    for name in names:
        contract = folder / name
        port = name.removesuffix(".odcs.yaml")
        if port not in ports:
            problems.append(
                Problem(
                    SourceLocation(contract, 1, 1),
                    f"contract {contract.name} belongs to no output port",
                    f"add an output port named {port!r} to product.odps.yaml, or delete the file",
                    code="orphan-contract",
                )
            )


REFRESH_KINDS = ("full", "append", "merge", "partitions")


def _check_refresh(
    document: YamlDocument, path: JsonPath, custom: dict[str, Any], contract: ContractSpec, problems: list[Problem]
) -> None:
    """``refresh: append`` needs a ``watermark`` naming a column of the port's contract; ``merge`` also needs the
    contract's primary key (the rows it upserts by) and, when it names one, a boolean ``deleteFlag`` column."""
    refresh = str(custom.get("refresh", "full"))
    if refresh not in REFRESH_KINDS:
        problems.append(
            Problem(
                custom_property_location(document, path, "refresh"),
                f"unknown refresh {refresh!r}",
                "use full (rebuild the table), append (add the rows after the watermark), merge (upsert the rows "
                "changed after the watermark by the primary key) or partitions (replace the partitions the rows "
                "after the watermark fall in)",
                code="port-refresh",
            )
        )
        return
    watermark = custom.get("watermark")
    if refresh != "full" and (watermark is None or contract.column(str(watermark)) is None):
        problems.append(
            Problem(
                custom_property_location(document, path, "watermark" if watermark is not None else "refresh"),
                f"an {refresh} port needs a watermark column of its contract, got {watermark!r}",
                "add customProperties: [{property: watermark, value: <a column that grows with each new or "
                "changed row>}]",
                code="port-refresh",
            )
        )
    if refresh == "partitions" and not any(c.partitioned for c in contract.columns):
        problems.append(
            Problem(
                custom_property_location(document, path, "refresh"),
                "a partitions port replaces partitions of its table, and its contract declares none",
                "mark the partition columns partitioned: true (with partitionKeyPosition, and a partitionTransform "
                "such as day) in the port's contract",
                code="port-refresh",
            )
        )
    if refresh != "merge":
        return
    if not any(c.primary_key for c in contract.columns):
        problems.append(
            Problem(
                custom_property_location(document, path, "refresh"),
                "a merge port upserts by its contract's primary key, and the contract declares none",
                "mark the key columns primaryKey: true in the port's contract",
                code="port-refresh",
            )
        )
    flag = custom.get("deleteFlag")
    column = contract.column(str(flag)) if flag is not None else None
    if flag is not None and (column is None or (column.logical_type or "").lower() != "boolean"):
        problems.append(
            Problem(
                custom_property_location(document, path, "deleteFlag"),
                f"deleteFlag {flag!r} is not a boolean column of the port's contract",
                "name a column with logicalType: boolean that is true on rows to delete",
                code="port-refresh",
            )
        )


def _check_product_custom(document: YamlDocument, custom: dict[str, Any], problems: list[Problem]) -> None:
    schedule = custom.get("schedule")
    if schedule is not None:
        from croniter import croniter

        if not croniter.is_valid(str(schedule)):
            problems.append(
                Problem(
                    custom_property_location(document, (), "schedule"),
                    f"schedule {schedule!r} is not a cron expression",
                    "write five fields, e.g. '0 * * * *' for hourly",
                    code="schedule",
                )
            )
    engine = custom.get("engine")
    if engine is not None and engine not in ("duckdb", "spark"):
        problems.append(
            Problem(
                custom_property_location(document, (), "engine"),
                f"unknown engine {engine!r}",
                "use duckdb or spark",
                code="engine",
            )
        )


def _product_type(custom: dict[str, Any]) -> str | None:
    """ODPS v1.0.0 has no product type field; meshplane reads it from ``customProperties: productType``."""
    value = custom.get("productType")
    return str(value) if value is not None else None
