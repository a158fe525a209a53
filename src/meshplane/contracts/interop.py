"""Import and export data contracts.

Export formats: ``odcs`` (YAML that validates against the official ODCS JSON Schema),
``jsonschema`` (the JSON Schema of one row of the port's table), ``sql-ddl`` (``CREATE TABLE`` in
DuckDB's dialect, built with sqlglot) and ``dbt`` (a ``schema.yml`` with an enforced model contract
and ``data_tests``). Import reads ODCS v3 (lossless: ``load -> export odcs -> load`` gives an equal
model) and the older Data Contract Specification (``dataContractSpecification: 1.x``), converted to
ODCS by :mod:`meshplane.contracts.dcs`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from open_data_contract_standard.model import OpenDataContractStandard, SchemaObject, SchemaProperty

from meshplane.errors import SpecError
from meshplane.spec.schemas import ODCS_LATEST, ODCS_VERSIONS, odcs_schema, schema_errors, validate_document
from meshplane.spec.yamlsafe import YamlDocument, parse_yaml_text
from meshplane.types import Problem, SourceLocation

if TYPE_CHECKING:  # sqlglot and the dbt export load when a DDL or dbt export is asked for, not to read a contract
    from ruamel.yaml import YAML
    from sqlglot import exp

__all__ = [
    "ExportFormat",
    "declared_version",
    "export_contract",
    "import_contract",
    "import_contract_with_notes",
    "load_contract",
    "odcs_json_schema",
    "validate_odcs",
]

ExportFormat = Literal["odcs", "jsonschema", "sql-ddl", "dbt", "dbt-macro"]
_LOGICAL_SQL = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "time": "TIME",
    "object": "JSON",
    "array": "JSON",
    "map": "JSON",
    "vector": "DOUBLE[]",
}
_LOGICAL_JSON = {
    "string": ("string", None),
    "integer": ("integer", None),
    "number": ("number", None),
    "boolean": ("boolean", None),
    "date": ("string", "date"),
    "timestamp": ("string", "date-time"),
    "time": ("string", "time"),
    "object": ("object", None),
    "array": ("array", None),
    "map": ("object", None),
    "vector": ("array", None),
}
_JSON_OPTIONS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "multipleOf",
    "minItems",
    "maxItems",
)


def odcs_json_schema(api_version: str = ODCS_LATEST) -> dict[str, Any]:
    """The official ODCS JSON Schema of ``api_version``, as shipped in meshplane."""
    return odcs_schema(api_version)


def validate_odcs(document: dict[str, Any] | YamlDocument, source: Path | None = None) -> None:
    """Raise :class:`SpecError` listing every place ``document`` breaks the official schema of its apiVersion."""
    if not isinstance(document, YamlDocument):
        document = YamlDocument(source or Path("<contract>"), document)
    problems = validate_document(document, "odcs", "ODCS data contract")
    if problems:
        raise SpecError(problems)


def declared_version(document: dict[str, Any]) -> str:
    """The apiVersion an exported document declares: its own, or the oldest newer one whose features it uses."""
    own = str(document.get("apiVersion") or "")
    newer = [v for v in reversed(ODCS_VERSIONS) if own not in ODCS_VERSIONS or v >= own]
    for version in newer:
        if not schema_errors({**document, "apiVersion": version}, "odcs", version):
            return version
    return own


def _load_yaml(text: str) -> Any:
    return _yaml().load(text)


def _yaml() -> YAML:
    from ruamel.yaml import YAML  # only a Data Contract Specification file is read with it

    return YAML(typ="safe", pure=True)


def load_contract(text: str, *, source: Path | None = None, validate: bool = True) -> OpenDataContractStandard:
    """Read ODCS v3 YAML or JSON into the official model, checking it against the official schema of its
    apiVersion (problems located at their line)."""
    return _load_parsed(parse_yaml_text(source or Path("<contract>"), text), source, validate)


def _load_parsed(parsed: YamlDocument | Problem, source: Path | None, validate: bool) -> OpenDataContractStandard:
    if isinstance(parsed, Problem):
        raise SpecError([parsed])
    if not isinstance(parsed.data, dict):
        raise SpecError([Problem(SourceLocation(source or Path("<contract>")), "a contract is a mapping")])
    if validate:
        validate_odcs(parsed)
    return OpenDataContractStandard.model_validate(parsed.data)


def import_contract(path_or_text: Path | str, *, validate: bool = True) -> OpenDataContractStandard:
    """Import an ODCS v3 file, or a Data Contract Specification 1.x file converted to ODCS."""
    return import_contract_with_notes(path_or_text, validate=validate)[0]


def import_contract_with_notes(
    path_or_text: Path | str, *, validate: bool = True, status: str | None = None
) -> tuple[OpenDataContractStandard, list[str]]:
    """:func:`import_contract`, plus what a Data Contract Specification file held that ODCS cannot carry.

    ``status`` is the ODCS status to give a DCS file that states none (ODCS requires one; it is never guessed).
    """
    source: Path | None = None
    if isinstance(path_or_text, Path):
        source, text = path_or_text, path_or_text.read_text("utf-8")
    else:
        text = path_or_text
    parsed = parse_yaml_text(source or Path("<contract>"), text)  # ODCS (most files): parsed once, located
    if (
        isinstance(parsed, YamlDocument)
        and isinstance(parsed.data, dict)
        and "dataContractSpecification" in parsed.data
    ):
        from meshplane.contracts.dcs import dcs_to_odcs

        document = _load_yaml(text)
        if status is not None and not (document.get("info") or {}).get("status"):
            document = {**document, "info": {**(document.get("info") or {}), "status": status}}
        conversion = dcs_to_odcs(document)
        if conversion.missing:
            where = SourceLocation(source or Path("<contract>"), 1, 1)
            raise SpecError(
                Problem(
                    where,
                    f"ODCS requires {key.removeprefix('info.')}, which this Data Contract Specification file does "
                    "not state",
                    f"add {key} (e.g. {'status: active' if key == 'info.status' else 'version: 1.0.0'}) under info:"
                    + (" or pass --status" if key == "info.status" else ""),
                    code="dcs-import",
                )
                for key in conversion.missing
            )
        converted = conversion.document
        converted["apiVersion"] = declared_version(converted)
        if validate:
            validate_odcs(converted, source)
        return OpenDataContractStandard.model_validate(converted), conversion.not_carried
    return _load_parsed(parsed, source, validate), []


def _document(contract: OpenDataContractStandard) -> dict[str, Any]:
    # Only what the source set, explicit nulls included (`value:` with no value is a valid ODCS entry).
    document: dict[str, Any] = contract.model_dump(exclude_unset=True, by_alias=True, mode="json")
    return document


def export_contract(
    contract: OpenDataContractStandard,
    fmt: ExportFormat,
    *,
    table_index: int = 0,
    references: Mapping[str, str] | None = None,
) -> str:
    """Render ``contract`` in ``fmt``; table-shaped formats use ``schema[table_index]``.

    ``dbt`` is a ``schema.yml`` (see :mod:`meshplane.contracts.dbt`; ``references`` maps foreign-key target tables
    to dbt model names); ``dbt-macro`` is the generic test macro its ``meshplane_check`` tests call.
    """
    if fmt == "dbt-macro":
        from meshplane.contracts.dbt import DBT_TEST_MACRO

        return DBT_TEST_MACRO
    if fmt == "odcs":
        document = _document(contract)
        document["apiVersion"] = declared_version(document)
        validate_odcs(document)
        from meshplane.spec.yamlwrite import dump_portable

        return dump_portable(document)
    objects = contract.schema_ or []
    if not 0 <= table_index < len(objects):
        raise ValueError(f"contract {contract.id} has no schema[{table_index}] to export")
    obj = objects[table_index]
    if fmt == "jsonschema":
        return json.dumps(_row_schema(contract, obj), indent=2) + "\n"
    if fmt == "sql-ddl":
        return _ddl(obj).sql(dialect="duckdb", pretty=True) + ";\n"
    if fmt == "dbt":
        from meshplane.contracts.dbt import dbt_schema
        from meshplane.spec.yamlwrite import dump_portable

        return dump_portable(dbt_schema(contract, table_index, _LOGICAL_SQL, references))
    raise ValueError(f"unknown export format {fmt!r}; use odcs, jsonschema, sql-ddl, dbt or dbt-macro")


def _row_schema(contract: OpenDataContractStandard, obj: SchemaObject) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for prop in obj.properties or []:
        name = prop.name or ""
        json_type, fmt = _LOGICAL_JSON.get(prop.logicalType or "", (None, None))
        entry: dict[str, Any] = {}
        if json_type is not None:
            entry["type"] = json_type if prop.required else [json_type, "null"]
        if fmt:
            entry["format"] = fmt
        if prop.description:
            entry["description"] = prop.description
        options = prop.logicalTypeOptions or {}
        for key in _JSON_OPTIONS:
            if key in options:
                entry[key] = options[key]
        if "format" in options and isinstance(options["format"], str) and prop.logicalType == "string":
            entry["format"] = options["format"]
        if prop.enum:
            values = [e.value for e in prop.enum]
            entry["enum"] = values if prop.required else [*values, None]
        properties[name] = entry
        if prop.required or prop.primaryKey:
            required.append(name)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": contract.id,
        "title": obj.name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if obj.description:
        schema["description"] = obj.description
    return schema


def _sql_type(prop: SchemaProperty) -> exp.DataType:
    from sqlglot import exp

    text = prop.physicalType or _LOGICAL_SQL.get(prop.logicalType or "string", "VARCHAR")
    return exp.DataType.build(text, dialect="duckdb")


def _primary_key(obj: SchemaObject) -> list[str]:
    keyed = [
        ((p.primaryKeyPosition if (p.primaryKeyPosition or 0) > 0 else 10_000 + i), p.name or "")
        for i, p in enumerate(obj.properties or [])
        if p.primaryKey
    ]
    return [name for _, name in sorted(keyed)]


def _ddl(obj: SchemaObject) -> exp.Create:
    from sqlglot import exp

    key = _primary_key(obj)
    columns: list[exp.Expr] = []
    for prop in obj.properties or []:
        constraints: list[exp.ColumnConstraint] = []
        if prop.required and not (len(key) == 1 and prop.name in key):
            constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
        if len(key) == 1 and prop.name in key:
            constraints.append(exp.ColumnConstraint(kind=exp.PrimaryKeyColumnConstraint()))
        elif prop.unique:
            constraints.append(exp.ColumnConstraint(kind=exp.UniqueColumnConstraint()))
        columns.append(
            exp.ColumnDef(
                this=exp.to_identifier(prop.name, quoted=True), kind=_sql_type(prop), constraints=constraints or None
            )
        )
    if len(key) > 1:
        columns.append(exp.PrimaryKey(expressions=[exp.to_identifier(k, quoted=True) for k in key]))
    table = exp.to_table(obj.physicalName or obj.name or "", dialect="duckdb")
    return exp.Create(this=exp.Schema(this=table, expressions=columns), kind="TABLE")
