"""Reading ODCS contract documents into :class:`ContractSpec`, with meshplane's own rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from meshplane.spec.models import (
    CLASSIFICATION_LEVELS,
    ColumnSpec,
    ContractSpec,
    MaskKind,
    OdcsModel,
    SourceServer,
    TableSpec,
)
from meshplane.spec.yamlsafe import JsonPath, YamlDocument, vouch, vouched
from meshplane.types import Problem, SourceLocation

__all__ = [
    "GLOSSARY_PREFIX",
    "MODEL_VERDICT",
    "PARTITION_TRANSFORMS",
    "custom_properties",
    "custom_property_location",
    "model_verdict",
    "read_contract",
    "snake_case",
]

GLOSSARY_PREFIX = "glossary:"
_FORMATS = ("parquet", "csv", "json")
# Iceberg partition transforms a contract column may declare (customProperties: partitionTransform).
PARTITION_TRANSFORMS = ("identity", "year", "month", "day", "hour")


# What the parse cache keeps for a contract's bytes once they validated against the ODCS pydantic model.
MODEL_VERDICT = "odcs-model"


def model_verdict(document: YamlDocument) -> str | None:
    """:data:`MODEL_VERDICT` when ``document``'s data validates against the ODCS model (for a parse cache's
    workers to validate in parallel what :func:`read_contract` would), else None."""
    from open_data_contract_standard.model import OpenDataContractStandard

    try:
        OpenDataContractStandard.model_validate(document.data)
    except ValidationError:
        return None
    return MODEL_VERDICT


def custom_properties(document: YamlDocument, json_path: JsonPath, problems: list[Problem]) -> dict[str, Any]:
    """``customProperties: [{property, value}]`` as a dict; repeated names are reported."""
    entries = document.get(*json_path, "customProperties") or []
    result: dict[str, Any] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or "property" not in entry:
            continue
        name = str(entry["property"])
        if name in result:
            problems.append(
                Problem(
                    document.locate((*json_path, "customProperties", index, "property")),
                    f"custom property {name!r} is set twice",
                    "keep one entry",
                    code="custom-duplicate",
                )
            )
        result[name] = entry.get("value")
    return result


def custom_property_location(document: YamlDocument, json_path: JsonPath, name: str) -> SourceLocation:
    """Where the (last) ``customProperties`` entry named ``name`` under ``json_path`` sets its value."""
    entries = document.get(*json_path, "customProperties")
    if isinstance(entries, list):
        for index in reversed(range(len(entries))):
            entry = entries[index]
            if isinstance(entry, dict) and entry.get("property") == name:
                return document.locate((*json_path, "customProperties", index, "value"))
    return document.locate((*json_path, "customProperties"))


def _semantic_type(prop: dict[str, Any]) -> str | None:
    for definition in prop.get("authoritativeDefinitions") or []:
        url = str(definition.get("url") or "") if isinstance(definition, dict) else ""
        if url.startswith(GLOSSARY_PREFIX):
            return url[len(GLOSSARY_PREFIX) :]
    return None


def _column(document: YamlDocument, path: JsonPath, prop: dict[str, Any], problems: list[Problem]) -> ColumnSpec:
    custom = custom_properties(document, path, problems)
    mask_value = custom.get("mask")
    mask: MaskKind | None = None
    if mask_value is not None:
        try:
            mask = MaskKind(str(mask_value))
        except ValueError:
            problems.append(
                Problem(
                    custom_property_location(document, path, "mask"),
                    f"unknown mask {mask_value!r}",
                    "use one of: " + ", ".join(m.value for m in MaskKind),
                    code="mask-unknown",
                )
            )
    classification = prop.get("classification")
    if classification is not None and str(classification) not in CLASSIFICATION_LEVELS:
        problems.append(
            Problem(
                document.locate((*path, "classification")),
                f"unknown classification {classification!r}",
                "use one of: " + ", ".join(CLASSIFICATION_LEVELS),
                code="classification-unknown",
            )
        )
    transform = str(custom.get("partitionTransform", "identity"))
    partitioned = bool(prop.get("partitioned"))
    if transform not in PARTITION_TRANSFORMS:
        problems.append(
            Problem(
                custom_property_location(document, path, "partitionTransform"),
                f"unknown partitionTransform {transform!r}",
                "use one of: " + ", ".join(PARTITION_TRANSFORMS) + " (year, month, day and hour take a date or "
                "timestamp column)",
                code="partition-transform",
            )
        )
        transform = "identity"
    elif "partitionTransform" in custom and not partitioned:
        problems.append(
            Problem(
                custom_property_location(document, path, "partitionTransform"),
                f"column {prop.get('name')!r} has a partitionTransform but is not partitioned",
                "add partitioned: true (and partitionKeyPosition) to the column, or remove the partitionTransform",
                code="partition-transform",
            )
        )
    elif transform != "identity" and str(prop.get("logicalType") or "").lower() not in ("date", "timestamp"):
        problems.append(
            Problem(
                custom_property_location(document, path, "partitionTransform"),
                f"partitionTransform {transform} needs a date or timestamp column, {prop.get('name')!r} is "
                f"{prop.get('logicalType')!r}",
                "partition the column by identity (remove the partitionTransform), or give the transform a "
                "logicalType: date or timestamp column",
                code="partition-transform",
            )
        )
    position = prop.get("partitionKeyPosition")
    return ColumnSpec(
        document=document,
        json_path=path,
        name=str(prop.get("name")),
        logical_type=prop.get("logicalType"),
        physical_type=prop.get("physicalType"),
        required=bool(prop.get("required")),
        unique=bool(prop.get("unique")),
        primary_key=bool(prop.get("primaryKey")),
        primary_key_position=prop.get("primaryKeyPosition"),
        classification=str(classification) if classification is not None else None,
        description=prop.get("description"),
        mask=mask,
        semantic_type=_semantic_type(prop),
        enum_values=tuple(e.get("value") if isinstance(e, dict) else e for e in (prop.get("enum") or [])),
        partitioned=partitioned,
        partition_key_position=position if isinstance(position, int) and not isinstance(position, bool) else None,
        partition_transform=transform,
    )


def _server(document: YamlDocument, problems: list[Problem], table: str) -> SourceServer | None:
    servers = document.get("servers")
    if not servers:
        problems.append(
            Problem(
                document.locate(("id",)),
                "a source contract needs a servers entry saying where the data is",
                "add servers: [{server: local, type: local, path: data/..., format: parquet}]",
                code="source-server",
            )
        )
        return None
    entry = servers[0]
    kind = entry.get("type")
    if kind == "local":
        fmt = entry.get("format")
        if not entry.get("path") or fmt not in _FORMATS:
            problems.append(
                Problem(
                    document.locate(("servers", 0)),
                    "a local source needs a path and a format",
                    "set path: <glob relative to the mesh root> and format: parquet|csv|json",
                    code="source-server",
                )
            )
            return None
        return SourceServer(
            type="local",
            name=str(entry.get("server")),
            path=str(entry["path"]),
            format=fmt,
            # ODCS has no csv delimiter field: read it from the server's customProperties (as the DCS import and
            # datacontract-cli write it), or a plain key for files written before.
            delimiter=_server_custom(entry, "delimiter") or entry.get("delimiter"),
        )
    if kind == "postgres":
        return SourceServer(
            type="postgres",
            name=str(entry.get("server")),
            database=entry.get("database"),
            schema=entry.get("schema") or "public",
            table=table,
        )
    problems.append(
        Problem(
            document.locate(("servers", 0, "type")),
            f"source server type {kind!r} is not supported",
            "use type: local (files) or type: postgres",
            code="source-server",
        )
    )
    return None


def _server_custom(entry: dict[str, Any], name: str) -> Any:
    for item in entry.get("customProperties") or []:
        if isinstance(item, dict) and item.get("property") == name:
            return item.get("value")
    return None


def read_contract(
    document: YamlDocument, expected_id: str, *, is_source: bool, problems: list[Problem], described: bool = False
) -> ContractSpec | None:
    """A schema-valid ODCS document as a ContractSpec; meshplane's rules add located problems.

    ``described``: the contract of a port meshplane does not build (a topic, an API): its columns are the
    properties of its first schema object that has any, whatever its physicalType, and it needs none."""
    data = document.data
    contract_id = str(data.get("id"))
    if contract_id != expected_id:
        problems.append(
            Problem(
                document.locate(("id",)),
                f"contract id {contract_id!r} does not match its file",
                f"write id: {expected_id}",
                code="contract-id",
            )
        )
    if data.get("kind") != "DataContract":
        problems.append(
            Problem(
                document.locate(("kind",)),
                "kind must be DataContract",
                "write kind: DataContract",
                code="contract-kind",
            )
        )
    if vouched(document, MODEL_VERDICT):  # these bytes validated before: the model is built when first used
        odcs = OdcsModel(data)
    else:
        from open_data_contract_standard.model import OpenDataContractStandard

        try:
            odcs = OdcsModel(data, OpenDataContractStandard.model_validate(data))
        except ValidationError as error:
            for item in error.errors():
                loc = tuple(str(p) if isinstance(p, str) else p for p in item["loc"])
                problems.append(Problem(document.locate(loc), f"invalid contract: {item['msg']}", code="odcs-model"))
            return None
        vouch(document, MODEL_VERDICT)
    schema = data.get("schema") or []
    tables = _described(document, schema, problems) if described else _tables(document, schema, problems)
    if not tables and not is_source and not described:
        if any(_is_table(entry, len(schema) == 1) for entry in schema):
            return None  # its tables have no columns: reported
        # A port's transform produces a table; a topic or API contract describes what meshplane does not build.
        problems.append(
            Problem(
                document.locate(("schema",)),
                "the contract describes no table (a schema object with physicalType table and properties)",
                "describe the port's table under schema:, with its columns under properties: (or, for a port "
                "meshplane does not build, such as a Kafka topic or an API, give the output port type: topic or api)",
                code="contract-schema",
            )
        )
        return None
    table, columns = (tables[0].name, tables[0].columns) if tables else ("", ())
    custom = custom_properties(document, (), problems)
    server = _server(document, problems, table) if is_source else None
    return ContractSpec(
        document=document,
        json_path=(),
        id=contract_id,
        path=document.path,
        model=odcs,
        version=str(data.get("version")),
        table=table,
        columns=columns,
        custom=custom,
        server=server,
        tables=tuple(tables),
    )


def _described(document: YamlDocument, schema: list[Any], problems: list[Problem]) -> list[TableSpec]:
    """The schema objects with properties of a contract describing what meshplane does not build."""
    found: list[TableSpec] = []
    for position, entry in enumerate(schema):
        if not isinstance(entry, dict) or not entry.get("properties"):
            continue
        columns = tuple(
            _column(document, ("schema", position, "properties", index), prop, problems)
            for index, prop in enumerate(entry["properties"])
            if isinstance(prop, dict)
        )
        name = str(entry.get("physicalName") or entry.get("name"))
        found.append(TableSpec(document=document, json_path=("schema", position), name=name, columns=columns))
    return found


def _is_table(entry: Any, alone: bool) -> bool:
    """A table or view; an object without physicalType only when it is the contract's one schema object (with
    others beside it, it is a type they refer to, like ``AnObject`` in Bitol's all-schema-types example)."""
    if not isinstance(entry, dict) or entry.get("logicalType") not in (None, "object"):
        return False
    physical = entry.get("physicalType")
    return physical in ("table", "view") or (physical is None and alone and bool(entry.get("properties")))


def _tables(document: YamlDocument, schema: list[Any], problems: list[Problem]) -> list[TableSpec]:
    """Every table-like schema object (see :func:`_is_table`) with its columns.

    Other objects (a Kafka ``topic``, an ``object`` type referenced by others) are carried by the contract and
    exported unchanged, but are not tables meshplane builds or checks. Naming conventions are policies of the
    standard pack (``column-naming``), waivable per port, not reading errors.
    """
    tables: list[TableSpec] = []
    for position, entry in enumerate(schema):
        if not _is_table(entry, len(schema) == 1):
            continue
        columns: list[ColumnSpec] = []
        seen: set[str] = set()
        for index, prop in enumerate(entry.get("properties") or []):
            path: JsonPath = ("schema", position, "properties", index)
            name = str(prop.get("name"))
            if name in seen:
                problems.append(
                    Problem(
                        document.locate((*path, "name")),
                        f"column {name!r} is declared twice",
                        "remove one of them",
                        code="column-duplicate",
                    )
                )
            seen.add(name)
            columns.append(_column(document, path, prop, problems))
        if not columns:
            problems.append(
                Problem(
                    document.locate(("schema", position)),
                    "the table declares no properties (columns)",
                    f"list the columns under schema[{position}].properties",
                    code="contract-schema",
                )
            )
            continue
        name = str(entry.get("physicalName") or entry.get("name"))
        tables.append(TableSpec(document=document, json_path=("schema", position), name=name, columns=tuple(columns)))
    return tables


def snake_case(name: str) -> str:
    """A lower_snake_case suggestion for ``name`` (``AmountEUR`` -> ``amount_eur``)."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if text and not text[0].isalpha():
        text = f"c_{text}"
    return text or "column_name"


def contract_file_id(path: Path, domain: str, product: str) -> str:
    return f"{domain}.{product}.{path.name.removesuffix('.odcs.yaml')}"
